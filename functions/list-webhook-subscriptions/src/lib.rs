//! `GET /api/v1/webhook-subscriptions`: newest first, filtered by `source` and `is_active`,
//! paged by `limit` (1–100, default 25) and `offset`, with the filtered `total`.

use hookpost_domain::subscription::{Source, SubscriptionFilter, SubscriptionView};
use hookpost_http::parse::Query;
use hookpost_http::{routes, App, PageReply, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::LIST_WEBHOOK_SUBSCRIPTIONS, req, |caller| async move {
        let mut query = Query::new(req, &["limit", "offset", "source", "is_active"]);
        let (limit, offset) = query.page(hookpost_domain::paging::SUBSCRIPTIONS_DEFAULT_LIMIT);
        let filter = SubscriptionFilter {
            source: query.choice("source", Source::parse, &Source::choices()),
            is_active: query.bool("is_active"),
        };
        query.finish()?;
        let page = app.store.list_subscriptions(caller.account_id, filter, limit, offset).await?;
        let subscriptions: Vec<SubscriptionView<'_>> = page.items.iter().map(|s| s.view()).collect();
        Reply::json(
            200,
            &PageReply {
                items_key: "subscriptions",
                items: &subscriptions,
                meta_key: "pagination",
                total: page.total,
                limit,
                offset,
            },
        )
    })
    .await
}
