//! The failures API over HTTP on both stores, exactly as the seeds describe it, and the
//! whole story: endpoint down → failure → endpoint fixed → retrigger → resolved.

use hookpost_domain::AccountId;
use hookpost_http::Config;
use hookpost_tests::{delivery_config, eventually, on_both_stores, Answer, Receiver, StoreKind, TestServer};
use serde_json::{json, Value};

const FAILURES: &str = "/api/v4/tasks/webhook_failures";
const SUBS: &str = "/api/v1/webhook-subscriptions";

macro_rules! server {
    ($kind:expr) => {
        server!($kind, delivery_config("0"))
    };
    ($kind:expr, $config:expr) => {
        TestServer::start($kind, $config).await
    };
}

/// A customer with a subscription to a receiver that answers 500, and `n` failed events.
async fn failing(s: &TestServer, n: usize) -> (String, String, String, Receiver) {
    let (account, pat) = s.customer().await;
    let rx = Receiver::start(Answer::status(500)).await;
    let sub = s.create_subscription(&pat, json!({"url": rx.url("/down"), "name": "CRM call events"})).await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    for i in 0..n {
        let res = s
            .admin(
                "POST",
                "/internal/v1/events",
                json!({"account_id": account, "event": "call.ended", "data": {"i": i}}),
            )
            .await;
        assert_eq!(res.status, 202);
    }
    let expected = n as u64;
    eventually(|| async {
        let list = s.call("GET", FAILURES, Some(&pat), Value::Null).await;
        (list.body["metadata"]["total"] == expected).then_some(())
    })
    .await
    .expect("the failures are recorded");
    (account, pat, sub_id, rx)
}

async fn first_failure(s: &TestServer, pat: &str) -> Value {
    s.call("GET", FAILURES, Some(pat), Value::Null).await.body["webhook_failures"][0].clone()
}

fn assert_seed_shape(f: &Value) {
    let keys: Vec<&String> = f.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "event", "status", "reason", "webhook", "last_attempt_at", "created_at", "updated_at"]);
    let id = f["id"].as_str().unwrap();
    assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    let webhook: Vec<&String> = f["webhook"].as_object().unwrap().keys().collect();
    assert_eq!(webhook, ["id", "name"]);
    for t in ["last_attempt_at", "created_at", "updated_at"] {
        assert!(f[t].as_str().unwrap().ends_with('Z'), "{t}");
    }
}

async fn down_then_fixed_then_retriggered_then_resolved(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat, sub_id, rx) = failing(&s, 1).await;
    let listed = s.call("GET", FAILURES, Some(&pat), Value::Null).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["metadata"], json!({"total": 1, "limit": 100, "offset": 0}));
    let failure = &listed.body["webhook_failures"][0];
    assert_seed_shape(failure);
    assert_eq!(
        (failure["event"].as_str(), failure["status"].as_str(), failure["reason"].as_str()),
        (Some("call.ended"), Some("inactive"), Some("http_status: 500"))
    );
    assert_eq!(failure["webhook"], json!({"id": sub_id, "name": "CRM call events"}));
    let id = failure["id"].as_str().unwrap().to_owned();

    let got = s.call("GET", &format!("{FAILURES}/{id}"), Some(&pat), Value::Null).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, json!({"webhook_failure": failure}));

    // The customer fixes the endpoint (a new URL), then retriggers.
    let fixed = Receiver::start(Answer::status(200)).await;
    s.call("PATCH", &format!("{SUBS}/{sub_id}"), Some(&pat), json!({"url": fixed.url("/fixed")})).await;
    s.clock.advance(60);
    let retriggered = s.call("POST", &format!("{FAILURES}/{id}/retrigger"), Some(&pat), Value::Null).await;
    assert_eq!(retriggered.status, 200, "{}", retriggered.text);
    let pending = &retriggered.body["webhook_failure"];
    assert_seed_shape(pending);
    assert_eq!((pending["status"].as_str(), &pending["reason"]), (Some("pending"), &Value::Null));
    assert_eq!(pending["last_attempt_at"], pending["updated_at"]);
    assert_ne!(pending["updated_at"], failure["updated_at"]);
    assert_eq!(pending["created_at"], failure["created_at"]);

    let resolved = eventually(|| async {
        let v =
            s.call("GET", &format!("{FAILURES}/{id}"), Some(&pat), Value::Null).await.body["webhook_failure"].clone();
        (v["status"] == "resolved").then_some(v)
    })
    .await
    .expect("the retrigger resolves the failure");
    assert_eq!(resolved["reason"], Value::Null);
    assert_eq!(fixed.received().len(), 1);
    assert_eq!(rx.received().len(), 1, "the old endpoint got nothing more");
    let sub = s.call("GET", &format!("{SUBS}/{sub_id}"), Some(&pat), Value::Null).await.body;
    assert_eq!(sub["consecutive_failures"], 0);
    assert!(sub["last_success_at"].is_string());

    assert_eq!(
        s.call("GET", FAILURES, Some(&pat), Value::Null).await.body["metadata"]["total"],
        0,
        "resolved is not listed by default"
    );
    let resolved_list = s.call("GET", &format!("{FAILURES}?status=resolved"), Some(&pat), Value::Null).await;
    assert_eq!(resolved_list.body["webhook_failures"][0]["id"], id.as_str());
    s.call("POST", &format!("{FAILURES}/{id}/retrigger"), Some(&pat), Value::Null)
        .await
        .assert_error(409, "invalid_state");
    s.stop().await;
}

async fn a_retrigger_that_fails_returns_to_inactive_without_counting(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat, sub_id, rx) = failing(&s, 1).await;
    let id = first_failure(&s, &pat).await["id"].as_str().unwrap().to_owned();
    let mut timeout = Answer::status(503);
    timeout.headers.push(("retry-after".into(), "5".into()));
    rx.then([timeout]);
    assert_eq!(s.call("POST", &format!("{FAILURES}/{id}/retrigger"), Some(&pat), json!({})).await.status, 200);
    let back = eventually(|| async {
        let v =
            s.call("GET", &format!("{FAILURES}/{id}"), Some(&pat), Value::Null).await.body["webhook_failure"].clone();
        (v["status"] == "inactive").then_some(v)
    })
    .await
    .unwrap();
    assert_eq!(back["reason"], "http_status: 503");
    assert_eq!(rx.received().len(), 2, "one attempt, no new retry cycle");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2);
    let sub = s.call("GET", &format!("{SUBS}/{sub_id}"), Some(&pat), Value::Null).await.body;
    assert_eq!(sub["consecutive_failures"], 1, "a retrigger is not another failed event");
    assert_eq!(
        s.call("GET", FAILURES, Some(&pat), Value::Null).await.body["metadata"]["total"],
        1,
        "the same record, not a new one"
    );
    s.stop().await;
}

async fn every_status_code(kind: StoreKind) {
    let s = server!(kind, Config { rate_limit_per_minute: 20, ..delivery_config("0") });
    let (account, pat, sub_id, _rx) = failing(&s, 2).await;
    let id = first_failure(&s, &pat).await["id"].as_str().unwrap().to_owned();
    let get = format!("{FAILURES}/{id}");
    let retrigger = format!("{FAILURES}/{id}/retrigger");

    s.call("GET", FAILURES, None, Value::Null).await.assert_error(401, "unauthorized");
    s.call("GET", &get, Some("hp_pat_nope"), Value::Null).await.assert_error(401, "unauthorized");
    s.call("POST", &retrigger, None, Value::Null).await.assert_error(401, "unauthorized");
    let free = s.token(&account, &["tasks.webhooks.read", "tasks.webhooks.manage"]).await;
    s.admin("PATCH", &format!("/internal/v1/accounts/{account}"), json!({"plan": "free"})).await;
    s.call("GET", &get, Some(&free), Value::Null).await.assert_error(403, "plan_required");
    s.admin("PATCH", &format!("/internal/v1/accounts/{account}"), json!({"plan": "pro"})).await;
    let read_only = s.token(&account, &["tasks.webhooks.read"]).await;
    let manage_only = s.token(&account, &["tasks.webhooks.manage"]).await;
    s.call("GET", FAILURES, Some(&manage_only), Value::Null).await.assert_error(403, "insufficient_scope");
    s.call("GET", &get, Some(&manage_only), Value::Null).await.assert_error(403, "insufficient_scope");
    s.call("POST", &retrigger, Some(&read_only), Value::Null).await.assert_error(403, "insufficient_scope");
    s.call("POST", &format!("{FAILURES}/recover"), Some(&read_only), json!({}))
        .await
        .assert_error(403, "insufficient_scope");

    let (_, stranger) = s.customer().await;
    for path in [
        get.clone(),
        format!("{FAILURES}/aabbccddeeff001122334455"),
        format!("{FAILURES}/not-an-id"),
        format!("{FAILURES}/AABBCCDDEEFF001122334455"),
    ] {
        let res = s.call("GET", &path, Some(if path == get { &stranger } else { &pat }), Value::Null).await;
        res.assert_error(404, "not_found");
    }
    s.call("POST", &format!("{FAILURES}/aabbccddeeff001122334455/retrigger"), Some(&pat), Value::Null)
        .await
        .assert_error(404, "not_found");
    s.call("POST", &retrigger, Some(&stranger), Value::Null).await.assert_error(404, "not_found");

    s.call("DELETE", &format!("{SUBS}/{sub_id}"), Some(&pat), Value::Null).await;
    s.call("POST", &retrigger, Some(&pat), Value::Null).await.assert_error(409, "subscription_deleted");

    for bad in [
        "limit=0",
        "limit=101",
        "offset=-1",
        "status=open",
        "created_at[gte]=yesterday",
        "created_at[lt]=2026-13-01T00:00:00Z",
        "sort=asc",
    ] {
        s.call("GET", &format!("{FAILURES}?{bad}"), Some(&pat), Value::Null)
            .await
            .assert_error(400, "validation_error");
    }
    // A range that ends before it starts selects nothing (it is not a malformed request).
    let empty = s
        .call(
            "GET",
            &format!("{FAILURES}?created_at[gte]=2026-03-15T10:00:00Z&created_at[lt]=2026-03-15T10:00:00Z"),
            Some(&pat),
            Value::Null,
        )
        .await;
    assert_eq!((empty.status, &empty.body["metadata"]["total"]), (200, &json!(0)), "{}", empty.text);
    for bad in ["status=inactive,%20pending", "status=", "status=inactive,"] {
        s.call("GET", &format!("{FAILURES}?{bad}"), Some(&pat), Value::Null)
            .await
            .assert_error(400, "validation_error");
    }

    let mut limited = 0;
    for _ in 0..25 {
        let res = s.call("GET", &get, Some(&pat), Value::Null).await;
        if res.status == 429 {
            res.assert_error(429, "rate_limited");
            assert!(res.header("retry-after").is_some());
            limited += 1;
        }
    }
    assert!(limited > 0);
    s.stop().await;
}

async fn concurrent_retriggers_give_one_200(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat, _, rx) = failing(&s, 1).await;
    rx.then([Answer { status: 200, headers: vec![], delay: std::time::Duration::from_millis(500) }]);
    let id = first_failure(&s, &pat).await["id"].as_str().unwrap().to_owned();
    let path = format!("{FAILURES}/{id}/retrigger");
    let results = futures::future::join_all((0..8).map(|_| s.call("POST", &path, Some(&pat), Value::Null))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| &r.text).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_error(409, "invalid_state");
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(rx.received().len(), 2, "one attempt for one retrigger");
    s.stop().await;
}

async fn retriggers_reach_auto_disabled_subscriptions(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat, sub_id, rx) = failing(&s, 5).await;
    let sub = s.call("GET", &format!("{SUBS}/{sub_id}"), Some(&pat), Value::Null).await.body;
    assert_eq!(sub["disabled_reason"], "auto_disabled");
    rx.then([Answer::status(200)]);
    let id = first_failure(&s, &pat).await["id"].as_str().unwrap().to_owned();
    assert_eq!(s.call("POST", &format!("{FAILURES}/{id}/retrigger"), Some(&pat), Value::Null).await.status, 200);
    eventually(|| async {
        let v = s.call("GET", &format!("{FAILURES}/{id}"), Some(&pat), Value::Null).await.body;
        (v["webhook_failure"]["status"] == "resolved").then_some(())
    })
    .await
    .expect("resolved");
    let sub = s.call("GET", &format!("{SUBS}/{sub_id}"), Some(&pat), Value::Null).await.body;
    assert_eq!(
        (sub["is_active"].as_bool(), sub["consecutive_failures"].as_u64()),
        (Some(false), Some(0)),
        "stays disabled until reactivated"
    );
    s.stop().await;
}

async fn lists_page_and_filter_by_time(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat, _, _rx) = failing(&s, 3).await;
    let all = s.call("GET", FAILURES, Some(&pat), Value::Null).await.body;
    let created: Vec<String> = all["webhook_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["created_at"].as_str().unwrap().to_owned())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");
    let page = s.call("GET", &format!("{FAILURES}?limit=1&offset=1"), Some(&pat), Value::Null).await.body;
    assert_eq!(page["metadata"], json!({"total": 3, "limit": 1, "offset": 1}));
    assert_eq!(page["webhook_failures"].as_array().unwrap().len(), 1);
    let first = &all["webhook_failures"][2]["created_at"];
    let since = s
        .call("GET", &format!("{FAILURES}?created_at[gte]={}", first.as_str().unwrap()), Some(&pat), Value::Null)
        .await
        .body;
    assert_eq!(since["metadata"]["total"], 3);
    let before = s
        .call("GET", &format!("{FAILURES}?created_at[lt]={}", first.as_str().unwrap()), Some(&pat), Value::Null)
        .await
        .body;
    assert_eq!(before["metadata"]["total"], 0);
    let future =
        s.call("GET", &format!("{FAILURES}?created_at[gte]=2100-01-01T00:00:00Z"), Some(&pat), Value::Null).await.body;
    assert_eq!(future["metadata"]["total"], 0);
    s.stop().await;
}

async fn recover_retriggers_a_range(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat, sub_id, rx) = failing(&s, 3).await;
    rx.then([Answer::status(200), Answer::status(200), Answer::status(200)]);
    let other = s
        .call(
            "POST",
            &format!("{FAILURES}/recover"),
            Some(&pat),
            json!({"webhook_id": hookpost_domain::SubscriptionId::new().to_string()}),
        )
        .await;
    assert_eq!((other.status, &other.body), (202, &json!({"retriggered": 0})));
    let res = s
        .call(
            "POST",
            &format!("{FAILURES}/recover"),
            Some(&pat),
            json!({"created_at[gte]": "2000-01-01T00:00:00Z", "webhook_id": sub_id}),
        )
        .await;
    assert_eq!((res.status, &res.body), (202, &json!({"retriggered": 3})), "{}", res.text);
    eventually(|| async {
        let v = s.call("GET", &format!("{FAILURES}?status=resolved"), Some(&pat), Value::Null).await.body;
        (v["metadata"]["total"] == 3).then_some(())
    })
    .await
    .expect("all three resolved");
    let again = s.call("POST", &format!("{FAILURES}/recover"), Some(&pat), Value::Null).await;
    assert_eq!(again.body, json!({"retriggered": 0}));
    for bad in [json!({"created_at[gte]": "soon"}), json!({"webhook_id": "x"}), json!({"extra": 1}), json!([])] {
        s.call("POST", &format!("{FAILURES}/recover"), Some(&pat), bad).await.assert_error(400, "validation_error");
    }
    s.stop().await;
}

async fn lost_retriggers_return_to_inactive(kind: StoreKind) {
    let s = server!(kind);
    let (account, pat, _, _rx) = failing(&s, 1).await;
    let id = first_failure(&s, &pat).await["id"].as_str().unwrap().to_owned();
    // A retrigger whose task is lost: the record goes pending, nothing is enqueued.
    let store = &s.running.app.store;
    let account_id = AccountId::parse(&account).unwrap();
    let failure_id = hookpost_domain::FailureId::parse(&id).unwrap();
    store.retrigger_failure(account_id, failure_id, hookpost_domain::Clock::now(s.clock.as_ref())).await.unwrap();
    assert_eq!(
        hookpost_delivery::sweep::return_lost_retriggers(store.as_ref(), hookpost_domain::Clock::now(s.clock.as_ref()))
            .await
            .unwrap(),
        0
    );
    s.clock.advance(15 * 60 + 1);
    assert_eq!(
        hookpost_delivery::sweep::return_lost_retriggers(store.as_ref(), hookpost_domain::Clock::now(s.clock.as_ref()))
            .await
            .unwrap(),
        1
    );
    let back =
        s.call("GET", &format!("{FAILURES}/{id}"), Some(&pat), Value::Null).await.body["webhook_failure"].clone();
    assert_eq!((back["status"].as_str(), back["reason"].as_str()), (Some("inactive"), Some("retrigger_lost")));
    s.stop().await;
}

async fn a_retrigger_to_a_since_deleted_subscription_returns_inactive(kind: StoreKind) {
    let mut s = server!(kind);
    let (_, pat, sub_id, rx) = failing(&s, 1).await;
    let id = first_failure(&s, &pat).await["id"].as_str().unwrap().to_owned();
    s.running.stop_workers().await;
    assert_eq!(s.call("POST", &format!("{FAILURES}/{id}/retrigger"), Some(&pat), Value::Null).await.status, 200);
    assert_eq!(s.call("DELETE", &format!("{SUBS}/{sub_id}"), Some(&pat), Value::Null).await.status, 204);
    s.running.start_workers(1);
    let back = eventually(|| async {
        let v =
            s.call("GET", &format!("{FAILURES}/{id}"), Some(&pat), Value::Null).await.body["webhook_failure"].clone();
        (v["status"] == "inactive").then_some(v)
    })
    .await
    .expect("the retrigger settles");
    assert_eq!(back["reason"], "subscription_deleted");
    assert_eq!(rx.received().len(), 1, "nothing was sent to a deleted subscription");
    s.stop().await;
}

on_both_stores!(
    a_retrigger_to_a_since_deleted_subscription_returns_inactive,
    down_then_fixed_then_retriggered_then_resolved,
    a_retrigger_that_fails_returns_to_inactive_without_counting,
    every_status_code,
    concurrent_retriggers_give_one_200,
    retriggers_reach_auto_disabled_subscriptions,
    lists_page_and_filter_by_time,
    recover_retriggers_a_range,
    lost_retriggers_return_to_inactive,
);
