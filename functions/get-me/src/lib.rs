//! `GET /api/v1/me`: any valid token, any plan. Reads the account fresh, so a plan change
//! shows at once here even while the authorizer's cached context still has the old one.

use hookpost_domain::ApiError;
use hookpost_http::{routes, App, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::GET_ME, req, |caller| async move {
        let account = app.store.get_account(caller.account_id).await?.ok_or(ApiError::Unauthorized)?;
        Reply::json(
            200,
            &json!({
                "account_id": account.id,
                "account_name": account.name,
                "plan_name": account.plan,
                "plan_tier_index": account.plan.tier_index(),
                "scopes": caller.scopes,
            }),
        )
    })
    .await
}
