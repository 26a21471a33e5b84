//! The attempt log.

use super::*;

fn attempt_of(account: AccountId, sub: SubscriptionId, i: u32) -> Attempt {
    Attempt {
        account_id: account,
        subscription_id: sub,
        event_id: format!("evt_{i}"),
        event_type: "call.ended".into(),
        attempt: i + 1,
        status_code: i.is_multiple_of(2).then_some(503),
        reason: i.is_multiple_of(2).then_some(Reason::HttpStatus(503)),
        duration_ms: u64::from(i) * 10,
        response_excerpt: (i == 2).then(|| "busy".to_owned()),
        test: i == 3,
        attempted_at: NOW.plus_seconds(i64::from(i)),
        log_key: AttemptKey { nanos: 1_000 + u64::from(i), nonce: 7 },
    }
}

pub async fn attempts_are_listed_newest_first<S: AccountStore + SubscriptionStore + AttemptStore>(store: &S) {
    let acc = account(store).await;
    let (sub, other) = (plain(acc.id), plain(acc.id));
    store.create_subscription(&sub, CAP).await.unwrap();
    store.create_subscription(&other, CAP).await.unwrap();
    let (sub, other) = (sub.id, other.id);
    for i in 0..5u32 {
        let attempt = attempt_of(acc.id, if i == 4 { other } else { sub }, i);
        store.record_attempt(&attempt, NOW.plus_days(30)).await.unwrap();
        // Logged again (a write retried after an ambiguous failure): still one entry.
        store.record_attempt(&attempt, NOW.plus_days(30)).await.unwrap();
    }
    let page = store.list_attempts(acc.id, sub, 10, 0).await.unwrap();
    assert_eq!(page.total, 4);
    let events: Vec<&str> = page.items.iter().map(|a| a.event_id.as_str()).collect();
    assert_eq!(events, ["evt_3", "evt_2", "evt_1", "evt_0"]);
    assert!(page.items[0].test && page.items[1].response_excerpt.as_deref() == Some("busy"));
    assert_eq!(page.items[0].log_key, AttemptKey { nanos: 1_003, nonce: 7 }, "the key reads back");
    let second = store.list_attempts(acc.id, sub, 2, 2).await.unwrap();
    assert_eq!(second.items.iter().map(|a| a.event_id.as_str()).collect::<Vec<_>>(), ["evt_1", "evt_0"]);
    assert_eq!(store.list_attempts(acc.id, other, 10, 0).await.unwrap().total, 1);
}

/// An attempt whose subscription is gone by the time its outcome is logged (purged, its
/// account erased while it was on its way) leaves nothing; one of a deleted subscription,
/// still there to be reactivated, is logged.
pub async fn an_attempt_of_a_subscription_that_is_gone_is_not_logged<S: Store + ErasureStore>(store: &S) {
    let acc = account(store).await;
    let (deleted, purged) = (plain(acc.id), plain(acc.id));
    store.create_subscription(&deleted, CAP).await.unwrap();
    store.create_subscription(&purged, CAP).await.unwrap();
    store.delete_subscription(acc.id, deleted.id, NOW).await.unwrap();
    store.record_attempt(&attempt_of(acc.id, deleted.id, 0), NOW.plus_days(30)).await.unwrap();
    assert_eq!(store.list_attempts(acc.id, deleted.id, 10, 0).await.unwrap().total, 1);

    store.purge_subscription(acc.id, purged.id, NOW).await.unwrap();
    let late = store.record_attempt(&attempt_of(acc.id, purged.id, 1), NOW.plus_days(30)).await;
    assert!(matches!(late, Err(StoreError::NotFound)), "{late:?}");
    assert_eq!(store.list_attempts(acc.id, purged.id, 10, 0).await.unwrap().total, 0);
    let never = store.record_attempt(&attempt_of(acc.id, SubscriptionId::new(), 2), NOW.plus_days(30)).await;
    assert!(matches!(never, Err(StoreError::NotFound)), "{never:?}");

    store.erase_account(acc.id).await.unwrap();
    let erased = store.record_attempt(&attempt_of(acc.id, deleted.id, 3), NOW.plus_days(30)).await;
    assert!(matches!(erased, Err(StoreError::NotFound)), "{erased:?}");
    assert_eq!(store.erase_account(acc.id).await.unwrap(), Removed::default(), "nothing came back");
}
