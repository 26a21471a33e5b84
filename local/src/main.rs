//! `cargo run -p hookpost-local`: hookpost on a laptop.

use hookpost_local::log_lines::{LogLines, LogLinesGuard};
use hookpost_local::{shutdown_signal, start, Delivery, Options};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const HELP: &str = "hookpost-local: every hookpost route in one process

USAGE: hookpost-local [--dynamodb-endpoint URL] [--sqs-endpoint URL]

Without --dynamodb-endpoint everything lives in memory: a restart forgets every account,
subscription, failure record and queued delivery. With it, the state is kept in DynamoDB
and the delivery queue on SQS (at the same endpoint unless --sqs-endpoint says otherwise;
moto serves both), so a crash loses nothing that was accepted. Environment:
  HOOKPOST_ADDR                      listen address (default 127.0.0.1:3000)
  HOOKPOST_ADMIN_KEY                 bearer key for /internal/..., 32 characters or more (generated and printed when unset)
  HOOKPOST_DYNAMODB_ENDPOINT         same as --dynamodb-endpoint
  HOOKPOST_SQS_ENDPOINT              same as --sqs-endpoint
  HOOKPOST_QUEUE_VISIBILITY_SECONDS  how long a taken task is hidden before it is handed out
                                     again, e.g. after a crash (default 60, 20 to 43200)
  HOOKPOST_TABLE                     DynamoDB table (default hookpost; created if missing)
  HOOKPOST_ALLOW_HTTP                true accepts http:// webhook URLs
  HOOKPOST_ALLOW_CIDRS               comma-separated CIDRs the destination guard lets through
  HOOKPOST_RESOLVE                   name=ip pairs (or *=ip) answered without DNS; the guard still
                                     vets them (tests, receivers on names DNS does not know)
  HOOKPOST_RATE_LIMIT_PER_MINUTE     per account and endpoint (default 60)
  HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS  per account (default 25)
  HOOKPOST_RETRY_SCHEDULE            delivery retry delays in seconds (default 0,60,600,3600,21600)
  HOOKPOST_EVENT_RETENTION_DAYS      how long events are kept (default 30)
  HOOKPOST_ATTEMPT_RETENTION_DAYS    how long the attempt log is kept (default 30)
  HOOKPOST_WORKERS                   concurrent delivery workers (default 32)
  HOOKPOST_SHUTDOWN_GRACE_SECONDS    on SIGTERM, how long deliveries in flight may finish (default 20)
  HOOKPOST_LOG_FORMAT                json: one JSON object per log line (default: readable text)
  HOOKPOST_OPERATOR_WEBHOOK_URL      where failure records and auto-disables are POSTed for the
                                     team running hookpost (README: Operator events)
  HOOKPOST_OPERATOR_WEBHOOK_SECRET   the whsec_ secret that signs them (Standard Webhooks)
  RUST_LOG                           log level or filter (default info)
  HOOKPOST_PORTAL_*, HOOKPOST_PUBLIC_BASE_URL  the customer portal's branding and links (README)

GET /healthz answers while the process runs; GET /readyz when the store and the queue answer.
";

#[tokio::main]
async fn main() {
    let logging = init_logging();
    let code = run().await;
    // The lines still queued for stdout are written before the process ends.
    drop(logging);
    if code != 0 {
        std::process::exit(code);
    }
}

/// Readable text on a terminal; one JSON object per line with HOOKPOST_LOG_FORMAT=json.
/// Lines are written together every few milliseconds by a thread of their own
/// (`hookpost_local::log_lines`), not one system call a request; the guard returned writes
/// what is still pending when dropped.
fn init_logging() -> Option<LogLinesGuard> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("HOOKPOST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Without a thread to be had, each line is written as it is logged.
    let (writer, guard) = match LogLines::new(Box::new(std::io::stdout())) {
        Ok((lines, guard)) => (BoxMakeWriter::new(lines), Some(guard)),
        Err(_) => (BoxMakeWriter::new(std::io::stdout), None),
    };
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if json {
        fmt.json().flatten_event(true).init();
    } else {
        fmt.with_ansi(ansi).init();
    }
    guard
}

/// The process's life: its exit code.
async fn run() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return 0;
    }
    let options = match Options::from_env_and_args(&args) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("hookpost-local: {err}");
            return 2;
        }
    };
    let generated_key = options.admin_key.is_none();
    let grace = options.shutdown_grace;
    let running = match start(options).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("hookpost-local: {err}");
            return 1;
        }
    };
    if generated_key {
        println!("HOOKPOST_ADMIN_KEY={}", running.admin_key);
    }
    match &running.delivery {
        Delivery::InProcess(_) => tracing::warn!(
            "state in memory: a restart forgets every account, token, subscription, failure record and queued \
             delivery (keep them with --dynamodb-endpoint)"
        ),
        Delivery::Sqs(queues) => tracing::info!(
            table = %running.app.config.table,
            deliveries = queues.deliveries_url(),
            dead_letters = queues.dead_letters_url(),
            ingest = queues.ingest_url(),
            "state in DynamoDB, deliveries queued on SQS: a restart loses nothing that was accepted"
        ),
    }
    let store = running.app.config.dynamodb_endpoint.clone().unwrap_or_else(|| "memory".to_owned());
    tracing::info!(addr = %running.addr, store = %store, "hookpost-local listening on http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!(grace_secs = grace.as_secs(), "shutting down: no new requests; deliveries in flight may finish");
    running.shutdown_gracefully(grace).await;
    tracing::info!("stopped");
    0
}
