//! Every parser that takes outside input, fed generated input (proptest): it never panics,
//! and what it refuses it refuses with the documented error — a 4xx in the SPEC's envelope,
//! or `None`/`Err` for the value parsers — while what it accepts holds its own invariant.
//!
//! Inputs are built from the vocabulary each parser reads (field names, event names, filter
//! operators, URL parts) mixed with arbitrary text, so the cases reach past the first check.
//! CI runs `HOOKPOST_PROPTEST_CASES` (default 256) cases per property; `scripts/bench` runs
//! the long version (docs/BENCHMARKS.md, "Generated input"). A failure prints the minimal input.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use hookpost_domain::event_type::{parse_event_type, parse_name};
use hookpost_domain::filter::{filtered_view, ContentFilter};
use hookpost_domain::subscription::{parse_new_subscription, parse_subscription_patch};
use hookpost_domain::url_rules::validate_webhook_url;
use hookpost_domain::{
    AccountId, ApiError, ChannelId, Cidr, DestinationPolicy, FailureId, SubscriptionId, Timestamp, TokenId,
};
use hookpost_http::App;
use hookpost_store::MemoryStore;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::RequestExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

/// Cases per property: `HOOKPOST_PROPTEST_CASES`, else 256.
fn cases() -> u32 {
    std::env::var("HOOKPOST_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

/// Runs `property` over `strategy`'s cases; a failure panics with the shrunk input.
fn check<S: Strategy>(name: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    if let Err(err) = runner.run(&strategy, property) {
        panic!("{name}: {err}");
    }
    eprintln!("{name}: {} cases", cases());
}

/// What a client is told: a 4xx in the envelope, never a 5xx.
fn client_error(err: &ApiError) -> Result<(), TestCaseError> {
    prop_assert!((400..500).contains(&err.status()), "a {} for bad input: {err:?}", err.status());
    prop_assert!(!err.body().message.is_empty());
    Ok(())
}

/// Besides the subscription fields: what the other parsers read, and text that trips parsers.
const WORDS: &[&str] = &[
    "secret",
    "type",
    "username",
    "password",
    "token",
    "basic",
    "bearer",
    "fifo",
    "unordered",
    "none",
    "data",
    "event",
    "account_id",
    "event_id",
    "detail",
    "detail-type",
    "description",
    "schema",
    "example",
    "deprecated",
    "properties",
    "required",
    "$ref",
    "$defs",
    "format",
    "pattern",
    "minimum",
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "numeric",
    "exists",
    "anything-but",
    "$or",
    "cidr",
    ">=",
    "<",
    "=",
    "call.ended",
    "billing.*",
    "*",
    "invoice.paid",
    "https://hooks.example.com/a",
    "http://127.0.0.1:9/x",
    "https://10.0.0.1/",
    "https://[::1]/",
    "https://user:pw@host/",
    "X-Tenant",
    "x-tenant",
    "Content-Type",
    "webhook-id",
    "Host",
    "dom_1",
    "domain",
    "",
    " ",
    "\u{0}",
    "\r\n",
    "é",
    "💥",
    "1e309",
    "-0",
];

/// A word the parsers know, or any text.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        2 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => proptest::sample::select(SUBSCRIPTION_FIELDS).prop_map(str::to_owned),
        2 => proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        1 => proptest::collection::vec(proptest::sample::select(WORDS), 1..4).prop_map(|w| w.join(".")),
    ]
    .boxed()
}

/// Any JSON value, its keys and strings mostly from the parsers' vocabulary.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A JSON object whose fields are mostly the ones `fields` names.
fn object_with(fields: &'static [&'static str]) -> BoxedStrategy<Value> {
    let key = prop_oneof![4 => proptest::sample::select(fields).prop_map(str::to_owned), 1 => text()];
    proptest::collection::btree_map(key, json_value(), 0..8)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
        .boxed()
}

fn policy() -> DestinationPolicy {
    DestinationPolicy { allow_http: true, allow_cidrs: Cidr::parse_list("127.0.0.0/8").unwrap() }
}

#[test]
fn webhook_urls() {
    let url = prop_oneof![
        text(),
        (proptest::sample::select(&["https://", "http://", "ftp://", "https:", "//", ""][..]), text(), text())
            .prop_map(|(scheme, host, path)| format!("{scheme}{host}/{path}")),
    ];
    check("webhook URLs", url, |raw| {
        if let Ok(url) = validate_webhook_url(&raw, &policy()) {
            // What is accepted is accepted again as it was stored: the rules are stable.
            prop_assert_eq!(validate_webhook_url(&url, &policy()), Ok(url.clone()));
            prop_assert!(url.starts_with("https://") || url.starts_with("http://"), "{}", url);
        }
        Ok(())
    });
}

const SUBSCRIPTION_FIELDS: &[&str] = &[
    "url",
    "events",
    "name",
    "headers",
    "authentication",
    "filter",
    "rate_limit",
    "ordering",
    "ordering_key",
    "channel_id",
    "channel_type",
    "source",
    "zapier_subscription_id",
    "created_by_user_id",
];

#[test]
fn subscription_input() {
    check("subscription create and update bodies", object_with(SUBSCRIPTION_FIELDS), |body| {
        if let Err(err) = parse_new_subscription(body.clone(), &policy()) {
            client_error(&err)?;
        }
        if let Err(err) = parse_subscription_patch(body, &policy()) {
            client_error(&err)?;
        }
        Ok(())
    });
}

#[test]
fn custom_headers() {
    let headers = proptest::collection::btree_map(text(), text(), 0..6);
    check("custom headers", headers, |headers: BTreeMap<String, String>| {
        let body = json!({"url": "https://hooks.example.com/a", "headers": headers});
        match parse_new_subscription(body, &policy()) {
            Ok(_) => {
                // Accepted names are distinct ignoring case (SPEC §3).
                let mut lower: Vec<String> = headers.keys().map(|k| k.to_ascii_lowercase()).collect();
                lower.sort();
                lower.dedup();
                prop_assert_eq!(lower.len(), headers.len());
            }
            Err(err) => client_error(&err)?,
        }
        Ok(())
    });
}

#[test]
fn content_filters() {
    let pattern_and_events = (json_value(), proptest::collection::vec(json_value(), 1..4));
    check("content filters and the events they see", pattern_and_events, |(pattern, events)| {
        match ContentFilter::new(pattern, "filter") {
            Ok(filter) => {
                for data in events {
                    let _ = filter.matches(&filtered_view("call.ended", Some("dom_1"), &data));
                }
            }
            Err(issues) => prop_assert!(!issues.is_empty(), "a refusal names its fault"),
        }
        Ok(())
    });
}

#[test]
fn event_type_declarations() {
    let declaration = (text(), object_with(&["description", "schema", "example", "deprecated"]));
    check("event-type names and declarations", declaration, |(name, body)| {
        if let Err(err) = parse_name(&name) {
            client_error(&err)?;
        }
        if let Err(err) = parse_event_type(body) {
            client_error(&err)?;
        }
        Ok(())
    });
}

#[test]
fn ids_and_times() {
    check("ids, event ids and timestamps", text(), |s| {
        if let Some(id) = AccountId::parse(&s) {
            prop_assert_eq!(AccountId::parse(&id.to_string()), Some(id));
        }
        if let Some(id) = SubscriptionId::parse(&s) {
            prop_assert_eq!(SubscriptionId::parse(&id.to_string()), Some(id));
        }
        if let Some(id) = FailureId::parse(&s) {
            prop_assert_eq!(FailureId::parse(&id.to_string()), Some(id));
        }
        if let Some(id) = TokenId::parse(&s) {
            prop_assert_eq!(TokenId::parse(&id.to_string()), Some(id));
        }
        let _ = ChannelId::parse(&s);
        let _ = hookpost_domain::event::is_valid_event_id(&s);
        if let Some(t) = Timestamp::parse_rfc3339(&s) {
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
        }
        Ok(())
    });
}

#[test]
fn failure_list_queries() {
    const KNOWN: &[&str] = &["limit", "offset", "created_at[gte]", "created_at[lt]", "status"];
    let values = prop_oneof![
        text(),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("inactive,pending".to_owned()),
        Just("2026-12-07T09:00:00Z".to_owned()),
    ];
    let key = prop_oneof![4 => proptest::sample::select(KNOWN).prop_map(str::to_owned), 1 => text()];
    let query = proptest::collection::vec((key, proptest::collection::vec(values, 1..3)), 0..6);
    check("the failure list's query string", query, |pairs| {
        let map: std::collections::HashMap<String, Vec<String>> = pairs.into_iter().collect();
        let req = lambda_http::Request::default().with_query_string_parameters(QueryMap::from(map));
        if let Err(err) = list_webhook_failures::parse_query(&req) {
            client_error(&err)?;
        }
        Ok(())
    });
}

/// The ingest queue's consumer on the memory store, built once.
fn ingest_app() -> &'static (tokio::runtime::Runtime, App) {
    static APP: OnceLock<(tokio::runtime::Runtime, App)> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let memory = Arc::new(MemoryStore::new());
        let mut config = hookpost_tests::delivery_config("0");
        config.ingest_trust.sources = vec!["hookpost.publisher".into()];
        let app = App::new(Arc::clone(&memory) as Arc<dyn hookpost_store::Store>, config)
            .with_queue(Arc::new(hookpost_delivery::InProcessQueue::new(std::time::Duration::from_secs(30))))
            .with_catalogue(Arc::clone(&memory) as Arc<dyn hookpost_store::CatalogueStore>)
            .with_delivery_control(memory);
        (runtime, app)
    })
}

#[test]
fn ingest_messages() {
    let event = object_with(&["account_id", "event", "data", "channel_id", "event_id"]);
    let body = prop_oneof![
        text(),
        json_value().prop_map(|v| v.to_string()),
        event.clone().prop_map(|v| v.to_string()),
        (event, text(), text()).prop_map(|(detail, source, account)| {
            json!({"version": "0", "id": "e-1", "detail-type": "hookpost.publish", "source": source,
                   "account": account, "detail": detail})
            .to_string()
        }),
    ];
    let batch = proptest::collection::vec(body, 1..11);
    check("ingest queue messages", batch, |bodies| {
        let (runtime, app) = ingest_app();
        let mut sqs = SqsEvent::default();
        for (n, body) in bodies.iter().enumerate() {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m-{n}"));
            message.body = Some(body.clone());
            sqs.records.push(message);
        }
        let rejections = ingest_events::MemoryRejections::default();
        let answer = runtime
            .block_on(ingest_events::handle(app, &rejections, LambdaEvent::new(sqs, Context::default())))
            .map_err(|e| TestCaseError::fail(format!("the handler failed: {e}")))?;
        // The memory store and queue never fail: every message is published or kept with a
        // client error, none comes back.
        prop_assert!(answer.batch_item_failures.is_empty());
        for kept in rejections.kept.lock().unwrap().iter() {
            let error: Value = serde_json::from_str(&kept.error).unwrap();
            prop_assert!(error["error"].is_string() && error["message"].is_string(), "{}", error);
        }
        Ok(())
    });
}
