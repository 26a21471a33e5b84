//! `GET /api/v1/webhook-subscriptions/{id}`: the object, unwrapped, as in the seed. 404 for
//! an unknown, malformed or another account's id; never the secret nor credentials.

use hookpost_http::parse::{subscription_id, SUBSCRIPTION};
use hookpost_http::{routes, App, Found, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::GET_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let id = subscription_id(req)?;
        let sub = app.store.get_subscription(caller.account_id, id).await.found(SUBSCRIPTION)?;
        Reply::json(200, &sub.view())
    })
    .await
}
