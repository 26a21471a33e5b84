//! The in-memory adapter: the embedded store of `hookpost-local` and of handler tests. One
//! mutex makes every operation atomic, which is what the DynamoDB adapter's conditions and
//! transactions give the other adapter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::erasure::Removed;
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, FailureQuery, FailureStatus, RetriggerOutcome};
use hookpost_domain::subscription::{DisabledReason, Subscription, SubscriptionFilter, SubscriptionPatch};
use hookpost_domain::token::{Token, TokenKind};
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, FailureId, Plan, Reason, SubscriptionId, Timestamp, TokenId,
};

use crate::{
    page_of, AccountStore, ActiveCap, AttemptStore, ErasureStore, EventStore, Exhausted, FailureStore, Page,
    RateLimitStore, StoreError, SubscriptionStore, TokenStore,
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
    events: HashMap<(AccountId, String), Event>,
    failures: BTreeMap<(AccountId, FailureId), Failure>,
    /// Keyed so that a reverse range walk is newest first: (account, subscription, time,
    /// the attempt's own log key).
    attempts: BTreeMap<(AccountId, SubscriptionId, Timestamp, AttemptKey), Attempt>,
    /// Per subscription, the events counted in `consecutive_failures` (see
    /// `DeliveryStore::record_exhausted`); cleared with the counter.
    exhausted_events: HashMap<(AccountId, SubscriptionId), HashSet<String>>,
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
        self.next_expiring += 1;
        let seq = self.next_expiring;
        self.expiring.insert((at, seq), item);
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
                Expiring::ResolvedFailure(key) => {
                    // Resolved is final, but the check keeps the rule plain: only a resolved one goes.
                    if self.failures.get(&key).is_some_and(|f| f.status == FailureStatus::Resolved) {
                        self.failures.remove(&key);
                    }
                }
            }
        }
    }

    fn account_mut(&mut self, id: AccountId) -> Result<&mut AccountRow, StoreError> {
        self.accounts.get_mut(&id).ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.accounts.contains_key(&account.id) {
            return Err(StoreError::AlreadyExists);
        }
        state.accounts.insert(account.id, AccountRow { account: account.clone(), active_subscriptions: 0 });
        Ok(())
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(self.lock().accounts.get(&id).map(|row| row.account.clone()))
    }

    async fn update_account(
        &self,
        id: AccountId,
        name: Option<String>,
        plan: Option<Plan>,
    ) -> Result<Account, StoreError> {
        let mut state = self.lock();
        let row = state.account_mut(id)?;
        if let Some(name) = name {
            row.account.name = name;
        }
        if let Some(plan) = plan {
            row.account.plan = plan;
        }
        Ok(row.account.clone())
    }

    async fn create_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (channel.account_id, channel.channel_id.clone());
        if state.channels.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        state.channels.insert(key, channel.clone());
        Ok(())
    }

    async fn get_channel(&self, account: AccountId, channel_id: &ChannelId) -> Result<Option<Channel>, StoreError> {
        Ok(self.lock().channels.get(&(account, channel_id.clone())).cloned())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.tokens.contains_key(&token.token_hash) {
            return Err(StoreError::AlreadyExists);
        }
        state.token_hashes.insert((token.account_id, token.id), token.token_hash.clone());
        state.tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.lock().tokens.get(token_hash).cloned())
    }

    async fn revoke_token(&self, account: AccountId, id: TokenId) -> Result<(), StoreError> {
        let mut state = self.lock();
        let hash = state.token_hashes.get(&(account, id)).cloned().ok_or(StoreError::NotFound)?;
        let token = state.tokens.get_mut(&hash).ok_or(StoreError::NotFound)?;
        token.revoked = true;
        Ok(())
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn create_subscription(&self, sub: &Subscription, cap: ActiveCap) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (sub.account_id, sub.id);
        if state.subscriptions.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        let row = state.account_mut(sub.account_id)?;
        if row.active_subscriptions >= cap.0 {
            return Err(StoreError::LimitReached);
        }
        row.active_subscriptions += 1;
        state.subscriptions.insert(key, sub.clone());
        Ok(())
    }

    async fn get_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        Ok(self.lock().subscriptions.get(&(account, id)).cloned())
    }

    async fn list_subscriptions(
        &self,
        account: AccountId,
        filter: SubscriptionFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Subscription>, StoreError> {
        let state = self.lock();
        let matching: Vec<Subscription> = state
            .subscriptions
            .range((account, SubscriptionId::MIN)..=(account, SubscriptionId::MAX))
            .rev()
            .map(|(_, sub)| sub)
            .filter(|sub| filter.matches(sub))
            .cloned()
            .collect();
        Ok(page_of(matching, limit, offset))
    }

    async fn update_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        patch: &SubscriptionPatch,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        patch.clone().apply(sub, now);
        Ok(sub.clone())
    }

    async fn rotate_secret(
        &self,
        account: AccountId,
        id: SubscriptionId,
        new_secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        let old = std::mem::replace(&mut sub.secret, new_secret.to_owned());
        sub.previous_secret = Some((old, previous_until));
        sub.updated_at = now;
        Ok(sub.clone())
    }

    async fn delete_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        if sub.disabled_reason == Some(DisabledReason::Deleted) {
            return Ok(());
        }
        let was_active = sub.is_active;
        sub.is_active = false;
        sub.disabled_reason = Some(DisabledReason::Deleted);
        sub.disabled_at = Some(now);
        sub.updated_at = now;
        if was_active {
            let row = state.account_mut(account)?;
            row.active_subscriptions = row.active_subscriptions.saturating_sub(1);
        }
        Ok(())
    }

    async fn reactivate_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        seen_disabled_at: Option<Timestamp>,
        cap: ActiveCap,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get(&(account, id)).ok_or(StoreError::NotFound)?;
        if sub.is_active || sub.disabled_at != seen_disabled_at {
            return Err(StoreError::Conflict);
        }
        let row = state.account_mut(account)?;
        if row.active_subscriptions >= cap.0 {
            return Err(StoreError::LimitReached);
        }
        row.active_subscriptions += 1;
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        sub.is_active = true;
        sub.disabled_reason = None;
        sub.disabled_at = None;
        sub.consecutive_failures = 0;
        sub.updated_at = now;
        let sub = sub.clone();
        state.exhausted_events.remove(&(account, id));
        Ok(sub)
    }

    async fn routable_subscriptions(&self, account: AccountId) -> Result<Vec<Subscription>, StoreError> {
        let state = self.lock();
        Ok(state
            .subscriptions
            .range((account, SubscriptionId::MIN)..=(account, SubscriptionId::MAX))
            .map(|(_, sub)| sub)
            .filter(|sub| sub.disabled_reason != Some(DisabledReason::Deleted))
            .cloned()
            .collect())
    }

    async fn record_delivery(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        at: Timestamp,
        error: Option<&Reason>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, subscription)).ok_or(StoreError::NotFound)?;
        if sub.last_delivery_at.is_some_and(|last| last > at) {
            return Ok(());
        }
        sub.last_delivery_at = Some(at);
        match error {
            None => {
                sub.last_success_at = Some(at);
                sub.consecutive_failures = 0;
                state.exhausted_events.remove(&(account, subscription));
            }
            Some(reason) => sub.last_error = Some(reason.to_string()),
        }
        Ok(())
    }

    async fn record_exhausted(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        event_id: &str,
        reason: &Reason,
        at: Timestamp,
        disable_after: u32,
    ) -> Result<Exhausted, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let sub = state.subscriptions.get_mut(&(account, subscription)).ok_or(StoreError::NotFound)?;
        let counted = state.exhausted_events.entry((account, subscription)).or_default();
        if sub.is_active && sub.consecutive_failures < disable_after && counted.insert(event_id.to_owned()) {
            sub.consecutive_failures += 1;
            sub.last_error = Some(reason.to_string());
            sub.last_delivery_at = Some(at);
        }
        let disabled_now = sub.is_active && sub.consecutive_failures >= disable_after;
        if disabled_now {
            sub.is_active = false;
            sub.disabled_reason = Some(DisabledReason::AutoDisabled);
            sub.disabled_at = Some(at);
            sub.updated_at = at;
        }
        let subscription = sub.clone();
        if disabled_now {
            let row = guard.account_mut(account)?;
            row.active_subscriptions = row.active_subscriptions.saturating_sub(1);
        }
        Ok(Exhausted { subscription, disabled_now })
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn hit_rate_counter(&self, account: AccountId, key: &str, expires_at: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.lock();
        if state.rate_counters.len() >= RATE_COUNTERS_BEFORE_SWEEP {
            // Counters of windows that ended before this one's started are dead weight.
            let horizon = expires_at.plus_seconds(-2 * hookpost_domain::rate_limit::WINDOW_SECS);
            state.rate_counters.retain(|_, (_, exp)| *exp >= horizon);
        }
        let entry = state.rate_counters.entry((account, key.to_owned())).or_insert((0, expires_at));
        entry.0 += 1;
        Ok(entry.0)
    }
}

#[async_trait]
impl ErasureStore for MemoryStore {
    async fn erase_account(&self, account: AccountId) -> Result<Removed, StoreError> {
        let mut state = self.lock();
        let mut removed =
            Removed { account: u64::from(state.accounts.remove(&account).is_some()), ..Removed::default() };
        let mine = |owner: &AccountId| *owner == account;
        let hashes: Vec<String> =
            state.token_hashes.iter().filter(|((owner, _), _)| mine(owner)).map(|(_, hash)| hash.clone()).collect();
        state.token_hashes.retain(|(owner, _), _| !mine(owner));
        for hash in hashes {
            match state.tokens.remove(&hash).map(|token| token.kind) {
                Some(TokenKind::Pat) => removed.tokens += 1,
                Some(TokenKind::PortalSession) => removed.portal_sessions += 1,
                None => {}
            }
        }
        removed.channels = drain_count(&mut state.channels, |(owner, _)| mine(owner));
        removed.subscriptions = drain_count_ordered(&mut state.subscriptions, |(owner, _)| mine(owner));
        removed.events = drain_count(&mut state.events, |(owner, _)| mine(owner));
        removed.failures = drain_count_ordered(&mut state.failures, |(owner, _)| mine(owner));
        removed.attempts = drain_count_ordered(&mut state.attempts, |(owner, ..)| mine(owner));
        removed.rate_limit_counters = drain_count(&mut state.rate_counters, |(owner, _)| mine(owner));
        state.exhausted_events.retain(|(owner, _), _| !mine(owner));
        Ok(removed)
    }

    async fn purge_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<Removed, StoreError> {
        // The soft delete first, as the DynamoDB adapter does: the cap is released once.
        self.delete_subscription(account, id, now).await?;
        let mut state = self.lock();
        let mut removed = Removed {
            subscriptions: u64::from(state.subscriptions.remove(&(account, id)).is_some()),
            ..Removed::default()
        };
        removed.attempts = drain_count_ordered(&mut state.attempts, |(owner, sub, ..)| *owner == account && *sub == id);
        let failures_before = state.failures.len();
        state.failures.retain(|(owner, _), failure| !(*owner == account && failure.subscription_id == id));
        removed.failures = (failures_before - state.failures.len()) as u64;
        state.exhausted_events.remove(&(account, id));
        Ok(removed)
    }
}

/// Removes the entries whose key `doomed` picks, and counts them.
fn drain_count<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, doomed: impl Fn(&K) -> bool) -> u64 {
    let before = map.len();
    map.retain(|k, _| !doomed(k));
    (before - map.len()) as u64
}

fn drain_count_ordered<K: Ord, V>(map: &mut BTreeMap<K, V>, doomed: impl Fn(&K) -> bool) -> u64 {
    let before = map.len();
    map.retain(|k, _| !doomed(k));
    (before - map.len()) as u64
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn put_event(&self, event: &Event, expires_at: Timestamp) -> Result<Option<Event>, StoreError> {
        let mut state = self.lock();
        let key = (event.account_id, event.event_id.clone());
        if let Some(existing) = state.events.get(&key) {
            return Ok(Some(existing.clone()));
        }
        state.events.insert(key.clone(), event.clone());
        state.expire(Expiring::Event(key), expires_at, event.created_at);
        Ok(None)
    }

    async fn mark_fanned_out(&self, account: AccountId, event_id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let event = state.events.get_mut(&(account, event_id.to_owned())).ok_or(StoreError::NotFound)?;
        event.fanned_out = true;
        Ok(())
    }

    async fn get_event(&self, account: AccountId, event_id: &str) -> Result<Option<Event>, StoreError> {
        Ok(self.lock().events.get(&(account, event_id.to_owned())).cloned())
    }
}

#[async_trait]
impl FailureStore for MemoryStore {
    async fn put_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        self.lock().failures.entry((failure.account_id, failure.id)).or_insert_with(|| failure.clone());
        Ok(())
    }

    async fn get_failure(&self, account: AccountId, id: FailureId) -> Result<Option<Failure>, StoreError> {
        Ok(self.lock().failures.get(&(account, id)).cloned())
    }

    async fn list_failures(&self, account: AccountId) -> Result<Vec<Failure>, StoreError> {
        let state = self.lock();
        Ok(state
            .failures
            .range((account, FailureId::MIN)..=(account, FailureId::MAX))
            .rev()
            .map(|(_, f)| f.clone())
            .collect())
    }

    async fn query_failures(&self, account: AccountId, query: &FailureQuery) -> Result<Page<Failure>, StoreError> {
        let state = self.lock();
        let (low, high) = query.id_range();
        let selected: Vec<Failure> = state
            .failures
            .range((account, low)..=(account, high))
            .rev()
            .map(|(_, f)| f)
            .filter(|f| query.matches(f))
            .cloned()
            .collect();
        Ok(page_of(selected, query.limit, query.offset))
    }

    async fn retrigger_failure(
        &self,
        account: AccountId,
        id: FailureId,
        now: Timestamp,
    ) -> Result<Failure, StoreError> {
        let mut state = self.lock();
        let failure = state.failures.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        failure.status = failure.status.retrigger().map_err(|_| StoreError::Conflict)?;
        failure.reason = None;
        failure.last_attempt_at = now;
        failure.updated_at = now;
        Ok(failure.clone())
    }

    async fn settle_failure(
        &self,
        account: AccountId,
        id: FailureId,
        outcome: &RetriggerOutcome,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError> {
        let mut state = self.lock();
        let Some(failure) = state.failures.get_mut(&(account, id)) else {
            return Ok(None);
        };
        let Ok(next) = failure.status.settle(outcome) else {
            return Ok(None);
        };
        failure.status = next;
        failure.reason = match outcome {
            RetriggerOutcome::Delivered => None,
            RetriggerOutcome::Failed(reason) => Some(reason.clone()),
        };
        failure.updated_at = now;
        let settled = failure.clone();
        if settled.status == FailureStatus::Resolved {
            let expires_at = now.plus_days(hookpost_domain::failure::RESOLVED_RETENTION_DAYS);
            state.expire(Expiring::ResolvedFailure((account, id)), expires_at, now);
        }
        Ok(Some(settled))
    }

    async fn stuck_pending_failures(&self, before: Timestamp, limit: u32) -> Result<Vec<Failure>, StoreError> {
        let state = self.lock();
        Ok(state
            .failures
            .values()
            .filter(|f| f.status == FailureStatus::Pending && f.updated_at < before)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AttemptStore for MemoryStore {
    async fn record_attempt(&self, attempt: &Attempt, expires_at: Timestamp) -> Result<(), StoreError> {
        let key = (attempt.account_id, attempt.subscription_id, attempt.attempted_at, attempt.log_key);
        let mut state = self.lock();
        state.attempts.insert(key, attempt.clone());
        state.expire(Expiring::Attempt(key), expires_at, attempt.attempted_at);
        Ok(())
    }

    async fn list_attempts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Attempt>, StoreError> {
        let state = self.lock();
        let low = (account, subscription, Timestamp::from_unix(i64::MIN), AttemptKey { nanos: 0, nonce: 0 });
        let high =
            (account, subscription, Timestamp::from_unix(i64::MAX), AttemptKey { nanos: u64::MAX, nonce: u32::MAX });
        let newest_first: Vec<Attempt> = state.attempts.range(low..=high).rev().map(|(_, a)| a.clone()).collect();
        Ok(page_of(newest_first, limit, offset))
    }
}

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
        let (acc, sub) = (AccountId::new(), SubscriptionId::new());
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
            Failure::inactive(acc, event, "call.ended", SubscriptionId::new(), "CRM", Reason::Timeout, T, T)
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
