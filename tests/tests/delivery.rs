//! Delivery end to end through hookpost-local, with real receivers on loopback: publish,
//! fan-out, signing that the stock Python `standardwebhooks` verifier accepts, redirects
//! never followed, retries, exhaustion, auto-disable, and a worker killed mid-attempt.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use hookpost_domain::failure::FailureStatus;
use hookpost_domain::{AccountId, Clock, Timestamp};
use hookpost_tests::{delivery_config, eventually, on_both_stores, Answer, Received, Receiver, StoreKind, TestServer};
use serde_json::{json, Value};

const SUBS: &str = "/api/v1/webhook-subscriptions";

macro_rules! server {
    ($kind:expr, $schedule:expr) => {
        TestServer::start($kind, delivery_config($schedule)).await
    };
}

async fn publish(s: &TestServer, account: &str, event: &str, extra: Value) -> Value {
    let mut body = json!({"account_id": account, "event": event, "data": {"call_id": 42, "tags": ["a", "b"]}});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let res = s.admin("POST", "/internal/v1/events", body).await;
    assert_eq!(res.status, 202, "{}", res.text);
    res.body
}

async fn subscription(s: &TestServer, pat: &str, id: &str) -> Value {
    s.call("GET", &format!("{SUBS}/{id}"), Some(pat), Value::Null).await.body
}

/// Verifies a delivery with the stock Python library, as a receiver would.
fn verify_with_standardwebhooks(secret: &str, got: &Received) {
    // The Python that has the stock verifier (scripts/test points at its .venv); a missing
    // verifier fails the test rather than skip the check.
    let python = std::env::var("HOOKPOST_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
msg = json.load(sys.stdin)
Webhook(msg["secret"]).verify(msg["body"].encode(), msg["headers"])
print("verified")
"#;
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let input = json!({"secret": secret, "body": String::from_utf8(got.body.clone()).unwrap(), "headers": headers});
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused the delivery, or is not installed for {python} (pip install standardwebhooks, \
         or run scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
}

async fn a_published_event_reaches_each_matching_subscription_once(kind: StoreKind) {
    let s = server!(kind, "0");
    let (account, pat) = s.customer().await;
    s.admin(
        "POST",
        &format!("/internal/v1/accounts/{account}/channels"),
        json!({"channel_id": "dom_1", "channel_type": "domain"}),
    )
    .await;
    let rx = Receiver::start(Answer::status(204)).await;
    let all = s
        .create_subscription(&pat, json!({"url": rx.url("/all"), "headers": {"X-Team": "crm"}, "authentication": {"method": "bearer", "token": "t0k"}}))
        .await;
    let calls = s
        .create_subscription(&pat, json!({"url": rx.url("/calls"), "events": ["call.ended"], "channel_id": "dom_1"}))
        .await;
    s.create_subscription(&pat, json!({"url": rx.url("/sms"), "events": ["sms.sent"]})).await;
    let deleted = s.create_subscription(&pat, json!({"url": rx.url("/deleted")})).await;
    s.call("DELETE", &format!("{SUBS}/{}", deleted["id"].as_str().unwrap()), Some(&pat), Value::Null).await;

    let reply = publish(&s, &account, "call.ended", json!({"channel_id": "dom_1", "event_id": "evt_once"})).await;
    assert_eq!(reply, json!({"event_id": "evt_once", "subscriptions": 2}));
    let got = rx.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = rx.received();
    assert_eq!(got_after.len(), 2, "exactly one delivery per matching subscription: {got:?}");
    let mut paths: Vec<&str> = got_after.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/all", "/calls"]);

    let to_all = got_after.iter().find(|r| r.path == "/all").unwrap();
    assert_eq!(to_all.header("content-type"), Some("application/json"));
    assert!(to_all.header("user-agent").unwrap().starts_with("hookpost/"));
    assert_eq!(to_all.header("webhook-id"), Some("evt_once"));
    assert_eq!(to_all.header("x-team"), Some("crm"));
    assert_eq!(to_all.header("authorization"), Some("Bearer t0k"));
    assert_eq!(to_all.header("content-length").map(|l| l.parse::<usize>().unwrap()), Some(to_all.body.len()));
    assert_eq!(to_all.header("transfer-encoding"), None);
    let body = to_all.json();
    assert_eq!(
        (body["event"].as_str(), body["event_id"].as_str(), body["channel_id"].as_str()),
        (Some("call.ended"), Some("evt_once"), Some("dom_1"))
    );
    assert_eq!(body["data"], json!({"call_id": 42, "tags": ["a", "b"]}));
    assert!(body["delivered_at"].as_str().unwrap().ends_with('Z'));
    verify_with_standardwebhooks(all["secret"].as_str().unwrap(), to_all);
    verify_with_standardwebhooks(
        calls["secret"].as_str().unwrap(),
        got_after.iter().find(|r| r.path == "/calls").unwrap(),
    );

    // The same event_id again: the same answer, no new delivery.
    let again = publish(&s, &account, "call.ended", json!({"channel_id": "dom_1", "event_id": "evt_once"})).await;
    assert_eq!(again, reply);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2);

    let sub = subscription(&s, &pat, all["id"].as_str().unwrap()).await;
    assert!(sub["last_delivery_at"].is_string() && sub["last_success_at"].is_string());
    assert_eq!(sub["consecutive_failures"], 0);
    s.stop().await;
}

async fn a_redirect_is_never_followed(kind: StoreKind) {
    let s = server!(kind, "0");
    let (account, pat) = s.customer().await;
    let target = Receiver::start(Answer::status(200)).await;
    let mut moved = Answer::status(302);
    moved.headers.push(("location".into(), target.url("/elsewhere")));
    let rx = Receiver::start(moved).await;
    let sub = s.create_subscription(&pat, json!({"url": rx.url("/hook")})).await;
    let id = sub["id"].as_str().unwrap();
    publish(&s, &account, "call.ended", json!({})).await;
    let settled = eventually(|| async {
        let v = subscription(&s, &pat, id).await;
        (v["consecutive_failures"] == 1).then_some(v)
    })
    .await
    .expect("the event's cycle ends");
    assert_eq!(settled["last_error"], "redirect_blocked: 302");
    assert_eq!(rx.received().len(), 1);
    assert!(target.received().is_empty(), "the redirect target was never called");
    let account_id = AccountId::parse(&account).unwrap();
    let failures = s.running.app.store.list_failures(account_id).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].status, failures[0].reason.as_ref().map(ToString::to_string).as_deref()),
        (FailureStatus::Inactive, Some("redirect_blocked: 302"))
    );
    assert_eq!(failures[0].subscription_name, "127.0.0.1");
    s.stop().await;
}

async fn five_failed_events_disable_and_the_sixth_is_recorded(kind: StoreKind) {
    let s = server!(kind, "0,0");
    let (account, pat) = s.customer().await;
    let rx = Receiver::start(Answer::status(500)).await;
    let id = s.create_subscription(&pat, json!({"url": rx.url("/down")})).await["id"].as_str().unwrap().to_owned();

    // Two failures, then a success: the success resets the count.
    for n in 1..=2 {
        publish(&s, &account, "call.ended", json!({})).await;
        eventually(|| async { (subscription(&s, &pat, &id).await["consecutive_failures"] == n).then_some(()) })
            .await
            .expect("counted");
    }
    rx.then([Answer::status(200)]);
    publish(&s, &account, "call.ended", json!({})).await;
    let reset = eventually(|| async {
        let v = subscription(&s, &pat, &id).await;
        (v["consecutive_failures"] == 0).then_some(v)
    })
    .await
    .expect("a 2xx resets consecutive_failures");
    assert!(reset["last_success_at"].is_string());

    for n in 1..=5 {
        publish(&s, &account, "call.ended", json!({})).await;
        eventually(|| async { (subscription(&s, &pat, &id).await["consecutive_failures"] == n).then_some(()) })
            .await
            .expect("counted");
    }
    let disabled = subscription(&s, &pat, &id).await;
    assert_eq!(
        (disabled["is_active"].as_bool(), disabled["disabled_reason"].as_str()),
        (Some(false), Some("auto_disabled"))
    );
    assert_eq!(disabled["last_error"], "http_status: 500");
    let requests = rx.received().len();
    assert_eq!(requests, 2 * 2 + 1 + 5 * 2, "two attempts per failed event, one for the success");

    let sixth = publish(&s, &account, "call.ended", json!({"event_id": "evt_sixth"})).await;
    assert_eq!(sixth["subscriptions"], 0);
    let account_id = AccountId::parse(&account).unwrap();
    let failures = s.running.app.store.list_failures(account_id).await.unwrap();
    assert_eq!(failures.len(), 2 + 5 + 1);
    // Ids order by the second they were made in; within one second the order is arbitrary.
    let sixth_failure = failures.iter().find(|f| f.event_id == "evt_sixth").expect("the sixth event is recorded");
    assert_eq!(
        (sixth_failure.reason.as_ref().map(ToString::to_string).as_deref(), sixth_failure.status),
        (Some("subscription_disabled"), FailureStatus::Inactive)
    );
    assert_eq!(
        failures
            .iter()
            .filter(|f| f.reason.as_ref().map(ToString::to_string).as_deref() == Some("http_status: 500"))
            .count(),
        7
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.received().len(), requests, "nothing more was sent");

    // Reactivation brings it back with a clean count.
    let back = s.call("POST", &format!("{SUBS}/{id}/reactivate"), Some(&pat), Value::Null).await;
    assert_eq!((back.status, back.body["consecutive_failures"].as_u64()), (200, Some(0)));
    s.stop().await;
}

async fn retries_follow_the_schedule_and_stop_when_deleted(kind: StoreKind) {
    let s = server!(kind, "0,1,1");
    let (account, pat) = s.customer().await;
    let rx = Receiver::start(Answer::status(200)).await;
    rx.then([Answer::status(503), Answer::status(500)]);
    let id = s.create_subscription(&pat, json!({"url": rx.url("/flaky")})).await["id"].as_str().unwrap().to_owned();
    publish(&s, &account, "call.ended", json!({"event_id": "evt_retry"})).await;
    let got = rx.wait_for(3).await;
    assert_eq!(got.len(), 3, "third attempt succeeds");
    assert!(got.iter().all(|r| r.header("webhook-id") == Some("evt_retry")), "the same webhook-id on every attempt");
    let sub = eventually(|| async {
        let v = subscription(&s, &pat, &id).await;
        v["last_success_at"].is_string().then_some(v)
    })
    .await
    .unwrap();
    assert_eq!(sub["consecutive_failures"], 0);
    let account_id = AccountId::parse(&account).unwrap();
    let sub_id = hookpost_domain::SubscriptionId::parse(&id).unwrap();
    let log = s.running.app.store.list_attempts(account_id, sub_id, 10, 0).await.unwrap();
    let attempts: Vec<(u32, Option<u16>)> = log.items.iter().map(|a| (a.attempt, a.status_code)).collect();
    assert_eq!(attempts, [(3, Some(200)), (2, Some(500)), (1, Some(503))]);

    // A deleted subscription gets no further attempt.
    let rx2 = Receiver::start(Answer::status(500)).await;
    let gone = s.create_subscription(&pat, json!({"url": rx2.url("/gone")})).await["id"].as_str().unwrap().to_owned();
    publish(&s, &account, "call.ended", json!({})).await;
    rx2.wait_for(1).await;
    s.call("DELETE", &format!("{SUBS}/{gone}"), Some(&pat), Value::Null).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx2.received().len(), 1);
    let gone_sub = subscription(&s, &pat, &gone).await;
    assert_eq!(gone_sub["consecutive_failures"], 0, "a stopped cycle is not a failed event");
    s.stop().await;
}

async fn publish_refuses_bad_input(kind: StoreKind) {
    let s = server!(kind, "0");
    let (account, _) = s.customer().await;
    let big = "x".repeat(300 * 1024);
    s.admin("POST", "/internal/v1/events", json!({"account_id": account, "event": "a", "data": {"big": big}}))
        .await
        .assert_error(413, "payload_too_large");
    for body in [
        json!({"account_id": account, "event": "Bad Type", "data": {}}),
        json!({"account_id": account, "event": "a", "data": "text"}),
        json!({"account_id": account, "event": "a"}),
        json!({"account_id": "x", "event": "a", "data": {}}),
        json!({"account_id": account, "event": "a", "data": {}, "extra": 1}),
    ] {
        s.admin("POST", "/internal/v1/events", body).await.assert_error(400, "validation_error");
    }
    s.admin(
        "POST",
        "/internal/v1/events",
        json!({"account_id": AccountId::new().to_string(), "event": "a", "data": {}}),
    )
    .await
    .assert_error(404, "not_found");
    s.call("POST", "/internal/v1/events", None, json!({"account_id": account, "event": "a", "data": {}}))
        .await
        .assert_error(401, "unauthorized");
    let none = s.admin("POST", "/internal/v1/events", json!({"account_id": account, "event": "a", "data": {}})).await;
    assert_eq!(none.body["subscriptions"], 0);
    assert!(none.body["event_id"].as_str().unwrap().starts_with("evt_"));
    s.stop().await;
}

/// A batch publishes each event as a single publish would, answers each in order, and one
/// event's refusal refuses only that event.
async fn a_batch_publishes_each_event_on_its_own(kind: StoreKind) {
    let s = server!(kind, "0");
    let (account, pat) = s.customer().await;
    let rx = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": rx.url("/calls"), "events": ["call.ended"]})).await;
    let (other_account, _) = s.customer().await;
    let big = "x".repeat(300 * 1024);
    let event = |event: &str, extra: Value| {
        let mut body = json!({"account_id": account, "event": event, "data": {"n": 1}});
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        body
    };
    let batch = json!({"events": [
        event("call.ended", json!({"event_id": "evt_batch_1"})),
        event("Bad Type", json!({})),
        event("call.ended", json!({})),
        {"account_id": AccountId::new().to_string(), "event": "call.ended", "data": {}},
        event("sms.sent", json!({})),
        "not an event",
        {"account_id": other_account, "event": "call.ended", "data": {"big": big}},
        event("call.ended", json!({"event_id": "evt_batch_1"})),
    ]});
    let res = s.admin("POST", "/internal/v1/events/batch", batch.clone()).await;
    assert_eq!(res.status, 202, "{}", res.text);
    let results = res.body["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 8, "one result per event, in order");
    assert_eq!(results[0], json!({"event_id": "evt_batch_1", "subscriptions": 1}));
    assert_eq!(results[1]["error"], "validation_error");
    assert_eq!(results[1]["issues"][0]["field"], "event");
    assert_eq!(results[2]["subscriptions"], 1);
    assert!(results[2]["event_id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(results[3]["error"], "not_found", "an unknown account refuses its event only");
    assert_eq!(results[4]["subscriptions"], 0, "nobody wants sms.sent");
    assert_eq!(results[5]["error"], "validation_error");
    assert_eq!(results[6]["error"], "payload_too_large", "each event keeps the single publish's size limit");
    assert_eq!(results[7], results[0], "a repeated id is the same event");
    let got = rx.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2, "evt_batch_1 once, the generated one once: {got:?}");

    // The batch itself: a missing, empty or too long list, or a body over the limit.
    for body in [json!({}), json!({"events": []}), json!({"events": "x"}), json!({"events": [{}], "extra": 1})] {
        s.admin("POST", "/internal/v1/events/batch", body).await.assert_error(400, "validation_error");
    }
    let too_many: Vec<Value> = (0..101).map(|_| event("call.ended", json!({}))).collect();
    s.admin("POST", "/internal/v1/events/batch", json!({"events": too_many}))
        .await
        .assert_error(400, "validation_error");
    let huge: Vec<Value> = (0..3).map(|_| event("a", json!({"data": {"big": "y".repeat(200 * 1024)}}))).collect();
    s.admin("POST", "/internal/v1/events/batch", json!({"events": huge})).await.assert_error(413, "payload_too_large");
    s.call("POST", "/internal/v1/events/batch", None, batch).await.assert_error(401, "unauthorized");
    s.stop().await;
}

async fn test_deliveries_touch_no_counter(kind: StoreKind) {
    let s = server!(kind, "0");
    let (_, pat) = s.customer().await;
    let (_, read_only) = s.tenant("pro", &["tasks.webhooks.read"]).await;
    let rx = Receiver::start(Answer::status(200)).await;
    rx.then([Answer::status(200), Answer::status(500)]);
    let sub = s.create_subscription(&pat, json!({"url": rx.url("/t")})).await;
    let id = sub["id"].as_str().unwrap();

    let ok = s.call("POST", &format!("{SUBS}/{id}/test"), Some(&pat), Value::Null).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        (ok.body["success"].as_bool(), ok.body["status_code"].as_u64(), &ok.body["reason"]),
        (Some(true), Some(200), &Value::Null)
    );
    assert!(ok.body["duration_ms"].is_u64());
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["event"], "webhook.test");
    verify_with_standardwebhooks(sub["secret"].as_str().unwrap(), &got[0]);

    let failed = s.call("POST", &format!("{SUBS}/{id}/test"), Some(&pat), json!({})).await;
    assert_eq!(
        (failed.body["success"].as_bool(), failed.body["reason"].as_str()),
        (Some(false), Some("http_status: 500"))
    );

    let after = subscription(&s, &pat, id).await;
    assert_eq!(
        (&after["last_delivery_at"], &after["last_success_at"], &after["last_error"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(after["consecutive_failures"], 0);
    let log = s.call("GET", &format!("{SUBS}/{id}/attempts"), Some(&pat), Value::Null).await;
    assert_eq!(log.status, 200, "{}", log.text);
    assert_eq!(log.body["pagination"], json!({"total": 2, "limit": 25, "offset": 0}));
    let first = &log.body["attempts"][0];
    assert_eq!(
        (first["test"].as_bool(), first["status_code"].as_u64(), first["event"].as_str()),
        (Some(true), Some(500), Some("webhook.test"))
    );
    for key in ["event_id", "attempt", "reason", "duration_ms", "response_excerpt", "attempted_at"] {
        assert!(first.get(key).is_some(), "{key}");
    }

    s.call("POST", &format!("{SUBS}/{id}/test"), Some(&read_only), Value::Null)
        .await
        .assert_error(403, "insufficient_scope");
    s.call("POST", &format!("{SUBS}/{}/test", hookpost_domain::SubscriptionId::new()), Some(&pat), Value::Null)
        .await
        .assert_error(404, "not_found");
    s.call("DELETE", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    s.call("POST", &format!("{SUBS}/{id}/test"), Some(&pat), Value::Null)
        .await
        .assert_error(409, "subscription_deleted");
    s.stop().await;
}

async fn rotation_signs_with_both_secrets_for_a_day(kind: StoreKind) {
    let s = server!(kind, "0");
    let (account, pat) = s.customer().await;
    let rx = Receiver::start(Answer::status(200)).await;
    let sub = s.create_subscription(&pat, json!({"url": rx.url("/r")})).await;
    let id = sub["id"].as_str().unwrap();
    let old = sub["secret"].as_str().unwrap().to_owned();

    let rotated = s.call("POST", &format!("{SUBS}/{id}/rotate-secret"), Some(&pat), Value::Null).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated.body["secret_prefix"].as_str().unwrap(), &new[..12]);
    let shown = subscription(&s, &pat, id).await;
    assert_eq!(shown["secret_prefix"].as_str().unwrap(), &new[..12]);
    assert!(shown.get("secret").is_none());

    publish(&s, &account, "call.ended", json!({})).await;
    let got = rx.wait_for(1).await;
    let signatures: Vec<&str> = got[0].header("webhook-signature").unwrap().split(' ').collect();
    assert_eq!(signatures.len(), 2, "old and new");
    verify_with_standardwebhooks(&new, &got[0]);
    verify_with_standardwebhooks(&old, &got[0]);

    s.clock.advance(24 * 3600);
    publish(&s, &account, "call.ended", json!({})).await;
    let got = rx.wait_for(2).await;
    // The test clock is a day ahead of the receiver's, which a stock verifier refuses as
    // "too new"; the signature itself is checked against the known-good signer.
    let late = &got[1];
    let expected = hookpost_domain::signing::sign(
        &new,
        late.header("webhook-id").unwrap(),
        late.header("webhook-timestamp").unwrap().parse().unwrap(),
        &late.body,
    )
    .unwrap();
    assert_eq!(
        late.header("webhook-signature"),
        Some(expected.as_str()),
        "only the new secret signs after the overlap"
    );

    s.call("DELETE", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    s.call("POST", &format!("{SUBS}/{id}/rotate-secret"), Some(&pat), Value::Null)
        .await
        .assert_error(409, "subscription_deleted");
    s.stop().await;
}

async fn the_attempt_log_pages_and_stays_private(kind: StoreKind) {
    let s = server!(kind, "0,0,0");
    let (account, pat) = s.customer().await;
    let (_, other) = s.customer().await;
    let rx = Receiver::start(Answer::status(503)).await;
    let id = s.create_subscription(&pat, json!({"url": rx.url("/busy")})).await["id"].as_str().unwrap().to_owned();
    publish(&s, &account, "call.ended", json!({"event_id": "evt_log"})).await;
    eventually(|| async { (subscription(&s, &pat, &id).await["consecutive_failures"] == 1).then_some(()) })
        .await
        .unwrap();
    let page = s.call("GET", &format!("{SUBS}/{id}/attempts?limit=2&offset=1"), Some(&pat), Value::Null).await;
    assert_eq!(page.body["pagination"], json!({"total": 3, "limit": 2, "offset": 1}));
    let numbers: Vec<u64> =
        page.body["attempts"].as_array().unwrap().iter().map(|a| a["attempt"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [2, 1]);
    let newest =
        &s.call("GET", &format!("{SUBS}/{id}/attempts?limit=1"), Some(&pat), Value::Null).await.body["attempts"][0];
    assert_eq!(
        (newest["reason"].as_str(), newest["response_excerpt"].as_str(), newest["test"].as_bool()),
        (Some("http_status: 503"), Some("ok"), Some(false))
    );
    assert_eq!(newest["event_id"], "evt_log");
    s.call("GET", &format!("{SUBS}/{id}/attempts"), Some(&other), Value::Null).await.assert_error(404, "not_found");
    s.call("GET", &format!("{SUBS}/nope/attempts"), Some(&pat), Value::Null).await.assert_error(404, "not_found");
    for bad in ["limit=0", "limit=101", "limit=%2B5", "offset=x", "page=2"] {
        s.call("GET", &format!("{SUBS}/{id}/attempts?{bad}"), Some(&pat), Value::Null)
            .await
            .assert_error(400, "validation_error");
    }
    s.stop().await;
}

/// Each account's usage, counted once per publish request and per delivery batch, reads back
/// by hour with its estimated cost; a repeat and a test delivery are not usage; the range is
/// checked; erasure takes the counters with the account.
async fn usage_counts_what_an_account_published_delivered_and_failed(kind: StoreKind) {
    let s = server!(kind, "0");
    let (account, pat) = s.customer().await;
    let (bystander, _) = s.customer().await;
    let ok = Receiver::start(Answer::status(204)).await;
    let down = Receiver::start(Answer::status(500)).await;
    let calls = s.create_subscription(&pat, json!({"url": ok.url("/calls"), "events": ["call.ended"]})).await;
    s.create_subscription(&pat, json!({"url": down.url("/sms"), "events": ["sms.sent"]})).await;
    let event =
        |event: &str, id: &str| json!({"account_id": account, "event": event, "data": {"n": 1}, "event_id": id});
    let batch = json!({"events": [
        event("call.ended", "evt_u1"), event("call.ended", "evt_u2"), event("sms.sent", "evt_u3"),
        event("nobody.listens", "evt_u4"), event("Bad Type", "evt_u5"),
    ]});
    assert_eq!(s.admin("POST", "/internal/v1/events/batch", batch).await.status, 202);
    publish(&s, &account, "call.ended", json!({"event_id": "evt_u6"})).await;
    publish(&s, &account, "call.ended", json!({"event_id": "evt_u6"})).await;
    let test = s.call("POST", &format!("{SUBS}/{}/test", calls["id"].as_str().unwrap()), Some(&pat), json!({})).await;
    assert_eq!(test.status, 200, "{}", test.text);
    ok.wait_for(4).await;

    let path = format!("/internal/v1/accounts/{account}/usage");
    let expected = json!({"events_published": 5, "deliveries": 3, "attempts": 4, "failures": 1});
    let counts = |totals: &Value| {
        json!({"events_published": totals["events_published"], "deliveries": totals["deliveries"],
               "attempts": totals["attempts"], "failures": totals["failures"]})
    };
    eventually(|| async {
        (counts(&s.admin("GET", &path, Value::Null).await.body["totals"]) == expected).then_some(())
    })
    .await;
    let report = s.admin("GET", &path, Value::Null).await.body;
    assert_eq!(counts(&report["totals"]), expected, "{report}");
    let bodies: usize =
        ok.received().iter().filter(|r| r.json()["event"] != "webhook.test").map(|r| r.body.len()).sum();
    assert_eq!(report["totals"]["bytes_delivered"], bodies, "the request bodies answered 2xx");
    assert!(report["totals"]["estimated_cost_usd"].as_f64().unwrap() > 0.0);
    let hour = Timestamp::from_unix(s.clock.now().unix() / 3_600 * 3_600);
    assert_eq!(report["hours"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["hours"][0]["hour"], hour.to_rfc3339());
    assert_eq!(report["hours"][0]["attempts"], 4);
    assert_eq!(report["to"], hour.plus_seconds(3_600).to_rfc3339(), "through the current hour");
    assert_eq!(report["from"], hour.plus_seconds(3_600).plus_days(-1).to_rfc3339(), "a day by default");

    // A range before any usage, or one that ends where this hour starts, has none.
    let before = s.admin("GET", &format!("{path}?to={}", hour.to_rfc3339()), Value::Null).await;
    assert_eq!(
        (before.status, &before.body["totals"]["attempts"], &before.body["hours"]),
        (200, &json!(0), &json!([]))
    );
    let bystanders = s.admin("GET", &format!("/internal/v1/accounts/{bystander}/usage"), Value::Null).await;
    assert_eq!(bystanders.body["totals"]["events_published"], 0);
    let everything = s.admin("GET", &format!("{path}?from=2000-01-01T00:00:00Z"), Value::Null).await;
    assert_eq!(everything.body["totals"], report["totals"], "any range, bounded by what is kept");
    let reversed = format!("{path}?from={}&to={}", hour.plus_seconds(3_600).to_rfc3339(), hour.to_rfc3339());
    let reversed = s.admin("GET", &reversed, Value::Null).await;
    assert_eq!((reversed.status, &reversed.body["hours"]), (200, &json!([])), "a range ending before it starts");
    for query in ["from=yesterday", "to=2026-13-01T00:00:00Z", "since=2026-01-01T00:00:00Z"] {
        s.admin("GET", &format!("{path}?{query}"), Value::Null).await.assert_error(400, "validation_error");
    }
    s.admin("GET", &format!("/internal/v1/accounts/{}/usage", AccountId::new()), Value::Null)
        .await
        .assert_error(404, "not_found");
    s.call("GET", &path, Some(&pat), Value::Null).await.assert_error(401, "unauthorized");

    let erased = s.admin("DELETE", &format!("/internal/v1/accounts/{account}"), Value::Null).await;
    assert_eq!(erased.body["removed"]["usage_counters"], 1, "{}", erased.text);
    s.admin("GET", &path, Value::Null).await.assert_error(404, "not_found");
    s.stop().await;
}

on_both_stores!(
    usage_counts_what_an_account_published_delivered_and_failed,
    test_deliveries_touch_no_counter,
    rotation_signs_with_both_secrets_for_a_day,
    the_attempt_log_pages_and_stays_private,
    a_published_event_reaches_each_matching_subscription_once,
    a_redirect_is_never_followed,
    five_failed_events_disable_and_the_sixth_is_recorded,
    retries_follow_the_schedule_and_stop_when_deleted,
    publish_refuses_bad_input,
    a_batch_publishes_each_event_on_its_own,
);

/// A worker dropped mid-attempt leaves its task leased but unacknowledged; after the
/// visibility timeout another worker takes it and the delivery happens.
#[tokio::test]
async fn a_worker_killed_mid_attempt_does_not_lose_the_delivery() {
    let mut s =
        TestServer::start_with_visibility(StoreKind::Memory, delivery_config("0"), Duration::from_secs(1)).await;
    let (account, pat) = s.customer().await;
    let rx = Receiver::start(Answer::status(200)).await;
    rx.then([Answer { status: 200, headers: vec![], delay: Duration::from_secs(60) }]);
    let id = s.create_subscription(&pat, json!({"url": rx.url("/slow")})).await["id"].as_str().unwrap().to_owned();
    publish(&s, &account, "call.ended", json!({"event_id": "evt_survivor"})).await;
    rx.wait_for(1).await;
    s.running.stop_workers().await;
    s.running.start_workers(1);
    let got = rx.wait_for(2).await;
    assert_eq!(got.len(), 2, "the task came back to a new worker");
    assert!(got.iter().all(|r| r.header("webhook-id") == Some("evt_survivor")));
    let sub = eventually(|| async {
        let v = subscription(&s, &pat, &id).await;
        v["last_success_at"].is_string().then_some(v)
    })
    .await;
    assert!(sub.is_some(), "delivered");
    s.stop().await;
}
