//! The REST API's REQUEST authorizer. It establishes who is calling — a personal access
//! token or a portal session (the same gate for both), well-formed,
//! known by its hash, not expired, not revoked — and hands the account, plan, scopes and
//! user on in the context. API Gateway caches its answer per token for 300 s, so the policy
//! it returns allows every route of the API: a cached Allow must not decide another route's
//! plan or scope. Those checks happen in each function's gate, which sees the context and
//! answers with the exact SPEC §1 codes.
//!
//! `hookpost-local` calls [`authorize`] on every request (never cached), so a revoked token
//! fails there at once.

use hookpost_domain::token::{bearer_token, hash_pat, Caller};
use hookpost_domain::{ApiError, Timestamp};
use hookpost_http::context::encode_caller;
use hookpost_http::App;
use hookpost_store::{AccountStore, TokenStore};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use lambda_http::aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;

/// The exact error text that makes API Gateway answer 401 (its UNAUTHORIZED gateway
/// response, which the template renders in the SPEC envelope).
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Who the `Authorization` header value identifies, or `Unauthorized`.
pub async fn authorize<S: TokenStore + AccountStore + ?Sized>(
    store: &S,
    authorization: Option<&str>,
    now: Timestamp,
) -> Result<Caller, ApiError> {
    let (plaintext, kind) = authorization.and_then(bearer_token).ok_or(ApiError::Unauthorized)?;
    let token = store.get_token_by_hash(&hash_pat(plaintext)).await?.ok_or(ApiError::Unauthorized)?;
    // A credential is accepted only as the kind it was issued as.
    if token.kind != kind || !token.is_usable(now) {
        return Err(ApiError::Unauthorized);
    }
    let account = store.get_account(token.account_id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        account_id: account.id,
        plan: account.plan,
        scopes: token.scopes,
        user_id: token.user_id,
        token_id: token.id,
    })
}

/// `arn:aws:execute-api:region:account:api/stage/METHOD/path` → every method and path of
/// that API and stage.
pub fn api_wide_resource(method_arn: &str) -> Option<String> {
    let mut parts = method_arn.splitn(3, '/');
    let api = parts.next().filter(|a| a.starts_with("arn:"))?;
    let stage = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{api}/{stage}/*"))
}

pub fn allow(caller: &Caller, method_arn: &str) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![api_wide_resource(method_arn).unwrap_or_else(|| method_arn.to_owned())];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(caller.account_id.to_string());
    response.policy_document = policy;
    response.context = serde_json::to_value(encode_caller(caller)).unwrap_or_default();
    response
}

pub async fn handle(
    app: &App,
    event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let request = event.payload;
    let header = request.headers.get("authorization").and_then(|v| v.to_str().ok());
    match authorize(app.store.as_ref(), header, app.clock.now()).await {
        Ok(caller) => Ok(allow(&caller, request.method_arn.as_deref().unwrap_or_default())),
        Err(ApiError::Unauthorized) => {
            // A refusal, not an error: API Gateway's access log has each one.
            tracing::debug!("token refused");
            Err(UNAUTHORIZED.into())
        }
        // Anything else becomes API Gateway's AUTHORIZER_FAILURE (500, in the envelope).
        Err(err) => {
            tracing::error!(error = %err, "authorizer failed");
            Err("authorizer failure".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_covers_the_whole_api() {
        assert_eq!(
            api_wide_resource("arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/GET/api/v1/me").as_deref(),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/*")
        );
        assert_eq!(api_wide_resource("garbage"), None);
        assert_eq!(api_wide_resource("arn:x/"), None);
    }
}
