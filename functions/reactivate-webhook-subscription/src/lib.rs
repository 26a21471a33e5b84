//! `POST /api/v1/webhook-subscriptions/{id}/reactivate`: a deleted or auto-disabled
//! subscription becomes active again within 90 days of being disabled, if the cap allows.

use hookpost_domain::subscription::lifecycle;
use hookpost_domain::ApiError;
use hookpost_http::parse::{no_body, subscription_id, SUBSCRIPTION};
use hookpost_http::{routes, App, Found, Reply};
use hookpost_store::{Applied, StoreError};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::REACTIVATE_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let id = subscription_id(req)?;
        no_body(req)?;
        let now = app.clock.now();
        let sub = app.store.get_subscription(caller.account_id, id).await.found(SUBSCRIPTION)?;
        let change = lifecycle::reactivate(&sub, now)?;
        // The change requires the state just read, so a concurrent change (another
        // reactivation, a delete) refuses it instead of double-counting the cap.
        match app.store.change_subscription(caller.account_id, id, &change, app.active_cap()).await {
            Ok(Applied::Changed(sub)) => Reply::json(200, &sub.view()),
            Ok(Applied::Refused(_)) => Err(ApiError::InvalidState(
                "the webhook subscription changed concurrently; read it and retry".to_owned(),
            )),
            Err(StoreError::LimitReached) => Err(app.limit_reached()),
            Err(StoreError::NotFound) => Err(ApiError::NotFound(SUBSCRIPTION)),
            Err(err) => Err(err.into()),
        }
    })
    .await
}
