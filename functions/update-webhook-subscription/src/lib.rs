//! `PATCH /api/v1/webhook-subscriptions/{id}`: name, url, events (checked against the event-type
//! catalogue), headers, authentication, rate limit, ordering, filter.
//! Channel, channel type and source are fixed at creation. How a customer fixes an endpoint
//! before retriggering its failures.

use hookpost_domain::subscription::parse_subscription_patch;
use hookpost_http::parse::{json_body, subscription_id, SUBSCRIPTION};
use hookpost_http::{routes, App, Found, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::UPDATE_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let id = subscription_id(req)?;
        let patch = parse_subscription_patch(json_body(req)?, &app.config.destinations)?;
        if let Some(events) = patch.events.as_deref().filter(|events| !events.is_empty()) {
            app.catalogue()?.current().await?.check_subscribed(events)?;
        }
        let sub = if patch.is_empty() {
            app.store.get_subscription(caller.account_id, id).await.found(SUBSCRIPTION)?
        } else {
            app.store
                .update_subscription(caller.account_id, id, &patch, app.clock.now())
                .await
                .or_not_found(SUBSCRIPTION)?
        };
        Reply::json(200, &sub.view())
    })
    .await
}
