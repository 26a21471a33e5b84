//! Delivery control over HTTP (SPEC §10), on both stores: a burst held to a subscription's
//! rate limit at the receiver, FIFO order through a receiver that fails, and ordering keys
//! that do not wait for each other.

use std::time::{Duration, Instant};

use hookpost_tests::{delivery_config, on_both_stores, Answer, Received, Receiver, StoreKind, TestServer};
use serde_json::{json, Value};

const SUBS: &str = "/api/v1/webhook-subscriptions";

async fn server(kind: StoreKind, schedule: &str) -> TestServer {
    TestServer::start(kind, delivery_config(schedule)).await
}

/// Publishes `events` (SPEC §4 bodies without the account) in batches of 100, in order.
async fn publish_all(s: &TestServer, account: &str, events: Vec<Value>) {
    for chunk in events.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["account_id"] = json!(account);
                e
            })
            .collect();
        let res = s.admin("POST", "/internal/v1/events/batch", json!({ "events": events })).await;
        assert_eq!(res.status, 202, "{}", res.text);
        let refused: Vec<&Value> =
            res.body["results"].as_array().unwrap().iter().filter(|r| r["error"].is_string()).collect();
        assert!(refused.is_empty(), "{refused:?}");
    }
}

/// The most requests that arrived in any window of `window`.
fn busiest(arrivals: &[Instant], window: Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort_unstable();
    let mut first = 0;
    let mut most = 0;
    for (last, at) in sorted.iter().enumerate() {
        while *at - sorted[first] > window {
            first += 1;
        }
        most = most.max(last - first + 1);
    }
    most
}

fn event_id(r: &Received) -> String {
    r.header("webhook-id").unwrap_or_default().to_owned()
}

async fn attempts_total(s: &TestServer, token: &str, sub: &str) -> u64 {
    let res = s.call("GET", &format!("{SUBS}/{sub}/attempts?limit=1"), Some(token), Value::Null).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["pagination"]["total"].as_u64().unwrap()
}

async fn failure_records(s: &TestServer, token: &str) -> Vec<Value> {
    let res = s.call("GET", "/api/v4/tasks/webhook_failures?limit=100", Some(token), Value::Null).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["webhook_failures"].as_array().unwrap().clone()
}

/// 200 events at once to an endpoint limited to 20 a second: the receiver's clock shows the
/// bound in every window, all 200 arrive once, none failed, 200 attempts are in the log.
async fn a_burst_is_held_to_the_rate_limit_at_the_receiver(kind: StoreKind) {
    let s = server(kind, "0,60").await;
    let (account, token) = s.customer().await;
    let rx = Receiver::start(Answer::status(204)).await;
    let sub = s.create_subscription(&token, json!({"url": rx.url("/limited"), "rate_limit": 20})).await;
    assert_eq!((sub["rate_limit"].as_u64(), sub["ordering"].as_str()), (Some(20), Some("unordered")));
    let sub = sub["id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let events = (0..200).map(|i| json!({"event": "call.ended", "data": {"n": i}})).collect();
    publish_all(&s, &account, events).await;
    let got = rx.wait_for_within(200, Duration::from_secs(40)).await;
    let took = started.elapsed();
    assert_eq!(got.len(), 200, "every event arrives");
    let mut ids: Vec<String> = got.iter().map(event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200, "each once");

    let arrivals: Vec<Instant> = got.iter().map(|r| r.at).collect();
    for window_ms in [1000u64, 1250, 1500, 2000, 3000, 5000] {
        let most = busiest(&arrivals, Duration::from_millis(window_ms));
        let allowed = 20.0 * (window_ms as f64 / 1000.0 + 1.0);
        assert!(most as f64 <= allowed, "{most} requests within {window_ms} ms (at most {allowed})");
    }
    // Held back, not slowed further than the limit: 200 at 20/s with a burst takes 9-10 s.
    assert!(took >= Duration::from_secs(8), "the limit held them back: {took:?}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 200, "nothing sent twice");
    assert!(failure_records(&s, &token).await.is_empty(), "a delay is not a failure");
    assert_eq!(attempts_total(&s, &token, &sub).await, 200, "one attempt each: no retry was used up");
    s.stop().await;
}

/// A `fifo` subscription through a receiver that fails the first attempt of every third
/// event: attempts arrive in publish order, each event's before any of the next one's.
async fn fifo_attempts_arrive_in_publish_order(kind: StoreKind) {
    let s = server(kind, "0,1,1,1").await;
    let (account, token) = s.customer().await;
    // One at a time, so the n-th request is answered by the n-th answer of the script.
    let events = 18;
    let mut script = Vec::new();
    for i in 0..events {
        if i % 3 == 0 {
            script.push(Answer::status(500));
        }
        script.push(Answer::status(204));
    }
    let rx = Receiver::start(Answer::status(204)).await;
    rx.then(script.clone());
    let sub =
        s.create_subscription(&token, json!({"url": rx.url("/ordered"), "ordering": "fifo", "rate_limit": null})).await;
    assert_eq!((sub["ordering"].as_str(), sub["rate_limit"].clone()), (Some("fifo"), Value::Null));
    let published: Vec<String> = (0..events).map(|i| format!("evt_fifo_{i:02}")).collect();
    let bodies = published.iter().map(|id| json!({"event": "call.ended", "event_id": id, "data": {}})).collect();
    publish_all(&s, &account, bodies).await;

    let got = rx.wait_for_within(script.len(), Duration::from_secs(60)).await;
    assert_eq!(got.len(), script.len(), "every attempt made");
    let order: Vec<String> = got.iter().map(event_id).collect();
    let mut firsts: Vec<String> = order.clone();
    firsts.dedup();
    assert_eq!(firsts, published, "attempts in publish order, one event at a time: {order:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), script.len(), "no attempt after the last success");
    assert!(failure_records(&s, &token).await.is_empty());
    s.stop().await;
}

/// Two ordering keys of one subscription: key "a" fails for good, key "b" is delivered
/// without waiting for it; "a"'s second event goes only once its first exhausted its
/// schedule, and both are recorded as failures.
async fn ordering_keys_do_not_wait_for_each_other(kind: StoreKind) {
    let s = server(kind, "0,2,2").await;
    let (account, token) = s.customer().await;
    let rx = Receiver::answering(|r, _| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        Answer::status(if body["data"]["key"] == "a" { 503 } else { 204 })
    })
    .await;
    s.create_subscription(&token, json!({"url": rx.url("/keys"), "ordering": "fifo"})).await;
    let event =
        |id: &str, key: &str| json!({"event": "call.ended", "event_id": id, "ordering_key": key, "data": {"key": key}});
    publish_all(
        &s,
        &account,
        vec![event("a1", "a"), event("a2", "a"), event("b1", "b"), event("b2", "b"), event("b3", "b")],
    )
    .await;

    // a1: 3 attempts (0, +2 s, +4 s), then a2: 3 more; b1..b3 once each.
    let got = rx.wait_for_within(9, Duration::from_secs(40)).await;
    assert_eq!(got.len(), 9, "{:?}", got.iter().map(event_id).collect::<Vec<_>>());
    let of = |id: &str| got.iter().filter(|r| event_id(r) == id).map(|r| r.at).collect::<Vec<_>>();
    let (a1, a2, b) = (of("a1"), of("a2"), [of("b1"), of("b2"), of("b3")]);
    assert_eq!((a1.len(), a2.len()), (3, 3));
    assert!(b.iter().all(|b| b.len() == 1), "each b once");
    assert!(b[0][0] < b[1][0] && b[1][0] < b[2][0], "b in order");
    assert!(b[2][0] < a1[1], "b went while a1 waited for its retry");
    assert!(a1[2] < a2[0], "a2 only after a1 exhausted its schedule");

    let records = hookpost_tests::eventually(|| async {
        let records = failure_records(&s, &token).await;
        (records.len() == 2).then_some(records)
    })
    .await
    .expect("both of a's events recorded as failures");
    assert!(records.iter().all(|r| r["reason"] == "http_status: 503"), "{records:?}");
    s.stop().await;
}

/// A test delivery takes its turn under the limit like any delivery: the second of two
/// tests to an endpoint limited to one a second waits for it, and with a backlog queued
/// ahead of it a test is refused (429 `rate_limited`, `Retry-After`) instead of waiting.
async fn tests_take_their_turn_under_the_limit(kind: StoreKind) {
    let s = server(kind, "0,60").await;
    let (account, token) = s.customer().await;
    let rx = Receiver::start(Answer::status(204)).await;
    let sub = s.create_subscription(&token, json!({"url": rx.url("/slowly"), "rate_limit": 1})).await;
    let test = format!("{SUBS}/{}/test", sub["id"].as_str().unwrap());
    let started = Instant::now();
    for _ in 0..2 {
        let res = s.call("POST", &test, Some(&token), Value::Null).await;
        assert_eq!((res.status, res.body["success"].as_bool()), (200, Some(true)), "{}", res.text);
    }
    assert!(started.elapsed() >= Duration::from_millis(1100), "the second test waited: {:?}", started.elapsed());

    // Thirty events: 36 s of the limit, most of it taken by the workers once they start on
    // them (a start further than 3 s away waits in the queue, holding it).
    let events = (0..30).map(|i| json!({"event": "call.ended", "data": {"n": i}})).collect();
    publish_all(&s, &account, events).await;
    rx.wait_for(3).await;
    let busy = s.call("POST", &test, Some(&token), Value::Null).await;
    busy.assert_error(429, "rate_limited");
    assert_eq!(busy.header("retry-after"), Some("10"));
    assert!(busy.body["message"].as_str().unwrap().contains("delivery rate limit"), "{}", busy.text);
    s.stop().await;
}

on_both_stores!(
    tests_take_their_turn_under_the_limit,
    a_burst_is_held_to_the_rate_limit_at_the_receiver,
    fifo_attempts_arrive_in_publish_order,
    ordering_keys_do_not_wait_for_each_other,
);
