//! Delivery control through hookpost-local (SPEC §10): how closely a subscription's rate
//! limit is kept at the receiver, and what FIFO ordering delivers, for one group and for a
//! hundred.
//!
//! - The limit at 10, 100 and 1,000 a second: a backlog of `rate × seconds` events to one
//!   subscription, published at once (batch publish); the sink notes each arrival. Achieved
//!   rate is the deliveries after the opening burst over the time they took; the worst
//!   window is the most arrivals in any 1 s window, beside the bound `rate × (T + 1)`.
//! - FIFO: a `fifo` subscription (no rate limit) with one ordering key, then with a hundred,
//!   a backlog published at once; deliveries a second from the first arrival to the last.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::procs::{spawn_local, spawn_sink, Api};

pub struct Options {
    pub local_bin: PathBuf,
    pub out_dir: PathBuf,
    pub quick: bool,
}

/// Events per batch publish.
const BATCH: usize = 100;

pub async fn run(opts: &Options) -> Result<(), String> {
    let sink = spawn_sink().await?;
    let sink_api = Api::new(sink.addr);
    let env = [
        ("HOOKPOST_ALLOW_HTTP", "true".to_owned()),
        ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8".to_owned()),
        ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
    ];
    let local = spawn_local(&opts.local_bin, &env, &opts.out_dir.join("control-hookpost-local.log")).await?;
    let api = Api::new(local.addr);
    let data = json!({"order_id": "ord_0123456789", "blob": "x".repeat(960)}).to_string();

    println!("| rate_limit | deliveries | achieved rate after the burst | opening burst | worst 1 s window (bound) | worst 2 s window (bound) |");
    println!("|---|---|---|---|---|---|");
    let seconds = if opts.quick { 2 } else { 10 };
    for rate in [10u64, 100, 1000] {
        let (account, token) = api.customer().await;
        let url = format!("http://{}/ok/paced-{rate}", sink.addr);
        api.subscribe_with(&token, json!({"url": url, "rate_limit": rate})).await;
        let events = rate * seconds;
        let _ = sink_api.sink_arrivals().await;
        publish_backlog(&api, &account, events, &data, |_| None).await?;
        let mut arrivals = collect(&sink_api, events, Duration::from_secs(seconds * 3 + 30)).await?;
        arrivals.sort_unstable();
        let burst = arrivals.iter().take_while(|at| **at - arrivals[0] < 50_000_000).count();
        let paced = &arrivals[burst.saturating_sub(1)..];
        let span = (*paced.last().unwrap_or(&0) - paced[0]) as f64 / 1e9;
        let achieved = (paced.len().saturating_sub(1)) as f64 / span.max(1e-9);
        let window = |secs: u64| busiest(&arrivals, secs * 1_000_000_000);
        println!(
            "| {rate}/s | {events} | {achieved:.1}/s ({:.1} % of the limit) | {burst} at once | {} ({}) | {} ({}) |",
            100.0 * achieved / rate as f64,
            window(1),
            2 * rate,
            window(2),
            3 * rate,
        );
        if window(1) as u64 > 2 * rate || window(2) as u64 > 3 * rate {
            return Err(format!("the limit of {rate}/s was exceeded at the receiver"));
        }
    }

    println!();
    println!("| ordering | groups (ordering keys) | deliveries | deliveries/s |");
    println!("|---|---|---|---|");
    let events = if opts.quick { 200 } else { 5_000 };
    for groups in [1u64, 100] {
        let (account, token) = api.customer().await;
        let url = format!("http://{}/ok/fifo-{groups}", sink.addr);
        api.subscribe_with(&token, json!({"url": url, "ordering": "fifo", "rate_limit": null})).await;
        let _ = sink_api.sink_arrivals().await;
        let started = Instant::now();
        publish_backlog(&api, &account, events, &data, |i| Some(format!("key-{}", i % groups))).await?;
        collect(&sink_api, events, Duration::from_secs(600)).await?;
        let took = started.elapsed().as_secs_f64();
        println!("| fifo | {groups} | {events} | {:.0} |", events as f64 / took);
    }
    Ok(())
}

/// Publishes `events` events to `account` a hundred to a batch, each with the ordering key
/// `key(i)` gives.
async fn publish_backlog(
    api: &Api,
    account: &str,
    events: u64,
    data: &str,
    key: impl Fn(u64) -> Option<String>,
) -> Result<(), String> {
    let ids: Vec<u64> = (0..events).collect();
    for chunk in ids.chunks(BATCH) {
        let bodies: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                let data: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                let mut body = json!({"account_id": account, "event": "bench.event", "data": data});
                if let Some(k) = key(*i) {
                    body["ordering_key"] = json!(k);
                }
                body
            })
            .collect();
        let (status, answer) = api
            .call("POST", "/internal/v1/events/batch", Some(crate::procs::ADMIN_KEY), Some(&json!({"events": bodies})))
            .await?;
        let refused = answer["results"].as_array().map_or(0, |r| r.iter().filter(|r| r["error"].is_string()).count());
        if status != 202 || refused > 0 {
            return Err(format!("batch publish: {status}, {refused} refused: {answer}"));
        }
    }
    Ok(())
}

/// The arrival times (ns) of `n` deliveries, as the sink noted them.
async fn collect(sink: &Api, n: u64, limit: Duration) -> Result<Vec<u64>, String> {
    let deadline = Instant::now() + limit;
    let mut arrivals = Vec::new();
    while (arrivals.len() as u64) < n {
        if Instant::now() > deadline {
            return Err(format!("only {} of {n} deliveries arrived within {limit:?}", arrivals.len()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        arrivals.extend(sink.sink_arrivals().await.into_iter().map(|(_, at)| at));
    }
    Ok(arrivals)
}

/// The most arrivals within any window of `window_ns`, of sorted `arrivals`.
fn busiest(arrivals: &[u64], window_ns: u64) -> usize {
    let mut first = 0;
    let mut most = 0;
    for (last, at) in arrivals.iter().enumerate() {
        while arrivals[first] + window_ns < *at {
            first += 1;
        }
        most = most.max(last - first + 1);
    }
    most
}
