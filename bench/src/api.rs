//! API requests per second and latency through hookpost-local, against the raw rate of a
//! minimal server answering bodies of the same size — and, with `--baseline-bin`, beside
//! another build of hookpost-local measured in the same run, alternating, so a regression
//! shows as itself and not as the machine's mood of the day.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::figures::Figures;
use crate::load::{closed_loop, LoadReport, Rates, RequestSpec};
use crate::procs::{spawn_local, spawn_sink, Api, Child, ADMIN_KEY};

pub struct Options {
    pub local_bin: PathBuf,
    /// A previous build of hookpost-local, measured beside `local_bin`.
    pub baseline_bin: Option<PathBuf>,
    /// How many times each route is measured on each build (and on the raw server).
    pub rounds: usize,
    pub out_dir: PathBuf,
    pub quick: bool,
}

const CONNECTIONS: usize = 32;

/// A route slower than this share of the baseline's rate fails the run (not a quick one).
pub const REGRESSION_FLOOR: f64 = 0.90;

/// A hookpost-local serving the measured GET routes: one customer with six subscriptions
/// (one failing, so a failure record exists).
struct Served {
    local: Child,
    token: String,
    subscription: String,
    failure: String,
}

impl Served {
    async fn start(bin: &Path, log: &Path, sink: &Child) -> Result<Self, String> {
        let env = [
            ("HOOKPOST_ALLOW_HTTP", "true".to_owned()),
            ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8".to_owned()),
            // Out of the way: 32 connections for 10 s must not meet a 429.
            ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
            // One attempt, so the failing delivery below becomes a failure record at once.
            ("HOOKPOST_RETRY_SCHEDULE", "0".to_owned()),
        ];
        let local = spawn_local(bin, &env, log).await?;
        let api = Api::new(local.addr);
        let (account, token) = api.customer().await;
        let subscribe = |url: String| {
            let api = api.clone();
            let token = token.clone();
            async move {
                // Without a delivery rate limit where the build knows them (SPEC §10); a build
                // from before them refuses the field, and has no limit to lift.
                match api
                    .call(
                        "POST",
                        "/api/v1/webhook-subscriptions",
                        Some(&token),
                        Some(&json!({"url": url, "rate_limit": null})),
                    )
                    .await?
                {
                    (201, body) => Ok(body),
                    _ => match api
                        .call("POST", "/api/v1/webhook-subscriptions", Some(&token), Some(&json!({"url": url})))
                        .await?
                    {
                        (201, body) => Ok(body),
                        (status, body) => Err(format!("creating a subscription answered {status}: {body}")),
                    },
                }
                .map(|body| body["id"].as_str().unwrap_or_default().to_owned())
            }
        };
        let subscription = subscribe(format!("http://{}/ok/api", sink.addr)).await?;
        for i in 0..4 {
            subscribe(format!("http://{}/ok/api{i}", sink.addr)).await?;
        }
        subscribe(format!("http://{}/fail/api", sink.addr)).await?;
        let status = api.publish(&account, None, &json!({"n": 1})).await?;
        if status != 202 {
            return Err(format!("publish answered {status}"));
        }
        let failure = wait_for_failure(&api, &token).await?;
        Ok(Self { local, token, subscription, failure })
    }

    fn routes(&self) -> [(&'static str, String); 3] {
        [
            ("GET subscription", format!("/api/v1/webhook-subscriptions/{}", self.subscription)),
            ("list subscriptions (6)", "/api/v1/webhook-subscriptions".to_owned()),
            ("GET failure", format!("/api/v4/tasks/webhook_failures/{}", self.failure)),
        ]
    }

    async fn measure(&self, route: usize, measure: Duration) -> LoadReport {
        let (_, path) = &self.routes()[route];
        let spec = RequestSpec::get(path.clone(), 200).header("authorization", format!("Bearer {}", self.token));
        closed_loop(self.local.addr, &spec, CONNECTIONS, measure).await
    }
}

/// Repeated runs of one measurement: their rates, and the runs themselves for latencies.
#[derive(Default)]
struct Runs(Vec<LoadReport>);

impl Runs {
    fn rates(&self) -> Rates {
        let mut rates = Rates::default();
        self.0.iter().for_each(|run| rates.push(run.per_second()));
        rates
    }

    fn median(&self) -> f64 {
        self.rates().median()
    }

    fn describe(&self) -> String {
        self.rates().describe()
    }

    /// The run whose rate is the median's (its latencies are the ones reported).
    fn middle(&self) -> Option<&LoadReport> {
        let median = self.median();
        self.0.iter().min_by(|a, b| (a.per_second() - median).abs().total_cmp(&(b.per_second() - median).abs()))
    }

    fn errors(&self) -> u64 {
        self.0.iter().map(|r| r.errors).sum()
    }
}

pub async fn run(opts: &Options) -> Result<(), String> {
    let measure = if opts.quick { Duration::from_millis(500) } else { Duration::from_secs(10) };
    let sink = spawn_sink().await?;
    let current = Served::start(&opts.local_bin, &opts.out_dir.join("api-hookpost-local.log"), &sink).await?;
    let baseline = match &opts.baseline_bin {
        Some(bin) => Some(Served::start(bin, &opts.out_dir.join("api-baseline-local.log"), &sink).await?),
        None => None,
    };
    let api = Api::new(current.local.addr);
    let mut regressions = Vec::new();
    let mut figures = Figures::new("api");

    let rounds = opts.rounds.max(1);
    if baseline.is_some() {
        println!("| request | hookpost-local requests/s | p50 | p99 | response bytes | raw server requests/s | % of raw | baseline requests/s | % of raw | against the baseline |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
    } else {
        println!(
            "| request | hookpost-local requests/s | p50 | p99 | response bytes | raw server requests/s | % of raw |"
        );
        println!("|---|---|---|---|---|---|---|");
    }
    for (route, (name, path)) in current.routes().iter().enumerate() {
        let size = match api.call("GET", path, Some(&current.token), None).await? {
            (200, body) => body.to_string().len(),
            (status, body) => return Err(format!("GET {path}: {status} {body}")),
        };
        let raw_spec = RequestSpec::get(format!("/raw/{size}"), 200);
        let (mut ours, mut theirs, mut raw) = (Runs::default(), Runs::default(), Runs::default());
        for round in 0..rounds {
            // Alternating which build goes first, so neither always meets a warmer machine.
            if round % 2 == 1 {
                if let Some(baseline) = &baseline {
                    theirs.0.push(baseline.measure(route, measure).await);
                }
            }
            ours.0.push(current.measure(route, measure).await);
            raw.0.push(closed_loop(sink.addr, &raw_spec, CONNECTIONS, measure).await);
            if round % 2 == 0 {
                if let Some(baseline) = &baseline {
                    theirs.0.push(baseline.measure(route, measure).await);
                }
            }
        }
        let middle = ours.middle().cloned().unwrap_or_default();
        let key = slug(name);
        figures.set(format!("{key}_per_second"), ours.median());
        figures.set(format!("{key}_raw_per_second"), raw.median());
        figures.set(format!("{key}_share"), ours.median() / raw.median());
        figures.set(format!("{key}_p99_ms"), middle.latencies.percentile_ms(99.0));
        let errors = ours.errors() + theirs.errors() + raw.errors();
        let share = |runs: &Runs| format!("{:.0} %", 100.0 * runs.median() / raw.median());
        let mut row = format!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {size} | {} | {} |",
            ours.describe(),
            middle.latencies.percentile_ms(50.0),
            middle.latencies.percentile_ms(99.0),
            raw.describe(),
            share(&ours),
        );
        if baseline.is_some() {
            let ratio = ours.median() / theirs.median();
            figures.set(format!("{key}_against_baseline"), ratio);
            row.push_str(&format!(" {} | {} | {:+.0} % |", theirs.describe(), share(&theirs), 100.0 * (ratio - 1.0)));
            if ratio < REGRESSION_FLOOR {
                regressions.push(format!("{name}: {:.0} % of the baseline's rate", 100.0 * ratio));
            }
        }
        if errors > 0 {
            row.push_str(&format!(" ({errors} errors)"));
        }
        println!("{row}");
    }
    if baseline.is_some() {
        println!();
        println!(
            "({rounds} rounds of {} s a build and route, alternating; medians, ranges in brackets; a route under {:.0} % of the baseline fails the run)",
            measure.as_secs_f64(),
            100.0 * REGRESSION_FLOOR
        );
    }
    drop(baseline);
    figures.set("rounds", rounds);
    figures.write(&opts.out_dir)?;
    publishes(&api, current.local.addr, measure).await?;
    if regressions.is_empty() || opts.quick {
        // A quick run's half-second loads say nothing of speed: it only proves the comparison runs.
        Ok(())
    } else {
        Err(format!("slower than the baseline: {}", regressions.join("; ")))
    }
}

/// A route's name as a figure's: `list subscriptions (6)` → `list_subscriptions`.
fn slug(name: &str) -> String {
    let words = name.split(" (").next().unwrap_or(name);
    words.to_lowercase().replace(' ', "_")
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
