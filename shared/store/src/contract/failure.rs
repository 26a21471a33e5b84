//! Failure records and their state machine.

use super::*;

pub async fn failures_round_trip_newest_first<S: AccountStore + FailureStore>(store: &S) {
    let acc = account(store).await;
    let sub = SubscriptionId::new();
    let mut made = Vec::new();
    for i in 0..3 {
        let at = NOW.plus_seconds(i * 10);
        let mut f = Failure::inactive(acc.id, &format!("evt_{i}"), "call.ended", sub, "CRM", Reason::Timeout, at, at);
        if i == 1 {
            f.status = FailureStatus::Pending;
            f.reason = None;
        }
        store.put_failure(&f).await.unwrap();
        made.push(f);
    }
    assert_eq!(store.get_failure(acc.id, made[1].id).await.unwrap(), Some(made[1].clone()));
    // Inserted once: the same record written again leaves the first as it is.
    let mut repeat = made[1].clone();
    repeat.status = FailureStatus::Inactive;
    repeat.reason = Some(Reason::DeliveryError);
    store.put_failure(&repeat).await.unwrap();
    assert_eq!(store.get_failure(acc.id, made[1].id).await.unwrap(), Some(made[1].clone()));
    assert_eq!(store.get_failure(account(store).await.id, made[1].id).await.unwrap(), None);
    let listed = store.list_failures(acc.id).await.unwrap();
    assert_eq!(listed, made.iter().rev().cloned().collect::<Vec<_>>());
}

pub async fn failure_queries_page_by_time_and_status<S: AccountStore + FailureStore>(store: &S) {
    let acc = account(store).await;
    let sub_a = SubscriptionId::new();
    let sub_b = SubscriptionId::new();
    let mut made = Vec::new();
    for i in 0..12i64 {
        let at = NOW.plus_seconds(i * 60);
        let sub = if i % 3 == 0 { sub_b } else { sub_a };
        let mut f = Failure::inactive(acc.id, &format!("evt_{i}"), "call.ended", sub, "CRM", Reason::Timeout, at, at);
        if i == 4 {
            f.status = FailureStatus::Resolved;
            f.reason = None;
        }
        store.put_failure(&f).await.unwrap();
        made.push(f);
    }
    store
        .put_failure(&Failure::inactive(account(store).await.id, "evt_x", "x", sub_a, "n", Reason::Timeout, NOW, NOW))
        .await
        .unwrap();
    let ids = |p: &crate::Page<Failure>| p.items.iter().map(|f| f.event_id.clone()).collect::<Vec<_>>();

    let open = store.query_failures(acc.id, &FailureQuery::open()).await.unwrap();
    assert_eq!(open.total, 11, "resolved ones are not listed by default");
    assert_eq!(open.items.first().map(|f| f.event_id.as_str()), Some("evt_11"), "newest first");

    let page =
        store.query_failures(acc.id, &FailureQuery { limit: 3, offset: 2, ..FailureQuery::open() }).await.unwrap();
    assert_eq!((page.total, ids(&page)), (11, vec!["evt_9".to_owned(), "evt_8".to_owned(), "evt_7".to_owned()]));

    let range = FailureQuery {
        created_gte: Some(NOW.plus_seconds(120)),
        created_lt: Some(NOW.plus_seconds(360)),
        statuses: vec![FailureStatus::Inactive, FailureStatus::Pending, FailureStatus::Resolved],
        ..FailureQuery::open()
    };
    let ranged = store.query_failures(acc.id, &range).await.unwrap();
    assert_eq!(ids(&ranged), ["evt_5", "evt_4", "evt_3", "evt_2"], "[gte, lt)");

    let resolved = FailureQuery { statuses: vec![FailureStatus::Resolved], ..FailureQuery::open() };
    assert_eq!(ids(&store.query_failures(acc.id, &resolved).await.unwrap()), ["evt_4"]);
    let only_b = FailureQuery { subscription: Some(sub_b), ..FailureQuery::open() };
    assert_eq!(ids(&store.query_failures(acc.id, &only_b).await.unwrap()), ["evt_9", "evt_6", "evt_3", "evt_0"]);
}

pub async fn retriggers_move_through_the_state_machine<S: AccountStore + FailureStore>(store: &S) {
    let acc = account(store).await;
    let f = Failure::inactive(acc.id, "evt_1", "call.ended", SubscriptionId::new(), "CRM", Reason::Timeout, NOW, NOW);
    store.put_failure(&f).await.unwrap();
    let later = NOW.plus_seconds(30);
    let pending = store.retrigger_failure(acc.id, f.id, later).await.unwrap();
    assert_eq!(
        (pending.status, pending.reason.as_ref(), pending.last_attempt_at, pending.updated_at),
        (FailureStatus::Pending, None, later, later)
    );
    assert!(matches!(store.retrigger_failure(acc.id, f.id, later).await, Err(StoreError::Conflict)));
    // No inactive record of that id, whatever the reason: the write alone answers.
    assert!(matches!(
        store.retrigger_failure(acc.id, hookpost_domain::FailureId::new(NOW), later).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(store.retrigger_failure(account(store).await.id, f.id, later).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_failure(acc.id, f.id).await.unwrap().map(|f| f.status), Some(FailureStatus::Pending));

    let stuck = store.stuck_pending_failures(later.plus_seconds(1), 100).await.unwrap();
    assert!(stuck.iter().any(|s| s.id == f.id && s.account_id == acc.id));
    assert!(!store.stuck_pending_failures(later, 100).await.unwrap().iter().any(|s| s.id == f.id));

    let failed = store
        .settle_failure(acc.id, f.id, &RetriggerOutcome::Failed(Reason::HttpStatus(500)), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((failed.status, failed.reason), (FailureStatus::Inactive, Some(Reason::HttpStatus(500))));
    assert_eq!(
        store.settle_failure(acc.id, f.id, &RetriggerOutcome::Delivered, later).await.unwrap(),
        None,
        "not pending"
    );
    assert!(!store.stuck_pending_failures(later.plus_days(1), 100).await.unwrap().iter().any(|s| s.id == f.id));

    store.retrigger_failure(acc.id, f.id, later).await.unwrap();
    let resolved = store.settle_failure(acc.id, f.id, &RetriggerOutcome::Delivered, later).await.unwrap().unwrap();
    assert_eq!((resolved.status, resolved.reason.as_ref()), (FailureStatus::Resolved, None));
    assert!(matches!(store.retrigger_failure(acc.id, f.id, later).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_failure(acc.id, f.id).await.unwrap(), Some(resolved));
}

/// Each transition, through the store, leaves exactly the record the domain's own
/// application of it gives, every field included.
pub async fn failure_transitions_set_exactly_what_the_domain_decides<S: AccountStore + FailureStore>(store: &S) {
    let acc = account(store).await;
    let f = Failure::inactive(acc.id, "evt_1", "call.ended", SubscriptionId::new(), "CRM", Reason::Timeout, NOW, NOW);
    store.put_failure(&f).await.unwrap();
    let at = |s| NOW.plus_seconds(s);
    let failed_again = RetriggerOutcome::Failed(Reason::HttpStatus(502));
    let steps = [
        ("retrigger", None, at(1)),
        ("failed again", Some(&failed_again), at(2)),
        ("retrigger again", None, at(3)),
        ("delivered", Some(&RetriggerOutcome::Delivered), at(4)),
    ];
    let mut expected = f;
    for (step, outcome, now) in steps {
        let change = match outcome {
            None => FailureChange::retrigger(now),
            Some(outcome) => FailureChange::settle(outcome, now),
        };
        change.apply(&mut expected).unwrap();
        let got = match outcome {
            None => store.retrigger_failure(acc.id, expected.id, now).await.unwrap(),
            Some(outcome) => store.settle_failure(acc.id, expected.id, outcome, now).await.unwrap().unwrap(),
        };
        assert_eq!(got, expected, "{step}");
        assert_eq!(store.get_failure(acc.id, expected.id).await.unwrap().as_ref(), Some(&expected), "{step}");
    }
}

pub async fn concurrent_retriggers_let_exactly_one_through<S: AccountStore + FailureStore>(store: &S) {
    let acc = account(store).await;
    let f = Failure::inactive(acc.id, "evt_1", "call.ended", SubscriptionId::new(), "CRM", Reason::Timeout, NOW, NOW);
    store.put_failure(&f).await.unwrap();
    let results = futures::future::join_all((0..8).map(|_| store.retrigger_failure(acc.id, f.id, NOW))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict))));
}
