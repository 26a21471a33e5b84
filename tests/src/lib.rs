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

pub mod faulty;

pub const ADMIN_KEY: &str = "hp_admin_test_0123456789abcdef01234";

/// Which store a server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Dynamo,
}

/// The DynamoDB-compatible endpoint for tests; a test asking for it fails when it is
/// unset (see `hookpost_testenv`).
pub fn dynamo_endpoint() -> String {
    hookpost_testenv::dynamodb_endpoint()
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
    /// Starts a server on `kind`.
    pub async fn start(kind: StoreKind, config: Config) -> Self {
        Self::start_with_visibility(kind, config, std::time::Duration::from_secs(30)).await
    }

    /// As `start`, with the queue's visibility timeout set (SQS takes 20 s at least).
    pub async fn start_with_visibility(kind: StoreKind, mut config: Config, visibility: std::time::Duration) -> Self {
        if kind == StoreKind::Dynamo {
            config.dynamodb_endpoint = Some(dynamo_endpoint());
            config.table = format!("test-{}", hookpost_domain::AccountId::new());
            // Secrets sealed as every durable run seals them.
            config.master_key.get_or_insert(hookpost_http::config::MasterKey::Configured([42; 32]));
        }
        let app = hookpost_local::open_app(&config).await.expect("open store");
        // DynamoDB comes with its durable queue on SQS (moto), exactly as the binary runs.
        let delivery = match kind {
            StoreKind::Memory => {
                hookpost_local::Delivery::InProcess(Arc::new(hookpost_delivery::InProcessQueue::new(visibility)))
            }
            StoreKind::Dynamo => {
                config.queue_visibility_secs = u32::try_from(visibility.as_secs()).unwrap_or(u32::MAX).max(20);
                hookpost_local::open_delivery(&config).await.expect("open the SQS queues")
            }
        };
        Self::start_with(app, delivery).await
    }

    /// Starts a server on `app` (its store and, if it has one, the queue tasks are sent to)
    /// with `delivery` worked by four workers. The clock becomes a manual one.
    pub async fn start_with(mut app: App, delivery: hookpost_local::Delivery) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        app.clock = Arc::clone(&clock) as Arc<dyn Clock>;
        let running = hookpost_local::start_with_app(
            "127.0.0.1:0".parse().expect("loopback address"),
            Some(ADMIN_KEY.to_owned()),
            app,
            delivery,
            4,
        )
        .await
        .expect("start hookpost-local");
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { running, clock, client }
    }

    /// Wraps an already started server (its clock is the system's).
    pub fn attach(running: Running) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { running, clock: Arc::new(ManualClock::new(Timestamp::now())), client }
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

/// A configuration for tests: everything default but a roomy rate limit, and no name ever
/// resolved through DNS (this machine's resolver is a private address no test may reach):
/// every name answers 192.0.2.1, an address the destination guard refuses before dialling.
pub fn config() -> Config {
    Config {
        rate_limit_per_minute: 10_000,
        resolve: hookpost_domain::ResolveOverrides::parse("*=192.0.2.1").expect("overrides"),
        ..Config::default()
    }
}

/// Expands test bodies `async fn name(kind: StoreKind)` into one test per store. The
/// DynamoDB ones fail without an endpoint, unless the run opts out (`hookpost_testenv`).
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
                #[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
                async fn $name() {
                    super::$name($crate::StoreKind::Dynamo).await;
                }
            )+
        }
    };
}

/// A SPEC §4 event to publish: a `call.ended` for `account`, with `id` as its `event_id`
/// when given.
pub fn call_ended(account: &str, id: Option<&str>) -> Value {
    let mut body = json!({"account_id": account, "event": "call.ended", "data": {"n": 1}});
    if let Some(id) = id {
        body["event_id"] = json!(id);
    }
    body
}

/// A configuration for delivery tests: loopback receivers allowed, a short schedule.
pub fn delivery_config(schedule: &str) -> Config {
    let mut c = config();
    c.destinations.allow_http = true;
    c.destinations.allow_cidrs = hookpost_domain::Cidr::parse_list("127.0.0.0/8").expect("cidr");
    c.retry_schedule = hookpost_domain::delivery::RetrySchedule::parse(schedule).expect("schedule");
    c
}

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When its head had arrived, by the receiver's clock.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How a [`Receiver`] answers one request.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: std::time::Duration,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), delay: std::time::Duration::ZERO }
    }
}

/// Answers a request from what it holds (its `n`-th, counting from 0), instead of the script.
pub type Responder = Arc<dyn Fn(&Received, usize) -> Answer + Send + Sync>;

/// A webhook receiver on 127.0.0.1: answers from a script of answers, then with a default
/// (or each request by a [`Responder`]), and records every request.
pub struct Receiver {
    pub addr: std::net::SocketAddr,
    seen: Arc<std::sync::Mutex<Vec<Received>>>,
    script: Arc<std::sync::Mutex<std::collections::VecDeque<Answer>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(default: Answer) -> Self {
        Self::start_with(Arc::new(move |_, _| default.clone()), true).await
    }

    /// A receiver that answers each request as `responder` says.
    pub async fn answering(responder: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) -> Self {
        Self::start_with(Arc::new(responder), false).await
    }

    async fn start_with(responder: Responder, scripted: bool) -> Self {
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::<Answer>::new()));
        let (seen2, script2) = (Arc::clone(&seen), Arc::clone(&script));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (seen, script, responder) = (Arc::clone(&seen2), Arc::clone(&script2), Arc::clone(&responder));
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (seen, script, responder) =
                            (Arc::clone(&seen), Arc::clone(&script), Arc::clone(&responder));
                        async move {
                            let at = std::time::Instant::now();
                            let path = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                                .collect();
                            let body =
                                req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                            let received = Received { path, headers, body, at };
                            let n = {
                                let mut seen = seen.lock().expect("receiver log");
                                seen.push(received.clone());
                                seen.len() - 1
                            };
                            let scripted_answer =
                                if scripted { script.lock().expect("receiver script").pop_front() } else { None };
                            let answer = scripted_answer.unwrap_or_else(|| responder(&received, n));
                            tokio::time::sleep(answer.delay).await;
                            let mut res = hyper::Response::builder().status(answer.status);
                            for (k, v) in &answer.headers {
                                res = res.header(k.as_str(), v.as_str());
                            }
                            Ok::<_, std::convert::Infallible>(
                                res.body(Full::new(Bytes::from_static(b"ok"))).expect("response"),
                            )
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, seen, script, task }
    }

    /// Answers the next requests with these, in order.
    pub fn then(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().expect("receiver script").extend(answers);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().expect("receiver log").clone()
    }

    /// Waits until at least `n` requests arrived (10 s at most) and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_for_within(n, std::time::Duration::from_secs(10)).await
    }

    /// Waits until at least `n` requests arrived (`limit` at most) and returns them all.
    pub async fn wait_for_within(&self, n: usize, limit: std::time::Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Polls `check` every 10 ms for up to 10 s, until it gives `Some`.
pub async fn eventually<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
