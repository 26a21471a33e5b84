//! Accounts, channels and rate-limit counters.

use super::*;

pub async fn accounts_round_trip<S: AccountStore>(store: &S) {
    let acc = account(store).await;
    assert_eq!(store.get_account(acc.id).await.unwrap(), Some(acc.clone()));
    assert!(matches!(store.create_account(&acc).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get_account(AccountId::new()).await.unwrap(), None);

    let renamed = store.update_account(acc.id, Some("Acme Ltd".into()), None).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.plan), ("Acme Ltd", Plan::Pro));
    let replanned = store.update_account(acc.id, None, Some(Plan::Free)).await.unwrap();
    assert_eq!((replanned.name.as_str(), replanned.plan), ("Acme Ltd", Plan::Free));
    assert_eq!(store.get_account(acc.id).await.unwrap(), Some(replanned));
    assert!(matches!(store.update_account(AccountId::new(), None, Some(Plan::Pro)).await, Err(StoreError::NotFound)));
}

pub async fn channels_belong_to_one_account<S: AccountStore>(store: &S) {
    let acc = account(store).await;
    let other = account(store).await;
    let channel = Channel {
        account_id: acc.id,
        channel_id: ChannelId::parse("dom_1").unwrap(),
        channel_type: ChannelType::Domain,
        created_at: NOW,
    };
    store.create_channel(&channel).await.unwrap();
    assert_eq!(store.get_channel(acc.id, &channel.channel_id).await.unwrap(), Some(channel.clone()));
    assert_eq!(store.get_channel(other.id, &channel.channel_id).await.unwrap(), None);
    assert!(matches!(store.create_channel(&channel).await, Err(StoreError::AlreadyExists)));
    let same_id_elsewhere = Channel { account_id: other.id, channel_type: ChannelType::Campaign, ..channel.clone() };
    store.create_channel(&same_id_elsewhere).await.unwrap();
    assert_eq!(
        store.get_channel(other.id, &channel.channel_id).await.unwrap().unwrap().channel_type,
        ChannelType::Campaign
    );
}

pub async fn rate_counters_count_per_key<S: RateLimitStore>(store: &S) {
    let acc = AccountId::new();
    let key = "GET /x#60";
    let exp = NOW.plus_seconds(120);
    assert_eq!(store.hit_rate_counter(acc, key, exp).await.unwrap(), 1);
    assert_eq!(store.hit_rate_counter(acc, key, exp).await.unwrap(), 2);
    assert_eq!(store.hit_rate_counter(acc, "GET /y#60", exp).await.unwrap(), 1);
    assert_eq!(store.hit_rate_counter(AccountId::new(), key, exp).await.unwrap(), 1, "accounts count apart");
    let hits = futures::future::join_all((0..8).map(|_| store.hit_rate_counter(acc, key, exp))).await;
    let mut counts: Vec<u64> = hits.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(counts, (3..=10).collect::<Vec<_>>(), "concurrent hits never share a count");
}
