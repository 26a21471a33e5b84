//! The processes a benchmark runs against (the sink, hookpost-local) and a JSON client.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub const ADMIN_KEY: &str = "hp_admin_benchmark_0123456789abcdef0";

/// A child process, killed when dropped.
pub struct Child {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl Child {
    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its resident memory in MiB (`VmRSS` from /proc; `None` where there is no /proc).
    pub fn resident_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib: f64 =
            status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("local addr")
}

async fn wait_listening(child: &mut std::process::Child, addr: SocketAddr, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited before listening: {status}"));
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{what} did not listen on {addr} within 60 s"))
}

/// This binary's `sink` subcommand, as its own process.
pub async fn spawn_sink() -> Result<Child, String> {
    let addr = free_addr();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["sink", &addr.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the sink: {e}"))?;
    wait_listening(&mut child, addr, "the sink").await?;
    Ok(Child { child, addr })
}

/// The `hookpost-local` binary with `env`, logging to `log`.
pub async fn spawn_local(bin: &Path, env: &[(&str, String)], log: &Path) -> Result<Child, String> {
    let _ = std::fs::remove_file(log);
    spawn_local_at(bin, free_addr(), env, log).await
}

/// The `hookpost-local` binary on `addr` with `env`, appending to `log` (a restart keeps
/// the earlier runs' lines).
pub async fn spawn_local_at(bin: &Path, addr: SocketAddr, env: &[(&str, String)], log: &Path) -> Result<Child, String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(bin);
    command
        .env("HOOKPOST_ADDR", addr.to_string())
        .env("HOOKPOST_ADMIN_KEY", ADMIN_KEY)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut child = command.spawn().map_err(|e| format!("starting {}: {e}", bin.display()))?;
    wait_listening(&mut child, addr, "hookpost-local").await?;
    Ok(Child { child, addr })
}

/// A JSON client over a connection pool.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector);
        Self { client, base: format!("http://{addr}") }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut builder = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = builder.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        let res = self.client.request(req).await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok((status, value))
    }

    /// The call's answer, which must have `status`. A 503 `unavailable` (the store throttled:
    /// nothing was written) is tried again after a pause, as a client does.
    async fn expect(&self, method: &str, path: &str, bearer: Option<&str>, body: Value, status: u16) -> Value {
        let pauses = std::iter::repeat_n(std::time::Duration::from_millis(500), 40);
        let call = || async {
            match self.call(method, path, bearer, Some(&body)).await {
                Ok((s, v)) if s == status => Ok(v),
                Ok((s, v)) => Err((s, v.to_string())),
                Err(e) => Err((0, e)),
            }
        };
        match hookpost_delivery::retry::retry(pauses, call, |(s, _)| *s == 503 && status != 503).await {
            Ok(v) => v,
            Err((0, e)) => panic!("{e}"),
            Err((s, v)) => panic!("{method} {path}: expected {status}, got {s}: {v}"),
        }
    }

    /// A paid account and a token with both scopes: (account id, token).
    pub async fn customer(&self) -> (String, String) {
        let account = self
            .expect("POST", "/internal/v1/accounts", Some(ADMIN_KEY), json!({"name": "Bench", "plan": "pro"}), 201)
            .await;
        let id = account["id"].as_str().expect("account id").to_owned();
        let scopes = json!({"scopes": ["tasks.webhooks.read", "tasks.webhooks.manage"]});
        let token =
            self.expect("POST", &format!("/internal/v1/accounts/{id}/tokens"), Some(ADMIN_KEY), scopes, 201).await;
        (id, token["token"].as_str().expect("token").to_owned())
    }

    /// Subscribes `url` to every event, at the deployment's default rate limit; returns the
    /// subscription id.
    pub async fn subscribe(&self, token: &str, url: &str) -> String {
        self.subscribe_with(token, json!({"url": url})).await
    }

    /// Subscribes `url` to every event with no rate limit: what a throughput benchmark
    /// measures (a limit would be the figure instead).
    pub async fn subscribe_unlimited(&self, token: &str, url: &str) -> String {
        self.subscribe_with(token, json!({"url": url, "rate_limit": null})).await
    }

    /// Creates a subscription from `body`; returns its id.
    pub async fn subscribe_with(&self, token: &str, body: Value) -> String {
        let sub = self.create_subscription(token, body).await;
        sub["id"].as_str().expect("subscription id").to_owned()
    }

    /// Creates a subscription from `body`; returns the 201's body (its `secret` included).
    pub async fn create_subscription(&self, token: &str, body: Value) -> Value {
        self.expect("POST", "/api/v1/webhook-subscriptions", Some(token), body, 201).await
    }

    /// Publishes one event as the team's backend does (with `event_id` when it chooses one);
    /// returns the status.
    pub async fn publish(&self, account: &str, event_id: Option<&str>, data: &Value) -> Result<u16, String> {
        self.publish_serialized(account, event_id, &data.to_string()).await
    }

    /// [`Api::publish`] with `data` already serialized: a load generator should not spend
    /// its share of the CPU re-encoding the same object.
    pub async fn publish_serialized(&self, account: &str, event_id: Option<&str>, data: &str) -> Result<u16, String> {
        let (status, _) = self.operator_post("/internal/v1/events", event_body(account, event_id, data)).await?;
        Ok(status)
    }

    /// A POST on an operator route, its body already serialized: (status, answer).
    async fn operator_post(&self, path: &str, body: String) -> Result<(u16, Bytes), String> {
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let res = self.client.request(req).await.map_err(|e| format!("POST {path}: {e}"))?;
        let status = res.status().as_u16();
        Ok((status, res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes()))
    }

    /// Publishes one event per entry of `ids` (its `event_id`, or none for a generated one;
    /// each with `data`, already serialized) in one `POST /internal/v1/events/batch`; returns
    /// the entries it refused for now (`unavailable`, a full queue), to be sent again. Any
    /// other refusal is an error.
    pub async fn publish_batch_serialized(
        &self,
        account: &str,
        ids: &[Option<String>],
        data: &str,
    ) -> Result<Vec<Option<String>>, String> {
        let events: Vec<String> = ids.iter().map(|id| event_body(account, id.as_deref(), data)).collect();
        let body = format!(r#"{{"events":[{}]}}"#, events.join(","));
        let (status, bytes) = self.operator_post("/internal/v1/events/batch", body).await?;
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| format!("batch publish answer: {e}"))?;
        if status != 202 {
            return Err(format!("batch publish answered {status}: {answer}"));
        }
        let results = answer["results"].as_array().ok_or("batch publish: no results")?;
        let mut again = Vec::new();
        for (id, result) in ids.iter().zip(results) {
            match result["error"].as_str() {
                None => {}
                Some("unavailable") => again.push(id.clone()),
                Some(other) => return Err(format!("batch publish refused {id:?}: {other}: {result}")),
            }
        }
        Ok(again)
    }

    /// The sink's count of requests received.
    pub async fn sink_count(&self) -> u64 {
        match self.call("GET", "/_count", None, None).await {
            Ok((200, Value::Number(n))) => n.as_u64().unwrap_or_default(),
            other => panic!("sink count: {other:?}"),
        }
    }

    /// Drains the sink's arrivals: (webhook-id, wall-clock nanoseconds).
    pub async fn sink_arrivals(&self) -> Vec<(String, u64)> {
        let text = match self.call("GET", "/_arrivals", None, None).await {
            Ok((200, Value::String(text))) => text,
            Ok((200, _)) => String::new(),
            other => panic!("sink arrivals: {other:?}"),
        };
        text.lines()
            .filter_map(|l| l.split_once(' ').and_then(|(id, at)| Some((id.to_owned(), at.parse().ok()?))))
            .collect()
    }
}

/// One `bench.event` publish body, `data` already serialized.
fn event_body(account: &str, event_id: Option<&str>, data: &str) -> String {
    let id = event_id.map(|id| format!(r#","event_id":"{id}""#)).unwrap_or_default();
    format!(r#"{{"account_id":"{account}","event":"bench.event"{id},"data":{data}}}"#)
}
