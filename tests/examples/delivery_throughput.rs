//! A quick delivery-throughput run: hookpost-local in-process (memory store, in-process
//! queue, 64 workers) publishing 1 KiB events to a counting sink on loopback, signed as in
//! production. Prints deliveries per second for 1 and for 10 subscriptions per event.
//!
//!     cargo run --release -p hookpost-tests --example delivery_throughput [events]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use hookpost_delivery::InProcessQueue;
use hookpost_http::App;
use hookpost_store::MemoryStore;
use hookpost_tests::{delivery_config, TestServer, ADMIN_KEY};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

async fn sink() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let counter = Arc::clone(&counter);
                    async move {
                        let _ = req.into_body().collect().await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, Infallible>(
                            hyper::Response::builder().status(204).body(Full::new(Bytes::new())).unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, count)
}

async fn run(events: u64, subscriptions: u64) {
    let config = delivery_config("0");
    let app = App::new(Arc::new(MemoryStore::new()), config);
    let queue = Arc::new(InProcessQueue::new(Duration::from_secs(60)));
    let running =
        hookpost_local::start_with_app("127.0.0.1:0".parse().unwrap(), Some(ADMIN_KEY.into()), app, queue, 64)
            .await
            .unwrap();
    let server = TestServer::attach(running);
    let (account, pat) = server.customer().await;
    let (addr, delivered) = sink().await;
    for i in 0..subscriptions {
        server.create_subscription(&pat, json!({"url": format!("http://{addr}/s{i}")})).await;
    }
    let data = json!({"blob": "x".repeat(1000)});
    let start = Instant::now();
    futures::stream::iter(0..events)
        .for_each_concurrent(32, |_| {
            let server = &server;
            let (account, data) = (&account, &data);
            async move {
                let res = server
                    .admin(
                        "POST",
                        "/internal/v1/events",
                        json!({"account_id": account, "event": "bench.event", "data": data}),
                    )
                    .await;
                assert_eq!(res.status, 202);
            }
        })
        .await;
    let published = start.elapsed();
    let expected = events * subscriptions;
    while delivered.load(Ordering::Relaxed) < expected {
        assert!(start.elapsed() < Duration::from_secs(300), "deliveries stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = start.elapsed();
    println!(
        "{subscriptions:>2} subscription(s)/event: {events} events published in {:.2} s, {expected} deliveries in {:.2} s = {:.0} deliveries/s",
        published.as_secs_f64(),
        total.as_secs_f64(),
        expected as f64 / total.as_secs_f64()
    );
    server.stop().await;
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    run(events, 1).await;
    run(events / 5, 10).await;
}
