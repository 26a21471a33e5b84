//! Nothing accepted is lost, and nothing is sent twice to get it recorded: publish answers
//! 202 only once everything is durable and 503 `unavailable` when the store or the queue
//! cannot take it; a repeat finishes what a refused publish started; the outcome of an
//! attempt the store would not take is recorded later, never by sending again; events still
//! in flight when a subscription is auto-disabled do not count against it.

use std::sync::Arc;
use std::time::Duration;

use hookpost_delivery::{InProcessQueue, Queue};
use hookpost_domain::failure::FailureStatus;
use hookpost_http::App;
use hookpost_local::Delivery;
use hookpost_store::{MemoryStore, Store};
use hookpost_tests::faulty::{FaultyQueue, FaultyStore};
use hookpost_tests::{
    call_ended as event, delivery_config, eventually, on_both_stores, Answer, Receiver, StoreKind, TestServer,
};
use serde_json::{json, Value};

const SUBS: &str = "/api/v1/webhook-subscriptions";
const FAILURES: &str = "/api/v4/tasks/webhook_failures";

/// hookpost-local on the memory store and the in-process queue, each behind a fault
/// injector.
async fn faulty_server(schedule: &str) -> (TestServer, Arc<FaultyStore>, Arc<FaultyQueue>) {
    // Delivery control on the store underneath: the faults are the others' to inject.
    let memory = Arc::new(MemoryStore::new());
    let store = Arc::new(FaultyStore::new(Arc::clone(&memory) as Arc<dyn Store>));
    let worked = Arc::new(InProcessQueue::new(Duration::from_secs(30)));
    let queue = Arc::new(FaultyQueue::new(Arc::clone(&worked) as Arc<dyn Queue>));
    let app = App::new(Arc::clone(&store) as Arc<dyn Store>, delivery_config(schedule))
        .with_queue(Arc::clone(&queue) as Arc<dyn Queue>)
        .with_catalogue(Arc::clone(&memory) as Arc<dyn hookpost_store::CatalogueStore>)
        .with_delivery_control(memory);
    (TestServer::start_with(app, Delivery::InProcess(worked)).await, store, queue)
}

#[tokio::test]
async fn a_refused_fan_out_is_a_503_and_its_repeat_delivers_once() {
    let (s, _, queue) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;

    queue.refuse(1);
    let refused = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_refused"))).await;
    refused.assert_error(503, "unavailable");
    assert_eq!(refused.header("retry-after"), Some("2"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty(), "nothing of a refused publish goes out");

    let repeat = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_refused"))).await;
    assert_eq!((repeat.status, &repeat.body["subscriptions"]), (202, &json!(1)), "{}", repeat.text);
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(got[0].header("webhook-id"), Some("evt_refused"));
    // A third publish is a repeat of a finished fan-out: the same answer, nothing sent.
    let again = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_refused"))).await;
    assert_eq!(again.body, repeat.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_throttled_store_is_a_503_never_a_500() {
    let (s, store, _) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    for operation in ["routable_subscriptions", "put_event"] {
        store.fail(operation, 1);
        let refused = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_t"))).await;
        refused.assert_error(503, "unavailable");
        assert!(refused.header("retry-after").is_some(), "{operation}");
    }
    let accepted = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_t"))).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    // Customer routes say the same when the store cannot answer.
    store.fail("list_subscriptions", 1);
    s.call("GET", SUBS, Some(&pat), Value::Null).await.assert_error(503, "unavailable");
    s.stop().await;
}

/// In a batch, a queue that refuses one event's task refuses that event alone: the others
/// are durable and delivered; the refused one, repeated with its id, is delivered once.
#[tokio::test]
async fn a_batch_answers_a_refused_fan_out_per_event() {
    let (s, _, queue) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/in")})).await;
    let batch = json!({"events": [
        event(&account, Some("evt_b1")),
        event(&account, Some("evt_b2")),
        event(&account, Some("evt_b3")),
    ]});
    queue.refuse(1);
    let answer = s.admin("POST", "/internal/v1/events/batch", batch.clone()).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let results = answer.body["results"].as_array().unwrap().clone();
    let refused: Vec<usize> = (0..3).filter(|i| results[*i]["error"] == "unavailable").collect();
    assert_eq!(refused.len(), 1, "one task refused, one event refused: {results:?}");
    let got = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2, "{got:?}");

    let again = s.admin("POST", "/internal/v1/events/batch", batch).await;
    let results = again.body["results"].as_array().unwrap().clone();
    assert!(results.iter().all(|r| r["subscriptions"] == 1), "{results:?}");
    receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> =
        receiver.received().iter().map(|r| r.header("webhook-id").unwrap_or_default().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, ["evt_b1", "evt_b2", "evt_b3"], "each event delivered once");
    s.stop().await;
}

#[tokio::test]
async fn a_202_stands_once_everything_is_queued() {
    let (s, store, _) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    // The last write only notes that the fan-out finished: refusing the publish for it would
    // make the caller's repeat send every delivery again.
    store.fail("mark_fanned_out", 1);
    let accepted = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_m"))).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn records_written_at_publish_are_not_written_twice_by_a_repeat() {
    let (s, _, queue) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let failing = Receiver::start(Answer::status(500)).await;
    let disabled = s.create_subscription(&pat, json!({"url": failing.url("/down")})).await;
    for i in 0..5 {
        s.admin("POST", "/internal/v1/events", event(&account, Some(&format!("evt_fail_{i}")))).await;
    }
    let id = disabled["id"].as_str().unwrap().to_owned();
    eventually(|| async {
        let sub = s.call("GET", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
        (sub.body["disabled_reason"] == "auto_disabled").then_some(())
    })
    .await
    .expect("auto-disabled after five failed events");
    let ok = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": ok.url("/up")})).await;

    queue.refuse(1);
    s.admin("POST", "/internal/v1/events", event(&account, Some("evt_x"))).await.assert_error(503, "unavailable");
    let repeat = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_x"))).await;
    assert_eq!(repeat.status, 202, "{}", repeat.text);
    assert_eq!(ok.wait_for(1).await.len(), 1);
    let listed = s.call("GET", &format!("{FAILURES}?limit=100"), Some(&pat), Value::Null).await;
    let disabled_records = listed.body["webhook_failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"] == "subscription_disabled")
        .count();
    assert_eq!(disabled_records, 1, "one record for the event, not one per publish: {}", listed.text);
    s.stop().await;
}

#[tokio::test]
async fn an_outcome_the_store_refuses_is_recorded_later_and_never_sent_again() {
    let (s, store, _) = faulty_server("0,1").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    let sub = s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    let id = sub["id"].as_str().unwrap().to_owned();

    // Six refusals: more than the worker's own tries (1 + 3 pauses), so the writes go on in
    // a record task, whose first tries take the last two.
    store.fail("record_attempt", 6);
    let accepted = s.admin("POST", "/internal/v1/events", event(&account, Some("evt_once"))).await;
    assert_eq!(accepted.status, 202);
    assert_eq!(receiver.wait_for(1).await.len(), 1);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let attempts = loop {
        let page = s.call("GET", &format!("{SUBS}/{id}/attempts"), Some(&pat), Value::Null).await;
        if page.body["pagination"]["total"] == 1 || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(attempts.body["pagination"]["total"], 1, "{}", attempts.text);
    assert_eq!(
        (attempts.body["attempts"][0]["status_code"].as_u64(), attempts.body["attempts"][0]["attempt"].as_u64()),
        (Some(204), Some(1))
    );
    let sub = s.call("GET", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    assert!(sub.body["last_success_at"].is_string(), "{}", sub.text);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "sent once, though its outcome took several tries to record");
    s.stop().await;
}

#[tokio::test]
async fn a_refused_retrigger_is_a_503_and_the_record_can_be_retriggered_again() {
    let (s, _, queue) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(500)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    s.admin("POST", "/internal/v1/events", event(&account, Some("evt_r"))).await;
    let failure = eventually(|| async {
        let listed = s.call("GET", FAILURES, Some(&pat), Value::Null).await;
        listed.body["webhook_failures"][0]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("a failure record");

    queue.refuse(1);
    let path = format!("{FAILURES}/{failure}/retrigger");
    s.call("POST", &path, Some(&pat), Value::Null).await.assert_error(503, "unavailable");
    let record = s.call("GET", &format!("{FAILURES}/{failure}"), Some(&pat), Value::Null).await;
    assert_eq!(record.body["webhook_failure"]["status"], FailureStatus::Inactive.as_str(), "{}", record.text);
    assert_eq!(record.body["webhook_failure"]["reason"], "retrigger_lost");
    let again = s.call("POST", &path, Some(&pat), Value::Null).await;
    assert_eq!(again.status, 200, "{}", again.text);
    s.stop().await;
}

/// Events still in their retry cycle when their subscription is auto-disabled finish
/// without counting: `consecutive_failures` stops at the threshold, and every event has its
/// failure record.
async fn in_flight_events_do_not_count_after_an_auto_disable(kind: StoreKind) {
    let s = TestServer::start(kind, delivery_config("0")).await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(500)).await;
    let sub = s.create_subscription(&pat, json!({"url": receiver.url("/down")})).await;
    let id = sub["id"].as_str().unwrap().to_owned();
    let publishes = (0..9).map(|i| s.admin("POST", "/internal/v1/events", event(&account, Some(&format!("evt_{i}")))));
    for answer in futures::future::join_all(publishes).await {
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = s.call("GET", &format!("{FAILURES}?limit=100"), Some(&pat), Value::Null).await;
        if listed.body["metadata"]["total"] == 9 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "records so far: {}", listed.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sub = s.call("GET", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    assert_eq!(
        (sub.body["is_active"].as_bool(), sub.body["disabled_reason"].as_str()),
        (Some(false), Some("auto_disabled"))
    );
    assert_eq!(sub.body["consecutive_failures"], 5, "{}", sub.text);
    s.stop().await;
}

on_both_stores!(in_flight_events_do_not_count_after_an_auto_disable);

/// A recover that the store throttles part-way answers 503 (it used to count the records it
/// could not retrigger as skipped and answer 202); sent again, it retriggers the rest and
/// never a record twice.
#[tokio::test]
async fn a_recover_cut_short_by_the_store_is_a_503_and_its_repeat_finishes() {
    let (s, store, _) = faulty_server("0").await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(500)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    for n in 0..3 {
        let id = format!("evt_recover_{n}");
        s.admin("POST", "/internal/v1/events", event(&account, Some(&id))).await;
    }
    eventually(|| async {
        let v = s.call("GET", FAILURES, Some(&pat), Value::Null).await.body;
        (v["metadata"]["total"] == 3).then_some(())
    })
    .await
    .expect("three failure records");
    receiver.then([Answer::status(204), Answer::status(204), Answer::status(204)]);
    store.fail("retrigger_failure", 1);
    let cut = s.call("POST", &format!("{FAILURES}/recover"), Some(&pat), json!({})).await;
    cut.assert_error(503, "unavailable");
    let rest = s.call("POST", &format!("{FAILURES}/recover"), Some(&pat), json!({})).await;
    assert_eq!((rest.status, &rest.body), (202, &json!({"retriggered": 1})), "{}", rest.text);
    eventually(|| async {
        let v = s.call("GET", &format!("{FAILURES}?status=resolved"), Some(&pat), Value::Null).await.body;
        (v["metadata"]["total"] == 3).then_some(())
    })
    .await
    .expect("all three resolved");
    s.stop().await;
}
