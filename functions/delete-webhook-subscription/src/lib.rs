//! `DELETE /api/v1/webhook-subscriptions/{id}`: soft delete, history kept; 204, again 204.

use hookpost_domain::{ApiError, Scope};
use hookpost_http::parse::{subscription_id, SUBSCRIPTION};
use hookpost_http::{Access, App, Reply, Route};
use hookpost_store::StoreError;
use lambda_http::{Body, Request, Response};

pub const ROUTE: Route = Route {
    method: "DELETE",
    template: "/api/v1/webhook-subscriptions/{id}",
    access: Access::Scoped(Scope::WebhooksManage),
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&ROUTE, req, |caller| async move {
        let id = subscription_id(req)?;
        match app.store.delete_subscription(caller.account_id, id, app.clock.now()).await {
            Ok(()) => Ok(Reply::no_content()),
            Err(StoreError::NotFound) => Err(ApiError::NotFound(SUBSCRIPTION)),
            Err(err) => Err(err.into()),
        }
    })
    .await
}
