//! Failure records (SPEC §7): one event to one subscription whose automatic attempts are
//! exhausted, or that arrived while the subscription was auto-disabled.

use serde::{Deserialize, Serialize};

use crate::account::string_enum;
use crate::ids::{AccountId, FailureId, SubscriptionId};
use crate::reason::Reason;
use crate::subscription::Subscription;
use crate::time::Timestamp;

string_enum!(
    FailureStatus {
        Inactive => "inactive",
        Pending => "pending",
        Resolved => "resolved",
    }
);

/// Resolved failures are kept this long (DynamoDB TTL).
pub const RESOLVED_RETENTION_DAYS: i64 = 90;
/// A retrigger with no outcome after this long returns with `retrigger_lost`.
pub const PENDING_TIMEOUT_SECS: i64 = 15 * 60;
/// At most this many failures are retriggered by one `recover` call.
pub const RECOVER_LIMIT: usize = 10_000;

/// A transition the state machine refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionRefused {
    #[error("the webhook failure is {0}; only an inactive failure can be retriggered")]
    NotInactive(FailureStatus),
    #[error("the webhook failure is {0}, not pending")]
    NotPending(FailureStatus),
}

/// How a pending retrigger ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum RetriggerOutcome {
    Delivered,
    /// Failed again (or the subscription is gone, or the attempt was lost), with the reason.
    Failed(Reason),
}

impl FailureStatus {
    /// inactive → pending.
    pub fn retrigger(self) -> Result<FailureStatus, TransitionRefused> {
        match self {
            FailureStatus::Inactive => Ok(FailureStatus::Pending),
            other => Err(TransitionRefused::NotInactive(other)),
        }
    }

    /// pending → resolved | inactive.
    pub fn settle(self, outcome: &RetriggerOutcome) -> Result<FailureStatus, TransitionRefused> {
        match (self, outcome) {
            (FailureStatus::Pending, RetriggerOutcome::Delivered) => Ok(FailureStatus::Resolved),
            (FailureStatus::Pending, RetriggerOutcome::Failed(_)) => Ok(FailureStatus::Inactive),
            (other, _) => Err(TransitionRefused::NotPending(other)),
        }
    }
}

/// A failure record's transition, decided here and applied by a store: the status it
/// requires (the condition) and what it sets. The memory store applies it to its struct,
/// DynamoDB turns it into one conditional update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureChange {
    pub requires: FailureStatus,
    pub status: FailureStatus,
    /// The reason afterwards: `None` clears it.
    pub reason: Option<Reason>,
    pub last_attempt_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// When the record leaves the store (a resolved one is kept 90 days); `None` keeps it.
    pub expires_at: Option<Timestamp>,
}

impl FailureChange {
    /// inactive → pending: the reason cleared until the outcome, the attempt time `now`.
    pub fn retrigger(now: Timestamp) -> Self {
        let status = FailureStatus::Inactive.retrigger().expect("inactive can be retriggered");
        Self {
            requires: FailureStatus::Inactive,
            status,
            reason: None,
            last_attempt_at: Some(now),
            updated_at: now,
            expires_at: None,
        }
    }

    /// pending → resolved (kept [`RESOLVED_RETENTION_DAYS`] more) or inactive with the new
    /// reason.
    pub fn settle(outcome: &RetriggerOutcome, now: Timestamp) -> Self {
        let status = FailureStatus::Pending.settle(outcome).expect("pending can be settled");
        let (reason, expires_at) = match outcome {
            RetriggerOutcome::Delivered => (None, Some(now.plus_days(RESOLVED_RETENTION_DAYS))),
            RetriggerOutcome::Failed(reason) => (Some(reason.clone()), None),
        };
        Self { requires: FailureStatus::Pending, status, reason, last_attempt_at: None, updated_at: now, expires_at }
    }

    /// Applies the change when the record is in the required status.
    pub fn apply(&self, failure: &mut Failure) -> Result<(), TransitionRefused> {
        if failure.status != self.requires {
            return Err(match self.requires {
                FailureStatus::Inactive => TransitionRefused::NotInactive(failure.status),
                _ => TransitionRefused::NotPending(failure.status),
            });
        }
        failure.status = self.status;
        failure.reason = self.reason.clone();
        if let Some(at) = self.last_attempt_at {
            failure.last_attempt_at = at;
        }
        failure.updated_at = self.updated_at;
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub id: FailureId,
    pub account_id: AccountId,
    pub event_id: String,
    pub event_type: String,
    pub subscription_id: SubscriptionId,
    pub subscription_name: String,
    pub status: FailureStatus,
    pub reason: Option<Reason>,
    pub last_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Failure {
    /// Since when a pending record has waited for its retrigger's outcome; the sweeper
    /// returns it after [`PENDING_TIMEOUT_SECS`]. `None` unless pending.
    pub fn pending_since(&self) -> Option<Timestamp> {
        (self.status == FailureStatus::Pending).then_some(self.updated_at)
    }

    /// The record for an event that reached a subscription while it was auto-disabled (at
    /// publish, or when one of its scheduled retries came due).
    pub fn subscription_disabled(sub: &Subscription, event_id: &str, event_type: &str, now: Timestamp) -> Self {
        let last = sub.last_delivery_at.unwrap_or(now);
        Self::inactive(sub.account_id, event_id, event_type, sub.id, &sub.name, Reason::SubscriptionDisabled, last, now)
    }

    /// The `subscription_disabled` record publish writes for an event that reached an
    /// auto-disabled subscription. Its id derives from the event and the subscription, so a
    /// repeated publish (which finishes a fan-out a crash cut short) finds the record it
    /// wrote the first time instead of adding another.
    pub fn disabled_at_publish(sub: &Subscription, event_id: &str, event_type: &str, published_at: Timestamp) -> Self {
        let key = format!("{}|{event_id}|{}", Reason::SubscriptionDisabled, sub.id);
        Self {
            id: FailureId::derived(published_at, &key),
            ..Self::subscription_disabled(sub, event_id, event_type, published_at)
        }
    }

    /// A new `inactive` record.
    #[allow(clippy::too_many_arguments)]
    pub fn inactive(
        account_id: AccountId,
        event_id: &str,
        event_type: &str,
        subscription_id: SubscriptionId,
        subscription_name: &str,
        reason: Reason,
        last_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Self {
        Self {
            id: FailureId::new(now),
            account_id,
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            subscription_id,
            subscription_name: subscription_name.to_owned(),
            status: FailureStatus::Inactive,
            reason: Some(reason),
            last_attempt_at,
            created_at: now,
            updated_at: now,
        }
    }
}

/// What the failures API shows of a record: exactly the seed's fields.
#[derive(Debug, Serialize)]
pub struct FailureView<'a> {
    pub id: FailureId,
    pub event: &'a str,
    pub status: FailureStatus,
    pub reason: Option<&'a Reason>,
    pub webhook: WebhookRef<'a>,
    pub last_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct WebhookRef<'a> {
    pub id: SubscriptionId,
    pub name: &'a str,
}

impl Failure {
    pub fn view(&self) -> FailureView<'_> {
        FailureView {
            id: self.id,
            event: &self.event_type,
            status: self.status,
            reason: self.reason.as_ref(),
            webhook: WebhookRef { id: self.subscription_id, name: &self.subscription_name },
            last_attempt_at: self.last_attempt_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A failures listing: a `created_at` range (one Query over time-ordered ids), statuses,
/// optionally one subscription, and a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureQuery {
    pub created_gte: Option<Timestamp>,
    pub created_lt: Option<Timestamp>,
    pub statuses: Vec<FailureStatus>,
    pub subscription: Option<SubscriptionId>,
    pub limit: u32,
    pub offset: u32,
}

impl FailureQuery {
    /// The default listing: `inactive` and `pending`, the newest page.
    pub fn open() -> Self {
        Self {
            created_gte: None,
            created_lt: None,
            statuses: vec![FailureStatus::Inactive, FailureStatus::Pending],
            subscription: None,
            limit: crate::paging::FAILURES_DEFAULT_LIMIT,
            offset: 0,
        }
    }

    /// Whether the time range ends before it starts: it selects nothing (no need to ask the
    /// store, whose range query would refuse a low bound above the high one).
    pub fn selects_nothing(&self) -> bool {
        matches!((self.created_gte, self.created_lt), (Some(gte), Some(lt)) if gte >= lt)
    }

    /// The id range `[low, high)` the time range covers.
    pub fn id_range(&self) -> (FailureId, FailureId) {
        let low = self.created_gte.map_or(FailureId::MIN, FailureId::lower_bound);
        let high = self.created_lt.map_or(FailureId::MAX, FailureId::lower_bound);
        (low, high)
    }

    pub fn matches(&self, f: &Failure) -> bool {
        let (low, high) = self.id_range();
        f.id >= low
            && (f.id < high || self.created_lt.is_none())
            && self.statuses.contains(&f.status)
            && self.subscription.is_none_or(|s| s == f.subscription_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_have_the_seed_shape() {
        let now = Timestamp::from_unix(1_773_568_800);
        let f = Failure::inactive(
            AccountId::new(),
            "evt_1",
            "call.ended",
            SubscriptionId::new(),
            "CRM call events",
            Reason::Timeout,
            now,
            now,
        );
        let v = serde_json::to_value(f.view()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "event", "status", "reason", "webhook", "last_attempt_at", "created_at", "updated_at"]);
        assert_eq!(v["webhook"]["name"], "CRM call events");
        assert_eq!(v["created_at"], "2026-03-15T10:00:00Z");
    }

    #[test]
    fn queries_select_by_time_status_and_subscription() {
        let t = |s| Timestamp::from_unix(s);
        let sub = SubscriptionId::new();
        let mk = |at: i64, status| Failure {
            status,
            ..Failure::inactive(AccountId::new(), "e", "x", sub, "n", Reason::Timeout, t(at), t(at))
        };
        let mut q = FailureQuery::open();
        assert!(q.matches(&mk(5, FailureStatus::Inactive)) && q.matches(&mk(5, FailureStatus::Pending)));
        assert!(!q.matches(&mk(5, FailureStatus::Resolved)));
        q.created_gte = Some(t(10));
        q.created_lt = Some(t(20));
        assert!(!q.matches(&mk(9, FailureStatus::Inactive)));
        assert!(q.matches(&mk(10, FailureStatus::Inactive)) && q.matches(&mk(19, FailureStatus::Inactive)));
        assert!(!q.matches(&mk(20, FailureStatus::Inactive)));
        q.subscription = Some(SubscriptionId::new());
        assert!(!q.matches(&mk(15, FailureStatus::Inactive)));
    }

    #[test]
    fn the_state_machine() {
        use FailureStatus::*;
        assert_eq!(Inactive.retrigger(), Ok(Pending));
        assert_eq!(Pending.retrigger(), Err(TransitionRefused::NotInactive(Pending)));
        assert_eq!(Resolved.retrigger(), Err(TransitionRefused::NotInactive(Resolved)));
        assert_eq!(Pending.settle(&RetriggerOutcome::Delivered), Ok(Resolved));
        assert_eq!(Pending.settle(&RetriggerOutcome::Failed(Reason::Timeout)), Ok(Inactive));
        for from in [Inactive, Resolved] {
            assert_eq!(from.settle(&RetriggerOutcome::Delivered), Err(TransitionRefused::NotPending(from)));
        }
        assert!(TransitionRefused::NotInactive(Pending).to_string().contains("pending"));
    }

    #[test]
    fn changes_move_a_record_through_the_machine() {
        let t = Timestamp::from_unix(1_773_568_800);
        let mut f = Failure::inactive(AccountId::new(), "e", "x", SubscriptionId::new(), "n", Reason::Timeout, t, t);
        assert_eq!(f.pending_since(), None);
        let later = t.plus_seconds(60);
        FailureChange::retrigger(later).apply(&mut f).unwrap();
        assert_eq!(
            (f.status, f.reason.clone(), f.last_attempt_at, f.updated_at),
            (FailureStatus::Pending, None, later, later)
        );
        assert_eq!(f.pending_since(), Some(later));
        assert_eq!(
            FailureChange::retrigger(later).apply(&mut f.clone()),
            Err(TransitionRefused::NotInactive(FailureStatus::Pending))
        );

        let failed = FailureChange::settle(&RetriggerOutcome::Failed(Reason::TlsError), later.plus_seconds(1));
        assert_eq!(failed.expires_at, None);
        let mut again = f.clone();
        failed.apply(&mut again).unwrap();
        assert_eq!((again.status, again.reason), (FailureStatus::Inactive, Some(Reason::TlsError)));
        assert_eq!(again.last_attempt_at, later, "the attempt time is the retrigger's");

        let delivered = FailureChange::settle(&RetriggerOutcome::Delivered, later.plus_seconds(2));
        assert_eq!(delivered.expires_at, Some(later.plus_seconds(2).plus_days(RESOLVED_RETENTION_DAYS)));
        delivered.apply(&mut f).unwrap();
        assert_eq!((f.status, f.reason.clone()), (FailureStatus::Resolved, None));
        assert_eq!(delivered.apply(&mut f), Err(TransitionRefused::NotPending(FailureStatus::Resolved)));
    }

    #[test]
    fn a_new_record_is_inactive_with_its_reason() {
        let now = Timestamp::from_unix(1_773_568_800);
        let f = Failure::inactive(
            AccountId::new(),
            "evt_1",
            "call.ended",
            SubscriptionId::new(),
            "CRM",
            Reason::Timeout,
            now,
            now,
        );
        assert_eq!((f.status, f.reason), (FailureStatus::Inactive, Some(Reason::Timeout)));
        assert_eq!(f.id.created_at(), now);
        assert_eq!(FailureStatus::parse("pending"), Some(FailureStatus::Pending));
    }
}
