//! Usage counters.

use super::*;

pub async fn usage_adds_up_per_hour_and_reads_by_range<S: AccountStore + UsageStore>(store: &S) {
    let acc = account(store).await;
    let other = account(store).await;
    let first = hour_of(NOW);
    let second = first.plus_seconds(3_600);
    let expires = NOW.plus_days(400);
    let delivered = Usage { deliveries: 1, attempts: 1, bytes_delivered: 100, ..Usage::default() };
    // Concurrent additions to one counter all count.
    let adds = (0..5).map(|_| store.add_usage(acc.id, first, &delivered, expires));
    for added in futures::future::join_all(adds).await {
        added.unwrap();
    }
    store
        .add_usage(acc.id, second, &Usage { events_published: 7, failures: 1, ..Usage::default() }, expires)
        .await
        .unwrap();
    store.add_usage(other.id, first, &delivered, expires).await.unwrap();

    let both = store.usage_between(acc.id, first, second.plus_seconds(3_600)).await.unwrap();
    assert_eq!(
        both,
        [
            (first, Usage { deliveries: 5, attempts: 5, bytes_delivered: 500, ..Usage::default() }),
            (second, Usage { events_published: 7, failures: 1, ..Usage::default() }),
        ]
    );
    assert_eq!(store.usage_between(acc.id, first, second).await.unwrap().len(), 1, "the end is exclusive");
    assert_eq!(store.usage_between(acc.id, second, second.plus_seconds(1)).await.unwrap().len(), 1);
    assert!(store.usage_between(acc.id, second, first).await.unwrap().is_empty(), "an empty range");
    assert!(store.usage_between(AccountId::new(), first, second).await.unwrap().is_empty());
    let nobody = store.add_usage(AccountId::new(), first, &delivered, expires).await;
    assert!(matches!(nobody, Err(StoreError::NotFound)), "no account, no counter: {nobody:?}");
}
