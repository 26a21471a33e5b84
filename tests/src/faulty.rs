//! A store and a queue that refuse chosen calls the way a throttled DynamoDB or an
//! unreachable SQS does, so tests can prove what happens to an event when they do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hookpost_delivery::{Queue, QueueError};
use hookpost_domain::delivery::{Attempt, DeliveryTask};
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, FailureQuery, RetriggerOutcome};
use hookpost_domain::subscription::{Subscription, SubscriptionChange, SubscriptionFilter, SubscriptionPatch};
use hookpost_domain::token::Token;
use hookpost_domain::usage::Usage;
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, FailureId, Plan, Reason, SubscriptionId, Timestamp, TokenId,
};
use hookpost_store::{
    AccountStore, ActiveCap, Applied, AttemptStore, EventStore, Exhausted, FailureStore, Page, RateLimitStore, Store,
    StoreError, SubscriptionStore, TokenStore, UsageStore,
};

/// How many more times each operation is refused.
#[derive(Default)]
struct Faults(Mutex<HashMap<&'static str, u32>>);

impl Faults {
    fn set(&self, operation: &'static str, times: u32) {
        self.0.lock().expect("faults").insert(operation, times);
    }

    /// Whether this call of `operation` is refused (counting it down).
    fn take(&self, operation: &str) -> bool {
        let mut faults = self.0.lock().expect("faults");
        match faults.get_mut(operation) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }
}

/// A store that answers as `inner` does, except for the calls told to fail: those are
/// refused with `StoreError::Unavailable`, as DynamoDB's throttling arrives.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, faults: Faults::default() }
    }

    /// Refuses the next `times` calls of `operation` (a `Store` method's name).
    pub fn fail(&self, operation: &'static str, times: u32) {
        self.faults.set(operation, times);
    }

    fn check(&self, operation: &str) -> Result<(), StoreError> {
        if self.faults.take(operation) {
            return Err(StoreError::Unavailable(format!("{operation}: throttled by the test")));
        }
        Ok(())
    }
}

/// Implements a store trait for [`FaultyStore`] by checking for a fault, then delegating.
macro_rules! faulty {
    ($trait:ident { $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for FaultyStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    self.check(stringify!($name))?;
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
}

faulty!(AccountStore {
    fn create_account(account: &Account) -> ();
    fn get_account(id: AccountId) -> Option<Account>;
    fn update_account(id: AccountId, name: Option<String>, plan: Option<Plan>) -> Account;
    fn create_channel(channel: &Channel) -> ();
    fn get_channel(account: AccountId, channel_id: &ChannelId) -> Option<Channel>;
});

faulty!(TokenStore {
    fn put_token(token: &Token) -> ();
    fn get_token_by_hash(token_hash: &str) -> Option<Token>;
    fn revoke_token(account: AccountId, id: TokenId) -> ();
    fn redeem_portal_link(link_hash: &str, session: &Token, now: Timestamp) -> ();
});

faulty!(SubscriptionStore {
    fn create_subscription(sub: &Subscription, cap: ActiveCap) -> ();
    fn get_subscription(account: AccountId, id: SubscriptionId) -> Option<Subscription>;
    fn list_subscriptions(account: AccountId, filter: SubscriptionFilter, limit: u32, offset: u32) -> Page<Subscription>;
    fn update_subscription(account: AccountId, id: SubscriptionId, patch: &SubscriptionPatch, now: Timestamp) -> Subscription;
    fn delete_subscription(account: AccountId, id: SubscriptionId, now: Timestamp) -> ();
    fn rotate_secret(account: AccountId, id: SubscriptionId, new_secret: &str, previous_until: Timestamp, now: Timestamp) -> Subscription;
    fn change_subscription(account: AccountId, id: SubscriptionId, change: &SubscriptionChange, cap: ActiveCap) -> Applied;
    fn routable_subscriptions(account: AccountId) -> Vec<Subscription>;
    fn record_delivery(account: AccountId, subscription: SubscriptionId, at: Timestamp, error: Option<&Reason>) -> ();
    fn record_exhausted(account: AccountId, subscription: SubscriptionId, event_id: &str, reason: &Reason, at: Timestamp, disable_after: u32) -> Exhausted;
});

faulty!(RateLimitStore {
    fn hit_rate_counter(account: AccountId, key: &str, expires_at: Timestamp) -> u64;
});

faulty!(EventStore {
    fn put_event(event: &Event, expires_at: Timestamp) -> Option<Event>;
    fn mark_fanned_out(account: AccountId, event_id: &str) -> ();
    fn get_event(account: AccountId, event_id: &str) -> Option<Event>;
});

faulty!(FailureStore {
    fn put_failure(failure: &Failure) -> ();
    fn get_failure(account: AccountId, id: FailureId) -> Option<Failure>;
    fn list_failures(account: AccountId) -> Vec<Failure>;
    fn query_failures(account: AccountId, query: &FailureQuery) -> Page<Failure>;
    fn retrigger_failure(account: AccountId, id: FailureId, now: Timestamp) -> Failure;
    fn settle_failure(account: AccountId, id: FailureId, outcome: &RetriggerOutcome, now: Timestamp) -> Option<Failure>;
    fn stuck_pending_failures(before: Timestamp, limit: u32) -> Vec<Failure>;
});

faulty!(AttemptStore {
    fn record_attempt(attempt: &Attempt, expires_at: Timestamp) -> ();
    fn list_attempts(account: AccountId, subscription: SubscriptionId, limit: u32, offset: u32) -> Page<Attempt>;
});

faulty!(UsageStore {
    fn add_usage(account: AccountId, hour: Timestamp, usage: &Usage, expires_at: Timestamp) -> ();
    fn usage_between(account: AccountId, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Usage)>;
});

/// A queue that sends to `inner`, except for the sends told to fail.
pub struct FaultyQueue {
    inner: Arc<dyn Queue>,
    refusals: Faults,
}

impl FaultyQueue {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        Self { inner, refusals: Faults::default() }
    }

    /// Refuses the next `times` sends (one fan-out is one send).
    pub fn refuse(&self, times: u32) {
        self.refusals.set("send", times);
    }

    fn check(&self) -> Result<(), QueueError> {
        if self.refusals.take("send") {
            return Err(QueueError::request(std::io::Error::other("unreachable, said the test")));
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError> {
        self.check()?;
        self.inner.enqueue(task, delay).await
    }

    async fn enqueue_all(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<(), QueueError> {
        self.check()?;
        self.inner.enqueue_all(tasks, delay).await
    }
}
