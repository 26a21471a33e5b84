//! The attempt log.

use super::*;

pub async fn attempts_are_listed_newest_first<S: AccountStore + AttemptStore>(store: &S) {
    let acc = account(store).await;
    let sub = SubscriptionId::new();
    let other = SubscriptionId::new();
    for i in 0..5u32 {
        let attempt = Attempt {
            account_id: acc.id,
            subscription_id: if i == 4 { other } else { sub },
            event_id: format!("evt_{i}"),
            event_type: "call.ended".into(),
            attempt: i + 1,
            status_code: (i % 2 == 0).then_some(503),
            reason: (i % 2 == 0).then_some(Reason::HttpStatus(503)),
            duration_ms: u64::from(i) * 10,
            response_excerpt: (i == 2).then(|| "busy".to_owned()),
            test: i == 3,
            attempted_at: NOW.plus_seconds(i64::from(i)),
            log_key: AttemptKey { nanos: 1_000 + u64::from(i), nonce: 7 },
        };
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
