//! `GET /api/v4/tasks/webhook_failures/{webhook_failure_id}`: `{"webhook_failure": {...}}`,
//! exactly as the seed; 404 for an unknown, malformed or another account's id.

use hookpost_http::parse::{failure_id, FAILURE};
use hookpost_http::{routes, App, Found, Keyed, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::GET_WEBHOOK_FAILURE, req, |caller| async move {
        let id = failure_id(req)?;
        let failure = app.store.get_failure(caller.account_id, id).await.found(FAILURE)?;
        Reply::json(200, &Keyed("webhook_failure", &failure.view()))
    })
    .await
}
