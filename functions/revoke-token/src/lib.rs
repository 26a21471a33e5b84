//! `DELETE /internal/v1/accounts/{id}/tokens/{token_id}` (operator): 204. Locally the next
//! request with the token fails; in AWS within the authorizer's 300 s cache time.

use hookpost_domain::{ApiError, TokenId};
use hookpost_http::parse::{account_id, path_param};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::REVOKE_TOKEN, &req, async {
        let account = account_id(&req)?;
        let token = TokenId::parse(path_param(&req, "token_id")?).ok_or(ApiError::NotFound("token"))?;
        app.store.revoke_token(account, token).await.or_not_found("token")?;
        Ok(Reply::no_content())
    })
    .await
}
