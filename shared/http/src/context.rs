//! The authorizer context: what the REQUEST authorizer hands every function about the
//! caller. API Gateway allows only strings, numbers and booleans as values, so the scopes
//! travel space-separated and a missing user id as an empty string.

use std::collections::HashMap;

use hookpost_domain::token::Caller;
use hookpost_domain::{AccountId, Plan, Scope, TokenId};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

pub fn encode_caller(caller: &Caller) -> HashMap<String, Value> {
    let scopes: Vec<&str> = caller.scopes.iter().map(|s| s.as_str()).collect();
    HashMap::from([
        ("account_id".to_owned(), Value::String(caller.account_id.to_string())),
        ("plan".to_owned(), Value::String(caller.plan.as_str().to_owned())),
        ("scopes".to_owned(), Value::String(scopes.join(" "))),
        ("user_id".to_owned(), Value::String(caller.user_id.clone().unwrap_or_default())),
        ("token_id".to_owned(), Value::String(caller.token_id.to_string())),
    ])
}

/// The caller, if the request carries a complete context. Anything else is unauthenticated.
pub fn decode_caller(fields: &HashMap<String, Value>) -> Option<Caller> {
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    let scopes = text("scopes")?.split_whitespace().map(Scope::parse).collect::<Option<Vec<_>>>()?;
    Some(Caller {
        account_id: AccountId::parse(text("account_id")?)?,
        plan: Plan::parse(text("plan")?)?,
        scopes,
        user_id: text("user_id").filter(|u| !u.is_empty()).map(str::to_owned),
        token_id: TokenId::parse(text("token_id")?)?,
    })
}

pub fn caller_of(req: &Request) -> Option<Caller> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => decode_caller(&ctx.authorizer.fields),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// API Gateway's id of this request (hookpost-local makes one up): what a customer quotes
/// and what ties a request's log lines together.
pub fn request_id(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The resource template API Gateway (or hookpost-local) matched, e.g.
/// `/internal/v1/events/batch`: how a function serving several routes tells which one came.
pub fn resource_path(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.resource_path.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let caller = Caller {
            account_id: AccountId::new(),
            plan: Plan::Business,
            scopes: vec![Scope::WebhooksRead, Scope::WebhooksManage],
            user_id: Some("u_1".into()),
            token_id: TokenId::new(),
        };
        assert_eq!(decode_caller(&encode_caller(&caller)), Some(caller.clone()));
        let anonymous_user = Caller { user_id: None, scopes: vec![], ..caller };
        assert_eq!(decode_caller(&encode_caller(&anonymous_user)), Some(anonymous_user));
    }

    #[test]
    fn incomplete_or_bad_contexts_are_nobody() {
        assert_eq!(decode_caller(&HashMap::new()), None);
        let caller = Caller {
            account_id: AccountId::new(),
            plan: Plan::Pro,
            scopes: vec![],
            user_id: None,
            token_id: TokenId::new(),
        };
        for (key, bad) in [("plan", "gold"), ("scopes", "admin"), ("account_id", "x"), ("token_id", "")] {
            let mut fields = encode_caller(&caller);
            fields.insert(key.to_owned(), Value::String(bad.to_owned()));
            assert_eq!(decode_caller(&fields), None, "{key}");
        }
    }
}
