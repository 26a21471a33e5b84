//! `DELETE /api/v1/webhook-subscriptions/{id}`: soft delete, history kept; 204, again 204.
//! With `?purge=true` the subscription is erased with its history (attempts and failure
//! records): 204, and from then on 404.

use hookpost_http::parse::{subscription_id, Query, SUBSCRIPTION};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::DELETE_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let id = subscription_id(req)?;
        let mut query = Query::new(req, &["purge"]);
        let purge = query.bool("purge").unwrap_or(false);
        query.finish()?;
        let now = app.clock.now();
        let deleted = if purge {
            app.eraser()?.purge_subscription(caller.account_id, id, now).await.map(|removed| {
                tracing::info!(
                    log = "subscription_purged",
                    account_id = %caller.account_id,
                    subscription_id = %id,
                    attempts = removed.attempts,
                    failures = removed.failures,
                    "subscription {id} erased with its history"
                );
            })
        } else {
            app.store.delete_subscription(caller.account_id, id, now).await
        };
        deleted.or_not_found(SUBSCRIPTION)?;
        Ok(Reply::no_content())
    })
    .await
}
