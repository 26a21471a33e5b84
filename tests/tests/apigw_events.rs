//! Handlers fed real API Gateway REST events (tests/fixtures), authorizer context included,
//! exactly as Lambda hands them over; and the authorizer fed its REQUEST event.

use std::sync::Arc;

use hookpost_domain::subscription::{parse_new_subscription, Subscription};
use hookpost_domain::token::{generate_pat, hash_pat, Token, TokenKind};
use hookpost_domain::{Account, AccountId, DestinationPolicy, Plan, Scope, Timestamp, TokenId};
use hookpost_http::{App, Config};
use hookpost_store::{AccountStore, ActiveCap, MemoryStore, SubscriptionStore};
use lambda_http::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

struct Fixture {
    app: App,
    account: Account,
    subscription: Subscription,
}

async fn fixture(plan: Plan) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let account = Account { id: AccountId::new(), name: "Acme".into(), plan, created_at: Timestamp::now() };
    store.create_account(&account).await.unwrap();
    let input =
        parse_new_subscription(json!({"url": "https://crm.example.com/hooks"}), &DestinationPolicy::default()).unwrap();
    let subscription = Subscription::create(account.id, input, None, Some("user_1".into()), Timestamp::now());
    store.create_subscription(&subscription, ActiveCap(25)).await.unwrap();
    let app = App::new(Arc::clone(&store) as Arc<dyn hookpost_store::Store>, Config::default())
        .with_catalogue(store as Arc<dyn hookpost_store::CatalogueStore>);
    Fixture { app, account, subscription }
}

fn event(file: &str, f: &Fixture, scopes: &str) -> Request {
    let path = format!("{}/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{ACCOUNT_ID}}", &f.account.id.to_string())
        .replace("{{SUBSCRIPTION_ID}}", &f.subscription.id.to_string())
        .replace("{{PLAN}}", f.account.plan.as_str())
        .replace("{{SCOPES}}", scopes);
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file} is not an API Gateway event: {e}"))
}

fn json_of(res: &Response<Body>) -> Value {
    match res.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        Body::Empty => Value::Null,
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn get_subscription_from_a_rest_event() {
    let f = fixture(Plan::Pro).await;
    let res =
        get_webhook_subscription::handle(&f.app, event("apigw-get-subscription.json", &f, "tasks.webhooks.read")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["ratelimit-limit"], "60");
    let body = json_of(&res);
    assert_eq!(body["id"], f.subscription.id.to_string());
    assert_eq!(body["created_by_user_id"], "user_1");
    assert!(body.get("secret").is_none());
}

#[tokio::test]
async fn the_gate_reads_the_authorizer_context() {
    let f = fixture(Plan::Pro).await;
    let res =
        get_webhook_subscription::handle(&f.app, event("apigw-get-subscription.json", &f, "tasks.webhooks.manage"))
            .await;
    assert_eq!((res.status().as_u16(), json_of(&res)["error"].as_str()), (403, Some("insufficient_scope")));

    let free = fixture(Plan::Free).await;
    let res =
        get_webhook_subscription::handle(&free.app, event("apigw-get-subscription.json", &free, "tasks.webhooks.read"))
            .await;
    assert_eq!((res.status().as_u16(), json_of(&res)["error"].as_str()), (403, Some("plan_required")));

    // A request that reached the function without an authorizer context is nobody's.
    let mut bare: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/fixtures/apigw-get-subscription.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    )
    .unwrap();
    bare["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let req = lambda_http::request::from_str(&bare.to_string()).unwrap();
    let res = get_webhook_subscription::handle(&f.app, req).await;
    assert_eq!((res.status().as_u16(), json_of(&res)["error"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn another_accounts_context_sees_404() {
    let f = fixture(Plan::Pro).await;
    let other = Fixture { account: Account { id: AccountId::new(), ..f.account.clone() }, ..fixture(Plan::Pro).await };
    let req = event(
        "apigw-get-subscription.json",
        &Fixture { subscription: f.subscription.clone(), ..other },
        "tasks.webhooks.read",
    );
    let res = get_webhook_subscription::handle(&f.app, req).await;
    assert_eq!((res.status().as_u16(), json_of(&res)["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn list_reads_multi_value_query_parameters() {
    let f = fixture(Plan::Business).await;
    let res =
        list_webhook_subscriptions::handle(&f.app, event("apigw-list-subscriptions.json", &f, "tasks.webhooks.read"))
            .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(&res)["pagination"], json!({"total": 1, "limit": 2, "offset": 0}));
}

#[tokio::test]
async fn create_reads_the_event_body() {
    let f = fixture(Plan::Starter).await;
    let res = create_webhook_subscription::handle(
        &f.app,
        event("apigw-create-subscription.json", &f, "tasks.webhooks.read tasks.webhooks.manage"),
    )
    .await;
    assert_eq!(res.status(), 201);
    let body = json_of(&res);
    assert_eq!((body["name"].as_str(), body["events"].clone()), (Some("CRM call events"), json!(["call.ended"])));
    assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
}

#[tokio::test]
async fn internal_route_without_authorizer() {
    let f = fixture(Plan::Pro).await;
    let res = create_account::handle(&f.app, event("apigw-internal-create-account.json", &f, "")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(json_of(&res)["plan"], "pro");
}

fn authorizer_event(authorization: &str) -> LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest> {
    let text =
        std::fs::read_to_string(format!("{}/fixtures/apigw-authorizer-request.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .replace("{{AUTHORIZATION}}", authorization);
    LambdaEvent::new(serde_json::from_str(&text).unwrap(), Context::default())
}

#[tokio::test]
async fn authorizer_allows_the_whole_api_and_passes_the_caller() {
    let f = fixture(Plan::Enterprise).await;
    let pat = generate_pat();
    let token = Token {
        id: TokenId::new(),
        kind: TokenKind::Pat,
        account_id: f.account.id,
        token_hash: hash_pat(&pat),
        scopes: vec![Scope::WebhooksRead],
        user_id: Some("user_1".into()),
        expires_at: None,
        revoked: false,
        created_at: Timestamp::now(),
    };
    f.app.store.put_token(&token).await.unwrap();

    let allowed = authorizer::handle(&f.app, authorizer_event(&format!("Bearer {pat}"))).await.unwrap();
    let v = serde_json::to_value(&allowed).unwrap();
    assert_eq!(v["principalId"], f.account.id.to_string());
    let statement = &v["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Resource"], json!(["arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/*"]));
    assert_eq!(v["context"]["account_id"], f.account.id.to_string());
    assert_eq!(
        (v["context"]["plan"].as_str(), v["context"]["scopes"].as_str()),
        (Some("enterprise"), Some("tasks.webhooks.read"))
    );
    assert_eq!(v["context"]["user_id"], "user_1");

    for bad in ["", "Bearer nope", &format!("Bearer hp_pat_{}", "1".repeat(64)), &pat] {
        let err = authorizer::handle(&f.app, authorizer_event(bad)).await.unwrap_err();
        assert_eq!(err.to_string(), "Unauthorized", "{bad}");
    }
    f.app.store.revoke_token(f.account.id, token.id).await.unwrap();
    let err = authorizer::handle(&f.app, authorizer_event(&format!("Bearer {pat}"))).await.unwrap_err();
    assert_eq!(err.to_string(), "Unauthorized");
}
