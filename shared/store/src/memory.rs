//! The in-memory adapter: the embedded store of `hookpost-local` and of handler tests. One
//! mutex makes every operation atomic, which is what the DynamoDB adapter's conditions and
//! transactions give the other adapter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use hookpost_domain::delivery::order::FifoHead;
use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::erasure::Removed;
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, FailureChange, FailureQuery, FailureStatus, RetriggerOutcome};
use hookpost_domain::subscription::{Subscription, SubscriptionChange, SubscriptionFilter, SubscriptionPatch};
use hookpost_domain::token::{Token, TokenKind};
use hookpost_domain::usage::Usage;
use hookpost_domain::{Account, AccountId, Channel, ChannelId, FailureId, Plan, SubscriptionId, Timestamp, TokenId};

use crate::{
    page_of, AccountStore, ActiveCap, Applied, AttemptStore, ErasureStore, EventStore, FailureStore, Page,
    RateLimitStore, StoreError, SubscriptionStore, TokenStore, UsageStore,
};

/// Rate counters kept before stale ones are swept.
const RATE_COUNTERS_BEFORE_SWEEP: usize = 4096;

#[derive(Default)]
struct State {
    accounts: HashMap<AccountId, AccountRow>,
    channels: HashMap<(AccountId, ChannelId), Channel>,
    tokens: HashMap<String, Token>,
    token_hashes: HashMap<(AccountId, TokenId), String>,
    subscriptions: BTreeMap<(AccountId, SubscriptionId), Subscription>,
    rate_counters: HashMap<(AccountId, String), (u64, Timestamp)>,
    /// Usage by account and hour, oldest first within an account.
    usage: BTreeMap<(AccountId, Timestamp), Usage>,
    events: HashMap<(AccountId, String), Event>,
    /// The catalogue, by name.
    event_types: BTreeMap<String, hookpost_domain::event_type::EventType>,
    failures: BTreeMap<(AccountId, FailureId), Failure>,
    /// Keyed so that a reverse range walk is newest first: (account, subscription, time,
    /// the attempt's own log key).
    attempts: BTreeMap<(AccountId, SubscriptionId, Timestamp, AttemptKey), Attempt>,
    /// Per subscription, the events counted in `consecutive_failures` (see
    /// `lifecycle::count_exhausted`); cleared with the counter.
    exhausted_events: HashMap<(AccountId, SubscriptionId), BTreeSet<String>>,
    /// Each subscription's delivery rate limiter: its `tat` (`hookpost_domain::pacing`).
    pacing: HashMap<(AccountId, SubscriptionId), i64>,
    /// Where each FIFO group's head stands, by account and group name.
    fifo_heads: HashMap<(AccountId, String), FifoHead>,
    /// What expires when, as DynamoDB's TTL would remove it: events and attempts, earliest
    /// first (with a sequence number, so two at the same second both stay listed).
    expiring: BTreeMap<(Timestamp, u64), Expiring>,
    next_expiring: u64,
}

enum Expiring {
    Event((AccountId, String)),
    Attempt((AccountId, SubscriptionId, Timestamp, AttemptKey)),
    /// A resolved failure record, kept 90 days as DynamoDB's TTL keeps it.
    ResolvedFailure((AccountId, FailureId)),
    /// A FIFO group's head, unless a newer one replaced it (the due time tells).
    FifoHead((AccountId, String), Timestamp),
}

struct AccountRow {
    account: Account,
    active_subscriptions: u32,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Notes that `item` expires at `at`, and removes what expired before `now`: the store
    /// has no clock of its own, so the time is the writing operation's. Without it a
    /// long-running hookpost-local keeps every attempt and event ever made.
    fn expire(&mut self, item: Expiring, at: Timestamp, now: Timestamp) {
        self.expire_later(item, at);
        while let Some(entry) = self.expiring.first_entry() {
            // Strictly past, as DynamoDB's TTL: an item is never gone before its time.
            if entry.key().0 >= now {
                break;
            }
            match entry.remove() {
                Expiring::Event(key) => {
                    self.events.remove(&key);
                }
                Expiring::Attempt(key) => {
                    self.attempts.remove(&key);
                }
                Expiring::FifoHead(key, due) => {
                    if self.fifo_heads.get(&key).is_some_and(|head| head.due == due) {
                        self.fifo_heads.remove(&key);
                    }
                }
                Expiring::ResolvedFailure(key) => {
                    // Resolved is final, but the check keeps the rule plain: only a resolved one goes.
                    if self.failures.get(&key).is_some_and(|f| f.status == FailureStatus::Resolved) {
                        self.failures.remove(&key);
                    }
                }
            }
        }
    }

    /// Notes that `item` expires at `at`, for the next write that knows the time to remove.
    fn expire_later(&mut self, item: Expiring, at: Timestamp) {
        self.next_expiring += 1;
        let seq = self.next_expiring;
        self.expiring.insert((at, seq), item);
    }

    fn account_mut(&mut self, id: AccountId) -> Result<&mut AccountRow, StoreError> {
        self.accounts.get_mut(&id).ok_or(StoreError::NotFound)
    }
}

mod account;
mod attempt;
mod catalogue;
mod erasure;
mod event;
mod failure;
mod order;
mod pacing;
mod subscription;
mod token;
mod usage;

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    #[tokio::test]
    async fn erasure_leaves_nothing_of_the_account_in_any_map() {
        let store = MemoryStore::new();
        let erased = crate::contract::erasure_removes_everything_an_account_owns(&store).await;
        let state = store.lock();
        assert!(!state.accounts.contains_key(&erased));
        assert!(!state.tokens.values().any(|t| t.account_id == erased));
        assert!(!state.token_hashes.keys().any(|(a, _)| *a == erased));
        assert!(!state.channels.keys().any(|(a, _)| *a == erased));
        assert!(!state.subscriptions.keys().any(|(a, _)| *a == erased));
        assert!(!state.rate_counters.keys().any(|(a, _)| *a == erased));
        assert!(!state.usage.keys().any(|(a, _)| *a == erased));
        assert!(!state.events.keys().any(|(a, _)| *a == erased));
        assert!(!state.failures.keys().any(|(a, _)| *a == erased));
        assert!(!state.attempts.keys().any(|(a, ..)| *a == erased));
        assert!(!state.exhausted_events.keys().any(|(a, _)| *a == erased));
        assert!(!state.tokens.is_empty(), "the bystander's are still there");
    }

    fn event(account: AccountId, id: &str, at: Timestamp) -> Event {
        Event {
            account_id: account,
            event_id: id.to_owned(),
            event_type: "call.ended".into(),
            channel_id: None,
            data: "{}".into(),
            created_at: at,
            subscriptions: 1,
            fanned_out: false,
        }
    }

    fn attempt(account: AccountId, sub: SubscriptionId, at: Timestamp, nanos: u64) -> Attempt {
        Attempt {
            account_id: account,
            subscription_id: sub,
            event_id: format!("evt_{nanos}"),
            event_type: "call.ended".into(),
            attempt: 1,
            status_code: Some(204),
            reason: None,
            duration_ms: 3,
            response_excerpt: None,
            test: false,
            attempted_at: at,
            log_key: AttemptKey { nanos, nonce: 1 },
        }
    }

    /// DynamoDB's TTL removes events and attempts once their retention ends; the memory
    /// store does too, so a long-running hookpost-local does not keep everything.
    #[tokio::test]
    async fn events_and_attempts_leave_when_their_retention_ends() {
        let store = MemoryStore::new();
        let acc = AccountId::new();
        let owner = Account { id: acc, name: "Acme".into(), plan: Plan::Pro, created_at: T };
        store.create_account(&owner).await.unwrap();
        let input = hookpost_domain::subscription::parse_new_subscription(
            serde_json::json!({"url": "https://example.com/hook"}),
            &hookpost_domain::DestinationPolicy::default(),
        )
        .unwrap();
        let created = Subscription::create(acc, input, None, None, T);
        store.create_subscription(&created, crate::ActiveCap(1)).await.unwrap();
        let sub = created.id;
        store.put_event(&event(acc, "evt_old", T), T.plus_days(1)).await.unwrap();
        store.record_attempt(&attempt(acc, sub, T, 1), T.plus_days(1)).await.unwrap();
        let later = T.plus_days(1).plus_seconds(-1);
        store.record_attempt(&attempt(acc, sub, later, 2), later.plus_days(1)).await.unwrap();
        assert!(store.get_event(acc, "evt_old").await.unwrap().is_some(), "not yet");
        assert_eq!(store.list_attempts(acc, sub, 10, 0).await.unwrap().total, 2);

        let next_day = T.plus_days(1).plus_seconds(1);
        store.put_event(&event(acc, "evt_new", next_day), next_day.plus_days(1)).await.unwrap();
        assert!(store.get_event(acc, "evt_old").await.unwrap().is_none(), "the old event expired");
        let left = store.list_attempts(acc, sub, 10, 0).await.unwrap();
        assert_eq!(left.items.iter().map(|a| a.event_id.as_str()).collect::<Vec<_>>(), ["evt_2"]);
        assert!(store.get_event(acc, "evt_new").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_resolved_failure_record_leaves_after_90_days_and_an_inactive_one_stays() {
        let store = MemoryStore::new();
        let acc = AccountId::new();
        let record = |event: &str| {
            Failure::inactive(
                acc,
                event,
                "call.ended",
                SubscriptionId::new(),
                "CRM",
                hookpost_domain::Reason::Timeout,
                T,
                T,
            )
        };
        let (resolved, kept) = (record("evt_resolved"), record("evt_kept"));
        for f in [&resolved, &kept] {
            store.put_failure(f).await.unwrap();
        }
        store.retrigger_failure(acc, resolved.id, T).await.unwrap();
        store.settle_failure(acc, resolved.id, &RetriggerOutcome::Delivered, T).await.unwrap();
        // Writes carry the store's notion of now: one just before, one just after 90 days.
        let almost = T.plus_days(90).plus_seconds(-1);
        store.put_event(&event(acc, "evt_a", almost), almost.plus_days(1)).await.unwrap();
        assert!(store.get_failure(acc, resolved.id).await.unwrap().is_some(), "not yet");
        let past = T.plus_days(90).plus_seconds(1);
        store.put_event(&event(acc, "evt_b", past), past.plus_days(1)).await.unwrap();
        assert!(store.get_failure(acc, resolved.id).await.unwrap().is_none(), "resolved 90 days ago");
        assert!(store.get_failure(acc, kept.id).await.unwrap().is_some(), "inactive records stay");
    }
}
