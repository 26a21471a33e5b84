//! `GET /api/v1/webhook-subscriptions/{id}/attempts`: the attempt log (kept
//! `HOOKPOST_ATTEMPT_RETENTION_DAYS`), newest first, paged by `limit` (1–100, default 25) and
//! `offset`.

use hookpost_domain::delivery::AttemptView;
use hookpost_http::parse::{subscription_id, Query, SUBSCRIPTION};
use hookpost_http::{routes, App, Found, PageReply, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::LIST_WEBHOOK_SUBSCRIPTION_ATTEMPTS, req, |caller| async move {
        let id = subscription_id(req)?;
        let mut query = Query::new(req, &["limit", "offset"]);
        let (limit, offset) = query.page(hookpost_domain::paging::ATTEMPTS_DEFAULT_LIMIT);
        query.finish()?;
        let (sub, page) = tokio::join!(
            app.store.get_subscription(caller.account_id, id),
            app.store.list_attempts(caller.account_id, id, limit, offset)
        );
        sub.found(SUBSCRIPTION)?;
        let page = page?;
        let attempts: Vec<AttemptView<'_>> = page.items.iter().map(|a| a.view()).collect();
        Reply::json(
            200,
            &PageReply {
                items_key: "attempts",
                items: &attempts,
                meta_key: "pagination",
                total: page.total,
                limit,
                offset,
            },
        )
    })
    .await
}
