//! Delivery throughput and publish→received latency through hookpost-local, against the
//! raw rate of the same sink under a plain load generator.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::figures::Figures;
use crate::load::{closed_loop, Latencies, Rates, RequestSpec};
use crate::procs::{spawn_local, spawn_sink, Api};
use crate::sink::wall_nanos;

pub struct Options {
    pub local_bin: PathBuf,
    /// A previous build of hookpost-local: its batch-publish throughput measured beside this
    /// one's, alternating, `rounds` times each.
    pub baseline_bin: Option<PathBuf>,
    pub rounds: usize,
    pub out_dir: PathBuf,
    pub quick: bool,
    /// Deliveries in each throughput run (default 40,000; 100 when quick).
    pub deliveries: Option<u64>,
    /// Only this many subscriptions per event (default: 1, then 10).
    pub subscriptions: Option<u64>,
}

/// Concurrency of the publishers and of the raw load generator.
const CONNECTIONS: usize = 32;
/// Events per batch publish: the most one request takes.
const BATCH: u64 = 100;
/// Batch publishers: each request carries a hundred events, so a few keep hookpost busy.
const BATCH_CONNECTIONS: usize = 4;
/// hookpost-local's default.
const WORKERS: &str = "32";

/// A 1 KiB event's `data`.
fn event_data() -> Value {
    json!({"order_id": "ord_0123456789", "blob": "x".repeat(960)})
}

pub async fn run(opts: &Options) -> Result<(), String> {
    let sink = spawn_sink().await?;
    let sink_api = Api::new(sink.addr);
    let (measure, throughput_events, load_secs) =
        if opts.quick { (Duration::from_millis(500), 100, 1) } else { (Duration::from_secs(10), 40_000, 10) };
    let throughput_events = opts.deliveries.unwrap_or(throughput_events);

    // The physical limit: the same sink, the same 1 KiB body, nothing but a load generator.
    let delivered_body = json!({"type": "bench.event", "timestamp": "2026-11-23T00:00:00Z", "data": event_data()});
    let raw_spec = RequestSpec {
        method: hyper::Method::POST,
        path: "/ok/raw".to_owned(),
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: Bytes::from(delivered_body.to_string()),
        expect: 204,
    };
    let raw = closed_loop(sink.addr, &raw_spec, CONNECTIONS, measure).await;
    let mut figures = Figures::new("delivery");
    figures.set("raw_per_second", raw.per_second());
    println!(
        "raw sink: {:.0} requests/s ({} connections, {} B bodies, p50 {:.2} ms, p99 {:.2} ms, {} errors)",
        raw.per_second(),
        CONNECTIONS,
        raw_spec.body.len(),
        raw.latencies.percentile_ms(50.0),
        raw.latencies.percentile_ms(99.0),
        raw.errors
    );

    let env = [
        ("HOOKPOST_ALLOW_HTTP", "true".to_owned()),
        ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8".to_owned()),
        ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
        ("HOOKPOST_WORKERS", WORKERS.to_owned()),
    ];
    let local = spawn_local(&opts.local_bin, &env, &opts.out_dir.join("delivery-hookpost-local.log")).await?;
    let api = Api::new(local.addr);
    let data = event_data().to_string();

    println!();
    println!("| subscriptions per event | publish | deliveries/s | % of raw sink rate | offered load | deliveries | p50 publish→received | p99 publish→received |");
    println!("|---|---|---|---|---|---|---|---|");
    let fan_outs = opts.subscriptions.map_or_else(|| vec![1, 10], |n| vec![n]);
    let mut delivered = 0;
    for subscriptions in fan_outs {
        let (account, token) = api.customer().await;
        for i in 0..subscriptions {
            api.subscribe_unlimited(&token, &format!("http://{}/ok/{i}", sink.addr)).await;
        }

        // Throughput: publish as fast as the publishers can, until the sink has them all.
        let events = throughput_events / subscriptions;
        let before = sink_api.sink_count().await;
        let start = Instant::now();
        futures::stream::iter(0..events)
            .for_each_concurrent(CONNECTIONS, |i| {
                let (api, account, data) = (&api, &account, &data);
                async move {
                    // A full queue answers 503 (HOOKPOST_QUEUE_CAPACITY): wait and send the
                    // same event again, as a backend would.
                    let id = format!("t{subscriptions}-{i}");
                    loop {
                        match api.publish_serialized(account, Some(&id), data).await {
                            Ok(202) => break,
                            Ok(503) => tokio::time::sleep(Duration::from_millis(200)).await,
                            other => panic!("publish: {other:?}"),
                        }
                    }
                }
            })
            .await;
        wait_for(&sink_api, before + events * subscriptions).await?;
        let per_second = (events * subscriptions) as f64 / start.elapsed().as_secs_f64();
        delivered += events * subscriptions;
        let _ = sink_api.sink_arrivals().await;

        // Latency at a fixed offered load of 1,000 deliveries/s: 1,000 events/s with one
        // subscription, 100 with ten; each publish is sent on its tick.
        let rate: u64 = (1_000 / subscriptions).max(1);
        let latencies = fixed_load(&api, &sink_api, &account, &data, subscriptions, rate, load_secs).await?;
        println!(
            "| {subscriptions} | one event per request | {per_second:.0} | {:.0} % | {rate} events/s for {load_secs} s | {} | {:.1} ms | {:.1} ms |",
            100.0 * per_second / raw.per_second(),
            latencies.len(),
            latencies.percentile_ms(50.0),
            latencies.percentile_ms(99.0),
        );
        delivered += latencies.len() as u64;
        figures.set(format!("single_{subscriptions}_per_second"), per_second);
        figures.set(format!("single_{subscriptions}_share"), per_second / raw.per_second());
        figures.set(format!("p50_ms_{subscriptions}"), latencies.percentile_ms(50.0));
        figures.set(format!("p99_ms_{subscriptions}"), latencies.percentile_ms(99.0));

        // The same throughput run with batch publishes: the publish exchange is shared by a
        // hundred events.
        let per_second = batch_throughput(&api, &sink_api, &account, &data, events, subscriptions, "b").await?;
        delivered += events * subscriptions;
        figures.set(format!("batch_{subscriptions}_per_second"), per_second);
        figures.set(format!("batch_{subscriptions}_share"), per_second / raw.per_second());
        println!(
            "| {subscriptions} | {BATCH} events per request | {per_second:.0} | {:.0} % | as fast as {BATCH_CONNECTIONS} publishers go | {} | | |",
            100.0 * per_second / raw.per_second(),
            events * subscriptions,
        );
    }
    // What the memory store and queue hold after it all: every attempt is kept for its
    // retention (30 days), as in DynamoDB, so this grows with deliveries; the queue is empty.
    if let Some(mib) = local.resident_mib() {
        println!();
        println!("hookpost-local resident memory after {delivered} deliveries: {mib:.0} MiB");
        figures.set("resident_mib", mib);
        figures.set("resident_after_deliveries", delivered);
    }
    drop(local);
    if let Some(baseline) = &opts.baseline_bin {
        beside_baseline(opts, baseline, &env, &sink, throughput_events, &raw, &mut figures).await?;
    }
    figures.write(&opts.out_dir)
}

/// Deliveries a second with batch publishes of `events` events to `subscriptions` each,
/// their ids prefixed `tag`: as fast as the publishers go, until the sink has them all.
async fn batch_throughput(
    api: &Api,
    sink_api: &Api,
    account: &str,
    data: &str,
    events: u64,
    subscriptions: u64,
    tag: &str,
) -> Result<f64, String> {
    let before = sink_api.sink_count().await;
    let start = Instant::now();
    let batches = events.div_ceil(BATCH);
    futures::stream::iter(0..batches)
        .for_each_concurrent(BATCH_CONNECTIONS, |b| async move {
            // Chosen ids: a refused event is sent again without a second delivery.
            let mut ids: Vec<Option<String>> =
                (b * BATCH..((b + 1) * BATCH).min(events)).map(|i| Some(format!("{tag}{subscriptions}-{i}"))).collect();
            while !ids.is_empty() {
                ids = api.publish_batch_serialized(account, &ids, data).await.expect("batch publish");
                if !ids.is_empty() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .await;
    wait_for(sink_api, before + events * subscriptions).await?;
    let per_second = (events * subscriptions) as f64 / start.elapsed().as_secs_f64();
    let _ = sink_api.sink_arrivals().await;
    Ok(per_second)
}

/// This build's batch-publish throughput beside a previous build's, each its own
/// hookpost-local on the same sink, alternating which goes first, `rounds` times.
async fn beside_baseline(
    opts: &Options,
    baseline: &std::path::Path,
    env: &[(&str, String)],
    sink: &crate::procs::Child,
    throughput_events: u64,
    raw: &crate::load::LoadReport,
    figures: &mut Figures,
) -> Result<(), String> {
    let sink_api = Api::new(sink.addr);
    let data = event_data().to_string();
    let builds = [
        spawn_local(&opts.local_bin, env, &opts.out_dir.join("delivery-current-local.log")).await?,
        spawn_local(baseline, env, &opts.out_dir.join("delivery-baseline-local.log")).await?,
    ];
    println!();
    println!("| subscriptions per event | this build, deliveries/s | % of raw | the baseline, deliveries/s | % of raw | against the baseline |");
    println!("|---|---|---|---|---|---|");
    let fan_outs = opts.subscriptions.map_or_else(|| vec![1, 10], |n| vec![n]);
    for subscriptions in fan_outs {
        let mut targets = Vec::new();
        for local in &builds {
            let api = Api::new(local.addr);
            let (account, token) = api.customer().await;
            for i in 0..subscriptions {
                api.subscribe_unlimited(&token, &format!("http://{}/ok/{i}", sink.addr)).await;
            }
            targets.push((api, account));
        }
        let mut rates = [Rates::default(), Rates::default()];
        for round in 0..opts.rounds.max(1) {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let (api, account) = &targets[which];
                let tag = format!("r{round}w{which}-");
                let events = throughput_events / subscriptions;
                rates[which].push(batch_throughput(api, &sink_api, account, &data, events, subscriptions, &tag).await?);
            }
        }
        let (ours, theirs) = (rates[0].median(), rates[1].median());
        figures.set(format!("batch_{subscriptions}_against_baseline"), ours / theirs);
        println!(
            "| {subscriptions} | {} | {:.0} % | {} | {:.0} % | {:+.0} % |",
            rates[0].describe(),
            100.0 * ours / raw.per_second(),
            rates[1].describe(),
            100.0 * theirs / raw.per_second(),
            100.0 * (ours / theirs - 1.0)
        );
    }
    println!();
    println!("({} rounds of {throughput_events} deliveries a build, batch publish, alternating; medians, ranges in brackets)", opts.rounds.max(1));
    Ok(())
}

async fn wait_for(sink_api: &Api, count: u64) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let got = sink_api.sink_count().await;
        if got >= count {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("deliveries stalled at {got} of {count}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn fixed_load(
    api: &Api,
    sink_api: &Api,
    account: &str,
    data: &str,
    subscriptions: u64,
    rate: u64,
    secs: u64,
) -> Result<Latencies, String> {
    let events = rate * secs;
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..events).map(|_| AtomicU64::new(0)).collect());
    let before = sink_api.sink_count().await;
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    let mut publishes = Vec::with_capacity(events as usize);
    for seq in 0..events {
        ticks.tick().await;
        let (api, account, data, sent) = (api.clone(), account.to_owned(), data.to_owned(), Arc::clone(&sent));
        publishes.push(tokio::spawn(async move {
            sent[seq as usize].store(wall_nanos(), Ordering::Relaxed);
            api.publish_serialized(&account, Some(&format!("l{subscriptions}-{seq}")), &data).await
        }));
    }
    for publish in publishes {
        let status = publish.await.map_err(|e| e.to_string())?;
        if status != Ok(202) {
            return Err(format!("publish answered {status:?}"));
        }
    }
    wait_for(sink_api, before + events * subscriptions).await?;
    let prefix = format!("l{subscriptions}-");
    let index: HashMap<String, u64> =
        (0..events).map(|seq| (format!("{prefix}{seq}"), sent[seq as usize].load(Ordering::Relaxed))).collect();
    let micros = sink_api
        .sink_arrivals()
        .await
        .into_iter()
        .filter_map(|(id, at)| index.get(&id).map(|sent| at.saturating_sub(*sent) / 1000))
        .collect();
    Ok(Latencies::new(micros))
}
