//! The Store port: narrow traits per concern joined by [`Store`], an in-memory adapter and a
//! DynamoDB single-table adapter, and the contract suite both must pass.
//!
//! Anything that must not race (the active-subscription cap, soft delete, reactivation) is
//! settled inside the store by a conditional write or a transaction, never by the caller
//! reading first and writing after.

use async_trait::async_trait;
use hookpost_domain::delivery::order::FifoHead;
use hookpost_domain::delivery::Attempt;
use hookpost_domain::erasure::Removed;
use hookpost_domain::event::Event;
use hookpost_domain::event_type::{EventType, EventTypeInput};
use hookpost_domain::failure::{Failure, FailureQuery, RetriggerOutcome};
use hookpost_domain::pacing::Pacing;
use hookpost_domain::subscription::{
    lifecycle, Subscription, SubscriptionChange, SubscriptionFilter, SubscriptionPatch,
};
use hookpost_domain::token::Token;
use hookpost_domain::usage::Usage;
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, FailureId, Plan, Reason, SubscriptionId, Timestamp, TokenId,
};

pub mod aws;
pub mod contract;
pub mod dynamo;
pub mod keys;
pub mod memory;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("active subscription limit reached")]
    LimitReached,
    /// A conditional write found the item in another state than the caller expected.
    #[error("state changed concurrently")]
    Conflict,
    /// The backend failed; the text is for logs only.
    #[error("store backend: {0}")]
    Backend(String),
    /// The backend cannot take the call now (throttled, timed out, unreachable): trying
    /// again shortly may work. The text is for logs only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for hookpost_domain::ApiError {
    /// The fallback mapping: handlers translate the expected outcomes themselves and let
    /// only backend failures through here, which clients see as a bare 500.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "store unavailable");
                hookpost_domain::ApiError::Unavailable
            }
            _ => {
                tracing::error!(error = %err, "store error");
                hookpost_domain::ApiError::Internal
            }
        }
    }
}

/// One page of a list, and how many rows match in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// What the account's active-subscription cap allows, passed in by the caller's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveCap(pub u32);

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// Changes name and/or plan; `NotFound` for an unknown account.
    async fn update_account(
        &self,
        id: AccountId,
        name: Option<String>,
        plan: Option<Plan>,
    ) -> Result<Account, StoreError>;
    /// `AlreadyExists` when the account has that channel id already; `NotFound` when the
    /// account does not exist (or is being erased) — decided with the write, so a create
    /// racing an erasure leaves nothing behind.
    async fn create_channel(&self, channel: &Channel) -> Result<(), StoreError>;
    async fn get_channel(&self, account: AccountId, channel_id: &ChannelId) -> Result<Option<Channel>, StoreError>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// `NotFound` when the token's account does not exist (or is being erased), decided with
    /// the write; `AlreadyExists` when a token has its hash.
    async fn put_token(&self, token: &Token) -> Result<(), StoreError>;
    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<Token>, StoreError>;
    /// `NotFound` unless the token belongs to the account. Revoking twice is fine.
    async fn revoke_token(&self, account: AccountId, id: TokenId) -> Result<(), StoreError>;
    /// Replaces the portal link stored under `link_hash` with `session` (the link's
    /// [`Token::redeem_link`]), atomically: the link is gone, the session stands under the
    /// same id. `NotFound` — and nothing written — unless the link is still there, a link,
    /// unrevoked and unexpired at `now`, and its account exists: of two opens racing, one wins.
    async fn redeem_portal_link(&self, link_hash: &str, session: &Token, now: Timestamp) -> Result<(), StoreError>;
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Inserts an active subscription, counting it against the cap atomically:
    /// `LimitReached` when the account already has `cap` active ones, `NotFound` when the
    /// account does not exist.
    async fn create_subscription(&self, sub: &Subscription, cap: ActiveCap) -> Result<(), StoreError>;
    async fn get_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;
    /// Newest first; `total` counts every row matching the filter.
    async fn list_subscriptions(
        &self,
        account: AccountId,
        filter: SubscriptionFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Subscription>, StoreError>;
    /// Applies a PATCH to the settings fields only, leaving delivery counters alone.
    async fn update_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        patch: &SubscriptionPatch,
        now: Timestamp,
    ) -> Result<Subscription, StoreError>;
    /// Replaces the signing secret; the old one keeps signing until `previous_until`.
    /// `NotFound` when it does not exist.
    async fn rotate_secret(
        &self,
        account: AccountId,
        id: SubscriptionId,
        new_secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> Result<Subscription, StoreError>;
    /// Applies a transition the domain decided (`hookpost_domain::subscription` lifecycle),
    /// in one atomic write with its requirements and with the account's active count when
    /// it moves: `Changed` with the subscription after it, or `Refused` with the subscription
    /// as it is when a requirement does not hold. `NotFound` when it does not exist,
    /// `LimitReached` when it would become active past `cap`. The only way a subscription's
    /// state or delivery fields change, so both stores follow the same rules.
    async fn change_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        change: &SubscriptionChange,
        cap: ActiveCap,
    ) -> Result<Applied, StoreError>;
    /// The subscriptions that still take events: active and auto-disabled, never deleted.
    /// Its cost does not grow with the number of deleted subscriptions.
    async fn routable_subscriptions(&self, account: AccountId) -> Result<Vec<Subscription>, StoreError>;

    /// Soft delete: deleted (takes no events); an active one leaves the cap. Deleting a
    /// deleted subscription changes nothing. `NotFound` when it does not exist.
    async fn delete_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // The change requires the state just read; a concurrent auto-disable or
        // reactivation in between refuses it, and we read again.
        for _ in 0..5 {
            let sub = self.get_subscription(account, id).await?.ok_or(StoreError::NotFound)?;
            let Some(change) = lifecycle::delete(&sub, now) else {
                return Ok(());
            };
            if let Applied::Changed(_) = self.change_subscription(account, id, &change, ActiveCap(u32::MAX)).await? {
                return Ok(());
            }
        }
        Err(StoreError::Conflict)
    }

    /// After an attempt, its delivery fields (`lifecycle::record_attempt`); nothing changes
    /// when a later attempt's fields are there already. `NotFound` if it is gone.
    async fn record_delivery(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        at: Timestamp,
        error: Option<&Reason>,
    ) -> Result<(), StoreError> {
        let change = lifecycle::record_attempt(at, error);
        self.change_subscription(account, subscription, &change, ActiveCap(u32::MAX)).await.map(|_| ())
    }

    /// Event `event_id`'s whole retry cycle failed: it counts one consecutive failure
    /// (`lifecycle::count_exhausted`: once per event, only while active, never past
    /// `disable_after`), and at `disable_after` the subscription is auto-disabled — each an
    /// atomic write, so concurrent workers neither lose an increment nor disable twice. A
    /// repeat after a disable that did not happen (the store failed in between) completes it.
    async fn record_exhausted(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        event_id: &str,
        reason: &Reason,
        at: Timestamp,
        disable_after: u32,
    ) -> Result<Exhausted, StoreError> {
        let count = lifecycle::count_exhausted(event_id, reason, at, disable_after);
        let (Applied::Changed(sub) | Applied::Refused(sub)) =
            self.change_subscription(account, subscription, &count, ActiveCap(u32::MAX)).await?;
        let Some(disable) = lifecycle::auto_disable_due(&sub, disable_after, at) else {
            return Ok(Exhausted { subscription: sub, disabled_now: false });
        };
        Ok(match self.change_subscription(account, subscription, &disable, ActiveCap(u32::MAX)).await? {
            Applied::Changed(subscription) => Exhausted { subscription, disabled_now: true },
            Applied::Refused(subscription) => Exhausted { subscription, disabled_now: false },
        })
    }
}

/// What became of a [`SubscriptionChange`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied: the subscription after it.
    Changed(Subscription),
    /// A requirement did not hold: the subscription as it is, unchanged.
    Refused(Subscription),
}

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Adds one to the account's counter `key` and returns the new count. The counter may be
    /// forgotten after `expires_at`.
    async fn hit_rate_counter(&self, account: AccountId, key: &str, expires_at: Timestamp) -> Result<u64, StoreError>;
}

/// Each subscription's rate limit (SPEC §10): one shared limiter per subscription, the
/// `tat` of `hookpost_domain::pacing`, taken from by every worker of every process.
#[async_trait]
pub trait PacingStore: Send + Sync {
    /// Takes `n` cells of the subscription's limiter at `now_us`, in one atomic step
    /// (`tat := max(tat, now) + n × interval`): the start of each, earliest first. With
    /// `max_wait_us`, only as many as start within it (possibly none: then nothing changes).
    async fn reserve_starts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        pacing: Pacing,
        now_us: i64,
        n: u32,
        max_wait_us: Option<i64>,
    ) -> Result<Vec<i64>, StoreError>;
}

/// Where each FIFO group's head stands while it waits in the queue (SPEC §10,
/// `hookpost_domain::delivery::order`).
#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn put_fifo_head(&self, account: AccountId, group: &str, head: &FifoHead) -> Result<(), StoreError>;
    async fn get_fifo_head(&self, account: AccountId, group: &str) -> Result<Option<FifoHead>, StoreError>;
}

/// Usage per account and hour: counters added to once per publish request and once per
/// delivery batch (`hookpost_domain::usage`).
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds `usage` to the account's counter of `hour` (an hour's start), kept until
    /// `expires_at`. Additions, not writes: two at once both count. `NotFound` when the
    /// account is gone: an erasure that ran while the usage was counted leaves no counter
    /// behind (erasure deletes the account before its last pass over the counters, so an
    /// addition after this check is found by that pass).
    async fn add_usage(
        &self,
        account: AccountId,
        hour: Timestamp,
        usage: &Usage,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The account's counters of the hours starting in [`from`, `to`), oldest first.
    async fn usage_between(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, Usage)>, StoreError>;
}

/// Erasure on request: a customer's right to be forgotten, without manual queries.
///
/// Both are resumable: they remove what stops new work first (the account, its tokens, the
/// subscription) and the history after, so a call cut short by a timeout or a crash is
/// finished by the next one. What a call answers is what that call removed.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Removes the account and everything it owns: tokens and portal sessions, channels,
    /// subscriptions, events, attempts, failure records, rate-limit counters (the API's and
    /// each subscription's delivery limiter) and FIFO heads. Deliveries
    /// still queued for it find no subscription and stop. Zeros when nothing is left.
    async fn erase_account(&self, account: AccountId) -> Result<Removed, StoreError>;
    /// Deletes the subscription (leaving the active cap, as a soft delete does), then
    /// removes its attempts, its failure records, its delivery limiter and FIFO heads, and
    /// the subscription itself: afterwards it is not found. `NotFound` when there is no such subscription (or it is purged already).
    async fn purge_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<Removed, StoreError>;
}

/// What recording an exhausted event did to its subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exhausted {
    /// The subscription after the change.
    pub subscription: Subscription,
    /// Whether this very call auto-disabled it (exactly one caller sees `true`).
    pub disabled_now: bool,
}

/// Published events, kept for their retention (a TTL).
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores a new event (with a TTL). When the account has an event with that id already,
    /// stores nothing and returns the existing one.
    async fn put_event(&self, event: &Event, expires_at: Timestamp) -> Result<Option<Event>, StoreError>;
    /// Notes that every delivery of the event is enqueued.
    async fn mark_fanned_out(&self, account: AccountId, event_id: &str) -> Result<(), StoreError>;
    async fn get_event(&self, account: AccountId, event_id: &str) -> Result<Option<Event>, StoreError>;
}

/// Failure records and their state machine (inactive → pending → resolved | inactive).
#[async_trait]
pub trait FailureStore: Send + Sync {
    /// Inserts a failure record; a record with the same id already there stays as it is.
    async fn put_failure(&self, failure: &Failure) -> Result<(), StoreError>;
    async fn get_failure(&self, account: AccountId, id: FailureId) -> Result<Option<Failure>, StoreError>;
    /// Every failure record of the account, newest first.
    async fn list_failures(&self, account: AccountId) -> Result<Vec<Failure>, StoreError>;
    /// A page of the records the query selects, newest first, and how many it selects: one
    /// Query over the time-ordered ids of the range.
    async fn query_failures(&self, account: AccountId, query: &FailureQuery) -> Result<Page<Failure>, StoreError>;
    /// inactive → pending (reason cleared, `last_attempt_at` and `updated_at` = `now`), as
    /// one conditional write and nothing else: `Conflict` when there is no inactive record
    /// of that id (not there, or in another state). A caller that must tell which reads the
    /// record; recovering a range need not.
    async fn retrigger_failure(&self, account: AccountId, id: FailureId, now: Timestamp)
        -> Result<Failure, StoreError>;
    /// pending → resolved (kept 90 more days) or inactive with the new reason. `None` when
    /// the record is no longer pending (the sweeper or another outcome came first).
    async fn settle_failure(
        &self,
        account: AccountId,
        id: FailureId,
        outcome: &RetriggerOutcome,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError>;
    /// Records of every account pending since before `before` (retriggers without an outcome).
    async fn stuck_pending_failures(&self, before: Timestamp, limit: u32) -> Result<Vec<Failure>, StoreError>;
}

/// The attempt log of each subscription, kept for its retention.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Appends to the attempt log (kept until `expires_at`); the same attempt (same
    /// `log_key`) written again replaces itself. `NotFound`, and nothing kept, when the
    /// subscription is gone (purged, its account erased): an attempt in flight then leaves
    /// nothing behind.
    async fn record_attempt(&self, attempt: &Attempt, expires_at: Timestamp) -> Result<(), StoreError>;
    /// A subscription's attempts, newest first.
    async fn list_attempts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Attempt>, StoreError>;
}

/// Everything hookpost keeps. Erasure is apart: a `dyn Store` links every method of its
/// adapter into a binary, and only the functions that erase need erasure's.
pub trait Store:
    AccountStore + TokenStore + SubscriptionStore + RateLimitStore + EventStore + FailureStore + AttemptStore + UsageStore
{
}

impl<T> Store for T where
    T: AccountStore
        + TokenStore
        + SubscriptionStore
        + RateLimitStore
        + EventStore
        + FailureStore
        + AttemptStore
        + UsageStore
{
}

/// The event-type catalogue (SPEC §11): one for the deployment, an item per type. Apart
/// from [`Store`]: only the functions that publish, subscribe or manage it link its code.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Creates the type, or replaces its declaration keeping its `created_at`, in one atomic
    /// write: the type as stored, and whether this write created it.
    async fn put_event_type(
        &self,
        name: &str,
        input: &EventTypeInput,
        now: Timestamp,
    ) -> Result<(EventType, bool), StoreError>;
    async fn get_event_type(&self, name: &str) -> Result<Option<EventType>, StoreError>;
    /// `NotFound` when there is no such type.
    async fn delete_event_type(&self, name: &str) -> Result<(), StoreError>;
    /// The whole catalogue, by name.
    async fn list_event_types(&self) -> Result<Vec<EventType>, StoreError>;
}

/// Delivery control's state (SPEC §10): the rate limiters and FIFO heads. Apart from
/// [`Store`] for the same reason as erasure: only the functions that deliver take it, and
/// the others do not link its code.
pub trait DeliveryControlStore: PacingStore + OrderStore {}

impl<T> DeliveryControlStore for T where T: PacingStore + OrderStore {}

/// Newest-first ordering of subscriptions: UUIDv7 ids sort by creation time.
pub(crate) fn page_of<T: Clone>(newest_first: Vec<T>, limit: u32, offset: u32) -> Page<T> {
    let total = newest_first.len() as u64;
    let items = newest_first.into_iter().skip(offset as usize).take(limit as usize).collect();
    Page { items, total }
}
