//! Subscriptions: their fields, the cap, soft delete and reactivation, and the delivery
//! writes on them.

use super::*;

pub async fn subscriptions_round_trip_every_field<S: AccountStore + SubscriptionStore>(store: &S) {
    let acc = account(store).await;
    let mut sub = subscription(
        acc.id,
        json!({
            "url": "https://example.com/hook?x=1", "name": "CRM", "events": ["call.ended", "sms.sent"],
            "channel_id": "dom_1", "headers": {"X-Team": "crm", "x-key": "k"},
            "authentication": {"method": "basic", "username": "u", "password": "p"},
            "rate_limit": 250, "ordering": "fifo"
        }),
        NOW,
    );
    sub.channel_type = Some(ChannelType::Domain);
    store.create_subscription(&sub, CAP).await.unwrap();
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(sub.clone()));

    let zap = subscription(
        acc.id,
        json!({"url": "https://example.com/z", "source": "zapier", "zapier_subscription_id": "zap_1", "rate_limit": null}),
        NOW,
    );
    store.create_subscription(&zap, CAP).await.unwrap();
    let got = store.get_subscription(acc.id, zap.id).await.unwrap().unwrap();
    assert_eq!(got, zap);
    assert_eq!((got.source, got.created_by_user_id), (Source::Zapier, None));
    assert!(got.events.is_empty() && got.headers.is_empty());
    assert_eq!(got.rate_limit, None);
}

pub async fn subscriptions_are_invisible_to_other_accounts<S: AccountStore + SubscriptionStore>(store: &S) {
    let acc = account(store).await;
    let other = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    assert_eq!(store.get_subscription(other.id, sub.id).await.unwrap(), None);
    assert_eq!(store.list_subscriptions(other.id, SubscriptionFilter::default(), 100, 0).await.unwrap().total, 0);
    let patch = SubscriptionPatch { name: Some("stolen".into()), ..Default::default() };
    assert!(matches!(store.update_subscription(other.id, sub.id, &patch, NOW).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_subscription(other.id, sub.id, NOW).await, Err(StoreError::NotFound)));
    let change = lifecycle::record_attempt(NOW, None);
    assert!(matches!(store.change_subscription(other.id, sub.id, &change, CAP).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(sub));
}

pub async fn the_cap_counts_active_subscriptions_only<S: AccountStore + SubscriptionStore>(store: &S) {
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
    let deleted = store.get_subscription(acc.id, ids[0]).await.unwrap().unwrap();
    assert!(matches!(reactivate(store, &deleted, cap, NOW).await, Err(StoreError::LimitReached)));
    assert_eq!(store.get_subscription(acc.id, ids[0]).await.unwrap(), Some(deleted), "a refused one changes nothing");
    assert!(matches!(store.create_subscription(&plain(AccountId::new()), cap).await, Err(StoreError::NotFound)));
}

pub async fn concurrent_creates_never_pass_the_cap<S: AccountStore + SubscriptionStore>(store: &S) {
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

pub async fn lists_are_newest_first_filtered_and_paged<S: AccountStore + SubscriptionStore>(store: &S) {
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

pub async fn patches_change_settings_only<S: AccountStore + SubscriptionStore>(store: &S) {
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
        rate_limit: Some(hookpost_domain::pacing::RateLimit::new(7)),
        ordering: Some(hookpost_domain::subscription::Ordering::Fifo),
        filter: Some(Some(
            hookpost_domain::filter::ContentFilter::new(json!({"data": {"tier": ["gold"]}}), "filter").unwrap(),
        )),
    };
    let later = NOW.plus_seconds(60);
    let updated = store.update_subscription(acc.id, sub.id, &patch, later).await.unwrap();
    let mut expected = sub.clone();
    patch.clone().apply(&mut expected, later);
    assert_eq!(updated, expected);
    assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(expected.clone()));

    let none = SubscriptionPatch {
        authentication: Some(Authentication::None),
        rate_limit: Some(None),
        filter: Some(None),
        ..Default::default()
    };
    let updated = store.update_subscription(acc.id, sub.id, &none, later).await.unwrap();
    assert_eq!(updated.authentication, Authentication::None);
    assert_eq!(updated.filter, None, "the filter removed");
    assert_eq!((updated.rate_limit, updated.ordering), (None, hookpost_domain::subscription::Ordering::Fifo));
    assert_eq!(updated.secret, sub.secret);
    assert!(matches!(
        store.update_subscription(acc.id, SubscriptionId::new(), &none, later).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn delete_is_soft_and_reactivation_restores<S: AccountStore + SubscriptionStore>(store: &S) {
    let acc = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();

    let at = NOW.plus_seconds(5);
    store.delete_subscription(acc.id, sub.id, at).await.unwrap();
    let deleted = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
    assert_eq!(deleted.state, SubscriptionState::Disabled { reason: DisabledReason::Deleted, at });
    store.delete_subscription(acc.id, sub.id, at.plus_seconds(5)).await.unwrap();
    assert_eq!(
        store.get_subscription(acc.id, sub.id).await.unwrap().unwrap().state.disabled_at(),
        Some(at),
        "second delete is a no-op"
    );
    assert!(matches!(store.delete_subscription(acc.id, SubscriptionId::new(), at).await, Err(StoreError::NotFound)));

    let stale = Subscription { state: SubscriptionState::Disabled { reason: DisabledReason::Deleted, at: NOW }, ..sub };
    assert_eq!(reactivate(store, &stale, CAP, at).await.unwrap(), Applied::Refused(deleted.clone()), "stale view");
    let Applied::Changed(back) = reactivate(store, &deleted, CAP, at.plus_seconds(1)).await.unwrap() else {
        panic!("refused")
    };
    assert_eq!((back.state, back.consecutive_failures), (SubscriptionState::Active, 0));
    assert_eq!(back.updated_at, at.plus_seconds(1));
    assert_eq!(store.get_subscription(acc.id, back.id).await.unwrap(), Some(back));
    let gone = Subscription { id: SubscriptionId::new(), ..deleted };
    assert!(matches!(reactivate(store, &gone, CAP, at).await, Err(StoreError::NotFound)));
}

pub async fn routable_subscriptions_leave_out_deleted_ones<S: AccountStore + SubscriptionStore>(store: &S) {
    let acc = account(store).await;
    let keep = plain(acc.id);
    let gone = plain(acc.id);
    let back = plain(acc.id);
    for sub in [&keep, &gone, &back] {
        store.create_subscription(sub, CAP).await.unwrap();
    }
    store.delete_subscription(acc.id, gone.id, NOW).await.unwrap();
    store.delete_subscription(acc.id, back.id, NOW).await.unwrap();
    let deleted = store.get_subscription(acc.id, back.id).await.unwrap().unwrap();
    reactivate(store, &deleted, CAP, NOW).await.unwrap();
    let mut ids: Vec<SubscriptionId> =
        store.routable_subscriptions(acc.id).await.unwrap().iter().map(|s| s.id).collect();
    ids.sort();
    let mut expected = vec![keep.id, back.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(store.routable_subscriptions(account(store).await.id).await.unwrap().is_empty());
}

pub async fn deliveries_update_the_subscription<S: AccountStore + SubscriptionStore>(store: &S) {
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

pub async fn an_event_counts_once_and_only_while_active<S: AccountStore + SubscriptionStore>(store: &S) {
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
    reactivate(store, &late.subscription, CAP, NOW).await.unwrap();
    let recounted = store.record_exhausted(acc.id, sub.id, "evt_a", &Reason::Timeout, NOW, 3).await.unwrap();
    assert_eq!(recounted.subscription.consecutive_failures, 1);
    // So does a delivery.
    store.record_delivery(acc.id, sub.id, NOW.plus_seconds(1), None).await.unwrap();
    let after =
        store.record_exhausted(acc.id, sub.id, "evt_a", &Reason::Timeout, NOW.plus_seconds(2), 3).await.unwrap();
    assert_eq!(after.subscription.consecutive_failures, 1);
}

pub async fn concurrent_exhaustions_count_every_one_and_disable_once<S: AccountStore + SubscriptionStore>(store: &S) {
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
    assert_eq!(
        (got.state, got.last_error.as_deref()),
        (SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: NOW }, Some("timeout"))
    );
    // The disabled subscription left the cap once: one new one fits, a second does not.
    store.create_subscription(&plain(acc.id), cap).await.unwrap();
    assert!(matches!(store.create_subscription(&plain(acc.id), cap).await, Err(StoreError::LimitReached)));
    // Still routable (it gets subscription_disabled records), and reactivation restores it.
    assert!(store.routable_subscriptions(acc.id).await.unwrap().iter().any(|s| s.id == sub.id));
    store.delete_subscription(acc.id, sub.id, NOW).await.unwrap();
    assert!(!store.routable_subscriptions(acc.id).await.unwrap().iter().any(|s| s.id == sub.id));
}

pub async fn rotation_keeps_the_previous_secret<S: AccountStore + SubscriptionStore>(store: &S) {
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

/// Every transition, through the store, leaves exactly the subscription the domain's own
/// application of it gives: each field it touches and none it does not, or nothing at all
/// when a requirement fails.
pub async fn every_transition_sets_exactly_what_the_domain_decides<S: AccountStore + SubscriptionStore>(store: &S) {
    let acc = account(store).await;
    let sub = plain(acc.id);
    store.create_subscription(&sub, CAP).await.unwrap();
    let at = |s| NOW.plus_seconds(s);
    type Decide = Box<dyn Fn(&Subscription) -> SubscriptionChange>;
    let steps: Vec<(&str, Decide)> = vec![
        ("a failed attempt", Box::new(move |_| lifecycle::record_attempt(at(1), Some(&Reason::HttpStatus(500))))),
        ("an exhausted event", Box::new(move |_| lifecycle::count_exhausted("evt_1", &Reason::Timeout, at(2), 2))),
        ("the same event again", Box::new(move |_| lifecycle::count_exhausted("evt_1", &Reason::Timeout, at(3), 2))),
        ("a second event", Box::new(move |_| lifecycle::count_exhausted("evt_2", &Reason::TlsError, at(3), 2))),
        (
            "a third, past the threshold",
            Box::new(move |_| lifecycle::count_exhausted("evt_3", &Reason::Timeout, at(3), 2)),
        ),
        ("the auto-disable", Box::new(move |s| lifecycle::auto_disable_due(s, 2, at(4)).unwrap())),
        ("an attempt's late fields", Box::new(move |_| lifecycle::record_attempt(at(2), None))),
        ("reactivation", Box::new(move |s| lifecycle::reactivate(s, at(5)).unwrap())),
        (
            "a counted event after it",
            Box::new(move |_| lifecycle::count_exhausted("evt_1", &Reason::Timeout, at(6), 2)),
        ),
        ("a delivery", Box::new(move |_| lifecycle::record_attempt(at(7), None))),
        ("a delete", Box::new(move |s| lifecycle::delete(s, at(8)).unwrap())),
        ("an attempt in flight", Box::new(move |_| lifecycle::record_attempt(at(9), Some(&Reason::Timeout)))),
        ("reactivation after a delete", Box::new(move |s| lifecycle::reactivate(s, at(10)).unwrap())),
    ];
    // The events the store counts, as the domain sees them: only observable through the
    // requirements, so the model follows along.
    let mut counted = std::collections::BTreeSet::new();
    let mut refusals = 0;
    for (step, decide) in steps {
        let before = store.get_subscription(acc.id, sub.id).await.unwrap().unwrap();
        let change = decide(&before);
        let mut expected = before.clone();
        let holds = change.holds(&before, &counted);
        if holds {
            change.apply(&mut expected, &mut counted);
        } else {
            refusals += 1;
        }
        let applied = store.change_subscription(acc.id, sub.id, &change, CAP).await.unwrap();
        let want = if holds { Applied::Changed(expected.clone()) } else { Applied::Refused(expected.clone()) };
        assert_eq!(applied, want, "{step}");
        assert_eq!(store.get_subscription(acc.id, sub.id).await.unwrap(), Some(expected), "{step}");
    }
    assert_eq!(refusals, 3, "the repeat, the one past the threshold and the late fields are refused");
}

/// Reactivates as the route does: the domain decides from the subscription as read, the
/// store applies it.
async fn reactivate<S: SubscriptionStore>(
    store: &S,
    seen: &Subscription,
    cap: ActiveCap,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let change = lifecycle::reactivate(seen, now).expect("within the window");
    store.change_subscription(seen.account_id, seen.id, &change, cap).await
}

/// A subscription holding every kind of secret: signing secret, a previous one (after a
/// rotation), a basic-auth password and a custom header value. Returns it as stored.
pub async fn a_subscription_with_every_secret<S: AccountStore + SubscriptionStore>(store: &S) -> Subscription {
    let acc = account(store).await;
    let sub = subscription(
        acc.id,
        json!({
            "url": "https://example.com/sealed", "headers": {"X-Api-Key": "header-value-secret"},
            "authentication": {"method": "basic", "username": "svc", "password": "basic-password-secret"}
        }),
        NOW,
    );
    store.create_subscription(&sub, CAP).await.unwrap();
    store.rotate_secret(acc.id, sub.id, "whsec_cm90YXRlZC1zZWNyZXQ=", NOW.plus_days(1), NOW).await.unwrap()
}

/// Secrets written through the store read back exactly, through every read (one, the list,
/// the routes index, a patch's answer) — whatever the store does with them at rest. Returns
/// the secrets written, for the caller to look for at rest.
pub async fn subscription_secrets_round_trip<S: AccountStore + SubscriptionStore>(store: &S) -> Vec<String> {
    let sub = a_subscription_with_every_secret(store).await;
    let (acc, id) = (sub.account_id, sub.id);
    assert_eq!(store.get_subscription(acc, id).await.unwrap().as_ref(), Some(&sub));
    let listed = store.list_subscriptions(acc, SubscriptionFilter::default(), 10, 0).await.unwrap();
    assert_eq!(listed.items, vec![sub.clone()]);
    assert_eq!(store.routable_subscriptions(acc).await.unwrap(), vec![sub.clone()]);
    let patch = SubscriptionPatch {
        authentication: Some(Authentication::Bearer { token: "bearer-token-secret".into() }),
        ..Default::default()
    };
    let patched = store.update_subscription(acc, id, &patch, NOW).await.unwrap();
    assert_eq!(patched.authentication, Authentication::Bearer { token: "bearer-token-secret".into() });
    assert_eq!(
        (&patched.secret, &patched.previous_secret, &patched.headers),
        (&sub.secret, &sub.previous_secret, &sub.headers)
    );
    let (previous, _) = sub.previous_secret.clone().expect("rotated");
    vec![
        sub.secret,
        previous,
        "basic-password-secret".into(),
        "header-value-secret".into(),
        "bearer-token-secret".into(),
    ]
}

/// Through a store holding another master key, a sealed subscription does not read: an
/// error, never a wrong secret. `store` still reads it.
pub async fn sealed_secrets_do_not_open_elsewhere<S: AccountStore + SubscriptionStore>(store: &S, stranger: &S) {
    let sub = a_subscription_with_every_secret(store).await;
    assert!(stranger.get_subscription(sub.account_id, sub.id).await.is_err());
    assert_eq!(store.get_subscription(sub.account_id, sub.id).await.unwrap(), Some(sub));
}

/// A subscription written with plaintext secrets reads as it was, and the next write of it
/// (here a patch of its name) leaves it the same to every reader.
pub async fn plaintext_secrets_are_sealed_on_the_next_write<S: SubscriptionStore>(store: &S, written: &Subscription) {
    let (acc, id) = (written.account_id, written.id);
    assert_eq!(store.get_subscription(acc, id).await.unwrap().as_ref(), Some(written));
    let patch = SubscriptionPatch { name: Some("Renamed".into()), ..Default::default() };
    let patched = store.update_subscription(acc, id, &patch, NOW).await.unwrap();
    let mut expected = written.clone();
    patch.apply(&mut expected, NOW);
    assert_eq!(patched, expected);
    assert_eq!(store.get_subscription(acc, id).await.unwrap(), Some(expected));
}
