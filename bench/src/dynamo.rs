//! DynamoDB calls and capacity per operation: hookpost-local in-process on the DynamoDB
//! adapter, against a DynamoDB-compatible server (moto in CI), with an SDK interceptor that
//! sees every call. The authorizer is measured on its own and taken out of the API rows:
//! in AWS its answer is cached for 300 s, so it is not paid per request.
//!
//! Capacity is computed from DynamoDB's published rules, not taken from the server (moto
//! answers constants): a read costs ½ unit per 4 KB returned when eventually consistent, 1
//! when strongly consistent; a write 1 unit per 1 KB written, once more for each GSI entry it
//! writes (both indexes project every attribute); a transaction doubles both.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::interceptors::context::Input;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use hookpost_delivery::InProcessQueue;
use hookpost_domain::{Clock, SystemClock};
use hookpost_http::{App, Config};
use hookpost_local::Delivery;
use hookpost_store::DynamoStore;
use serde_json::{json, Value};

use crate::cost::{Ingress, Pace, Shape};
use crate::procs::{Api, ADMIN_KEY};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one call was, decided from its input before it is sent.
#[derive(Clone, Debug)]
struct CallInfo {
    operation: &'static str,
    /// The sweeper's scan of the `pending` index: a timer's work, not the operation's.
    background: bool,
    /// A usage counter's addition or the account check before it: hookpost-local adds
    /// in-process usage every second, Lambda once per request or batch (priced apart, by
    /// `cost::USAGE_*`).
    usage: bool,
    consistent: bool,
    write_units: f64,
    /// A put's item: its kind (the sort key's prefix) and its stored size, DynamoDB's 100
    /// bytes of overhead included.
    stored: Option<(&'static str, f64)>,
    /// What the call reads or writes: its sort key's prefix (`ATT`, `SUB`, `USAGE`, ...), or
    /// the index it queries.
    kind: String,
}

impl Storable for CallInfo {
    type Storer = StoreReplace<Self>;
}

/// The calls made since the last [`Counter::take`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub calls: BTreeMap<&'static str, u64>,
    pub read_units: f64,
    pub write_units: f64,
    /// Usage counters' calls, kept out of the rest.
    pub usage_calls: u64,
    /// Bytes put by item kind (the sort key's prefix: `ATT`, `EVENT`, `FAIL`, ...), as
    /// DynamoDB stores them: what their retention keeps.
    pub stored: BTreeMap<&'static str, f64>,
    /// Read and write units by what was read or written (see `CallInfo::kind`).
    pub units_by_kind: BTreeMap<String, (f64, f64)>,
}

impl Tally {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    /// What is left of this tally once `other` (made within it) is taken out.
    fn minus(mut self, other: &Tally) -> Tally {
        for (op, n) in &other.calls {
            let mine = self.calls.entry(op).or_default();
            *mine = mine.saturating_sub(*n);
        }
        self.calls.retain(|_, n| *n > 0);
        self.read_units -= other.read_units;
        self.write_units -= other.write_units;
        self.usage_calls = self.usage_calls.saturating_sub(other.usage_calls);
        for (kind, bytes) in &other.stored {
            *self.stored.entry(kind).or_default() -= bytes;
        }
        for (kind, (read, write)) in &other.units_by_kind {
            let mine = self.units_by_kind.entry(kind.clone()).or_default();
            mine.0 -= read;
            mine.1 -= write;
        }
        self
    }

    fn describe(&self) -> String {
        self.calls.iter().map(|(op, n)| format!("{n} {op}")).collect::<Vec<_>>().join(" + ")
    }
}

#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<Mutex<Tally>>);

impl Counter {
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn seen(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).total_calls()
    }

    /// The tally once no call has been made for 300 ms (the worker's writes come after the
    /// sink has answered).
    async fn settled(&self) -> Tally {
        let mut last = self.seen();
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.seen();
            if now == last {
                return self.take();
            }
            last = now;
        }
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "hookpost-bench call counter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(classify(context.input()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut info) = cfg.load::<CallInfo>().cloned() else { return Ok(()) };
        let succeeded = matches!(context.output_or_error(), Some(Ok(_)));
        let returned = match context.output_or_error() {
            Some(Ok(output)) => {
                if let Some(get) = output.downcast_ref::<GetItemOutput>() {
                    get.item.as_ref().map(item_bytes).unwrap_or(0)
                } else if let Some(query) = output.downcast_ref::<QueryOutput>() {
                    query.items.iter().flatten().map(item_bytes).sum()
                } else if let Some(update) = output.downcast_ref::<UpdateItemOutput>() {
                    // An update is billed by the whole item as it is after it (the larger of
                    // before and after), its index entries too: known when the update
                    // returns the item (the adapter's `ALL_NEW` updates do).
                    if let Some(item) = update.attributes.as_ref().filter(|a| a.contains_key("pk")) {
                        info.write_units = info.write_units.max(write_units(item));
                    }
                    0
                } else {
                    0
                }
            }
            _ => 0,
        };
        let mut tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let read = if matches!(info.operation, "GetItem" | "Query") {
            let per_4k = if info.consistent { 1.0 } else { 0.5 };
            per_4k * (returned.max(1) as f64 / 4096.0).ceil()
        } else {
            0.0
        };
        if info.usage {
            tally.usage_calls += 1;
            let units = tally.units_by_kind.entry(format!("{} (usage)", info.kind)).or_default();
            units.0 += read;
            units.1 += info.write_units;
        }
        if info.background || info.usage {
            return Ok(());
        }
        if let (true, Some((kind, bytes))) = (succeeded, info.stored) {
            *tally.stored.entry(kind).or_default() += bytes;
        }
        *tally.calls.entry(info.operation).or_default() += 1;
        tally.write_units += info.write_units;
        tally.read_units += read;
        let units = tally.units_by_kind.entry(info.kind).or_default();
        units.0 += read;
        units.1 += info.write_units;
        Ok(())
    }
}

fn classify(input: &Input) -> CallInfo {
    let mut info = CallInfo {
        operation: "Other",
        background: false,
        usage: false,
        consistent: false,
        write_units: 0.0,
        stored: None,
        kind: String::new(),
    };
    if let Some(get) = input.downcast_ref::<GetItemInput>() {
        info.kind = key_kind(get.key.as_ref());
        info.operation = "GetItem";
        info.consistent = get.consistent_read == Some(true);
        info.usage = get.projection_expression.as_deref() == Some(hookpost_store::dynamo::USAGE_CHECK_PROJECTION);
    } else if let Some(query) = input.downcast_ref::<QueryInput>() {
        info.operation = "Query";
        info.kind = match &query.index_name {
            Some(index) => format!("index {index}"),
            None => query
                .expression_attribute_values
                .iter()
                .flatten()
                .filter_map(|(_, v)| v.as_s().ok())
                .filter_map(|v| v.split_once('#').map(|(prefix, _)| prefix))
                .find(|prefix| !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_uppercase()))
                .unwrap_or("query")
                .to_owned(),
        };
        // The sweeper's reads, and a function's read of the event-type catalogue (once per
        // `CATALOGUE_STALENESS` per warm instance, not per request): apart from the rows.
        let catalogue =
            query.expression_attribute_values.iter().flatten().any(|(_, v)| v.as_s().is_ok_and(|v| v == "CATALOGUE"));
        info.background = catalogue || query.index_name.as_deref() == Some(hookpost_store::dynamo::PENDING_INDEX);
        info.consistent = query.consistent_read == Some(true);
    } else if let Some(put) = input.downcast_ref::<PutItemInput>() {
        info.operation = "PutItem";
        info.kind = key_kind(put.item.as_ref());
        info.write_units = put.item.as_ref().map(write_units).unwrap_or(1.0);
        info.stored = put.item.as_ref().map(|item| {
            let sk = item.get("sk").and_then(|sk| sk.as_s().ok()).map_or("", String::as_str);
            let kind = ["ATT", "EVENT", "FAIL", "FIFO", "SUB", "TOKEN", "CHANNEL", "ACCOUNT"]
                .into_iter()
                .find(|k| sk.starts_with(k))
                .unwrap_or("other");
            (kind, item_bytes(item) as f64 + hookpost_domain::price::DYNAMODB_ITEM_OVERHEAD_BYTES)
        });
    } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
        info.operation = "UpdateItem";
        info.kind = key_kind(update.key.as_ref());
        info.usage = update
            .key
            .as_ref()
            .and_then(|key| key.get("sk"))
            .and_then(|sk| sk.as_s().ok())
            .is_some_and(|sk| sk.starts_with("USAGE#"));
        info.write_units =
            update_units(update.update_expression.as_deref(), update.expression_attribute_values.as_ref());
    } else if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
        info.kind = key_kind(delete.key.as_ref());
        info.operation = "DeleteItem";
        info.write_units = 1.0;
    } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
        info.operation = "TransactWriteItems";
        info.kind = "transaction".to_owned();
        info.write_units = 2.0
            * transaction
                .transact_items
                .iter()
                .flatten()
                .map(|item| {
                    if let Some(put) = &item.put {
                        write_units(&put.item)
                    } else if let Some(update) = &item.update {
                        update_units(Some(&update.update_expression), update.expression_attribute_values.as_ref())
                    } else {
                        1.0
                    }
                })
                .sum::<f64>();
    }
    info
}

/// What a key (or an item) is: its sort key's prefix, or its partition key's when the sort
/// key has none.
fn key_kind(key: Option<&HashMap<String, AttributeValue>>) -> String {
    let prefix = |attr: &str| {
        key.and_then(|k| k.get(attr))
            .and_then(|v| v.as_s().ok())
            .and_then(|v| v.split_once('#'))
            .map(|(prefix, _)| prefix.to_owned())
    };
    prefix("sk").or_else(|| prefix("pk")).unwrap_or_else(|| "other".to_owned())
}

/// Units of one written item: 1 per KB, and again for each GSI entry (both project ALL).
fn write_units(item: &HashMap<String, AttributeValue>) -> f64 {
    let units = (item_bytes(item).max(1) as f64 / 1024.0).ceil();
    let indexed = ["route_pk", "pending_pk"].iter().filter(|a| item.contains_key(**a)).count();
    units * (1 + indexed) as f64
}

/// An update's item is not in the request: it counts as the values it sets (at least one
/// unit), plus the GSI entry when it sets or removes an indexed attribute.
fn update_units(expression: Option<&str>, values: Option<&HashMap<String, AttributeValue>>) -> f64 {
    let written: usize = values.map(|v| v.values().map(value_bytes).sum()).unwrap_or(0);
    let units = (written.max(1) as f64 / 1024.0).ceil();
    let expression = expression.unwrap_or_default();
    let indexed = ["route_pk", "pending_pk"].iter().filter(|a| expression.contains(**a)).count();
    units * (1 + indexed) as f64
}

/// An item's size as DynamoDB bills it: attribute names plus values.
fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(name, value)| name.len() + value_bytes(value)).sum()
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|x| 1 + value_bytes(x)).sum::<usize>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, x)| 1 + k.len() + value_bytes(x)).sum::<usize>(),
        _ => 0,
    }
}

pub struct Options {
    pub endpoint: String,
    pub out_dir: std::path::PathBuf,
}

/// The rows the cost table is computed from.
/// A subscription's first success in a minute writes its delivery fields; the next ones
/// within the minute write only their attempt-log entries (`delivery_fields_due`).
pub const DELIVER_ONE_SPARSE: &str = "publish + deliver, 1 subscription, 2xx, its first success in a minute";
pub const DELIVER_ONE: &str = "publish + deliver, 1 subscription, 2xx, another success within the minute";
pub const DELIVER_TEN_SPARSE: &str = "publish + deliver, 10 subscriptions, 2xx, their first success in a minute";
pub const DELIVER_TEN: &str = "publish + deliver, 10 subscriptions, 2xx, another success within the minute";
pub const DELIVER_ONE_BATCHED: &str =
    "batch publish of 100 events + their deliveries, 1 subscription, 2xx, within the minute";
/// The same, the hundred deliveries worked as Lambda works them: `deliver`'s handler given
/// them as one SQS batch (the template's `BatchSize`), whose tasks of one subscription share
/// one read of it. The cost table prices batched publishes by this row.
pub const DELIVER_ONE_BATCHED_LAMBDA: &str =
    "batch publish of 100 events + their deliveries as one deliver batch, 1 subscription, 2xx, within the minute";
/// A hundred events to one subscription, published one per request, their deliveries as
/// one `deliver` batch.
pub const DELIVER_ONE_LAMBDA: &str =
    "100 publishes + their deliveries as one deliver batch, 1 subscription, 2xx, within the minute";
/// Ten events to ten subscriptions each, published one per request, their hundred
/// deliveries as one `deliver` batch (ten tasks to each subscription).
pub const DELIVER_TEN_LAMBDA: &str =
    "10 publishes + their deliveries as one deliver batch, 10 subscriptions, 2xx, within the minute";
/// One event to a `fifo` subscription: its group's head is read before the attempt.
pub const DELIVER_ONE_FIFO: &str = "publish + deliver, 1 fifo subscription, 2xx, its first success in a minute";
/// The same as `DELIVER_ONE`, to a subscription whose `rate_limit` is null.
pub const DELIVER_ONE_UNLIMITED: &str =
    "publish + deliver, 1 subscription without a rate limit, 2xx, another success within the minute";
/// Events in the batch-publish row.
const BATCHED_EVENTS: u64 = 100;

/// One row of the report: an operation and what it cost.
pub struct Measured {
    pub operation: &'static str,
    pub tally: Tally,
    /// The target on DynamoDB calls, where the issue sets one.
    pub target: Option<u64>,
}

pub async fn measure(endpoint: &str) -> Result<Vec<Measured>, String> {
    let counter = Counter::default();
    let sdk = hookpost_store::aws::aws_config(Some(endpoint)).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
    );
    let table = format!("hookpost-bench-{}", crate::sink::wall_nanos());
    let store = DynamoStore::new(client, table)
        .with_sealing(std::sync::Arc::new(hookpost_store::keys::ConfiguredKey::new([42; 32])));
    store.ensure_table().await.map_err(|e| format!("creating the table at {endpoint}: {e}"))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let sink_addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(crate::sink::serve(listener));
    let sink = Api::new(sink_addr);

    let mut config = Config { rate_limit_per_minute: 1_000_000, ..Config::default() };
    config.destinations.allow_http = true;
    config.destinations.allow_cidrs = hookpost_domain::Cidr::parse_list("127.0.0.0/8")?;
    // A whole failing cycle (five attempts) without waiting the production delays.
    config.retry_schedule = hookpost_domain::delivery::RetrySchedule::parse("0,0,0,0,0")?;
    let store = Arc::new(store);
    let app = App::new(Arc::clone(&store) as Arc<dyn hookpost_store::Store>, config)
        .with_catalogue(Arc::clone(&store) as Arc<dyn hookpost_store::CatalogueStore>)
        .with_delivery_control(store);
    let server_app = app.clone();
    // The in-process queue: this counts DynamoDB's calls alone (SQS is priced apart).
    let in_process = Arc::new(InProcessQueue::new(Duration::from_secs(60)));
    // `deliver`'s handler, for the rows measured as Lambda works a batch.
    let mut lambda_app = app.clone();
    lambda_app.queue = Some(Arc::clone(&in_process) as Arc<dyn hookpost_delivery::Queue>);
    let queue = Delivery::InProcess(Arc::clone(&in_process));
    let addr: SocketAddr = "127.0.0.1:0".parse().map_err(|_| "address")?;
    let mut running = hookpost_local::start_with_app(addr, Some(ADMIN_KEY.to_owned()), server_app, queue, 16)
        .await
        .map_err(|e| e.to_string())?;
    let api = Api::new(running.addr);
    let ok_url = |i: usize| format!("http://{sink_addr}/ok/{i}");
    let fail_url = |i: usize| format!("http://{sink_addr}/fail/{i}");
    let mut rows = Vec::new();
    let mut row = |operation, tally, target| rows.push(Measured { operation, tally, target });

    let (account, token) = api.customer().await;
    counter.settled().await;
    authorizer::authorize(app.store.as_ref(), Some(&format!("Bearer {token}")), SystemClock.now())
        .await
        .map_err(|e| format!("authorizer: {e:?}"))?;
    let authorizer = counter.settled().await;
    // Every customer request through hookpost-local runs the authorizer first.
    let api_row = |tally: Tally| tally.minus(&authorizer);
    row("authorizer (once per token per 300 s in AWS)", authorizer.clone(), None);

    let subscription = api.subscribe(&token, &ok_url(0)).await;
    row("create subscription", api_row(counter.settled().await), None);

    expect(&api, "GET", &format!("/api/v1/webhook-subscriptions/{subscription}"), &token, 200).await?;
    row("GET subscription", api_row(counter.settled().await), Some(2));

    expect(&api, "GET", "/api/v1/webhook-subscriptions", &token, 200).await?;
    row("list subscriptions (1)", api_row(counter.settled().await), None);

    deliver(&api, &sink, &account, None, 1).await?;
    row(DELIVER_ONE_SPARSE, counter.settled().await, None);
    deliver(&api, &sink, &account, None, 1).await?;
    // The default rate limit (SPEC §10) takes its start in one more write; the budget of
    // four calls holds for a subscription without a limit (the row after the FIFO one).
    row(DELIVER_ONE, counter.settled().await, Some(5));

    let before = sink.sink_count().await;
    let data = json!({"order_id": "ord_0123456789", "blob": "x".repeat(960)}).to_string();
    let generated: Vec<Option<String>> = (0..BATCHED_EVENTS).map(|_| None).collect();
    let refused = api.publish_batch_serialized(&account, &generated, &data).await?;
    if !refused.is_empty() {
        return Err(format!("the batch publish refused {} events", refused.len()));
    }
    wait_for(&sink, before + BATCHED_EVENTS).await?;
    row(DELIVER_ONE_BATCHED, counter.settled().await, None);

    // The same, the deliveries handed to `deliver` as one SQS batch.
    running.stop_workers().await;
    counter.settled().await;
    let before = sink.sink_count().await;
    let refused = api.publish_batch_serialized(&account, &generated, &data).await?;
    if !refused.is_empty() {
        return Err(format!("the batch publish refused {} events", refused.len()));
    }
    deliver_as_one_batch(&lambda_app, &in_process, BATCHED_EVENTS).await?;
    wait_for(&sink, before + BATCHED_EVENTS).await?;
    row(DELIVER_ONE_BATCHED_LAMBDA, counter.settled().await, None);
    let before = sink.sink_count().await;
    publish_singly(&api, &account, BATCHED_EVENTS).await?;
    deliver_as_one_batch(&lambda_app, &in_process, BATCHED_EVENTS).await?;
    wait_for(&sink, before + BATCHED_EVENTS).await?;
    row(DELIVER_ONE_LAMBDA, counter.settled().await, None);
    running.start_workers(16);

    deliver(&api, &sink, &account, Some("chosen-1"), 1).await?;
    row("publish with a chosen event_id + deliver, 1 subscription, 2xx", counter.settled().await, None);

    // An ordered subscription (SPEC §10): its own account, one event, delivered.
    let (account_fifo, token_fifo) = api.customer().await;
    api.subscribe_with(&token_fifo, json!({"url": ok_url(0), "ordering": "fifo"})).await;
    counter.settled().await;
    deliver(&api, &sink, &account_fifo, None, 1).await?;
    row(DELIVER_ONE_FIFO, counter.settled().await, None);

    // A subscription without a rate limit: no start to take.
    let (account_free, token_free) = api.customer().await;
    api.subscribe_with(&token_free, json!({"url": ok_url(0), "rate_limit": null})).await;
    deliver(&api, &sink, &account_free, None, 1).await?;
    counter.settled().await;
    deliver(&api, &sink, &account_free, None, 1).await?;
    row(DELIVER_ONE_UNLIMITED, counter.settled().await, Some(4));

    let (account10, token10) = api.customer().await;
    for i in 0..10 {
        api.subscribe(&token10, &ok_url(i)).await;
    }
    expect(&api, "GET", "/api/v1/webhook-subscriptions", &token10, 200).await?;
    counter.settled().await;
    expect(&api, "GET", "/api/v1/webhook-subscriptions", &token10, 200).await?;
    row("list subscriptions (10)", api_row(counter.settled().await), None);
    deliver(&api, &sink, &account10, None, 10).await?;
    row(DELIVER_TEN_SPARSE, counter.settled().await, None);
    deliver(&api, &sink, &account10, None, 10).await?;
    row(DELIVER_TEN, counter.settled().await, None);

    running.stop_workers().await;
    counter.settled().await;
    let before = sink.sink_count().await;
    publish_singly(&api, &account10, 10).await?;
    deliver_as_one_batch(&lambda_app, &in_process, 100).await?;
    wait_for(&sink, before + 100).await?;
    row(DELIVER_TEN_LAMBDA, counter.settled().await, None);
    running.start_workers(16);

    let (account_f, token_f) = api.customer().await;
    api.subscribe(&token_f, &fail_url(0)).await;
    counter.settled().await;
    deliver(&api, &sink, &account_f, None, 5).await?;
    row("publish + full failing cycle (5 attempts), 1 subscription", counter.settled().await, None);

    let (account_f10, token_f10) = api.customer().await;
    for i in 0..10 {
        api.subscribe(&token_f10, &fail_url(i)).await;
    }
    counter.settled().await;
    deliver(&api, &sink, &account_f10, None, 50).await?;
    row("publish + full failing cycle (5 attempts), 10 subscriptions", counter.settled().await, None);

    let failures = expect(&api, "GET", "/api/v4/tasks/webhook_failures", &token_f, 200).await?;
    let failure = failures["webhook_failures"][0]["id"].as_str().ok_or("no failure recorded")?.to_owned();
    row("list failures (1)", api_row(counter.settled().await), None);
    expect(&api, "GET", &format!("/api/v4/tasks/webhook_failures/{failure}"), &token_f, 200).await?;
    row("GET failure", api_row(counter.settled().await), None);

    // The retrigger request alone (workers stopped), then the redelivery it queued.
    running.stop_workers().await;
    counter.settled().await;
    let before = sink.sink_count().await;
    expect(&api, "POST", &format!("/api/v4/tasks/webhook_failures/{failure}/retrigger"), &token_f, 200).await?;
    row("retrigger", api_row(counter.settled().await), Some(3));
    running.start_workers(16);
    wait_for(&sink, before + 1).await?;
    row("retrigger's redelivery (one attempt, fails again)", counter.settled().await, None);

    running.shutdown().await;
    Ok(rows)
}

/// The cost table's rows: `(shape, read units, write units)` per event, from the measured
/// rows. A sparse batch is the busy batch plus what a sparse delivery costs over a busy one
/// (the delivery-fields write), both measured.
pub fn priced(rows: &[Measured]) -> Vec<(Shape, f64, f64)> {
    let units = |operation: &str, events: f64| {
        let row = rows.iter().find(|r| r.operation == operation)?;
        Some((row.tally.read_units / events, row.tally.write_units / events))
    };
    let single = |subscriptions, pace| Shape { subscriptions, ingress: Ingress::Http { per_request: 1.0 }, pace };
    let batched =
        |pace| Shape { subscriptions: 1.0, ingress: Ingress::Http { per_request: BATCHED_EVENTS as f64 }, pace };
    // The ingest queue runs the batch publish's code ten events at a time: DynamoDB as the
    // batch (its one routes query shared by ten events instead of a hundred: +0.05 read
    // units an event, not counted).
    let queued = |pace| Shape { subscriptions: 1.0, ingress: Ingress::Queue, pace };
    // The busy rows as Lambda works a `deliver` batch of 100 (tasks of one subscription
    // share its read); a sparse row adds what a sparse delivery costs over a busy one in
    // hookpost-local (the delivery fields' write), both measured.
    let sparse = |busy: Option<(f64, f64)>, busy_local: &str, sparse_local: &str| match (
        busy,
        units(busy_local, 1.0),
        units(sparse_local, 1.0),
    ) {
        (Some((r, w)), Some((busy_r, busy_w)), Some((sparse_r, sparse_w))) => {
            Some((r + sparse_r - busy_r, w + sparse_w - busy_w))
        }
        _ => None,
    };
    let (one_busy, ten_busy) = (units(DELIVER_ONE_LAMBDA, BATCHED_EVENTS as f64), units(DELIVER_TEN_LAMBDA, 10.0));
    let mut priced: Vec<(Shape, f64, f64)> = [
        (single(1.0, Pace::Busy), one_busy),
        (single(1.0, Pace::Sparse), sparse(one_busy, DELIVER_ONE, DELIVER_ONE_SPARSE)),
        (single(10.0, Pace::Busy), ten_busy),
        (single(10.0, Pace::Sparse), sparse(ten_busy, DELIVER_TEN, DELIVER_TEN_SPARSE)),
    ]
    .into_iter()
    .filter_map(|(shape, units)| units.map(|(r, w)| (shape, r, w)))
    .collect();
    let batch_busy = units(DELIVER_ONE_BATCHED_LAMBDA, BATCHED_EVENTS as f64);
    if let (Some((r, w)), Some((sparse_r, sparse_w))) =
        (batch_busy, sparse(batch_busy, DELIVER_ONE, DELIVER_ONE_SPARSE))
    {
        priced.push((batched(Pace::Busy), r, w));
        priced.push((batched(Pace::Sparse), sparse_r, sparse_w));
        priced.push((queued(Pace::Busy), r, w));
        priced.push((queued(Pace::Sparse), sparse_r, sparse_w));
    }
    priced
}

async fn expect(api: &Api, method: &str, path: &str, token: &str, status: u16) -> Result<Value, String> {
    match api.call(method, path, Some(token), None).await? {
        (s, body) if s == status => Ok(body),
        (s, body) => Err(format!("{method} {path}: expected {status}, got {s}: {body}")),
    }
}

async fn deliver(api: &Api, sink: &Api, account: &str, event_id: Option<&str>, requests: u64) -> Result<(), String> {
    let before = sink.sink_count().await;
    let data = json!({"order_id": "ord_0123456789", "blob": "x".repeat(960)});
    match api.publish(account, event_id, &data).await? {
        202 => wait_for(sink, before + requests).await,
        status => Err(format!("publish answered {status}")),
    }
}

/// Publishes `events` 1 KiB events one per request (with the workers stopped: their tasks
/// stay queued).
async fn publish_singly(api: &Api, account: &str, events: u64) -> Result<(), String> {
    let data = json!({"order_id": "ord_0123456789", "blob": "x".repeat(960)});
    for _ in 0..events {
        match api.publish(account, None, &data).await? {
            202 => {}
            status => return Err(format!("publish answered {status}")),
        }
    }
    Ok(())
}

/// Takes `tasks` tasks from the in-process queue and works them as `deliver` works an SQS
/// batch in Lambda (the same handler), then acknowledges them.
async fn deliver_as_one_batch(app: &App, queue: &InProcessQueue, tasks: u64) -> Result<(), String> {
    use lambda_http::aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    let mut leases = Vec::new();
    for _ in 0..tasks {
        let lease = tokio::time::timeout(Duration::from_secs(10), queue.receive())
            .await
            .map_err(|_| format!("only {} of {tasks} tasks were queued", leases.len()))?;
        leases.push(lease);
    }
    let mut event = SqsEvent::default();
    for (i, lease) in leases.iter().enumerate() {
        let mut message = SqsMessage::default();
        message.message_id = Some(i.to_string());
        message.body = Some(serde_json::to_string(&lease.task).map_err(|e| e.to_string())?);
        event.records.push(message);
    }
    let invocation =
        lambda_http::lambda_runtime::LambdaEvent::new(event, lambda_http::lambda_runtime::Context::default());
    let response = deliver::handle(app, invocation).await.map_err(|e| e.to_string())?;
    if !response.batch_item_failures.is_empty() {
        return Err(format!("{} tasks of the batch failed", response.batch_item_failures.len()));
    }
    for lease in leases {
        queue.ack(lease);
    }
    Ok(())
}

async fn wait_for(sink: &Api, count: u64) -> Result<(), String> {
    let start = Instant::now();
    while sink.sink_count().await < count {
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!("the sink did not reach {count} requests within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

pub async fn run(opts: &Options) -> Result<(), String> {
    let rows = measure(&opts.endpoint).await?;
    println!("| operation | DynamoDB calls | target | calls | read units | write units |");
    println!("|---|---|---|---|---|---|");
    for m in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            m.operation,
            m.tally.total_calls(),
            m.target.map(|t| format!("≤ {t}")).unwrap_or_else(|| "–".to_owned()),
            m.tally.describe(),
            m.tally.read_units,
            m.tally.write_units,
        );
    }
    let missed: Vec<_> =
        rows.iter().filter(|m| m.target.is_some_and(|t| m.tally.total_calls() > t)).map(|m| m.operation).collect();
    let mut figures = crate::figures::Figures::new("dynamo");
    let targeted: Vec<_> = rows
        .iter()
        .filter_map(|m| {
            let target = m.target?;
            Some(serde_json::json!({"operation": m.operation, "calls": m.tally.total_calls(), "target": target}))
        })
        .collect();
    figures.set("targets", targeted);
    figures.write(&opts.out_dir)?;
    println!();
    print!("{}", crate::cost::table(&priced(&rows)));
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!("over the call target: {}", missed.join(", ")))
    }
}
