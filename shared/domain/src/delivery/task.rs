//! The unit of delivery work: an attempt of an event to a subscription, as it travels
//! through the queue.

use serde::{Deserialize, Serialize};

use super::order::InOrder;
use crate::event::Event;
use crate::ids::{AccountId, ChannelId, FailureId, SubscriptionId};
use crate::time::Timestamp;

/// One unit of delivery work: an attempt of an event to a subscription. It travels through
/// the queue as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryTask {
    pub account_id: AccountId,
    pub subscription_id: SubscriptionId,
    pub event_id: String,
    /// 1-based attempt number within the retry schedule.
    pub attempt: u32,
    pub kind: TaskKind,
    /// Not to be attempted before this time (unix seconds): how delays longer than a
    /// queue's own maximum are carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// The event itself, when it is small: every attempt of a scheduled task then builds its
    /// request without reading the event back from the store (one DynamoDB read fewer per
    /// attempt). Events are immutable, so the copy cannot go stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<CarriedEvent>,
    /// Set for a task of a `fifo` subscription: it goes in its group's order (see
    /// [`super::order`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_order: Option<InOrder>,
    /// The start this task holds under its subscription's rate limit (unix microseconds),
    /// when it was deferred to wait for it (see [`crate::pacing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paced_at: Option<i64>,
}

/// The part of an event an attempt is built from, carried inside its delivery tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedEvent {
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    pub data: String,
    pub created_at: Timestamp,
}

/// Events whose `data` is larger stay out of the task (the store has them): a task stays
/// well inside one 64 KiB SQS billing unit.
pub const MAX_CARRIED_EVENT_BYTES: usize = 48 * 1024;

/// Whether `event` travels inside its delivery tasks.
pub fn is_carried(event: &Event) -> bool {
    event.data.len() <= MAX_CARRIED_EVENT_BYTES
}

/// What kind of attempt a task is. Tagged, so kinds can be added (a manual retrigger of a
/// failure record is next) without breaking tasks already queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskKind {
    /// Part of the automatic retry schedule.
    Scheduled,
    /// A customer's retrigger of a failure record: one attempt, made even to an
    /// auto-disabled subscription, whose outcome settles the record.
    Retrigger { failure_id: FailureId },
    /// No attempt: the writes an attempt's outcome still needs, which the store would not
    /// take when the attempt was made. Whoever receives the task applies them; nothing is
    /// sent again (see [`crate::writes`]).
    Record { writes: Vec<crate::writes::Write> },
}

impl DeliveryTask {
    /// The one attempt of a retrigger.
    pub fn retrigger(
        account_id: AccountId,
        subscription_id: SubscriptionId,
        event_id: &str,
        failure_id: FailureId,
    ) -> Self {
        Self {
            account_id,
            subscription_id,
            event_id: event_id.to_owned(),
            attempt: 1,
            kind: TaskKind::Retrigger { failure_id },
            not_before: None,
            event: None,
            in_order: None,
            paced_at: None,
        }
    }

    pub fn first(account_id: AccountId, subscription_id: SubscriptionId, event_id: &str) -> Self {
        Self {
            account_id,
            subscription_id,
            event_id: event_id.to_owned(),
            attempt: 1,
            kind: TaskKind::Scheduled,
            not_before: None,
            event: None,
            in_order: None,
            paced_at: None,
        }
    }

    /// The first attempt of `event` to a subscription, carrying the event when it is small.
    pub fn first_of(event: &Event, subscription_id: SubscriptionId) -> Self {
        let mut task = Self::first(event.account_id, subscription_id, &event.event_id);
        if is_carried(event) {
            task.event = Some(CarriedEvent {
                event_type: event.event_type.clone(),
                channel_id: event.channel_id.clone(),
                data: event.data.clone(),
                created_at: event.created_at,
            });
        }
        task
    }

    /// In its subscription's order when the subscription is `fifo` (SPEC §10), by the
    /// event's ordering key.
    #[must_use]
    pub fn ordered_by(self, ordering: crate::subscription::Ordering, key: Option<&str>) -> Self {
        let in_order =
            (ordering == crate::subscription::Ordering::Fifo).then(|| InOrder { key: key.map(str::to_owned) });
        Self { in_order, ..self }
    }

    /// A task that finishes `writes` for this one, carrying no event of its own (a write
    /// that needs the event has it). It is no attempt, so it holds no place in an order nor
    /// a start under the rate limit.
    pub fn record(&self, writes: Vec<crate::writes::Write>) -> Self {
        Self {
            kind: TaskKind::Record { writes },
            not_before: None,
            event: None,
            in_order: None,
            paced_at: None,
            ..self.clone()
        }
    }

    /// The event this task carries, whole again.
    pub fn carried_event(&self) -> Option<Event> {
        self.event.as_ref().map(|carried| Event {
            account_id: self.account_id,
            event_id: self.event_id.clone(),
            event_type: carried.event_type.clone(),
            channel_id: carried.channel_id.clone(),
            data: carried.data.clone(),
            created_at: carried.created_at,
            subscriptions: 0,
            fanned_out: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_travel_as_json() {
        let mut task = DeliveryTask::first(AccountId::new(), SubscriptionId::new(), "evt_1");
        let json = serde_json::to_value(&task).unwrap();
        assert_eq!(json["kind"], serde_json::json!({"type": "scheduled"}));
        assert!(json.get("not_before").is_none());
        assert_eq!(serde_json::from_value::<DeliveryTask>(json).unwrap(), task);
        task.kind = TaskKind::Retrigger { failure_id: FailureId::new(Timestamp::from_unix(5)) };
        task.not_before = Some(99);
        let text = serde_json::to_string(&task).unwrap();
        assert_eq!(serde_json::from_str::<DeliveryTask>(&text).unwrap(), task);
        assert!(serde_json::from_str::<DeliveryTask>(r#"{"account_id":"x"}"#).is_err());
    }

    #[test]
    fn small_events_travel_inside_their_tasks() {
        let event = Event {
            account_id: AccountId::new(),
            event_id: "evt_7".to_owned(),
            event_type: "call.ended".to_owned(),
            channel_id: None,
            data: r#"{"call_id":7}"#.to_owned(),
            created_at: Timestamp::from_unix(1_700_000_000),
            subscriptions: 3,
            fanned_out: false,
        };
        let sub = SubscriptionId::new();
        let task = DeliveryTask::first_of(&event, sub);
        let back: DeliveryTask = serde_json::from_str(&serde_json::to_string(&task).unwrap()).unwrap();
        let carried = back.carried_event().expect("carried");
        assert_eq!((carried.event_id.as_str(), carried.data.as_str()), ("evt_7", event.data.as_str()));
        assert_eq!(
            (carried.account_id, carried.created_at, back.subscription_id),
            (event.account_id, event.created_at, sub)
        );

        let big = Event { data: format!(r#"{{"b":"{}"}}"#, "x".repeat(MAX_CARRIED_EVENT_BYTES)), ..event };
        assert_eq!(DeliveryTask::first_of(&big, sub).carried_event(), None);
        // Tasks queued before events were carried still read.
        let old =
            r#"{"account_id":"%A","subscription_id":"%S","event_id":"e","attempt":2,"kind":{"type":"scheduled"}}"#
                .replace("%A", &big.account_id.to_string())
                .replace("%S", &sub.to_string());
        assert_eq!(serde_json::from_str::<DeliveryTask>(&old).unwrap().event, None);
    }
}
