//! A realistic workload, priced all in: what a SaaS deployment pays per million deliveries,
//! not what its best case does.
//!
//! Thousands of accounts (10,000 by default), one or two subscriptions each (1.5 on
//! average), events spread over the accounts by a Zipf law (s = 1.1: a few accounts publish
//! most events), 1 KiB of `data`, receivers that fail 3 % of attempts, half the events
//! published a hundred to a batch request and half through the ingest queue, ten to a
//! `SendMessageBatch`. The real handlers do the work — the batch route's `Publisher::publish_many`,
//! `ingest-events` and `deliver` given SQS batches as Lambda's event-source mappings hand them
//! (100 tasks a `deliver` invocation, received ten to a request) — against a DynamoDB- and
//! SQS-compatible server (moto), with SDK interceptors counting every call: DynamoDB's read and
//! write units (an update by the whole item, index entries too) and the bytes each kind of
//! item stores, SQS's requests (64 KB chunks). What leaves AWS for the receivers is counted at
//! the receivers. Lambda's compute and CloudWatch Logs' bytes are priced from what
//! `scripts/test-binaries` measured on the shipped binaries (`hookpost_domain::price`).
//!
//! EventBridge is priced for the same workload: each event put once on a bus, each attempt an
//! API destination's invocation, and the same bytes leaving AWS (whether AWS bills that for
//! API destinations its pricing page does not say; both are shown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use futures::StreamExt;
use hookpost_domain::price::{
    storage_cost, API_GATEWAY_REST_PER_REQUEST, CLOUDWATCH_LOGS_PER_BYTE, DATA_TRANSFER_OUT_PER_GB,
    DYNAMODB_PER_READ_UNIT, DYNAMODB_PER_WRITE_UNIT, EVENTBRIDGE_API_DESTINATION_PER_INVOCATION, EVENTBRIDGE_PER_EVENT,
    GB, LAMBDA_ARM64_PER_GB_SECOND, LAMBDA_PER_REQUEST, LOG_BYTES_PER_DELIVERY, LOG_BYTES_PER_DELIVER_INVOCATION,
    LOG_BYTES_PER_FAILED_ATTEMPT, LOG_BYTES_PER_INGESTED_EVENT, LOG_BYTES_PER_PUBLISH_INVOCATION,
    MEASURED_DELIVER_GB_SECONDS_PER_ATTEMPT, MEASURED_PUBLISH_GB_SECONDS_PER_EVENT, SQS_FIFO_PER_REQUEST,
    SQS_PER_REQUEST,
};
use hookpost_domain::subscription::{parse_new_subscription, Subscription};
use hookpost_domain::{Account, AccountId, Plan, Timestamp};
use hookpost_http::{App, Config};
use hookpost_store::{AccountStore, ActiveCap, DynamoStore, Store, SubscriptionStore};
use lambda_http::aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

use crate::dynamo::{Counter, Tally};
use crate::faults::{Behaviour, FaultReceivers};
use crate::sqs_calls::{SqsCounter, SqsTally};

pub struct Options {
    pub endpoint: String,
    pub accounts: usize,
    pub events: usize,
    pub out_dir: std::path::PathBuf,
}

/// The Zipf exponent of events over accounts.
const ZIPF_S: f64 = 1.1;
/// The share of attempts the receivers fail (500).
const FAILING: f64 = 0.03;
/// Events a batch publish request carries; events a `SendMessageBatch` to the ingest queue.
const BATCH: usize = 100;
const INGEST_BATCH: usize = 10;
/// Tasks a `deliver` invocation takes (the template's `BatchSize`).
const DELIVER_BATCH: usize = 100;
/// Retention of what the workload stores (the template's defaults).
const ATTEMPT_DAYS: f64 = 30.0;
const EVENT_DAYS: f64 = 30.0;
const FAILURE_DAYS: f64 = 90.0;

/// What the run did and used.
#[derive(Debug, Default)]
pub struct Measured {
    pub accounts: usize,
    pub events: u64,
    pub pairs: u64,
    pub attempts: u64,
    pub deliveries: u64,
    pub publish_requests: u64,
    pub ingest_invocations: u64,
    pub deliver_invocations: u64,
    pub distinct_subscriptions_per_batch: f64,
    pub dynamo: Tally,
    pub sqs: SqsTally,
    pub egress_bytes: u64,
    pub secs: f64,
}

/// Per million deliveries, by what it is paid for.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllIn {
    pub api_gateway: f64,
    pub lambda: f64,
    pub sqs: f64,
    pub dynamodb_requests: f64,
    pub storage: f64,
    pub egress: f64,
    pub logs: f64,
}

impl AllIn {
    pub fn total(&self) -> f64 {
        self.api_gateway + self.lambda + self.sqs + self.dynamodb_requests + self.storage + self.egress + self.logs
    }
}

/// EventBridge API destinations for the same workload, per million deliveries.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventBridge {
    pub events: f64,
    pub invocations: f64,
    pub egress: f64,
}

impl Measured {
    fn per_million(&self) -> f64 {
        1e6 / self.deliveries.max(1) as f64
    }

    pub fn all_in(&self, pitr: bool) -> AllIn {
        let scale = self.per_million();
        let failed = self.attempts.saturating_sub(self.deliveries) as f64;
        let invocations = (self.publish_requests + self.ingest_invocations + self.deliver_invocations) as f64;
        let gb_seconds = self.events as f64 * MEASURED_PUBLISH_GB_SECONDS_PER_EVENT
            + self.attempts as f64 * MEASURED_DELIVER_GB_SECONDS_PER_ATTEMPT;
        let ingested = self.events as f64 / 2.0;
        let log_bytes = self.deliveries as f64 * LOG_BYTES_PER_DELIVERY
            + failed * LOG_BYTES_PER_FAILED_ATTEMPT
            + self.deliver_invocations as f64 * LOG_BYTES_PER_DELIVER_INVOCATION
            + (self.publish_requests + self.ingest_invocations) as f64 * LOG_BYTES_PER_PUBLISH_INVOCATION
            + ingested * LOG_BYTES_PER_INGESTED_EVENT;
        // Every unit, usage counters' included (the counter keeps them apart from the rest).
        let (read_units, write_units) =
            self.dynamo.units_by_kind.values().fold((0.0, 0.0), |(r, w), (read, write)| (r + read, w + write));
        let dynamo = read_units * DYNAMODB_PER_READ_UNIT + write_units * DYNAMODB_PER_WRITE_UNIT;
        let stored = |kind: &str| self.dynamo.stored.get(kind).copied().unwrap_or(0.0);
        let storage = storage_cost(stored("ATT"), ATTEMPT_DAYS, pitr)
            + storage_cost(stored("EVENT"), EVENT_DAYS, pitr)
            + storage_cost(stored("FAIL"), FAILURE_DAYS, pitr);
        AllIn {
            api_gateway: self.publish_requests as f64 * API_GATEWAY_REST_PER_REQUEST * scale,
            lambda: (invocations * LAMBDA_PER_REQUEST + gb_seconds * LAMBDA_ARM64_PER_GB_SECOND) * scale,
            sqs: (self.sqs.standard * SQS_PER_REQUEST + self.sqs.fifo * SQS_FIFO_PER_REQUEST) * scale,
            dynamodb_requests: dynamo * scale,
            storage: storage * scale,
            egress: self.egress_bytes as f64 / GB * DATA_TRANSFER_OUT_PER_GB * scale,
            logs: log_bytes * CLOUDWATCH_LOGS_PER_BYTE * scale,
        }
    }

    pub fn eventbridge(&self) -> EventBridge {
        let scale = self.per_million();
        EventBridge {
            events: self.events as f64 * EVENTBRIDGE_PER_EVENT * scale,
            invocations: self.attempts as f64 * EVENTBRIDGE_API_DESTINATION_PER_INVOCATION * scale,
            egress: self.egress_bytes as f64 / GB * DATA_TRANSFER_OUT_PER_GB * scale,
        }
    }
}

pub async fn run(opts: &Options) -> Result<(), String> {
    let m = measure(opts).await?;
    print!("{}", report(&m));
    let (eb, mut figures) = (m.eventbridge(), crate::figures::Figures::new("workload"));
    figures.set("accounts", m.accounts);
    figures.set("events", m.events);
    figures.set("subscriptions_per_event", m.pairs as f64 / m.events.max(1) as f64);
    figures.set("all_in_per_million", m.all_in(true).total());
    figures.set("all_in_without_pitr_per_million", m.all_in(false).total());
    figures.set("eventbridge_per_million", eb.events + eb.invocations);
    figures.set("eventbridge_with_data_out_per_million", eb.events + eb.invocations + eb.egress);
    figures.write(&opts.out_dir)?;
    Ok(())
}

/// The report: the workload as run, and its cost beside EventBridge's.
pub fn report(m: &Measured) -> String {
    let eb = m.eventbridge();
    let mut out = format!(
        "{} accounts, {} events (Zipf s = {ZIPF_S}), {:.2} subscriptions per event, 1 KiB of data; {} attempts for {} \
         deliveries ({:.1} % of attempts failed); half the events in batch requests of {BATCH}, half through the ingest \
         queue; {} deliver invocations, {:.1} subscriptions in a batch of up to {DELIVER_BATCH} on average; {:.0} s \
         against moto\n\n",
        m.accounts,
        m.events,
        m.pairs as f64 / m.events.max(1) as f64,
        m.attempts,
        m.deliveries,
        100.0 * m.attempts.saturating_sub(m.deliveries) as f64 / m.attempts.max(1) as f64,
        m.deliver_invocations,
        m.distinct_subscriptions_per_batch,
        m.secs,
    );
    out += "| per million deliveries | API Gateway | Lambda | SQS | DynamoDB requests | storage (+ PITR) | data out | CloudWatch Logs | total |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for pitr in [true, false] {
        let c = m.all_in(pitr);
        out += &format!(
            "| hookpost, all in, point-in-time recovery {} | ${:.3} | ${:.3} | ${:.3} | ${:.3} | ${:.3} | ${:.3} | ${:.3} | **${:.2}** |\n",
            if pitr { "on (default)" } else { "off" },
            c.api_gateway,
            c.lambda,
            c.sqs,
            c.dynamodb_requests,
            c.storage,
            c.egress,
            c.logs,
            c.total(),
        );
    }
    out += &format!(
        "| EventBridge API destinations: ${:.3} events put + ${:.3} invocations | – | – | – | – | – | ${:.3} if billed | – | **${:.2}** (${:.2} with data out) |\n",
        eb.events,
        eb.invocations,
        eb.egress,
        eb.events + eb.invocations,
        eb.events + eb.invocations + eb.egress,
    );
    out += &format!(
        "\nDynamoDB: {:.0} calls ({}), {:.1} read and {:.1} write units, {} usage-counter calls; stored: {}. \
         SQS: {:.0} requests ({}).\n",
        m.dynamo.total_calls() as f64,
        m.dynamo.calls.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
        m.dynamo.read_units,
        m.dynamo.write_units,
        m.dynamo.usage_calls,
        m.dynamo.stored.iter().map(|(k, v)| format!("{k} {:.0} KB", v / 1024.0)).collect::<Vec<_>>().join(", "),
        m.sqs.standard + m.sqs.fifo,
        m.sqs.requests.iter().map(|(k, v)| format!("{v:.0} {k}")).collect::<Vec<_>>().join(", "),
    );
    out += "\n| DynamoDB, per delivery | read units | write units | $ per million deliveries |\n|---|---|---|---|\n";
    let per_delivery = 1.0 / m.deliveries.max(1) as f64;
    let mut kinds: Vec<_> = m.dynamo.units_by_kind.iter().collect();
    let price = |(read, write): &(f64, f64)| read * DYNAMODB_PER_READ_UNIT + write * DYNAMODB_PER_WRITE_UNIT;
    kinds.sort_by(|a, b| price(b.1).total_cmp(&price(a.1)));
    for (kind, units) in kinds {
        out += &format!(
            "| {kind} | {:.3} | {:.3} | ${:.3} |\n",
            units.0 * per_delivery,
            units.1 * per_delivery,
            price(units) * per_delivery * 1e6
        );
    }
    out
}

/// Account ranks drawn by a Zipf law over `n` accounts.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn draw(&self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rand::random::<f64>() * total;
        self.cumulative.partition_point(|c| *c < x).min(self.cumulative.len().saturating_sub(1))
    }
}

async fn measure(opts: &Options) -> Result<Measured, String> {
    let started = Instant::now();
    let counter = Counter::default();
    let sdk = hookpost_store::aws::aws_config(Some(&opts.endpoint)).await;
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
    );
    let sqs_counter = SqsCounter::default();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk).interceptor(sqs_counter.clone()).build(),
    );
    let name = format!("hookpost-workload-{}", crate::sink::wall_nanos());
    // Secrets sealed as in a deployment (a configured key: KMS is priced, not called).
    let store = Arc::new(
        DynamoStore::new(dynamo, name.clone())
            .with_sealing(Arc::new(hookpost_store::keys::ConfiguredKey::new([42; 32]))),
    );
    // No stream: moto would copy its every record on each transaction (the stream is not
    // priced here: Lambda's reads of it are free).
    store.ensure_table_with_stream(false).await.map_err(|e| format!("creating the table at {}: {e}", opts.endpoint))?;
    let queue = |suffix: &'static str| {
        let (sqs, name) = (sqs.clone(), format!("{name}-{suffix}"));
        async move {
            sqs.create_queue()
                .queue_name(&name)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "60")
                .send()
                .await
                .map_err(|e| format!("{name}: {e}"))?
                .queue_url
                .ok_or_else(|| format!("{name}: no URL"))
        }
    };
    let (deliveries_url, ingest_url, ingest_dead) =
        (queue("deliveries").await?, queue("ingest").await?, queue("ingest-dl").await?);

    let receivers = FaultReceivers::start(Duration::from_secs(17)).await?;
    let mut config = Config { rate_limit_per_minute: 1_000_000_000, ..Config::default() };
    config.destinations.allow_http = true;
    config.destinations.allow_cidrs = hookpost_domain::Cidr::parse_list("127.0.0.0/8")?;
    config.retry_schedule = hookpost_domain::delivery::RetrySchedule::parse("0,1,2")?;
    let app = App::new(Arc::clone(&store) as Arc<dyn Store>, config)
        .with_queue(Arc::new(hookpost_delivery::SqsQueue::new(sqs.clone(), deliveries_url.clone())))
        .with_delivery_control(Arc::clone(&store) as Arc<dyn hookpost_store::DeliveryControlStore>)
        .with_catalogue(Arc::clone(&store) as Arc<dyn hookpost_store::CatalogueStore>);

    // The accounts, one or two subscriptions each, in random order of publishing rank.
    let now = Timestamp::now();
    let mut accounts: Vec<(AccountId, usize)> = Vec::with_capacity(opts.accounts);
    let made = futures::stream::iter(0..opts.accounts)
        .map(|i| {
            let (store, receivers, app) = (Arc::clone(&store), receivers.clone(), &app);
            async move {
                let account =
                    Account { id: AccountId::new(), name: format!("Tenant {i}"), plan: Plan::Pro, created_at: now };
                store.create_account(&account).await.map_err(|e| e.to_string())?;
                let subscriptions = 1 + usize::from(rand::random::<bool>());
                for j in 0..subscriptions {
                    let url = receivers.url(&format!("a{i}s{j}"), Behaviour::Error(FAILING));
                    let input = parse_new_subscription(json!({"url": url}), &app.config.destinations)
                        .map_err(|e| format!("{e:?}"))?;
                    let sub = Subscription::create(account.id, input, None, None, now);
                    store.create_subscription(&sub, ActiveCap(25)).await.map_err(|e| e.to_string())?;
                }
                Ok::<_, String>((account.id, subscriptions))
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for account in made {
        accounts.push(account?);
    }
    counter.take();
    sqs_counter.take();
    let setup_secs = started.elapsed().as_secs_f64();

    // The events: accounts by rank, half published in batches, half through the ingest queue.
    let zipf = Zipf::new(accounts.len(), ZIPF_S);
    let data = json!({"order_id": "ord_0123456789", "blob": "x".repeat(960)});
    let drawn: Vec<usize> = (0..opts.events).map(|_| zipf.draw()).collect();
    let pairs: u64 = drawn.iter().map(|i| accounts[*i].1 as u64).sum();
    let body = |i: usize| json!({"account_id": accounts[i].0.to_string(), "event": "order.updated", "data": data});
    let (batched, queued) = drawn.split_at(drawn.len() / 2);
    let mut m = Measured { accounts: accounts.len(), events: opts.events as u64, pairs, ..Measured::default() };
    for chunk in batched.chunks(BATCH) {
        let catalogue = app.catalogue().map_err(|e| e.to_string())?.current().await.map_err(|e| e.to_string())?;
        let incoming = chunk
            .iter()
            .map(|i| hookpost_delivery::publish::Incoming {
                publish: hookpost_delivery::publish::parse_event(body(*i), &catalogue),
                id_if_none: None,
            })
            .collect();
        let outcomes = app.publisher().publish_many(incoming).await;
        app.flush_tallies().await;
        m.publish_requests += 1;
        if let Some(err) = outcomes.into_iter().find_map(Result::err) {
            return Err(format!("a batch publish refused an event: {err:?}"));
        }
    }
    for chunk in queued.chunks(INGEST_BATCH) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(k, i)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(k.to_string())
                    .message_body(body(*i).to_string())
                    .build()
                    .ok()
            })
            .collect();
        sqs.send_message_batch()
            .queue_url(&ingest_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| e.to_string())?;
    }
    let rejections = ingest_events::SqsRejections::new(sqs.clone(), ingest_dead);
    loop {
        let batch = receive(&sqs, &ingest_url, INGEST_BATCH).await?;
        if batch.is_empty() {
            break;
        }
        let response =
            ingest_events::handle(&app, &rejections, lambda_event(&batch)).await.map_err(|e| e.to_string())?;
        m.ingest_invocations += 1;
        delete_done(&sqs, &ingest_url, &batch, &response.batch_item_failures).await?;
    }

    // Deliveries, as the delivery queue's event-source mapping hands them to `deliver`, until
    // the queue has stayed empty past the retry schedule.
    let mut quiet_since: Option<Instant> = None;
    let mut distinct = 0usize;
    while quiet_since.is_none_or(|t| t.elapsed() < Duration::from_secs(6)) {
        let batch = receive(&sqs, &deliveries_url, DELIVER_BATCH).await?;
        if batch.is_empty() {
            quiet_since.get_or_insert_with(Instant::now);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        quiet_since = None;
        let mut subs: Vec<String> = batch
            .iter()
            .filter_map(|msg| msg.body.as_deref())
            .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .filter_map(|t| t["subscription_id"].as_str().map(str::to_owned))
            .collect();
        subs.sort_unstable();
        subs.dedup();
        distinct += subs.len();
        let response = deliver::handle(&app, lambda_event(&batch)).await.map_err(|e| e.to_string())?;
        m.deliver_invocations += 1;
        delete_done(&sqs, &deliveries_url, &batch, &response.batch_item_failures).await?;
    }
    m.distinct_subscriptions_per_batch = distinct as f64 / m.deliver_invocations.max(1) as f64;
    m.attempts = receivers.requests();
    m.deliveries = receivers.delivered();
    m.egress_bytes = receivers.bytes();
    m.dynamo = counter.take();
    m.sqs = sqs_counter.take();
    m.secs = started.elapsed().as_secs_f64() - setup_secs;
    Ok(m)
}

/// Up to `n` messages, received ten to a request while the queue has more (an event-source
/// mapping's batch).
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Result<Vec<SqsMessage>, String> {
    let mut messages = Vec::new();
    while messages.len() < n {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from((n - messages.len()).min(10)).unwrap_or(10))
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let received = out.messages.unwrap_or_default();
        if received.is_empty() {
            break;
        }
        messages.extend(received.into_iter().map(|m| {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id;
            message.receipt_handle = m.receipt_handle;
            message.body = m.body;
            message
        }));
    }
    Ok(messages)
}

fn lambda_event(batch: &[SqsMessage]) -> LambdaEvent<SqsEvent> {
    let mut event = SqsEvent::default();
    event.records = batch.to_vec();
    LambdaEvent::new(event, Context::default())
}

/// Deletes what the function did not report failed, ten to a request (Lambda's way).
async fn delete_done(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    batch: &[SqsMessage],
    failed: &[lambda_http::aws_lambda_events::sqs::BatchItemFailure],
) -> Result<(), String> {
    let done: Vec<&SqsMessage> =
        batch.iter().filter(|m| !failed.iter().any(|f| Some(&f.item_identifier) == m.message_id.as_ref())).collect();
    for chunk in done.chunks(10) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_draws_favour_the_first_ranks() {
        let zipf = Zipf::new(1000, ZIPF_S);
        let draws: Vec<usize> = (0..20_000).map(|_| zipf.draw()).collect();
        let first = draws.iter().filter(|r| **r == 0).count() as f64 / 20_000.0;
        let tail = draws.iter().filter(|r| **r >= 500).count() as f64 / 20_000.0;
        // At s = 1.1 over 1,000 ranks the first holds 17.9 % of the draws, ranks 500 on 6.4 %.
        assert!((0.165..0.195).contains(&first), "{first}");
        assert!((0.05..0.08).contains(&tail), "{tail}");
        assert!(draws.iter().all(|r| *r < 1000));
    }

    #[test]
    fn all_in_adds_every_line_and_eventbridge_prices_the_same_work() {
        let mut m = Measured {
            accounts: 10,
            events: 1_000,
            pairs: 1_500,
            attempts: 1_545,
            deliveries: 1_500,
            ..Measured::default()
        };
        m.publish_requests = 5;
        m.ingest_invocations = 50;
        m.deliver_invocations = 16;
        m.dynamo.units_by_kind.insert("ATT".into(), (0.0, 1_500.0));
        m.dynamo.units_by_kind.insert("ACCOUNT (usage)".into(), (1_700.0, 100.0));
        m.dynamo.stored.insert("ATT", 1_545.0 * 350.0);
        m.sqs.standard = 500.0;
        m.egress_bytes = 1_545 * 1_700;
        let c = m.all_in(true);
        let parts = c.api_gateway + c.lambda + c.sqs + c.dynamodb_requests + c.storage + c.egress + c.logs;
        assert!((c.total() - parts).abs() < 1e-12);
        assert!((c.sqs - 500.0 * 0.40 / 1_500.0).abs() < 1e-9);
        let dynamo = (1_700.0 * DYNAMODB_PER_READ_UNIT + 1_600.0 * DYNAMODB_PER_WRITE_UNIT) * 1e6 / 1_500.0;
        assert!((c.dynamodb_requests - dynamo).abs() < 1e-9, "every kind's units, usage counters' too");
        assert!(c.storage > 0.0 && c.egress > 0.0 && c.logs > 0.0);
        assert!(m.all_in(false).storage < c.storage, "PITR costs");
        let eb = m.eventbridge();
        assert!((eb.events - 1_000.0 / 1_500.0).abs() < 1e-9, "an event put for 1.5 deliveries");
        assert!((eb.invocations - 0.2 * 1_545.0 / 1_500.0).abs() < 1e-9, "every attempt an invocation");
        assert!((eb.egress - c.egress).abs() < 1e-12, "the same bytes leave AWS");
        assert!(report(&m).contains("EventBridge"));
    }
}
