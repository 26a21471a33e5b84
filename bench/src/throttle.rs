//! A proxy in front of a DynamoDB-compatible server that throttles a share of the DynamoDB
//! calls the way DynamoDB does (HTTP 400, `ThrottlingException`), without forwarding them.
//! Everything else (SQS on the same endpoint, the other DynamoDB calls) passes through.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// DynamoDB's answer to a throttled call, as the SDK's retry classifier knows it.
const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;

pub struct ThrottleProxy {
    pub addr: SocketAddr,
    throttled: Arc<AtomicU64>,
    passed: Arc<AtomicU64>,
    timings: Arc<Timings>,
}

/// Calls forwarded and the time they took, by `x-amz-target`.
#[derive(Default)]
pub struct Timings(std::sync::Mutex<std::collections::BTreeMap<String, (u64, Duration)>>);

impl Timings {
    fn add(&self, target: &str, took: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(target.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += took;
    }

    /// One line per operation: calls, mean milliseconds, total seconds.
    pub fn report(&self) -> String {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(target, (calls, total))| {
                let mean = total.as_secs_f64() * 1000.0 / (*calls).max(1) as f64;
                format!("{target}: {calls} calls, {mean:.1} ms mean, {:.1} s in all\n", total.as_secs_f64())
            })
            .collect()
    }
}

struct Proxy {
    timings: Arc<Timings>,
    upstream: String,
    share: f64,
    client: Client<HttpConnector, Full<Bytes>>,
    throttled: Arc<AtomicU64>,
    passed: Arc<AtomicU64>,
}

impl ThrottleProxy {
    /// Proxies to `upstream` (`http://host:port`), throttling `share` (0 to 1) of the
    /// DynamoDB calls.
    pub async fn start(upstream: &str, share: f64) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("proxy: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (throttled, passed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let timings = Arc::new(Timings::default());
        let proxy = Arc::new(Proxy {
            timings: Arc::clone(&timings),
            upstream: upstream.trim_end_matches('/').to_owned(),
            share,
            client: Client::builder(TokioExecutor::new()).build_http(),
            throttled: Arc::clone(&throttled),
            passed: Arc::clone(&passed),
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let proxy = Arc::clone(&proxy);
                tokio::spawn(async move {
                    let service = service_fn(move |req| Arc::clone(&proxy).forward(req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { addr, throttled, passed, timings })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// DynamoDB calls throttled and passed so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.throttled.load(Ordering::Relaxed), self.passed.load(Ordering::Relaxed))
    }
}

impl Proxy {
    async fn forward(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("other").to_owned();
        let dynamodb = target.starts_with("DynamoDB_");
        if dynamodb {
            if rand::random::<f64>() < self.share {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                let mut res = Response::new(Full::new(Bytes::from_static(THROTTLED.as_bytes())));
                *res.status_mut() = hyper::StatusCode::BAD_REQUEST;
                res.headers_mut().insert("content-type", "application/x-amz-json-1.0".parse().expect("header"));
                return Ok(res);
            }
            self.passed.fetch_add(1, Ordering::Relaxed);
        }
        let (parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Ok(bad_gateway());
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut upstream = Request::builder().method(parts.method.clone()).uri(format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            upstream = upstream.header(name, value);
        }
        let Ok(upstream) = upstream.body(Full::new(body)) else {
            return Ok(bad_gateway());
        };
        let started = std::time::Instant::now();
        let Ok(answer) = self.client.request(upstream).await else {
            return Ok(bad_gateway());
        };
        let (parts, body) = answer.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Ok(bad_gateway());
        };
        self.timings.add(&target, started.elapsed());
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

fn bad_gateway() -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = hyper::StatusCode::BAD_GATEWAY;
    res
}
