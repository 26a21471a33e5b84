//! The benchmark's HTTP sink: as little work per request as a server can do, so it measures
//! the sender, not itself. Runs as its own process (`hookpost-bench sink`).
//!
//! - `POST /ok/...` answers 204; `POST /fail/...` answers 500. Both are counted, and when
//!   the request has a `webhook-id` its arrival time is kept for latency figures.
//! - `GET /raw/<n>` answers 200 with `n` bytes: the raw rate behind the API figures.
//! - `GET /_count` and `GET /_arrivals` (drains `webhook-id nanos` lines) are for the bench.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Default)]
struct Sink {
    received: AtomicU64,
    arrivals: Mutex<Vec<(String, u64)>>,
}

/// Nanoseconds since the Unix epoch: comparable across the bench's processes.
pub fn wall_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default()
}

pub async fn serve(listener: TcpListener) {
    let sink = Arc::new(Sink::default());
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let sink = Arc::clone(&sink);
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(Arc::clone(&sink), req));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn respond(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    res
}

async fn answer(sink: Arc<Sink>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET {
        return Ok(match path.as_str() {
            "/_count" => respond(200, sink.received.load(Ordering::Relaxed).to_string()),
            "/_arrivals" => {
                let drained = std::mem::take(&mut *sink.arrivals.lock().unwrap_or_else(|e| e.into_inner()));
                let lines: String = drained.iter().map(|(id, at)| format!("{id} {at}\n")).collect();
                respond(200, lines)
            }
            raw => match raw.strip_prefix("/raw/").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => respond(200, vec![b'x'; n.min(1 << 20)]),
                None => respond(404, ""),
            },
        });
    }
    let id = req.headers().get("webhook-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if req.into_body().collect().await.is_err() {
        return Ok(respond(400, ""));
    }
    sink.received.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = id {
        let at = wall_nanos();
        sink.arrivals.lock().unwrap_or_else(|e| e.into_inner()).push((id, at));
    }
    Ok(respond(if path.starts_with("/fail/") { 500 } else { 204 }, ""))
}
