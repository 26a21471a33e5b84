//! What the event-type catalogue and content filters add to a publish (SPEC §11), in
//! process: reading a 1 KiB event with no catalogue, and checked against a realistic
//! schema (15 properties: strings with patterns and formats, integers with bounds, an enum,
//! a nested object, an array of objects); and the fan-out decision for one event over 25
//! subscriptions, without filters and each with a filter of two or three matchers.
//!
//!     cargo bench -p hookpost-bench --bench catalogue

use criterion::{criterion_group, criterion_main, Criterion};
use hookpost_bench::invoice::{data, schema};
use hookpost_domain::event::{parse_publish_checked, Matching};
use hookpost_domain::event_type::{Catalogue, EventType};
use hookpost_domain::subscription::{parse_new_subscription, Subscription};
use hookpost_domain::{AccountId, DestinationPolicy, Timestamp};
use serde_json::{json, Value};

fn publish(c: &mut Criterion) {
    let account = AccountId::new();
    let body = json!({"account_id": account.to_string(), "event": "billing.invoice.paid", "data": data()});
    assert!((1000..1400).contains(&body["data"].to_string().len()), "about 1 KiB");
    let at = Timestamp::from_unix(1_780_000_000);
    let declared = EventType {
        name: "billing.invoice.paid".into(),
        description: "An invoice was paid.".into(),
        schema: Some(schema()),
        example: None,
        deprecated: false,
        created_at: at,
        updated_at: at,
    };
    let checked = Catalogue::new(&[declared], false);
    let none = Catalogue::default();
    assert!(parse_publish_checked(body.clone(), &checked).is_ok(), "the data fits the schema");

    let mut group = c.benchmark_group("publish: reading a 1 KiB event");
    group.bench_function("no catalogue", |b| b.iter(|| parse_publish_checked(body.clone(), &none).expect("valid")));
    group.bench_function("checked against a 15-property schema (compiled)", |b| {
        b.iter(|| parse_publish_checked(body.clone(), &checked).expect("valid"))
    });
    group.bench_function("compiling the schema (once per catalogue read)", |b| {
        b.iter(|| hookpost_domain::event_type::DataSchema::compile(&schema()).expect("compiles"))
    });
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    let account = AccountId::new();
    let now = Timestamp::from_unix(1_780_000_000);
    let subscribe = |body: Value| -> Subscription {
        let input = parse_new_subscription(body, &DestinationPolicy::default()).expect("valid");
        Subscription::create(account, input, None, None, now)
    };
    let plain: Vec<Subscription> = (0..25)
        .map(|i| subscribe(json!({"url": format!("https://r{i}.example.com/h"), "events": ["billing.*"]})))
        .collect();
    let filtered: Vec<Subscription> = (0..25)
        .map(|i| {
            subscribe(json!({"url": format!("https://r{i}.example.com/h"), "events": ["billing.*"], "filter": {
                "data": {"amount": [{"numeric": [">=", i * 10_000]}], "country": [{"anything-but": ["US", "CA"]}],
                         "lines": {"sku": [{"prefix": "plan-"}]}}
            }}))
        })
        .collect();
    let text = data().to_string();
    let matched = filtered.iter().filter(|s| Matching::new("billing.invoice.paid", None, &text).wanted_by(s)).count();
    assert!(matched > 0 && matched < 25, "some filters pass, some do not: {matched}");

    let mut group = c.benchmark_group("fan-out: one event over 25 subscriptions");
    group.bench_function("no filters", |b| {
        b.iter(|| {
            let matching = Matching::new("billing.invoice.paid", None, &text);
            plain.iter().filter(|s| matching.wanted_by(s)).count()
        })
    });
    group.bench_function("each with a filter (3 matchers)", |b| {
        b.iter(|| {
            let matching = Matching::new("billing.invoice.paid", None, &text);
            filtered.iter().filter(|s| matching.wanted_by(s)).count()
        })
    });
    group.finish();
}

criterion_group!(benches, publish, fan_out);
criterion_main!(benches);
