//! How a subscription's state and delivery fields move (SPEC §3, §6). Every transition is
//! decided here and returned as a [`SubscriptionChange`]: the state it requires and the
//! fields it sets. A store applies it and nothing else, atomically with its requirements
//! (the memory store to its struct, DynamoDB as `SET`/`ADD`/`REMOVE` with a condition), so
//! the two stores cannot tell the rules apart.

use std::collections::BTreeSet;

use super::{DisabledReason, Subscription, REACTIVATION_WINDOW_DAYS};
use crate::error::ApiError;
use crate::reason::Reason;
use crate::time::Timestamp;

/// Where a subscription is: one value, so "active with a disabled reason" cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    Active,
    /// Deleted (takes no events) or auto-disabled (its events become failure records),
    /// since `at`; either may be reactivated within the window.
    Disabled {
        reason: DisabledReason,
        at: Timestamp,
    },
}

impl SubscriptionState {
    pub fn is_active(self) -> bool {
        self == Self::Active
    }

    pub fn disabled_reason(self) -> Option<DisabledReason> {
        match self {
            Self::Active => None,
            Self::Disabled { reason, .. } => Some(reason),
        }
    }

    pub fn disabled_at(self) -> Option<Timestamp> {
        match self {
            Self::Active => None,
            Self::Disabled { at, .. } => Some(at),
        }
    }

    pub fn is_deleted(self) -> bool {
        self.disabled_reason() == Some(DisabledReason::Deleted)
    }

    /// Whether published events still reach it: active ones are delivered to, auto-disabled
    /// ones turn them into failure records, deleted ones take none.
    pub fn takes_events(self) -> bool {
        !self.is_deleted()
    }
}

impl Subscription {
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    pub fn is_deleted(&self) -> bool {
        self.state.is_deleted()
    }
}

/// What must hold for a change to apply. A change whose requirements fail changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// The subscription is in exactly this state (reason and time included).
    State(SubscriptionState),
    /// No later attempt's fields are recorded (`last_delivery_at` absent or not after this).
    DeliveredNoLaterThan(Timestamp),
    /// This event is not among the failures counted since the last success.
    EventNotCounted(String),
    /// Fewer consecutive failures than this.
    FailuresBelow(u32),
}

/// How `consecutive_failures` moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCount {
    Reset,
    Increment,
}

/// How the set of events counted among the consecutive failures moves: an event counts
/// once, and the set empties with the count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CountedEvents {
    Add(String),
    Clear,
}

/// A transition: what it requires, what it sets (`None` leaves a field as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub requires: Vec<Requirement>,
    pub state: Option<SubscriptionState>,
    pub failures: Option<FailureCount>,
    pub counted_events: Option<CountedEvents>,
    pub last_delivery_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub updated_at: Option<Timestamp>,
}

impl SubscriptionChange {
    /// How the account's count of active subscriptions (the cap) moves with this change:
    /// +1 into the active state, -1 out of it, in the same atomic write.
    pub fn active_delta(&self) -> i64 {
        let before = self.requires.iter().find_map(|r| match r {
            Requirement::State(state) => Some(state.is_active()),
            _ => None,
        });
        match (before, self.state.map(SubscriptionState::is_active)) {
            (Some(false), Some(true)) => 1,
            (Some(true), Some(false)) => -1,
            _ => 0,
        }
    }

    /// Whether the requirements hold for `sub`, whose counted events are `counted`.
    pub fn holds(&self, sub: &Subscription, counted: &BTreeSet<String>) -> bool {
        self.requires.iter().all(|r| match r {
            Requirement::State(state) => sub.state == *state,
            Requirement::DeliveredNoLaterThan(at) => sub.last_delivery_at.is_none_or(|last| last <= *at),
            Requirement::EventNotCounted(event) => !counted.contains(event),
            Requirement::FailuresBelow(n) => sub.consecutive_failures < *n,
        })
    }

    /// Sets the fields, without checking the requirements (see [`Self::holds`]).
    pub fn apply(&self, sub: &mut Subscription, counted: &mut BTreeSet<String>) {
        if let Some(state) = self.state {
            sub.state = state;
        }
        match self.failures {
            Some(FailureCount::Reset) => sub.consecutive_failures = 0,
            Some(FailureCount::Increment) => sub.consecutive_failures += 1,
            None => {}
        }
        match &self.counted_events {
            Some(CountedEvents::Add(event)) => {
                counted.insert(event.clone());
            }
            Some(CountedEvents::Clear) => counted.clear(),
            None => {}
        }
        if let Some(at) = self.last_delivery_at {
            sub.last_delivery_at = Some(at);
        }
        if let Some(at) = self.last_success_at {
            sub.last_success_at = Some(at);
        }
        if let Some(error) = &self.last_error {
            sub.last_error = Some(error.clone());
        }
        if let Some(at) = self.updated_at {
            sub.updated_at = at;
        }
    }
}

/// Soft delete: any state but deleted → deleted. `None` when it is deleted already (deleting
/// again changes nothing). Requires the state it was read in, so the cap moves only if it
/// was active.
pub fn delete(sub: &Subscription, now: Timestamp) -> Option<SubscriptionChange> {
    (!sub.is_deleted()).then(|| SubscriptionChange {
        requires: vec![Requirement::State(sub.state)],
        state: Some(SubscriptionState::Disabled { reason: DisabledReason::Deleted, at: now }),
        updated_at: Some(now),
        ..SubscriptionChange::default()
    })
}

/// Whether a disabled subscription may be reactivated now (SPEC §3).
pub fn check_reactivation(sub: &Subscription, now: Timestamp) -> Result<(), ApiError> {
    let Some(disabled_at) = sub.state.disabled_at() else {
        return Err(ApiError::InvalidState("the webhook subscription is already active".to_owned()));
    };
    if now.unix() - disabled_at.unix() > REACTIVATION_WINDOW_DAYS * 86_400 {
        return Err(ApiError::InvalidState(format!(
            "the webhook subscription was disabled more than {REACTIVATION_WINDOW_DAYS} days ago"
        )));
    }
    Ok(())
}

/// Deleted or auto-disabled → active, counting from zero failures, within the window.
/// Requires the state it was read in: a concurrent change (another reactivation, a delete)
/// makes it fail instead of double-counting the cap.
pub fn reactivate(sub: &Subscription, now: Timestamp) -> Result<SubscriptionChange, ApiError> {
    check_reactivation(sub, now)?;
    Ok(SubscriptionChange {
        requires: vec![Requirement::State(sub.state)],
        state: Some(SubscriptionState::Active),
        failures: Some(FailureCount::Reset),
        counted_events: Some(CountedEvents::Clear),
        updated_at: Some(now),
        ..SubscriptionChange::default()
    })
}

/// How far behind the latest success `last_success_at` and `last_delivery_at` may be while
/// successes follow successes: a success within this many seconds of the one recorded, with
/// no failure counted since, writes nothing to the subscription (its attempt is still
/// logged). Writes are the bill: a subscription taking many deliveries a minute costs one
/// write per attempt instead of two.
pub const SUCCESS_FIELDS_GRANULARITY_SECS: i64 = 60;

/// Whether an attempt at `at` ending in `error` (or a success) must write the delivery
/// fields of `sub` as read before it. Always after a failure (`last_error`,
/// `last_delivery_at`), after a success that ends a run of failures, and after a success
/// more than [`SUCCESS_FIELDS_GRANULARITY_SECS`] after the last one recorded.
pub fn delivery_fields_due(sub: &Subscription, at: Timestamp, error: Option<&Reason>) -> bool {
    let recent = |field: Option<Timestamp>| {
        field.is_some_and(|t| at.unix().saturating_sub(t.unix()) < SUCCESS_FIELDS_GRANULARITY_SECS)
    };
    error.is_some() || sub.consecutive_failures > 0 || !recent(sub.last_success_at) || !recent(sub.last_delivery_at)
}

/// The delivery fields after an attempt at `at`: `last_delivery_at`; a success also sets
/// `last_success_at` and ends the run of failures; an error sets `last_error`. Not over a
/// later attempt's fields (a write that waited in a record task).
pub fn record_attempt(at: Timestamp, error: Option<&Reason>) -> SubscriptionChange {
    let mut change = SubscriptionChange {
        requires: vec![Requirement::DeliveredNoLaterThan(at)],
        last_delivery_at: Some(at),
        ..SubscriptionChange::default()
    };
    match error {
        None => {
            change.last_success_at = Some(at);
            change.failures = Some(FailureCount::Reset);
            change.counted_events = Some(CountedEvents::Clear);
        }
        Some(reason) => change.last_error = Some(reason.to_string()),
    }
    change
}

/// An event whose automatic attempts are exhausted counts one consecutive failure: once per
/// event, only while the subscription is active, never past the threshold.
pub fn count_exhausted(event_id: &str, reason: &Reason, at: Timestamp, disable_after: u32) -> SubscriptionChange {
    SubscriptionChange {
        requires: vec![
            Requirement::State(SubscriptionState::Active),
            Requirement::EventNotCounted(event_id.to_owned()),
            Requirement::FailuresBelow(disable_after),
        ],
        failures: Some(FailureCount::Increment),
        counted_events: Some(CountedEvents::Add(event_id.to_owned())),
        last_error: Some(reason.to_string()),
        last_delivery_at: Some(at),
        ..SubscriptionChange::default()
    }
}

/// Active → auto-disabled once the count reaches the threshold; `None` while it has not (or
/// the subscription is not active). Of concurrent workers, the one whose write finds it
/// still active disables it.
pub fn auto_disable_due(sub: &Subscription, disable_after: u32, at: Timestamp) -> Option<SubscriptionChange> {
    (sub.is_active() && sub.consecutive_failures >= disable_after).then(|| SubscriptionChange {
        requires: vec![Requirement::State(SubscriptionState::Active)],
        state: Some(SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at }),
        updated_at: Some(at),
        ..SubscriptionChange::default()
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample;
    use super::*;

    const AT: Timestamp = Timestamp::from_unix(5_000);

    fn applied(sub: &Subscription, change: &SubscriptionChange) -> Option<(Subscription, BTreeSet<String>)> {
        let mut counted = BTreeSet::new();
        change.holds(sub, &counted).then(|| {
            let mut after = sub.clone();
            change.apply(&mut after, &mut counted);
            (after, counted)
        })
    }

    #[test]
    fn reactivation_window() {
        let mut sub = sample();
        assert_eq!(check_reactivation(&sub, Timestamp::from_unix(2000)).unwrap_err().code(), "invalid_state");
        sub.state = SubscriptionState::Disabled { reason: DisabledReason::Deleted, at: Timestamp::from_unix(0) };
        assert!(check_reactivation(&sub, Timestamp::from_unix(90 * 86_400)).is_ok());
        assert_eq!(
            check_reactivation(&sub, Timestamp::from_unix(90 * 86_400 + 1)).unwrap_err().code(),
            "invalid_state"
        );
        assert!(reactivate(&sub, Timestamp::from_unix(90 * 86_400 + 1)).is_err());
    }

    #[test]
    fn delete_leaves_the_cap_only_when_active_and_happens_once() {
        let active = sample();
        let change = delete(&active, AT).unwrap();
        assert_eq!(change.active_delta(), -1);
        let (deleted, _) = applied(&active, &change).unwrap();
        assert_eq!(deleted.state, SubscriptionState::Disabled { reason: DisabledReason::Deleted, at: AT });
        assert!(!deleted.state.takes_events() && deleted.updated_at == AT);
        assert!(delete(&deleted, AT.plus_seconds(1)).is_none(), "deleting again changes nothing");

        let auto = Subscription {
            state: SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: AT },
            ..sample()
        };
        assert!(auto.state.takes_events());
        let change = delete(&auto, AT).unwrap();
        assert_eq!(change.active_delta(), 0);
        assert!(applied(&active, &change).is_none(), "requires the state it was read in");
    }

    #[test]
    fn reactivation_returns_to_active_from_zero() {
        let disabled_at = Timestamp::from_unix(1_500);
        let mut sub = sample();
        sub.state = SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: disabled_at };
        sub.consecutive_failures = 5;
        let change = reactivate(&sub, AT).unwrap();
        assert_eq!(change.active_delta(), 1);
        let (back, counted) = applied(&sub, &change).unwrap();
        assert_eq!((back.state, back.consecutive_failures, back.updated_at), (SubscriptionState::Active, 0, AT));
        assert!(counted.is_empty());
        let moved_on = Subscription {
            state: SubscriptionState::Disabled { reason: DisabledReason::Deleted, at: disabled_at.plus_seconds(1) },
            ..sub
        };
        assert!(applied(&moved_on, &change).is_none(), "a state changed since it was read refuses");
    }

    #[test]
    fn an_attempt_sets_the_delivery_fields_and_never_goes_back() {
        let mut sub = sample();
        sub.consecutive_failures = 3;
        let failed = record_attempt(AT, Some(&Reason::HttpStatus(500)));
        let (after, _) = applied(&sub, &failed).unwrap();
        assert_eq!((after.last_delivery_at, after.last_error.as_deref()), (Some(AT), Some("http_status: 500")));
        assert_eq!((after.consecutive_failures, after.last_success_at), (3, None), "a failure alone counts nothing");

        let delivered = record_attempt(AT.plus_seconds(1), None);
        let (after, _) = applied(&after, &delivered).unwrap();
        assert_eq!(after.last_success_at, Some(AT.plus_seconds(1)));
        assert_eq!(after.consecutive_failures, 0);
        assert_eq!(after.last_error.as_deref(), Some("http_status: 500"), "the last error stays to be read");
        assert!(applied(&after, &record_attempt(AT, None)).is_none(), "an earlier attempt's fields come too late");
        assert_eq!(delivered.active_delta(), 0);
    }

    #[test]
    fn a_success_soon_after_a_recorded_one_writes_no_fields() {
        let mut sub = sample();
        assert!(delivery_fields_due(&sub, AT, None), "the first success is recorded");
        let (after, _) = applied(&sub, &record_attempt(AT, None)).unwrap();
        sub = after;
        let within = AT.plus_seconds(SUCCESS_FIELDS_GRANULARITY_SECS - 1);
        let beyond = AT.plus_seconds(SUCCESS_FIELDS_GRANULARITY_SECS);
        assert!(!delivery_fields_due(&sub, within, None));
        assert!(!delivery_fields_due(&sub, AT.plus_seconds(-5), None), "an older attempt's fields are not due");
        assert!(delivery_fields_due(&sub, beyond, None), "past the granularity it is written again");
        assert!(delivery_fields_due(&sub, within, Some(&Reason::Timeout)), "every failure is written");
        sub.consecutive_failures = 1;
        assert!(delivery_fields_due(&sub, within, None), "a success ending a run of failures is written");
        sub.consecutive_failures = 0;
        sub.last_delivery_at = None;
        assert!(delivery_fields_due(&sub, within, None));
    }

    #[test]
    fn exhausted_events_count_once_each_up_to_the_threshold_then_disable() {
        let reason = Reason::HttpStatus(503);
        let mut sub = sample();
        let mut counted = BTreeSet::new();
        for i in 0..7 {
            let event = format!("evt_{}", i % 6);
            let change = count_exhausted(&event, &reason, AT.plus_seconds(i), 5);
            if change.holds(&sub, &counted) {
                change.apply(&mut sub, &mut counted);
            }
            assert!(sub.consecutive_failures <= 5);
            if let Some(disable) = auto_disable_due(&sub, 5, AT.plus_seconds(i)) {
                assert_eq!(disable.active_delta(), -1);
                assert!(disable.holds(&sub, &counted));
                disable.apply(&mut sub, &mut counted);
            }
        }
        assert_eq!(sub.consecutive_failures, 5);
        assert_eq!(
            sub.state,
            SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: AT.plus_seconds(4) }
        );
        assert_eq!(counted.len(), 5);
        let again = count_exhausted("evt_0", &reason, AT, 10);
        assert!(!again.holds(&Subscription { state: SubscriptionState::Active, ..sub.clone() }, &counted));
        assert!(auto_disable_due(&sub, 5, AT).is_none(), "disabled once");
    }
}
