//! Erasure of an account and purge of a subscription.

use super::*;
use crate::DeliveryControlStore;

fn attempt_of(account: AccountId, sub: SubscriptionId, event_id: &str, nanos: u64) -> Attempt {
    Attempt {
        account_id: account,
        subscription_id: sub,
        event_id: event_id.to_owned(),
        event_type: "call.ended".into(),
        attempt: 1,
        status_code: Some(503),
        reason: Some(Reason::HttpStatus(503)),
        duration_ms: 12,
        response_excerpt: Some("busy".into()),
        test: false,
        attempted_at: NOW,
        log_key: AttemptKey { nanos, nonce: 1 },
    }
}

/// What an account owns, one or more of each kind, and the plaintext of its tokens.
struct Owned {
    account: Account,
    subscriptions: Vec<SubscriptionId>,
    token_hashes: Vec<String>,
    channel: ChannelId,
    event_ids: Vec<String>,
}

async fn populated<S: Store + DeliveryControlStore>(store: &S) -> Owned {
    let account = account(store).await;
    let live = plain(account.id);
    let gone = plain(account.id);
    store.create_subscription(&live, CAP).await.unwrap();
    store.create_subscription(&gone, CAP).await.unwrap();
    store.delete_subscription(account.id, gone.id, NOW).await.unwrap();
    let mut token_hashes = Vec::new();
    for kind in [TokenKind::Pat, TokenKind::Pat, TokenKind::PortalSession] {
        let token = Token {
            id: TokenId::new(),
            kind,
            account_id: account.id,
            token_hash: hash_pat(&generate(kind)),
            scopes: vec![Scope::WebhooksRead],
            user_id: Some("user_1".into()),
            expires_at: Some(NOW.plus_days(1)),
            revoked: false,
            created_at: NOW,
        };
        store.put_token(&token).await.unwrap();
        token_hashes.push(token.token_hash);
    }
    let channel = ChannelId::parse("dom_1").unwrap();
    let created = Channel {
        account_id: account.id,
        channel_id: channel.clone(),
        channel_type: ChannelType::Domain,
        created_at: NOW,
    };
    store.create_channel(&created).await.unwrap();
    let event_ids: Vec<String> = (0..3).map(|i| format!("evt_erase_{i}")).collect();
    for id in &event_ids {
        store.put_event(&event(account.id, id), NOW.plus_days(30)).await.unwrap();
    }
    for (i, sub) in [live.id, live.id, gone.id].into_iter().enumerate() {
        store.record_attempt(&attempt_of(account.id, sub, &event_ids[i], i as u64), NOW.plus_days(30)).await.unwrap();
    }
    let mut pending =
        Failure::inactive(account.id, &event_ids[0], "call.ended", live.id, "CRM", Reason::Timeout, NOW, NOW);
    pending.status = FailureStatus::Pending;
    pending.reason = None;
    store.put_failure(&pending).await.unwrap();
    let inactive =
        Failure::inactive(account.id, &event_ids[1], "call.ended", gone.id, "CRM", Reason::Timeout, NOW, NOW);
    store.put_failure(&inactive).await.unwrap();
    for route in ["GET /a#60", "POST /b#60"] {
        store.hit_rate_counter(account.id, route, NOW.plus_seconds(120)).await.unwrap();
    }
    let used = Usage { events_published: 3, ..Usage::default() };
    store.add_usage(account.id, hour_of(NOW), &used, NOW.plus_days(400)).await.unwrap();
    let pacing = hookpost_domain::pacing::RateLimit::new(10).unwrap().pacing();
    store.reserve_starts(account.id, live.id, pacing, NOW.unix() * 1_000_000, 3, None).await.unwrap();
    let head = hookpost_domain::delivery::order::FifoHead {
        event_id: event_ids[2].clone(),
        attempt: 2,
        due: NOW.plus_seconds(60),
        paced_at: None,
    };
    store.put_fifo_head(account.id, &format!("{}.k1", live.id), &head).await.unwrap();
    Owned { account, subscriptions: vec![live.id, gone.id], token_hashes, channel, event_ids }
}

/// Asserts that no read finds anything of `owned`, or, with `present`, that every one does.
async fn assert_owned<S: Store + DeliveryControlStore>(store: &S, owned: &Owned, present: bool) {
    let acc = owned.account.id;
    assert_eq!(store.get_account(acc).await.unwrap().is_some(), present, "account");
    for hash in &owned.token_hashes {
        assert_eq!(store.get_token_by_hash(hash).await.unwrap().is_some(), present, "token");
    }
    assert_eq!(store.get_channel(acc, &owned.channel).await.unwrap().is_some(), present, "channel");
    for sub in &owned.subscriptions {
        assert_eq!(store.get_subscription(acc, *sub).await.unwrap().is_some(), present, "subscription");
        assert_eq!(store.list_attempts(acc, *sub, 10, 0).await.unwrap().total > 0, present, "attempts");
    }
    let listed = store.list_subscriptions(acc, SubscriptionFilter::default(), 10, 0).await.unwrap();
    assert_eq!(listed.total, if present { 2 } else { 0 });
    assert_eq!(store.routable_subscriptions(acc).await.unwrap().len(), usize::from(present));
    for id in &owned.event_ids {
        assert_eq!(store.get_event(acc, id).await.unwrap().is_some(), present, "event");
    }
    let usage = store.usage_between(acc, hour_of(NOW), hour_of(NOW).plus_seconds(3_600)).await.unwrap();
    assert_eq!(usage.len(), usize::from(present), "usage");
    assert_eq!(store.list_failures(acc).await.unwrap().len(), if present { 2 } else { 0 });
    let head = store.get_fifo_head(acc, &format!("{}.k1", owned.subscriptions[0])).await.unwrap();
    assert_eq!(head.is_some(), present, "FIFO head");
    let stuck = store.stuck_pending_failures(NOW.plus_days(1), 1000).await.unwrap();
    assert_eq!(stuck.iter().any(|f| f.account_id == acc), present, "the sweeper's index");
}

/// Erases a populated account and returns its id, so an adapter's own test can look for
/// anything left behind with the backend's own tools.
pub async fn erasure_removes_everything_an_account_owns<S: Store + DeliveryControlStore + ErasureStore>(
    store: &S,
) -> AccountId {
    let doomed = populated(store).await;
    let bystander = populated(store).await;
    let removed = store.erase_account(doomed.account.id).await.unwrap();
    assert_eq!(
        removed,
        Removed {
            account: 1,
            tokens: 2,
            portal_sessions: 1,
            channels: 1,
            subscriptions: 2,
            events: 3,
            attempts: 3,
            failures: 2,
            rate_limit_counters: 3,
            usage_counters: 1,
            fifo_heads: 1,
        }
    );
    assert_owned(store, &doomed, false).await;
    assert_owned(store, &bystander, true).await;
    // A delivery batch that ends after the erasure counts nothing for the erased account.
    let late = store.add_usage(doomed.account.id, hour_of(NOW), &Usage { attempts: 1, ..Usage::default() }, NOW).await;
    assert!(matches!(late, Err(StoreError::NotFound)), "{late:?}");
    assert_owned(store, &doomed, false).await;
    // The bystander's counters were left alone.
    assert_eq!(store.hit_rate_counter(bystander.account.id, "GET /a#60", NOW.plus_seconds(120)).await.unwrap(), 2);
    // Idempotent: a second call (a retry after a timeout) finds nothing and says so.
    assert_eq!(store.erase_account(doomed.account.id).await.unwrap(), Removed::default());
    assert_eq!(store.erase_account(AccountId::new()).await.unwrap(), Removed::default());
    doomed.account.id
}

fn token_of(account: AccountId) -> Token {
    Token {
        id: TokenId::new(),
        kind: TokenKind::PortalSession,
        account_id: account,
        token_hash: hash_pat(&generate(TokenKind::PortalSession)),
        scopes: vec![Scope::WebhooksRead],
        user_id: None,
        expires_at: Some(NOW.plus_seconds(3600)),
        revoked: false,
        created_at: NOW,
    }
}

fn channel_of(account: AccountId, n: usize) -> Channel {
    Channel {
        account_id: account,
        channel_id: ChannelId::parse(&format!("dom_race_{n}")).unwrap(),
        channel_type: ChannelType::Domain,
        created_at: NOW,
    }
}

/// A token or a channel is written with its account or not at all: refused (`NotFound`) for
/// an account that is not there, and, racing an erasure, either written before the
/// erasure's first delete (and then erased) or refused — never left behind it.
pub async fn creates_racing_an_erasure_leave_nothing<S: Store + ErasureStore>(store: &S) {
    let ghost = AccountId::new();
    let token = token_of(ghost);
    assert!(matches!(store.put_token(&token).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_token_by_hash(&token.token_hash).await.unwrap(), None);
    let channel = channel_of(ghost, 0);
    assert!(matches!(store.create_channel(&channel).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_channel(ghost, &channel.channel_id).await.unwrap(), None);

    let doomed = account(store).await;
    let tokens: Vec<Token> = (0..6).map(|_| token_of(doomed.id)).collect();
    let channels: Vec<Channel> = (0..6).map(|n| channel_of(doomed.id, n)).collect();
    let creates = async {
        let tokens = futures::future::join_all(tokens.iter().map(|t| store.put_token(t)));
        let channels = futures::future::join_all(channels.iter().map(|c| store.create_channel(c)));
        let (tokens, channels) = futures::join!(tokens, channels);
        tokens.into_iter().chain(channels).collect::<Vec<_>>()
    };
    let (outcomes, erased) = futures::join!(creates, store.erase_account(doomed.id));
    erased.unwrap();
    for outcome in &outcomes {
        assert!(matches!(outcome, Ok(()) | Err(StoreError::NotFound)), "{outcome:?}");
    }
    for token in &tokens {
        assert_eq!(store.get_token_by_hash(&token.token_hash).await.unwrap(), None, "a token outlived the erasure");
    }
    for channel in &channels {
        assert_eq!(store.get_channel(doomed.id, &channel.channel_id).await.unwrap(), None, "a channel outlived it");
    }
    // Afterwards, every create is refused.
    assert!(matches!(store.put_token(&token_of(doomed.id)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.create_channel(&channel_of(doomed.id, 9)).await, Err(StoreError::NotFound)));
}

pub async fn purge_removes_a_subscription_and_its_history<S: Store + DeliveryControlStore + ErasureStore>(store: &S) {
    let owned = populated(store).await;
    let acc = owned.account.id;
    let [live, gone] = [owned.subscriptions[0], owned.subscriptions[1]];
    let removed = store.purge_subscription(acc, live, NOW.plus_seconds(5)).await.unwrap();
    assert_eq!(
        removed,
        Removed {
            subscriptions: 1,
            attempts: 2,
            failures: 1,
            rate_limit_counters: 1,
            fifo_heads: 1,
            ..Removed::default()
        }
    );
    assert_eq!(store.get_subscription(acc, live).await.unwrap(), None);
    assert_eq!(store.list_attempts(acc, live, 10, 0).await.unwrap().total, 0);
    assert!(store.routable_subscriptions(acc).await.unwrap().is_empty());
    // The other subscription's history and the account's events stay.
    assert_eq!(store.list_attempts(acc, gone, 10, 0).await.unwrap().total, 1);
    let failures = store.list_failures(acc).await.unwrap();
    assert_eq!(failures.iter().map(|f| f.subscription_id).collect::<Vec<_>>(), [gone]);
    assert!(store.get_event(acc, &owned.event_ids[0]).await.unwrap().is_some());
    // It left the cap: the account's one active place is free again.
    store.create_subscription(&plain(acc), ActiveCap(1)).await.unwrap();
    // A subscription deleted before is purged the same way; a purged one is not found.
    let removed = store.purge_subscription(acc, gone, NOW.plus_seconds(6)).await.unwrap();
    assert_eq!(removed, Removed { subscriptions: 1, attempts: 1, failures: 1, ..Removed::default() });
    assert!(matches!(store.purge_subscription(acc, gone, NOW).await, Err(StoreError::NotFound)));
    assert!(store.list_failures(acc).await.unwrap().is_empty());
}
