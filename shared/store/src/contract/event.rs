//! Events.

use super::*;

pub async fn events_are_stored_once_per_id<S: AccountStore + EventStore>(store: &S) {
    let acc = account(store).await;
    let first = event(acc.id, "evt_1");
    assert_eq!(store.put_event(&first, NOW.plus_days(30)).await.unwrap(), None);
    let again = Event { subscriptions: 9, ..first.clone() };
    assert_eq!(store.put_event(&again, NOW.plus_days(30)).await.unwrap(), Some(first.clone()), "the first one stays");
    assert_eq!(store.get_event(acc.id, "evt_1").await.unwrap(), Some(first.clone()));
    let other = account(store).await;
    assert_eq!(store.get_event(other.id, "evt_1").await.unwrap(), None);
    assert_eq!(store.put_event(&event(other.id, "evt_1"), NOW).await.unwrap(), None, "ids are per account");
    store.mark_fanned_out(acc.id, "evt_1").await.unwrap();
    assert!(store.get_event(acc.id, "evt_1").await.unwrap().unwrap().fanned_out);
    assert!(matches!(store.mark_fanned_out(acc.id, "evt_nope").await, Err(StoreError::NotFound)));
    let bare = Event { channel_id: None, event_id: "evt_2".into(), ..first };
    store.put_event(&bare, NOW).await.unwrap();
    assert_eq!(store.get_event(acc.id, "evt_2").await.unwrap(), Some(bare));
}
