//! API requests per second and latency through hookpost-local, against the raw rate of a
//! minimal server answering bodies of the same size.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::load::{closed_loop, LoadReport, RequestSpec};
use crate::procs::{spawn_local, spawn_sink, Api, ADMIN_KEY};

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
    publishes(&api, local.addr, measure).await
}

/// Publish throughput (SPEC §11's costs): a 1 KiB invoice published one per request to an
/// account nobody listens to, with no catalogue entry and then checked against a
/// 15-property schema; and to an account with 25 subscriptions whose filters all turn it
/// down (the matching is the work: no delivery follows, so nothing piles up), beside 25 whose
/// types do not select it (the same read of 25 subscriptions, no filter run).
async fn publishes(api: &Api, addr: std::net::SocketAddr, measure: Duration) -> Result<(), String> {
    let data = crate::invoice::data();
    let declare = json!({"description": "An invoice was paid.", "schema": crate::invoice::schema()});
    let (status, body) =
        api.call("PUT", "/internal/v1/event-types/billing.invoice.paid", Some(ADMIN_KEY), Some(&declare)).await?;
    if status != 201 {
        return Err(format!("declaring the type answered {status}: {body}"));
    }
    let (quiet, _) = api.customer().await;
    // The control: 25 subscriptions whose types do not select the event (read, not filtered).
    let other = json!({"description": "A contact was created."});
    api.call("PUT", "/internal/v1/event-types/crm.contact.created", Some(ADMIN_KEY), Some(&other)).await?;
    let (elsewhere, others) = api.customer().await;
    for i in 0..25 {
        api.subscribe_with(
            &others,
            json!({"url": format!("http://127.0.0.1:9/never/{i}"), "events": ["crm.*"], "rate_limit": null}),
        )
        .await;
    }
    let (filtered, token) = api.customer().await;
    for i in 0..25 {
        api.subscribe_with(
            &token,
            json!({"url": format!("http://127.0.0.1:9/never/{i}"), "events": ["billing.*"], "rate_limit": null,
                   "filter": {"data": {"amount": [{"numeric": [">=", 1_000_000 + i]}], "country": [{"anything-but": ["FR"]}]}}}),
        )
        .await;
    }
    println!();
    println!("| publish, 1 KiB, one per request | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    let rows = [
        ("to nobody, no schema (a type outside the catalogue)", &quiet, "billing.invoice.unchecked"),
        ("to nobody, checked against a 15-property schema", &quiet, "billing.invoice.paid"),
        ("to 25 subscriptions of other types (read, not selected)", &elsewhere, "billing.invoice.paid"),
        ("to 25 subscriptions whose filters turn it down", &filtered, "billing.invoice.paid"),
    ];
    for (name, account, event) in rows {
        let body = json!({"account_id": account, "event": event, "data": data}).to_string();
        let spec = RequestSpec {
            method: hyper::Method::POST,
            path: "/internal/v1/events".to_owned(),
            headers: vec![
                ("authorization".to_owned(), format!("Bearer {ADMIN_KEY}")),
                ("content-type".to_owned(), "application/json".to_owned()),
            ],
            body: bytes::Bytes::from(body),
            expect: 202,
        };
        let run = closed_loop(addr, &spec, CONNECTIONS, measure).await;
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms |{}",
            run.per_second(),
            run.latencies.percentile_ms(50.0),
            run.latencies.percentile_ms(99.0),
            if run.errors > 0 { format!(" ({} errors)", run.errors) } else { String::new() }
        );
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
