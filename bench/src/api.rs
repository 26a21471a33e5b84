//! API requests per second and latency through hookpost-local, against the raw rate of a
//! minimal server answering bodies of the same size.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::load::{closed_loop, LoadReport, RequestSpec};
use crate::procs::{spawn_local, spawn_sink, Api};

pub struct Options {
    pub local_bin: PathBuf,
    pub out_dir: PathBuf,
    pub quick: bool,
}

const CONNECTIONS: usize = 32;

pub async fn run(opts: &Options) -> Result<(), String> {
    let measure = if opts.quick { Duration::from_millis(500) } else { Duration::from_secs(10) };
    let sink = spawn_sink().await?;
    let env = [
        ("HOOKPOST_ALLOW_HTTP", "true".to_owned()),
        ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8".to_owned()),
        // Out of the way: 32 connections for 10 s must not meet a 429.
        ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
        // One attempt, so the failing delivery below becomes a failure record at once.
        ("HOOKPOST_RETRY_SCHEDULE", "0".to_owned()),
    ];
    let local = spawn_local(&opts.local_bin, &env, &opts.out_dir.join("api-hookpost-local.log")).await?;
    let api = Api::new(local.addr);

    let (account, token) = api.customer().await;
    let subscription = api.subscribe_unlimited(&token, &format!("http://{}/ok/api", sink.addr)).await;
    for i in 0..4 {
        api.subscribe_unlimited(&token, &format!("http://{}/ok/api{i}", sink.addr)).await;
    }
    api.subscribe_unlimited(&token, &format!("http://{}/fail/api", sink.addr)).await;
    let status = api.publish(&account, None, &json!({"n": 1})).await?;
    if status != 202 {
        return Err(format!("publish answered {status}"));
    }
    let failure = wait_for_failure(&api, &token).await?;

    println!("| request | hookpost-local requests/s | p50 | p99 | response bytes | raw server requests/s | % of raw |");
    println!("|---|---|---|---|---|---|---|");
    let routes = [
        ("GET subscription", format!("/api/v1/webhook-subscriptions/{subscription}")),
        ("list subscriptions (6)", "/api/v1/webhook-subscriptions".to_owned()),
        ("GET failure", format!("/api/v4/tasks/webhook_failures/{failure}")),
    ];
    for (name, path) in routes {
        let size = match api.call("GET", &path, Some(&token), None).await? {
            (200, body) => body.to_string().len(),
            (status, body) => return Err(format!("GET {path}: {status} {body}")),
        };
        let spec = RequestSpec::get(path, 200).header("authorization", format!("Bearer {token}"));
        let hookpost = closed_loop(local.addr, &spec, CONNECTIONS, measure).await;
        let raw = closed_loop(sink.addr, &RequestSpec::get(format!("/raw/{size}"), 200), CONNECTIONS, measure).await;
        report(name, &hookpost, size, &raw);
    }
    Ok(())
}

fn report(name: &str, hookpost: &LoadReport, size: usize, raw: &LoadReport) {
    println!(
        "| {name} | {:.0} | {:.2} ms | {:.2} ms | {size} | {:.0} | {:.0} % |{}",
        hookpost.per_second(),
        hookpost.latencies.percentile_ms(50.0),
        hookpost.latencies.percentile_ms(99.0),
        raw.per_second(),
        100.0 * hookpost.per_second() / raw.per_second(),
        if hookpost.errors + raw.errors > 0 {
            format!(" ({} errors)", hookpost.errors + raw.errors)
        } else {
            String::new()
        }
    );
}

async fn wait_for_failure(api: &Api, token: &str) -> Result<String, String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let (200, body) = api.call("GET", "/api/v4/tasks/webhook_failures", Some(token), None).await? {
            if let Some(id) = body["webhook_failures"][0]["id"].as_str() {
                return Ok(id.to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("no failure record appeared within 30 s".to_owned())
}
