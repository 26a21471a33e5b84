//! What an attempt's outcome must write: decided here, applied by the worker.
//!
//! Sending is the one step that cannot be taken back. Once a receiver has answered, the
//! outcome is recorded until it sticks — never by sending again. So the worker turns the
//! outcome into a list of writes ([`after_attempt`]), applies them in order, tries a write
//! the store refuses again after a pause, and when the store will not take them now, queues
//! the writes still to do as a task of their own ([`crate::delivery::TaskKind::Record`])
//! that any worker finishes. Every write is idempotent: applying one that already took
//! effect (after an ambiguous timeout, or a task handed out twice) changes nothing.

use serde::{Deserialize, Serialize};

use crate::delivery::order::FifoHead;
use crate::delivery::{effective_delay, Attempt, DeliveryTask, Outcome, RetrySchedule, TaskKind};
use crate::event::Event;
use crate::failure::{Failure, RetriggerOutcome};
use crate::ids::{AccountId, FailureId, SubscriptionId};
use crate::reason::Reason;
use crate::subscription::{lifecycle, Subscription};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum Write {
    /// Appends the attempt to the log under its fixed key (a repeat overwrites the entry);
    /// a subscription that no longer exists ends the list.
    LogAttempt { attempt: Attempt, expires_at: Timestamp },
    /// The subscription's delivery fields: `last_delivery_at`, then `last_success_at` and
    /// `consecutive_failures = 0` (no error) or `last_error`. Skipped when a later attempt
    /// already wrote them; a subscription that no longer exists ends the list.
    DeliveryFields { account_id: AccountId, subscription_id: SubscriptionId, at: Timestamp, error: Option<Reason> },
    /// The next attempt of the retry schedule.
    Enqueue { task: DeliveryTask, delay_secs: u64 },
    /// Stores the event a failure record is about to point at, when only the task carried
    /// it (a conditional put: an event already stored stays as it is).
    KeepEvent { event: Event, expires_at: Timestamp },
    /// Inserts the failure record, once: a record with its id already there stays as it is.
    RecordFailure { failure: Failure },
    /// One event's whole retry cycle failed: `consecutive_failures` + 1 and `last_error`,
    /// counted once per event and only while the subscription is active; the fifth in a row
    /// auto-disables it.
    CountExhausted {
        account_id: AccountId,
        subscription_id: SubscriptionId,
        event_id: String,
        reason: Reason,
        at: Timestamp,
    },
    /// A retrigger's outcome settles its record, if the record is still pending.
    SettleFailure { account_id: AccountId, failure_id: FailureId, outcome: RetriggerOutcome, at: Timestamp },
    /// The next attempt of an ordered task: it stays at the head of its group, held out of
    /// sight in the queue for `delay_secs`, and where it stands is kept as the group's head
    /// (see [`crate::delivery::order`]). The worker tells whoever handed it the task to
    /// hold it.
    HoldHead { account_id: AccountId, group: String, head: FifoHead, delay_secs: u64 },
}

/// How long what an attempt writes is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub attempt_days: u32,
    pub event_days: u32,
}

/// The writes after `attempt` (already made, its outcome in it) of `task`'s event to `sub`.
/// `retry_after` is the receiver's `Retry-After`, if it sent one; `jitter` a random number
/// in [0, 1) for the next attempt's delay.
#[allow(clippy::too_many_arguments)]
pub fn after_attempt(
    task: &DeliveryTask,
    sub: &Subscription,
    event: &Event,
    attempt: Attempt,
    outcome: &Outcome,
    retry_after: Option<u64>,
    schedule: &RetrySchedule,
    retention: Retention,
    jitter: f64,
) -> Vec<Write> {
    let now = attempt.attempted_at;
    let reason = attempt.reason.clone();
    // Each of the first two writes requires the subscription, so once it is gone (purged,
    // its account erased) nothing more of this attempt is written. The fields only when
    // they change meaningfully (`lifecycle::delivery_fields_due`): a success soon after a
    // recorded one is one write, its log entry.
    let fields = lifecycle::delivery_fields_due(sub, now, reason.as_ref()).then(|| Write::DeliveryFields {
        account_id: sub.account_id,
        subscription_id: sub.id,
        at: now,
        error: reason.clone(),
    });
    let log = Write::LogAttempt { expires_at: now.plus_days(i64::from(retention.attempt_days)), attempt };
    let mut writes: Vec<Write> = fields.into_iter().chain([log]).collect();
    match (&task.kind, reason) {
        (TaskKind::Retrigger { failure_id }, reason) => writes.push(Write::SettleFailure {
            account_id: sub.account_id,
            failure_id: *failure_id,
            outcome: reason.map_or(RetriggerOutcome::Delivered, RetriggerOutcome::Failed),
            at: now,
        }),
        (TaskKind::Scheduled, Some(reason)) => {
            let next = task.attempt + 1;
            if let Some(nominal) = schedule.delay_before(next) {
                let retry_after = retry_after.filter(|_| outcome.honours_retry_after());
                let delay_secs = effective_delay(nominal, retry_after, jitter);
                writes.push(match task.group() {
                    // An ordered task keeps its place at the head of its group.
                    Some(group) => Write::HoldHead {
                        account_id: sub.account_id,
                        group,
                        head: FifoHead {
                            event_id: event.event_id.clone(),
                            attempt: next,
                            due: now.plus_seconds(i64::try_from(delay_secs).unwrap_or(i64::MAX / 2)),
                            paced_at: None,
                        },
                        delay_secs,
                    },
                    None => Write::Enqueue {
                        task: DeliveryTask { attempt: next, not_before: None, paced_at: None, ..task.clone() },
                        delay_secs,
                    },
                });
            } else {
                let failure = Failure::inactive(
                    sub.account_id,
                    &event.event_id,
                    &event.event_type,
                    sub.id,
                    &sub.name,
                    reason.clone(),
                    now,
                    now,
                );
                writes.extend(keep_event(task, event, retention));
                writes.push(Write::RecordFailure { failure });
                writes.push(Write::CountExhausted {
                    account_id: sub.account_id,
                    subscription_id: sub.id,
                    event_id: event.event_id.clone(),
                    reason,
                    at: now,
                });
            }
        }
        (TaskKind::Scheduled, None) | (TaskKind::Record { .. }, _) => {}
    }
    writes
}

/// A task whose start under its subscription's rate limit (`start_us`, reserved for it) is
/// further away than a worker waits: it waits in the queue instead, holding that start —
/// an ordered one at the head of its group, any other as a task due `delay_secs` from now.
/// Not an attempt: nothing else is written, no retry is used up.
pub fn deferred(task: &DeliveryTask, start_us: i64, delay_secs: u64, now: Timestamp) -> Write {
    match task.group() {
        Some(group) => Write::HoldHead {
            account_id: task.account_id,
            group,
            head: FifoHead {
                event_id: task.event_id.clone(),
                attempt: task.attempt,
                due: now.plus_seconds(i64::try_from(delay_secs).unwrap_or(i64::MAX / 2)),
                paced_at: Some(start_us),
            },
            delay_secs,
        },
        None => Write::Enqueue {
            task: DeliveryTask { paced_at: Some(start_us), not_before: None, ..task.clone() },
            delay_secs,
        },
    }
}

/// How long the queue must keep the task that `writes` came from out of sight, if one of
/// them holds it at the head of its group.
pub fn held_for(writes: &[Write]) -> Option<u64> {
    writes.iter().find_map(|w| match w {
        Write::HoldHead { delay_secs, .. } => Some(*delay_secs),
        _ => None,
    })
}

/// The writes for a scheduled task that came due while its subscription was auto-disabled:
/// no attempt, a `subscription_disabled` failure record.
pub fn disabled_subscription(
    task: &DeliveryTask,
    sub: &Subscription,
    event: &Event,
    now: Timestamp,
    retention: Retention,
) -> Vec<Write> {
    let failure = Failure::subscription_disabled(sub, &event.event_id, &event.event_type, now);
    keep_event(task, event, retention).into_iter().chain([Write::RecordFailure { failure }]).collect()
}

/// Storing the event a failure record will point at, when only the task has it (see
/// [`crate::event::stored_at_publish`]): the worker's records and the dead-letter consumer's.
pub fn keep_event(task: &DeliveryTask, event: &Event, retention: Retention) -> Option<Write> {
    task.event
        .is_some()
        .then(|| Write::KeepEvent { event: event.clone(), expires_at: event.expires_at(retention.event_days) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::AttemptKey;
    use crate::subscription::parse_new_subscription;
    use crate::DestinationPolicy;

    const T: i64 = 1_780_000_000;

    fn fixture() -> (Subscription, Event) {
        let account = AccountId::new();
        let input = parse_new_subscription(
            serde_json::json!({"url": "https://example.com/h", "name": "CRM"}),
            &DestinationPolicy::default(),
        )
        .unwrap();
        let sub = Subscription::create(account, input, None, None, Timestamp::from_unix(T));
        let event = Event {
            account_id: account,
            event_id: "evt_1".into(),
            event_type: "call.ended".into(),
            channel_id: None,
            data: "{}".into(),
            created_at: Timestamp::from_unix(T),
            subscriptions: 1,
            fanned_out: true,
        };
        (sub, event)
    }

    fn attempt(sub: &Subscription, outcome: &Outcome, n: u32) -> Attempt {
        Attempt {
            account_id: sub.account_id,
            subscription_id: sub.id,
            event_id: "evt_1".into(),
            event_type: "call.ended".into(),
            attempt: n,
            status_code: outcome.status_code(),
            reason: outcome.reason(),
            duration_ms: 3,
            response_excerpt: None,
            test: false,
            attempted_at: Timestamp::from_unix(T + 5),
            log_key: AttemptKey { nanos: 1, nonce: 2 },
        }
    }

    const RETENTION: Retention = Retention { attempt_days: 30, event_days: 30 };

    /// The writes after attempt `task.attempt` of `task` ended with `outcome`, on the default
    /// schedule.
    fn writes_after(
        task: &DeliveryTask,
        sub: &Subscription,
        event: &Event,
        outcome: &Outcome,
        retry_after: Option<u64>,
    ) -> Vec<Write> {
        let made = attempt(sub, outcome, task.attempt);
        after_attempt(task, sub, event, made, outcome, retry_after, &RetrySchedule::default(), RETENTION, 0.5)
    }

    fn names(writes: &[Write]) -> Vec<&'static str> {
        writes
            .iter()
            .map(|w| match w {
                Write::LogAttempt { .. } => "log",
                Write::DeliveryFields { .. } => "fields",
                Write::Enqueue { .. } => "enqueue",
                Write::KeepEvent { .. } => "keep_event",
                Write::RecordFailure { .. } => "record_failure",
                Write::CountExhausted { .. } => "count",
                Write::SettleFailure { .. } => "settle",
                Write::HoldHead { .. } => "hold_head",
            })
            .collect()
    }

    #[test]
    fn a_delivery_logs_and_touches_the_subscription_only() {
        let (sub, event) = fixture();
        let task = DeliveryTask::first_of(&event, sub.id);
        let ok = Outcome::Delivered { status: 204 };
        let writes = writes_after(&task, &sub, &event, &ok, None);
        assert_eq!(names(&writes), ["fields", "log"]);
        assert!(matches!(&writes[0], Write::DeliveryFields { error: None, .. }));
    }

    #[test]
    fn a_success_soon_after_a_recorded_one_is_only_logged() {
        let (mut sub, event) = fixture();
        let task = DeliveryTask::first_of(&event, sub.id);
        sub.last_success_at = Some(Timestamp::from_unix(T));
        sub.last_delivery_at = Some(Timestamp::from_unix(T));
        let ok = Outcome::Delivered { status: 200 };
        assert_eq!(names(&writes_after(&task, &sub, &event, &ok, None)), ["log"]);
        let busy = Outcome::Failed(Reason::HttpStatus(503));
        assert_eq!(names(&writes_after(&task, &sub, &event, &busy, None)), ["fields", "log", "enqueue"]);
    }

    #[test]
    fn a_failure_with_attempts_left_enqueues_the_next_one_last() {
        let (sub, event) = fixture();
        let task = DeliveryTask::first_of(&event, sub.id);
        let busy = Outcome::Failed(Reason::HttpStatus(503));
        let writes = writes_after(&task, &sub, &event, &busy, Some(90));
        assert_eq!(names(&writes), ["fields", "log", "enqueue"]);
        match &writes[2] {
            Write::Enqueue { task: next, delay_secs } => {
                assert_eq!((next.attempt, *delay_secs), (2, 90), "Retry-After within [60, 120]");
                assert_eq!(next.event, task.event, "the next attempt still carries the event");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_ordered_task_with_attempts_left_holds_its_place() {
        let (mut sub, event) = fixture();
        sub.ordering = crate::subscription::Ordering::Fifo;
        let task = DeliveryTask::first_of(&event, sub.id).ordered_by(sub.ordering, Some("customer-1"));
        let busy = Outcome::Failed(Reason::HttpStatus(503));
        let writes = writes_after(&task, &sub, &event, &busy, None);
        assert_eq!(names(&writes), ["fields", "log", "hold_head"]);
        match &writes[2] {
            Write::HoldHead { group, head, delay_secs, .. } => {
                assert_eq!(Some(group.clone()), task.group());
                assert_eq!((head.event_id.as_str(), head.attempt, *delay_secs), ("evt_1", 2, 60));
                assert_eq!(head.due, Timestamp::from_unix(T + 5 + 60), "due after the delay from this attempt");
            }
            other => panic!("{other:?}"),
        }
        // Its last attempt ends like any other: the record, the count; then the next event goes.
        let last = DeliveryTask { attempt: 5, ..task };
        assert_eq!(
            names(&writes_after(&last, &sub, &event, &busy, None)),
            ["fields", "log", "keep_event", "record_failure", "count"]
        );
    }

    #[test]
    fn a_deferred_task_keeps_its_start_and_its_attempt() {
        let (mut sub, event) = fixture();
        let mut task = DeliveryTask::first_of(&event, sub.id);
        task.attempt = 2;
        let now = Timestamp::from_unix(T + 100);
        let start = (T + 130) * 1_000_000;
        match deferred(&task, start, 28, now) {
            Write::Enqueue { task: later, delay_secs } => {
                assert_eq!((later.attempt, later.paced_at, delay_secs), (2, Some(start), 28));
                assert_eq!(later.event, task.event);
            }
            other => panic!("{other:?}"),
        }
        sub.ordering = crate::subscription::Ordering::Fifo;
        let ordered = task.clone().ordered_by(sub.ordering, None);
        let write = deferred(&ordered, start, 28, now);
        assert_eq!(held_for(std::slice::from_ref(&write)), Some(28));
        match write {
            Write::HoldHead { head, group, .. } => {
                assert_eq!(Some(group), ordered.group());
                assert_eq!(
                    head,
                    FifoHead { event_id: "evt_1".into(), attempt: 2, due: now.plus_seconds(28), paced_at: Some(start) }
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(held_for(&[Write::Enqueue { task, delay_secs: 3 }]), None);
    }

    #[test]
    fn the_last_failure_keeps_a_carried_event_records_and_counts() {
        let (sub, event) = fixture();
        let mut task = DeliveryTask::first_of(&event, sub.id);
        task.attempt = 5;
        let reset = Outcome::Failed(Reason::ConnectionReset);
        let writes = writes_after(&task, &sub, &event, &reset, None);
        assert_eq!(names(&writes), ["fields", "log", "keep_event", "record_failure", "count"]);
        match (&writes[3], &writes[4]) {
            (Write::RecordFailure { failure }, Write::CountExhausted { event_id, reason, .. }) => {
                assert_eq!(
                    (failure.reason.as_ref(), failure.subscription_name.as_str()),
                    (Some(&Reason::ConnectionReset), "CRM")
                );
                assert_eq!((event_id.as_str(), reason), ("evt_1", &Reason::ConnectionReset));
            }
            other => panic!("{other:?}"),
        }
        // An event the store already has (a chosen id, a large event) is not stored again.
        task.event = None;
        let writes = writes_after(&task, &sub, &event, &reset, None);
        assert_eq!(names(&writes), ["fields", "log", "record_failure", "count"]);
    }

    #[test]
    fn a_retrigger_settles_its_record_and_never_retries() {
        let (sub, event) = fixture();
        let failure_id = FailureId::new(Timestamp::from_unix(T));
        let task = DeliveryTask::retrigger(sub.account_id, sub.id, "evt_1", failure_id);
        let timeout = Outcome::Failed(Reason::Timeout);
        let writes = writes_after(&task, &sub, &event, &timeout, None);
        assert_eq!(names(&writes), ["fields", "log", "settle"]);
        assert!(
            matches!(&writes[2], Write::SettleFailure { outcome: RetriggerOutcome::Failed(r), .. } if *r == Reason::Timeout)
        );
    }

    #[test]
    fn writes_travel_inside_a_record_task() {
        let (sub, event) = fixture();
        let task = DeliveryTask::first_of(&event, sub.id);
        let reset = Outcome::Failed(Reason::ConnectionReset);
        let mut last = task.clone();
        last.attempt = 5;
        let writes = writes_after(&last, &sub, &event, &reset, None);
        let record = task.record(writes.clone());
        assert_eq!(record.event, None, "the event rides in its KeepEvent write, not twice");
        let back: DeliveryTask = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(back.kind, TaskKind::Record { writes });
    }

    #[test]
    fn a_task_of_a_disabled_subscription_becomes_a_record() {
        let (sub, event) = fixture();
        let task = DeliveryTask::first_of(&event, sub.id);
        let writes = disabled_subscription(&task, &sub, &event, Timestamp::from_unix(T + 9), RETENTION);
        assert_eq!(names(&writes), ["keep_event", "record_failure"]);
        assert!(
            matches!(&writes[1], Write::RecordFailure { failure } if failure.reason == Some(Reason::SubscriptionDisabled))
        );
    }
}
