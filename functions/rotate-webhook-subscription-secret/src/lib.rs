//! `POST /api/v1/webhook-subscriptions/{id}/rotate-secret`: a new signing secret, returned
//! this once; `secret_prefix` follows it. For 24 hours deliveries carry a signature from the
//! old secret too, so receivers can switch without dropping a delivery.

use hookpost_domain::subscription::{generate_secret, SECRET_OVERLAP_SECS};
use hookpost_http::parse::{no_body, subscription_id, SUBSCRIPTION};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::ROTATE_WEBHOOK_SUBSCRIPTION_SECRET, req, |caller| async move {
        let id = subscription_id(req)?;
        no_body(req)?;
        app.live_subscription(caller.account_id, id).await?;
        let now = app.clock.now();
        let secret = generate_secret();
        let rotated = app
            .store
            .rotate_secret(caller.account_id, id, &secret, now.plus_seconds(SECRET_OVERLAP_SECS), now)
            .await
            .or_not_found(SUBSCRIPTION)?;
        Reply::json(200, &rotated.view_with_secret())
    })
    .await
}
