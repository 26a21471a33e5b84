//! The contract every Store adapter must honour, written once. `store_contract_tests!`
//! expands to one `#[tokio::test]` per rule for a given adapter constructor.

use std::collections::BTreeMap;

use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::erasure::Removed;
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, FailureQuery, FailureStatus, RetriggerOutcome};
use hookpost_domain::subscription::{
    parse_new_subscription, Authentication, DisabledReason, Source, Subscription, SubscriptionFilter, SubscriptionPatch,
};
use hookpost_domain::token::{generate, generate_pat, hash_pat, Token, TokenKind};
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, ChannelType, DestinationPolicy, Plan, Reason, Scope, SubscriptionId,
    Timestamp, TokenId,
};
use serde_json::json;

use crate::{ActiveCap, ErasureStore, Store, StoreError};

const NOW: Timestamp = Timestamp::from_unix(1_780_000_000);
const CAP: ActiveCap = ActiveCap(25);

async fn account<S: Store>(store: &S) -> Account {
    let account = Account { id: AccountId::new(), name: "Acme".into(), plan: Plan::Pro, created_at: NOW };
    store.create_account(&account).await.expect("create account");
    account
}

fn subscription(account: AccountId, body: serde_json::Value, at: Timestamp) -> Subscription {
    let input = parse_new_subscription(body, &DestinationPolicy::default()).expect("valid subscription");
    Subscription::create(account, input, None, Some("user_1".into()), at)
}

fn plain(account: AccountId) -> Subscription {
    subscription(account, json!({"url": "https://example.com/hook"}), NOW)
}

pub async fn accounts_round_trip<S: Store>(store: &S) {
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

pub async fn channels_belong_to_one_account<S: Store>(store: &S) {
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

pub async fn tokens_are_found_by_hash_and_revoked_by_owner<S: Store>(store: &S) {
    let acc = account(store).await;
    let other = account(store).await;
    let pat = generate_pat();
    let token = Token {
        id: TokenId::new(),
        kind: TokenKind::Pat,
        account_id: acc.id,
        token_hash: hash_pat(&pat),
        scopes: vec![Scope::WebhooksRead, Scope::WebhooksManage],
        user_id: Some("user_9".into()),
        expires_at: Some(NOW.plus_days(30)),
        revoked: false,
        created_at: NOW,
    };
    store.put_token(&token).await.unwrap();
    assert_eq!(store.get_token_by_hash(&hash_pat(&pat)).await.unwrap(), Some(token.clone()));
    assert_eq!(store.get_token_by_hash(&hash_pat("other")).await.unwrap(), None);

    assert!(matches!(store.revoke_token(other.id, token.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.revoke_token(acc.id, TokenId::new()).await, Err(StoreError::NotFound)));
    store.revoke_token(acc.id, token.id).await.unwrap();
    store.revoke_token(acc.id, token.id).await.unwrap();
    assert!(store.get_token_by_hash(&token.token_hash).await.unwrap().unwrap().revoked);

    let bare = Token {
        id: TokenId::new(),
        token_hash: hash_pat(&generate_pat()),
        user_id: None,
        expires_at: None,
        ..token.clone()
    };
    store.put_token(&bare).await.unwrap();
    assert_eq!(store.get_token_by_hash(&bare.token_hash).await.unwrap(), Some(bare));

    let session = Token {
        id: TokenId::new(),
        kind: TokenKind::PortalSession,
        token_hash: hash_pat(&generate(TokenKind::PortalSession)),
        expires_at: Some(NOW.plus_seconds(3600)),
        ..token
    };
    store.put_token(&session).await.unwrap();
    assert_eq!(store.get_token_by_hash(&session.token_hash).await.unwrap(), Some(session.clone()));
    store.revoke_token(acc.id, session.id).await.unwrap();
    assert!(store.get_token_by_hash(&session.token_hash).await.unwrap().unwrap().revoked);
}

pub async fn subscriptions_round_trip_every_field<S: Store>(store: &S) {
    let acc = account(store).await;
    let mut sub = subscription(
        acc.id,
        json!({
            "url": "https://example.com/hook?x=1", "name": "CRM", "events": ["call.ended", "sms.sent"],
            "channel_id": "dom_1", "headers": {"x-team": "crm", "x-key": "k"},
            "authentication": {"method": "basic", "username": "u", "password": "p"}
        }),
        NOW,
    );
    sub.channel_type = Some(ChannelType::Domain);
    store.create_subscription(&sub, CAP).await.unwrap();
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(sub.clone()));

    let zap = subscription(
        acc.id,
        json!({"url": "https://example.com/z", "source": "zapier", "zapier_subscription_id": "zap_1"}),
        NOW,
    );
    store.create_subscription(&zap, CAP).await.unwrap();
    let got = store.get_subscription(acc.id, zap.id).await.unwrap().unwrap();
    assert_eq!(got, zap);
    assert_eq!((got.source, got.created_by_user_id), (Source::Zapier, None));
    assert!(got.events.is_empty() && got.headers.is_empty());
}

pub async fn subscriptions_are_invisible_to_other_accounts<S: Store>(store: &S) {
    let acc = account(store).await;
    let other = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    assert_eq!(store.get_subscription(other.id, sub.id).await.unwrap(), None);
    assert_eq!(store.list_subscriptions(other.id, SubscriptionFilter::default(), 100, 0).await.unwrap().total, 0);
    let patch = SubscriptionPatch { name: Some("stolen".into()), ..Default::default() };
    assert!(matches!(store.update_subscription(other.id, sub.id, &patch, NOW).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_subscription(other.id, sub.id, NOW).await, Err(StoreError::NotFound)));
    assert!(matches!(store.reactivate_subscription(other.id, sub.id, None, CAP, NOW).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(sub));
}

pub async fn the_cap_counts_active_subscriptions_only<S: Store>(store: &S) {
    let acc = account(store).await;
    let cap = ActiveCap(3);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let sub = plain(acc.id);
        store.create_subscription(&sub, cap).await.unwrap();
        ids.push(sub.id);
    }
    let fourth = plain(acc.id);
    assert!(matches!(store.create_subscription(&fourth, cap).await, Err(StoreError::LimitReached)));
    assert_eq!(
        store.get_subscription(acc.id, fourth.id).await.unwrap(),
        None,
        "a refused create leaves nothing behind"
    );
    store.delete_subscription(acc.id, ids[0], NOW).await.unwrap();
    store.delete_subscription(acc.id, ids[0], NOW).await.unwrap();
    store.create_subscription(&fourth, cap).await.unwrap();
    assert!(matches!(store.create_subscription(&plain(acc.id), cap).await, Err(StoreError::LimitReached)));
    assert!(matches!(
        store.reactivate_subscription(acc.id, ids[0], Some(NOW), cap, NOW).await,
        Err(StoreError::LimitReached)
    ));
    assert!(matches!(store.create_subscription(&plain(AccountId::new()), cap).await, Err(StoreError::NotFound)));
}

pub async fn concurrent_creates_never_pass_the_cap<S: Store>(store: &S) {
    let acc = account(store).await;
    let cap = ActiveCap(4);
    let subs: Vec<Subscription> = (0..10).map(|_| plain(acc.id)).collect();
    let results = futures::future::join_all(subs.iter().map(|s| store.create_subscription(s, cap))).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 4, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::LimitReached))), "{results:?}");
    let active = SubscriptionFilter { source: None, is_active: Some(true) };
    assert_eq!(store.list_subscriptions(acc.id, active, 100, 0).await.unwrap().total, 4);
}

pub async fn lists_are_newest_first_filtered_and_paged<S: Store>(store: &S) {
    let acc = account(store).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let body = if i % 3 == 0 {
            json!({"url": "https://example.com/z", "source": "zapier", "zapier_subscription_id": format!("z{i}")})
        } else {
            json!({"url": format!("https://example.com/{i}")})
        };
        let sub = subscription(acc.id, body, NOW.plus_seconds(i));
        store.create_subscription(&sub, CAP).await.unwrap();
        created.push(sub);
        // UUIDv7 orders by millisecond; make each creation land in its own.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    store.delete_subscription(acc.id, created[1].id, NOW).await.unwrap();

    let all = store.list_subscriptions(acc.id, SubscriptionFilter::default(), 100, 0).await.unwrap();
    assert_eq!(all.total, 7);
    let ids: Vec<SubscriptionId> = all.items.iter().map(|s| s.id).collect();
    let expected: Vec<SubscriptionId> = created.iter().rev().map(|s| s.id).collect();
    assert_eq!(ids, expected, "newest first");

    let page = store.list_subscriptions(acc.id, SubscriptionFilter::default(), 2, 2).await.unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(page.items.iter().map(|s| s.id).collect::<Vec<_>>(), expected[2..4].to_vec());
    let past_end = store.list_subscriptions(acc.id, SubscriptionFilter::default(), 10, 50).await.unwrap();
    assert_eq!((past_end.total, past_end.items.len()), (7, 0));

    let zapier = SubscriptionFilter { source: Some(Source::Zapier), is_active: None };
    assert_eq!(store.list_subscriptions(acc.id, zapier, 100, 0).await.unwrap().total, 3);
    let inactive = SubscriptionFilter { source: None, is_active: Some(false) };
    let page = store.list_subscriptions(acc.id, inactive, 100, 0).await.unwrap();
    assert_eq!((page.total, page.items[0].id), (1, created[1].id));
    let active_dashboard = SubscriptionFilter { source: Some(Source::Dashboard), is_active: Some(true) };
    assert_eq!(store.list_subscriptions(acc.id, active_dashboard, 1, 0).await.unwrap().total, 3);
}

pub async fn patches_change_settings_only<S: Store>(store: &S) {
    let acc = account(store).await;
    let sub = subscription(
        acc.id,
        json!({"url": "https://example.com/a", "authentication": {"method": "bearer", "token": "t"}}),
        NOW,
    );
    store.create_subscription(&sub, CAP).await.unwrap();
    let patch = SubscriptionPatch {
        name: Some("Renamed".into()),
        url: Some("https://example.org/b".into()),
        events: Some(vec!["call.ended".into()]),
        headers: Some(BTreeMap::from([("x-a".to_owned(), "1".to_owned())])),
        authentication: Some(Authentication::Basic { username: "u".into(), password: "p".into() }),
    };
    let later = NOW.plus_seconds(60);
    let updated = store.update_subscription(acc.id, sub.id, &patch, later).await.unwrap();
    let mut expected = sub.clone();
    patch.clone().apply(&mut expected, later);
    assert_eq!(updated, expected);
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(expected.clone()));

    let none = SubscriptionPatch { authentication: Some(Authentication::None), ..Default::default() };
    let updated = store.update_subscription(acc.id, sub.id, &none, later).await.unwrap();
    assert_eq!(updated.authentication, Authentication::None);
    assert_eq!(updated.secret, sub.secret);
    assert!(matches!(
        store.update_subscription(acc.id, SubscriptionId::new(), &none, later).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn delete_is_soft_and_reactivation_restores<S: Store>(store: &S) {
    let acc = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    assert!(matches!(store.reactivate_subscription(acc.id, sub.id, None, CAP, NOW).await, Err(StoreError::Conflict)));

    let at = NOW.plus_seconds(5);
    store.delete_subscription(acc.id, sub.id, at).await.unwrap();
    let deleted = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
    assert!(!deleted.is_active);
    assert_eq!((deleted.disabled_reason, deleted.disabled_at), (Some(DisabledReason::Deleted), Some(at)));
    store.delete_subscription(acc.id, sub.id, at.plus_seconds(5)).await.unwrap();
    assert_eq!(
        store.get_subscription(acc.id, sub.id).await.unwrap().unwrap().disabled_at,
        Some(at),
        "second delete is a no-op"
    );
    assert!(matches!(store.delete_subscription(acc.id, SubscriptionId::new(), at).await, Err(StoreError::NotFound)));

    assert!(
        matches!(store.reactivate_subscription(acc.id, sub.id, Some(NOW), CAP, at).await, Err(StoreError::Conflict)),
        "stale view"
    );
    let back = store.reactivate_subscription(acc.id, sub.id, Some(at), CAP, at.plus_seconds(1)).await.unwrap();
    assert!(back.is_active);
    assert_eq!((back.disabled_reason, back.disabled_at, back.consecutive_failures), (None, None, 0));
    assert_eq!(back.updated_at, at.plus_seconds(1));
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(back));
    assert!(matches!(
        store.reactivate_subscription(acc.id, SubscriptionId::new(), None, CAP, at).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn rate_counters_count_per_key<S: Store>(store: &S) {
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

fn event(account: AccountId, id: &str) -> Event {
    Event {
        account_id: account,
        event_id: id.to_owned(),
        event_type: "call.ended".into(),
        channel_id: ChannelId::parse("dom_1"),
        data: r#"{"call_id":7,"nested":{"a":[1,2]}}"#.into(),
        created_at: NOW,
        subscriptions: 3,
        fanned_out: false,
    }
}

pub async fn events_are_stored_once_per_id<S: Store>(store: &S) {
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

pub async fn routable_subscriptions_leave_out_deleted_ones<S: Store>(store: &S) {
    let acc = account(store).await;
    let keep = plain(acc.id);
    let gone = plain(acc.id);
    let back = plain(acc.id);
    for sub in [&keep, &gone, &back] {
        store.create_subscription(sub, CAP).await.unwrap();
    }
    store.delete_subscription(acc.id, gone.id, NOW).await.unwrap();
    store.delete_subscription(acc.id, back.id, NOW).await.unwrap();
    store.reactivate_subscription(acc.id, back.id, Some(NOW), CAP, NOW).await.unwrap();
    let mut ids: Vec<SubscriptionId> =
        store.routable_subscriptions(acc.id).await.unwrap().iter().map(|s| s.id).collect();
    ids.sort();
    let mut expected = vec![keep.id, back.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(store.routable_subscriptions(account(store).await.id).await.unwrap().is_empty());
}

pub async fn failures_round_trip_newest_first<S: Store>(store: &S) {
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

pub async fn attempts_are_listed_newest_first<S: Store>(store: &S) {
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

pub async fn deliveries_update_the_subscription<S: Store>(store: &S) {
    let acc = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    store.record_delivery(acc.id, sub.id, NOW, Some(&Reason::HttpStatus(500))).await.unwrap();
    let got = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
    assert_eq!(
        (got.last_delivery_at, got.last_success_at, got.last_error.as_deref()),
        (Some(NOW), None, Some("http_status: 500"))
    );
    let exhausted = store.record_exhausted(acc.id, sub.id, "evt_1", &Reason::Timeout, NOW, 5).await.unwrap();
    assert_eq!((exhausted.subscription.consecutive_failures, exhausted.disabled_now), (1, false));
    let later = NOW.plus_seconds(5);
    store.record_delivery(acc.id, sub.id, later, None).await.unwrap();
    let got = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
    assert_eq!((got.last_delivery_at, got.last_success_at, got.consecutive_failures), (Some(later), Some(later), 0));
    // An earlier attempt's fields, written late (they waited in a record task), change nothing.
    store.record_delivery(acc.id, sub.id, NOW.plus_seconds(2), Some(&Reason::Timeout)).await.unwrap();
    let got = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
    assert_eq!((got.last_delivery_at, got.last_error.as_deref()), (Some(later), Some("timeout")));
    assert!(matches!(store.record_delivery(acc.id, SubscriptionId::new(), NOW, None).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.record_exhausted(acc.id, SubscriptionId::new(), "evt_1", &Reason::Timeout, NOW, 5).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn an_event_counts_once_and_only_while_active<S: Store>(store: &S) {
    let acc = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    for _ in 0..3 {
        // The same event's count, written again (a record task, a task handed out twice).
        let again = store.record_exhausted(acc.id, sub.id, "evt_a", &Reason::Timeout, NOW, 3).await.unwrap();
        assert_eq!(again.subscription.consecutive_failures, 1);
    }
    store.record_exhausted(acc.id, sub.id, "evt_b", &Reason::Timeout, NOW, 3).await.unwrap();
    let third = store.record_exhausted(acc.id, sub.id, "evt_c", &Reason::TlsError, NOW, 3).await.unwrap();
    assert!(third.disabled_now);
    // Events still in their retry cycle when it was disabled do not count any more.
    let late = store.record_exhausted(acc.id, sub.id, "evt_d", &Reason::Timeout, NOW, 3).await.unwrap();
    assert_eq!((late.subscription.consecutive_failures, late.disabled_now), (3, false));
    assert_eq!(late.subscription.last_error.as_deref(), Some("tls_error"));
    // Reactivation starts the count afresh, for events counted before too.
    let disabled_at = late.subscription.disabled_at;
    store.reactivate_subscription(acc.id, sub.id, disabled_at, CAP, NOW).await.unwrap();
    let recounted = store.record_exhausted(acc.id, sub.id, "evt_a", &Reason::Timeout, NOW, 3).await.unwrap();
    assert_eq!(recounted.subscription.consecutive_failures, 1);
    // So does a delivery.
    store.record_delivery(acc.id, sub.id, NOW.plus_seconds(1), None).await.unwrap();
    let after =
        store.record_exhausted(acc.id, sub.id, "evt_a", &Reason::Timeout, NOW.plus_seconds(2), 3).await.unwrap();
    assert_eq!(after.subscription.consecutive_failures, 1);
}

pub async fn concurrent_exhaustions_count_every_one_and_disable_once<S: Store>(store: &S) {
    let acc = account(store).await;
    let cap = ActiveCap(2);
    let sub = plain(acc.id);
    store.create_subscription(&sub, cap).await.unwrap();
    store.create_subscription(&plain(acc.id), cap).await.unwrap();
    let events: Vec<String> = (0..8).map(|i| format!("evt_{i}")).collect();
    let results = futures::future::join_all(
        events.iter().map(|event| store.record_exhausted(acc.id, sub.id, event, &Reason::Timeout, NOW, 5)),
    )
    .await;
    let disabled = results.iter().filter(|r| r.as_ref().unwrap().disabled_now).count();
    assert_eq!(disabled, 1, "exactly one caller disables");
    let got = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
    assert_eq!(got.consecutive_failures, 5, "no increment lost up to the threshold, none past it");
    assert!(!got.is_active);
    assert_eq!(
        (got.disabled_reason, got.disabled_at, got.last_error.as_deref()),
        (Some(DisabledReason::AutoDisabled), Some(NOW), Some("timeout"))
    );
    // The disabled subscription left the cap once: one new one fits, a second does not.
    store.create_subscription(&plain(acc.id), cap).await.unwrap();
    assert!(matches!(store.create_subscription(&plain(acc.id), cap).await, Err(StoreError::LimitReached)));
    // Still routable (it gets subscription_disabled records), and reactivation restores it.
    assert!(store.routable_subscriptions(acc.id).await.unwrap().iter().any(|s| s.id == sub.id));
    store.delete_subscription(acc.id, sub.id, NOW).await.unwrap();
    assert!(!store.routable_subscriptions(acc.id).await.unwrap().iter().any(|s| s.id == sub.id));
}

pub async fn rotation_keeps_the_previous_secret<S: Store>(store: &S) {
    let acc = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    let until = NOW.plus_days(1);
    let rotated = store.rotate_secret(acc.id, sub.id, "whsec_bmV3", until, NOW).await.unwrap();
    assert_eq!(rotated.secret, "whsec_bmV3");
    assert_eq!(rotated.previous_secret, Some((sub.secret.clone(), until)));
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(rotated));
    let again = store.rotate_secret(acc.id, sub.id, "whsec_bmV3ZXI=", until.plus_seconds(5), NOW).await.unwrap();
    assert_eq!(again.previous_secret, Some(("whsec_bmV3".to_owned(), until.plus_seconds(5))));
    assert!(matches!(
        store.rotate_secret(acc.id, SubscriptionId::new(), "whsec_eA==", until, NOW).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn failure_queries_page_by_time_and_status<S: Store>(store: &S) {
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

pub async fn retriggers_move_through_the_state_machine<S: Store>(store: &S) {
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
    assert!(matches!(
        store.retrigger_failure(acc.id, hookpost_domain::FailureId::new(NOW), later).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(store.retrigger_failure(account(store).await.id, f.id, later).await, Err(StoreError::NotFound)));

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

pub async fn concurrent_retriggers_let_exactly_one_through<S: Store>(store: &S) {
    let acc = account(store).await;
    let f = Failure::inactive(acc.id, "evt_1", "call.ended", SubscriptionId::new(), "CRM", Reason::Timeout, NOW, NOW);
    store.put_failure(&f).await.unwrap();
    let results = futures::future::join_all((0..8).map(|_| store.retrigger_failure(acc.id, f.id, NOW))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict))));
}

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

async fn populated<S: Store>(store: &S) -> Owned {
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
    Owned { account, subscriptions: vec![live.id, gone.id], token_hashes, channel, event_ids }
}

/// Asserts that no read finds anything of `owned`, or, with `present`, that every one does.
async fn assert_owned<S: Store>(store: &S, owned: &Owned, present: bool) {
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
    assert_eq!(store.list_failures(acc).await.unwrap().len(), if present { 2 } else { 0 });
    let stuck = store.stuck_pending_failures(NOW.plus_days(1), 1000).await.unwrap();
    assert_eq!(stuck.iter().any(|f| f.account_id == acc), present, "the sweeper's index");
}

/// Erases a populated account and returns its id, so an adapter's own test can look for
/// anything left behind with the backend's own tools.
pub async fn erasure_removes_everything_an_account_owns<S: Store + ErasureStore>(store: &S) -> AccountId {
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
            rate_limit_counters: 2,
        }
    );
    assert_owned(store, &doomed, false).await;
    assert_owned(store, &bystander, true).await;
    // The bystander's counters were left alone.
    assert_eq!(store.hit_rate_counter(bystander.account.id, "GET /a#60", NOW.plus_seconds(120)).await.unwrap(), 2);
    // Idempotent: a second call (a retry after a timeout) finds nothing and says so.
    assert_eq!(store.erase_account(doomed.account.id).await.unwrap(), Removed::default());
    assert_eq!(store.erase_account(AccountId::new()).await.unwrap(), Removed::default());
    doomed.account.id
}

pub async fn purge_removes_a_subscription_and_its_history<S: Store + ErasureStore>(store: &S) {
    let owned = populated(store).await;
    let acc = owned.account.id;
    let [live, gone] = [owned.subscriptions[0], owned.subscriptions[1]];
    let removed = store.purge_subscription(acc, live, NOW.plus_seconds(5)).await.unwrap();
    assert_eq!(removed, Removed { subscriptions: 1, attempts: 2, failures: 1, ..Removed::default() });
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

/// Expands to one test per contract rule. `$make` is an async expression giving the store.
/// `; needs_dynamodb` marks tests that need a server: ignored (and counted so) only when the
/// run opts out with `HOOKPOST_SKIP_DYNAMODB=1`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@list $make; []);
    };
    ($make:expr; needs_dynamodb) => {
        $crate::store_contract_tests!(@list $make; [#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]]);
    };
    (@list $make:expr; $attrs:tt) => {
        $crate::store_contract_tests!(@tests $make; $attrs; accounts_round_trip,
            channels_belong_to_one_account,
            tokens_are_found_by_hash_and_revoked_by_owner,
            subscriptions_round_trip_every_field,
            subscriptions_are_invisible_to_other_accounts,
            the_cap_counts_active_subscriptions_only,
            concurrent_creates_never_pass_the_cap,
            lists_are_newest_first_filtered_and_paged,
            patches_change_settings_only,
            delete_is_soft_and_reactivation_restores,
            rate_counters_count_per_key,
            events_are_stored_once_per_id,
            routable_subscriptions_leave_out_deleted_ones,
            failures_round_trip_newest_first,
            attempts_are_listed_newest_first,
            deliveries_update_the_subscription,
            concurrent_exhaustions_count_every_one_and_disable_once,
            an_event_counts_once_and_only_while_active,
            rotation_keeps_the_previous_secret,
            failure_queries_page_by_time_and_status,
            retriggers_move_through_the_state_machine,
            concurrent_retriggers_let_exactly_one_through,
            erasure_removes_everything_an_account_owns,
            purge_removes_a_subscription_and_its_history,);
    };
    (@tests $make:expr; $attrs:tt; $($name:ident),+ $(,)?) => {
        $( $crate::store_contract_tests!(@one $make; $attrs; $name); )+
    };
    (@one $make:expr; [$($attr:tt)*]; $name:ident) => {
        #[tokio::test]
        $($attr)*
        async fn $name() {
            let store = $make.await;
            $crate::contract::$name(&store).await;
        }
    };
}
