//! The durability soak: publish events to receivers that misbehave, crash `hookpost-local`
//! with `kill -9` or throttle its DynamoDB, and account for every (event, subscription)
//! pair that was accepted (answered 202) as delivered or recorded as a failure.
//!
//! Three runs, as a user meets them:
//!
//! - `faults`: the memory store; five receivers (always 204; 30 % 500; 20 % hang past the
//!   sender's timeout; 30 % TCP reset; 50 % 503 with `Retry-After`).
//! - `crash`: `hookpost-local --dynamodb-endpoint` (moto), two receivers (one always 204,
//!   one failing half its attempts so retries are queued), killed with SIGKILL and restarted
//!   on the same store: half the kills while events are being published (before, during or
//!   after a fan-out), half afterwards, while retries are in flight.
//! - `throttle`: the DynamoDB endpoint behind a proxy that throttles a share of the calls.
//!
//! The publisher behaves like a team's backend: half the events carry an `event_id` of its
//! own and are repeated with it until answered 202; the others let hookpost choose, and a
//! publish that fails is sent again as a new event.
//!
//! In `crash` mode a second account has a `fifo` subscription (SPEC §10) behind a receiver
//! that fails 30 % of its attempts, and a second publisher sends it a sequence of events on
//! three ordering keys, one at a time (each repeated with its id until answered 202), while
//! the kills happen. Besides nothing lost, its attempts must arrive in publish order per
//! key: a head repeated after a crash is allowed (at-least-once), a head skipped is not.
//!
//! Every receiver verifies every request's signature with the Standard Webhooks library
//! (`standardwebhooks`) and the subscription's secret; one refused fails the run.
//!
//! Failure records do not name their event in the API (the seed fixes that shape), so the
//! soak proves each record the way a customer would use it: once everything has drained and
//! no request has arrived for longer than any retry or redelivery takes (so no automatic
//! attempt is left to land late), the failure records are counted from the API by reason,
//! every subscription's URL is changed to a recovery receiver and every failure is
//! retriggered (`POST .../recover`). A pair is **delivered** when its receiver answered 2xx,
//! **recorded** when its failure record's retrigger brought the event to the recovery
//! receiver, and **lost** otherwise; recorded pairs cannot outnumber the records. A
//! **duplicate** is every 2xx a pair got beyond its first, wherever it landed (a pair
//! delivered and then retriggered from a record counts one).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::faults::{Behaviour, FaultReceivers};
use crate::procs::{free_addr, spawn_local_at, Api, Child};
use crate::publisher::{Publisher, Target, Via};
use crate::throttle::ThrottleProxy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Faults,
    Crash,
    Throttle,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "faults" => Some(Self::Faults),
            "crash" => Some(Self::Crash),
            "throttle" => Some(Self::Throttle),
            _ => None,
        }
    }
}

pub struct Options {
    pub local_bin: PathBuf,
    pub out_dir: PathBuf,
    pub mode: Mode,
    pub events: u64,
    /// `crash`: how many times hookpost-local is killed.
    pub kills: u32,
    /// `throttle`: the share of DynamoDB calls throttled.
    pub throttle: f64,
    /// `crash` and `throttle`: the DynamoDB- and SQS-compatible server (moto).
    pub endpoint: Option<String>,
    pub drain_timeout: Duration,
    /// `crash` and `throttle`: receivers per event (half always 204, half failing half
    /// their attempts); the fault mix always has its five.
    pub receivers: usize,
    /// How events are published (the ingest queue needs the durable store: SQS).
    pub via: Via,
}

/// The retry schedule of the soak: three attempts, a second apart.
const SCHEDULE: &str = "0,1,2";
/// How long a hanging receiver holds a connection: past the sender's 15 s.
const HANG: Duration = Duration::from_secs(17);
/// The queue's visibility timeout in the durable mode: what a killed worker's task waits
/// before it is handed out again.
const VISIBILITY_SECS: &str = "20";
/// How long no request may arrive before the soak takes everything as settled: longer than
/// the schedule's last gap (2 s), a hanging receiver (17 s) and a killed worker's task
/// coming back (20 s).
const QUIET: Duration = Duration::from_secs(25);

/// The receivers of a run: (name, behaviour).
fn receivers_of(mode: Mode, count: usize) -> Vec<(String, Behaviour)> {
    match mode {
        Mode::Faults => vec![
            ("ok".to_owned(), Behaviour::Ok),
            ("error".to_owned(), Behaviour::Error(0.3)),
            ("hang".to_owned(), Behaviour::Hang(0.2)),
            ("reset".to_owned(), Behaviour::Reset(0.3)),
            ("busy".to_owned(), Behaviour::Busy(0.5)),
        ],
        Mode::Crash | Mode::Throttle => (0..count.max(1))
            .map(|i| {
                if i.is_multiple_of(2) {
                    (format!("ok{i}"), Behaviour::Ok)
                } else {
                    (format!("flaky{i}"), Behaviour::Error(0.5))
                }
            })
            .collect(),
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub events_accepted: u64,
    pub pairs: u64,
    pub delivered: u64,
    pub failure_records: u64,
    /// The failure records by reason, as the API lists them once everything has settled.
    pub records_by_reason: BTreeMap<String, u64>,
    pub recorded: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub delivered_and_recorded: u64,
    /// Deliveries of events whose publish was never answered 202 (a publish cut short by a
    /// crash or refused after part of its fan-out was queued).
    pub strays: u64,
    pub publish_answers: BTreeMap<String, u64>,
    pub kills: u32,
    pub throttled: (u64, u64),
    pub publish_secs: f64,
    pub drain_secs: f64,
    pub lost_examples: Vec<String>,
    /// `throttle`: the calls that reached the server, by operation.
    pub calls: String,
    /// `crash`: the ordered sequence to the `fifo` subscription.
    pub ordered: Option<Ordered>,
    pub signatures: crate::faults::Signatures,
}

/// What became of the ordered sequence.
#[derive(Debug, Default)]
pub struct Ordered {
    pub events: u64,
    pub delivered: u64,
    pub recorded: u64,
    pub lost: u64,
    pub attempts: u64,
    /// Attempts that repeated the one before them (a head retried, or redelivered after a
    /// crash).
    pub repeats: u64,
    /// Keys whose attempts arrived out of publish order.
    pub out_of_order: Vec<String>,
}

/// Ordering keys of the ordered sequence.
const ORDERING_KEYS: u64 = 3;

/// hookpost-local as the soak runs it: one address across restarts.
struct Local {
    bin: PathBuf,
    addr: std::net::SocketAddr,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Local {
    async fn start(&mut self) -> Result<(), String> {
        let env: Vec<(&str, String)> = self.env.iter().map(|(k, v)| (*k, v.clone())).collect();
        self.child = Some(spawn_local_at(&self.bin, self.addr, &env, &self.log).await?);
        Ok(())
    }

    /// `kill -9`, then the same command again on the same store.
    async fn crash_and_restart(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child.kill_now();
        }
        self.start().await
    }
}

pub async fn run(opts: &Options) -> Result<(), String> {
    let report = soak(opts).await?;
    print(opts, &report);
    // One file a run: its mode, how it published, its size and, throttled, its share.
    let name = format!("soak-{:?}-{:?}-{}", opts.mode, opts.via, opts.events);
    let name = if opts.mode == Mode::Throttle { format!("{name}-{}", opts.throttle) } else { name };
    let mut figures = crate::figures::Figures::new(name);
    figures.set("pairs", report.pairs);
    figures.set("delivered", report.delivered);
    figures.set("failure_records", report.failure_records);
    figures.set("lost", report.lost);
    figures.set("duplicates", report.duplicates);
    figures.set("kills", report.kills);
    figures.set("signatures_verified", report.signatures.verified);
    figures.write(&opts.out_dir)?;
    if report.lost > 0 {
        return Err(format!("{} accepted deliveries lost (e.g. {:?})", report.lost, report.lost_examples));
    }
    let signatures = &report.signatures;
    if signatures.refused > 0 || signatures.unchecked > 0 {
        return Err(format!(
            "signatures: {} refused by standardwebhooks (e.g. {:?}), {} unchecked",
            signatures.refused, signatures.refused_examples, signatures.unchecked
        ));
    }
    if report.recorded > report.failure_records {
        return Err(format!(
            "{} pairs came through the recovery receivers but only {} failure records were listed",
            report.recorded, report.failure_records
        ));
    }
    if let Some(ordered) = &report.ordered {
        if ordered.lost > 0 || !ordered.out_of_order.is_empty() {
            return Err(format!(
                "the ordered sequence: {} lost, out of order on {:?}",
                ordered.lost, ordered.out_of_order
            ));
        }
    }
    Ok(())
}

async fn soak(opts: &Options) -> Result<Report, String> {
    let receivers = FaultReceivers::start(HANG).await?;
    let mut env: Vec<(&'static str, String)> = vec![
        ("HOOKPOST_ALLOW_HTTP", "true".to_owned()),
        ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8".to_owned()),
        ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
        ("HOOKPOST_RETRY_SCHEDULE", SCHEDULE.to_owned()),
        ("HOOKPOST_QUEUE_VISIBILITY_SECONDS", VISIBILITY_SECS.to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let mut proxy = None;
    let table = format!("soak-{}", uuid_like());
    match opts.mode {
        // Hanging receivers hold a worker for 15 s each: enough workers that they do not
        // starve the others.
        Mode::Faults => env.push(("HOOKPOST_WORKERS", "256".to_owned())),
        Mode::Crash | Mode::Throttle => {
            let endpoint = opts.endpoint.clone().ok_or("--endpoint (moto) is required for this mode")?;
            let endpoint = if opts.mode == Mode::Throttle {
                let started = ThrottleProxy::start(&endpoint, opts.throttle).await?;
                let url = started.url();
                proxy = Some(started);
                url
            } else {
                endpoint
            };
            env.push(("HOOKPOST_DYNAMODB_ENDPOINT", endpoint));
            env.push(("HOOKPOST_TABLE", table.clone()));
            env.push(("HOOKPOST_SECRETS_KEY", "YmVuY2htYXJrLW9ubHktc2VjcmV0cy1rZXktMzJieXQ=".to_owned()));
        }
    }
    let log = opts.out_dir.join(format!("soak-{:?}-hookpost-local.log", opts.mode).to_lowercase());
    let _ = std::fs::remove_file(&log);
    let mut local = Local { bin: opts.local_bin.clone(), addr: free_addr(), env, log, child: None };
    local.start().await?;
    let api = Api::new(local.addr);
    let (account, token) = api.customer().await;
    let mut subscriptions = Vec::new();
    for (name, behaviour) in receivers_of(opts.mode, opts.receivers) {
        let sub = api.create_subscription(&token, json!({"url": receivers.url(&name, behaviour)})).await;
        receivers.verify_with(&name, sub["secret"].as_str().ok_or("a subscription's 201 has no secret")?)?;
        subscriptions.push((name, sub["id"].as_str().ok_or("a subscription's 201 has no id")?.to_owned()));
    }

    // Publish, and (crash mode) kill while publishing.
    let target = match opts.via {
        Via::Single | Via::Batch => Target::Http(Box::new(api.clone())),
        Via::Ingest => {
            if opts.mode == Mode::Faults {
                return Err(
                    "--publish ingest needs the durable store and its SQS queues (--mode crash or throttle)".into()
                );
            }
            let endpoint = opts.endpoint.as_deref().ok_or("--publish ingest needs --endpoint (moto: SQS)")?;
            let sqs = aws_sdk_sqs::Client::new(&hookpost_store::aws::aws_config(Some(endpoint)).await);
            let name = format!("{table}-ingest");
            let url = sqs.get_queue_url().queue_name(&name).send().await.map_err(|e| format!("{name}: {e}"))?;
            Target::Queue(sqs, url.queue_url.ok_or("the ingest queue has no URL")?)
        }
    };
    let publisher =
        Arc::new(Publisher { target, via: opts.via, account: account.clone(), answers: Mutex::new(BTreeMap::new()) });
    let accepted = Arc::new(Mutex::new(HashSet::<String>::new()));
    let published = Arc::new(AtomicU64::new(0));
    let publishing_done = Arc::new(AtomicBool::new(false));
    // The ordered sequence (crash mode): its own account and fifo subscription, published one
    // at a time so that the publish order is known.
    let ordered = if opts.mode == Mode::Crash {
        let (ordered_account, ordered_token) = api.customer().await;
        let url = receivers.url("fifo", Behaviour::Error(0.3));
        let created = api.create_subscription(&ordered_token, json!({"url": url, "ordering": "fifo"})).await;
        receivers.verify_with("fifo", created["secret"].as_str().ok_or("a subscription's 201 has no secret")?)?;
        let sub = created["id"].as_str().ok_or("a subscription's 201 has no id")?.to_owned();
        let count = (opts.events / 5).max(10);
        let api = api.clone();
        let sequence = tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..count {
                let id = format!("ord-{i:05}");
                let body = json!({"account_id": ordered_account, "event": "order.updated", "event_id": id,
                                  "ordering_key": format!("key-{}", i % ORDERING_KEYS), "data": {"n": i}});
                let mut pause = Duration::from_millis(20);
                loop {
                    match api.call("POST", "/internal/v1/events", Some(crate::procs::ADMIN_KEY), Some(&body)).await {
                        Ok((202, _)) => break,
                        _ => {
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(1));
                        }
                    }
                }
                sent.push(id);
            }
            sent
        });
        Some((ordered_token, sub, sequence))
    } else {
        None
    };
    let kills_during = opts.kills - opts.kills / 2;
    let kills_after = opts.kills / 2;
    let mut kills = 0;
    let started = Instant::now();
    let publishing = {
        let (publisher, accepted, published, done) =
            (Arc::clone(&publisher), Arc::clone(&accepted), Arc::clone(&published), Arc::clone(&publishing_done));
        let (events, chunk) = (opts.events, opts.via.chunk());
        let concurrency = if opts.mode == Mode::Faults { 32 } else { 8 };
        tokio::spawn(async move {
            futures::stream::iter((0..events).step_by(chunk as usize))
                .for_each_concurrent(concurrency, |first| {
                    let (publisher, accepted, published) = (&publisher, &accepted, &published);
                    async move {
                        let ids = publisher.accept(first..(first + chunk).min(events)).await;
                        published.fetch_add(ids.len() as u64, Ordering::Relaxed);
                        accepted.lock().unwrap_or_else(|e| e.into_inner()).extend(ids);
                    }
                })
                .await;
            done.store(true, Ordering::Relaxed);
        })
    };
    if opts.mode == Mode::Crash {
        let mut thresholds: Vec<u64> =
            (0..kills_during).map(|_| (opts.events as f64 * (0.1 + 0.8 * rand::random::<f64>())) as u64).collect();
        thresholds.sort_unstable();
        for threshold in thresholds {
            while published.load(Ordering::Relaxed) < threshold && !publishing_done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 200)).await;
            local.crash_and_restart().await?;
            kills += 1;
        }
    }
    publishing.await.map_err(|e| format!("publisher: {e}"))?;
    let ordered = match ordered {
        Some((token, sub, sequence)) => {
            Some((token, sub, sequence.await.map_err(|e| format!("ordered publisher: {e}"))?))
        }
        None => None,
    };
    let publish_secs = started.elapsed().as_secs_f64();
    let drain_started = Instant::now();
    if opts.mode == Mode::Crash {
        // The retry path: attempts and scheduled retries are in the queue now.
        for _ in 0..kills_after {
            tokio::time::sleep(Duration::from_millis(300 + rand::random::<u64>() % 1500)).await;
            local.crash_and_restart().await?;
            kills += 1;
        }
    }

    let accepted = std::mem::take(&mut *accepted.lock().unwrap_or_else(|e| e.into_inner()));
    let pairs = accepted.len() as u64 * subscriptions.len() as u64;
    let deadline = Instant::now() + opts.drain_timeout;
    drain(&api, &token, &receivers, pairs, deadline).await;
    // Every automatic attempt made: only now is each undelivered pair's record written.
    while receivers.quiet_for() < QUIET && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let records_by_reason = records_by_reason(&api, &token).await?;
    // Retrigger until every pair is settled or the time is up (a retriggered attempt that
    // fails goes back to `inactive`, to be retriggered again).
    let mut report = loop {
        recover(&api, &token, &receivers, &subscriptions, deadline).await?;
        let report = tally(&receivers, &subscriptions, &accepted);
        if report.lost == 0 || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    if let Some((token, sub, sent)) = &ordered {
        report.ordered = Some(ordered_outcome(&api, token, sub, sent, &receivers, deadline).await?);
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();
    report.events_accepted = accepted.len() as u64;
    report.pairs = pairs;
    report.failure_records = records_by_reason.values().sum();
    report.records_by_reason = records_by_reason;
    report.signatures = receivers.signatures();
    report.publish_answers = std::mem::take(&mut *publisher.answers.lock().unwrap_or_else(|e| e.into_inner()));
    report.kills = kills;
    report.throttled = proxy.as_ref().map(ThrottleProxy::counts).unwrap_or_default();
    report.publish_secs = publish_secs;
    report.drain_secs = drain_secs;
    if let Some(mut child) = local.child.take() {
        child.kill_now();
    }
    if let Some(proxy) = &proxy {
        report.calls = proxy.timings().report();
    }
    Ok(report)
}

/// Every accepted (event, subscription) pair as the receivers saw it: delivered at its
/// receiver, retriggered to its recovery receiver, both, or neither (lost).
fn tally(receivers: &FaultReceivers, subscriptions: &[(String, String)], accepted: &HashSet<String>) -> Report {
    let mut report = Report::default();
    let mut everything_delivered = HashSet::new();
    for (name, _) in subscriptions {
        let seen = receivers.seen_at(&format!("/r/{name}"));
        let recovered = receivers.seen_at(&format!("/recovery/{name}"));
        for id in accepted {
            let delivered = seen.get(id).map_or(0, |s| s.delivered);
            let retriggered = recovered.get(id).map_or(0, |s| s.delivered);
            report.duplicates += u64::from((delivered + retriggered).saturating_sub(1));
            match (delivered > 0, retriggered > 0) {
                (true, true) => {
                    report.delivered += 1;
                    report.delivered_and_recorded += 1;
                }
                (true, false) => report.delivered += 1,
                (false, true) => report.recorded += 1,
                (false, false) => {
                    report.lost += 1;
                    if report.lost_examples.len() < 5 {
                        report.lost_examples.push(format!("{id} → {name}"));
                    }
                }
            }
        }
        everything_delivered
            .extend(seen.iter().chain(&recovered).filter(|(_, s)| s.delivered > 0).map(|(id, _)| id.clone()));
    }
    report.strays = everything_delivered.iter().filter(|id| !accepted.contains(id.as_str())).count() as u64;
    report
}

/// The ordered sequence once drained: each event delivered, or recorded (its failure record
/// retriggered to the recovery receiver), and its attempts in publish order per key.
async fn ordered_outcome(
    api: &Api,
    token: &str,
    sub: &str,
    sent: &[String],
    receivers: &FaultReceivers,
    deadline: Instant,
) -> Result<Ordered, String> {
    let pairs = sent.len() as u64;
    loop {
        let delivered = receivers.seen_at("/r/fifo").values().filter(|s| s.delivered > 0).count() as u64;
        let records = failure_total(api, token, None).await.unwrap_or(0);
        if delivered + records >= pairs || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let arrivals = receivers.arrivals_at("/r/fifo");
    let subscriptions = [("fifo".to_owned(), sub.to_owned())];
    recover(api, token, receivers, &subscriptions, deadline).await?;
    let accepted: HashSet<String> = sent.iter().cloned().collect();
    let settled = tally(receivers, &subscriptions, &accepted);
    let mut outcome = Ordered {
        events: pairs,
        delivered: settled.delivered,
        recorded: settled.recorded,
        lost: settled.lost,
        attempts: arrivals.len() as u64,
        ..Ordered::default()
    };
    for key in 0..ORDERING_KEYS {
        let of_key: Vec<&String> = sent.iter().filter(|id| id_number(id) % ORDERING_KEYS == key).collect();
        let mut seen: Vec<&String> = arrivals.iter().filter(|id| id_number(id) % ORDERING_KEYS == key).collect();
        let before = seen.len();
        seen.dedup();
        outcome.repeats += (before - seen.len()) as u64;
        if seen != of_key {
            outcome.out_of_order.push(format!("key-{key}"));
        }
    }
    Ok(outcome)
}

fn id_number(id: &str) -> u64 {
    id.trim_start_matches("ord-").parse().unwrap_or(u64::MAX)
}

/// The failure records listed (inactive and pending) for the customer.
async fn failure_total(api: &Api, token: &str, status: Option<&str>) -> Option<u64> {
    let query = status.map(|s| format!("&status={s}")).unwrap_or_default();
    match api.call("GET", &format!("/api/v4/tasks/webhook_failures?limit=1{query}"), Some(token), None).await {
        Ok((200, body)) => body["metadata"]["total"].as_u64(),
        _ => None,
    }
}

/// The customer's failure records (inactive and pending), counted by reason, every page
/// of the list read.
async fn records_by_reason(api: &Api, token: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut counts = BTreeMap::new();
    let mut offset = 0;
    loop {
        let path = format!("/api/v4/tasks/webhook_failures?limit=100&offset={offset}");
        let page = match api.call("GET", &path, Some(token), None).await {
            Ok((200, body)) => body,
            other => return Err(format!("GET {path}: {other:?}")),
        };
        let records = page["webhook_failures"].as_array().cloned().unwrap_or_default();
        for record in &records {
            let reason = record["reason"].as_str().unwrap_or("(none: pending)");
            // `http_status: 500` and `http_status: 503` are told apart; nothing else varies.
            *counts.entry(reason.to_owned()).or_default() += 1;
        }
        offset += records.len();
        if records.is_empty() || offset as u64 >= page["metadata"]["total"].as_u64().unwrap_or(0) {
            return Ok(counts);
        }
    }
}

/// Waits until deliveries and failure records together cover every accepted pair (or the
/// timeout).
async fn drain(api: &Api, token: &str, receivers: &FaultReceivers, pairs: u64, deadline: Instant) {
    loop {
        let failures = failure_total(api, token, None).await.unwrap_or(0);
        if receivers.delivered() + failures >= pairs || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Points every subscription at its recovery receiver, retriggers every failure record and
/// waits until none is pending.
async fn recover(
    api: &Api,
    token: &str,
    receivers: &FaultReceivers,
    subscriptions: &[(String, String)],
    deadline: Instant,
) -> Result<(), String> {
    for (name, id) in subscriptions {
        let url = format!("http://{}/recovery/{name}", receivers.addr);
        let path = format!("/api/v1/webhook-subscriptions/{id}");
        // A 503 (throttled store) is an answer to repeat, as any client would.
        loop {
            match api.call("PATCH", &path, Some(token), Some(&json!({"url": url}))).await {
                Ok((200, _)) => break,
                other if Instant::now() > deadline => return Err(format!("PATCH {path}: {other:?}")),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    loop {
        let answer = api.call("POST", "/api/v4/tasks/webhook_failures/recover", Some(token), Some(&json!({}))).await;
        match answer {
            Ok((202, Value::Object(body))) if body.get("retriggered").and_then(Value::as_u64) == Some(0) => break,
            Ok((202, _)) => {}
            other if Instant::now() > deadline => return Err(format!("recover: {other:?}")),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    while Instant::now() < deadline {
        if failure_total(api, token, Some("pending")).await == Some(0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err("retriggered failures still pending at the timeout".to_owned())
}

fn uuid_like() -> String {
    format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

fn print(opts: &Options, r: &Report) {
    let mode = match opts.mode {
        Mode::Faults => "fault mix, memory store".to_owned(),
        Mode::Crash => format!("kill -9 ×{}, DynamoDB + SQS (moto)", r.kills),
        Mode::Throttle => {
            let (throttled, passed) = r.throttled;
            let share = 100.0 * throttled as f64 / (throttled + passed).max(1) as f64;
            format!("DynamoDB throttled {:.0} % ({throttled} of {} calls)", share, throttled + passed)
        }
    };
    let mode = match opts.via {
        Via::Single => mode,
        Via::Batch => format!("{mode}, batch publish ({} a request)", crate::publisher::CHUNK),
        Via::Ingest => format!("{mode}, through the ingest queue"),
    };
    let answers: Vec<String> = r.publish_answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let per_thousand = 1000.0 * r.duplicates as f64 / r.delivered.max(1) as f64;
    println!(
        "| {mode} | {} events × {} receivers = {} pairs | {} | {} ({} recorded) | **{}** | {} ({per_thousand:.2} per 1,000) | {} | {:.0} s | {:.0} s |",
        r.events_accepted,
        r.pairs.checked_div(r.events_accepted).unwrap_or(0),
        r.pairs,
        r.delivered,
        r.failure_records,
        r.recorded,
        r.lost,
        r.duplicates,
        r.strays,
        r.publish_secs,
        r.drain_secs,
    );
    println!("publish answers: {}; delivered and also recorded: {}", answers.join(", "), r.delivered_and_recorded);
    let reasons: Vec<String> = r.records_by_reason.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("failure records by reason: {}", if reasons.is_empty() { "none".to_owned() } else { reasons.join(", ") });
    println!(
        "signatures: {} requests verified by standardwebhooks, {} refused, {} unchecked",
        r.signatures.verified, r.signatures.refused, r.signatures.unchecked
    );
    if !r.calls.is_empty() {
        print!("calls that reached the server:\n{}", r.calls);
    }
    if let Some(o) = &r.ordered {
        println!(
            "ordered (a fifo subscription, {ORDERING_KEYS} keys, 30 % of attempts failing, through the same kills): \
             {} events, {} delivered, {} recorded, {} lost; {} attempts, {} repeating the one before; \
             publish order per key {}",
            o.events,
            o.delivered,
            o.recorded,
            o.lost,
            o.attempts,
            o.repeats,
            if o.out_of_order.is_empty() { "kept".to_owned() } else { format!("BROKEN on {:?}", o.out_of_order) }
        );
    }
}

/// The table head the rows above belong under.
pub fn print_header() {
    println!("| run | accepted | delivered | failure records (retriggered to the recovery receiver) | lost | duplicates | strays | publish | drain |");
    println!("|---|---|---|---|---|---|---|---|---|");
}
