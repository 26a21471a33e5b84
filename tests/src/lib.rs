//! Test support: start `hookpost-local` in-process on a loopback port (on the memory store
//! or on a fresh table of the DynamoDB-compatible server of `HOOKPOST_TEST_DYNAMODB_ENDPOINT`),
//! and call it over real HTTP.

use std::sync::Arc;

use bytes::Bytes;
use hookpost_domain::time::ManualClock;
use hookpost_domain::{Clock, Timestamp};
use hookpost_http::{App, Config};
use hookpost_local::Running;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub const ADMIN_KEY: &str = "hp_admin_test";

/// Which store a server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Dynamo,
}

/// The DynamoDB-compatible endpoint for tests, or `None` (with a note) when unset. With
/// `HOOKPOST_REQUIRE_DYNAMODB=1` (scripts/test) an unset endpoint is a failure.
pub fn dynamo_endpoint() -> Option<String> {
    match std::env::var("HOOKPOST_TEST_DYNAMODB_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            assert!(
                std::env::var("HOOKPOST_REQUIRE_DYNAMODB").as_deref() != Ok("1"),
                "HOOKPOST_REQUIRE_DYNAMODB=1 but HOOKPOST_TEST_DYNAMODB_ENDPOINT is unset"
            );
            eprintln!("skipped: HOOKPOST_TEST_DYNAMODB_ENDPOINT is unset (scripts/test sets it)");
            None
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error in the SPEC envelope with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "body: {}", self.text);
        assert!(self.body["message"].is_string(), "envelope without message: {}", self.text);
    }
}

pub struct TestServer {
    pub running: Running,
    pub clock: Arc<ManualClock>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A request to send.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub bearer: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: Option<String>,
}

impl TestServer {
    /// Starts a server on `kind`, or returns `None` when that store is not available here.
    pub async fn start(kind: StoreKind, mut config: Config) -> Option<Self> {
        if kind == StoreKind::Dynamo {
            config.dynamodb_endpoint = Some(dynamo_endpoint()?);
            config.table = format!("test-{}", hookpost_domain::AccountId::new());
        }
        let store = hookpost_local::open_store(&config).await.expect("open store");
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        let mut app = App::new(store, config);
        app.clock = Arc::clone(&clock) as Arc<dyn Clock>;
        let running = hookpost_local::start_with_app(
            "127.0.0.1:0".parse().expect("loopback address"),
            Some(ADMIN_KEY.to_owned()),
            Arc::new(app),
        )
        .await
        .expect("start hookpost-local");
        let client = Client::builder(TokioExecutor::new()).build_http();
        Some(Self { running, clock, client })
    }

    pub async fn send(&self, call: Call<'_>) -> Response {
        let uri = format!("http://{}{}", self.running.addr, call.path);
        let mut builder = hyper::Request::builder().method(call.method).uri(uri);
        if let Some(token) = call.bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = call.content_type {
            builder = builder.header("content-type", ct);
        }
        let req = builder.body(Full::new(Bytes::from(call.body.unwrap_or_default()))).expect("request");
        let res = self.client.request(req).await.expect("hookpost-local answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("read body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        Response { status, headers, body, text }
    }

    /// A JSON request (or none, for `body == Value::Null`).
    pub async fn call(&self, method: &str, path: &str, bearer: Option<&str>, body: Value) -> Response {
        let has_body = !body.is_null();
        self.send(Call {
            method,
            path,
            bearer,
            content_type: has_body.then_some("application/json"),
            body: has_body.then(|| body.to_string()),
        })
        .await
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> Response {
        self.call(method, path, Some(ADMIN_KEY), body).await
    }

    /// Creates an account on `plan` and a token with `scopes`: (account id, token).
    pub async fn tenant(&self, plan: &str, scopes: &[&str]) -> (String, String) {
        let account = self.admin("POST", "/internal/v1/accounts", json!({"name": "Tenant", "plan": plan})).await;
        assert_eq!(account.status, 201, "{}", account.text);
        let id = account.body["id"].as_str().expect("account id").to_owned();
        let token = self.token(&id, scopes).await;
        (id, token)
    }

    pub async fn token(&self, account: &str, scopes: &[&str]) -> String {
        let res =
            self.admin("POST", &format!("/internal/v1/accounts/{account}/tokens"), json!({ "scopes": scopes })).await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.body["token"].as_str().expect("token").to_owned()
    }

    /// A paid account whose token has both scopes.
    pub async fn customer(&self) -> (String, String) {
        self.tenant("pro", &["tasks.webhooks.read", "tasks.webhooks.manage"]).await
    }

    pub async fn create_subscription(&self, token: &str, body: Value) -> Value {
        let res = self.call("POST", "/api/v1/webhook-subscriptions", Some(token), body).await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.body
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// A configuration for tests: everything default but a roomy rate limit.
pub fn config() -> Config {
    Config { rate_limit_per_minute: 10_000, ..Config::default() }
}

/// Expands test bodies `async fn name(kind: StoreKind)` into one test per store.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::StoreKind::Memory).await;
                }
            )+
        }
        mod dynamo {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::StoreKind::Dynamo).await;
                }
            )+
        }
    };
}
