//! FIFO delivery (SPEC §10): a `fifo` subscription's events go one at a time, in the order
//! hookpost accepted them, per ordering key.
//!
//! Each (subscription, ordering key) is a *group*, a message group of a FIFO queue: the queue
//! hands out a group's next task only once the one before it is finished, so the order
//! survives concurrency and redelivery. A group's head never leaves the queue until its
//! event is delivered or its retry schedule is exhausted: between attempts it stays there,
//! held out of sight for its retry delay, and where it stands — which attempt comes next,
//! and when — is kept in the store as the group's [`FifoHead`] (a FIFO queue cannot change a
//! message, nor delay one on its own). The worker reads it when a task of the group arrives
//! ([`resume`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DeliveryTask;
use crate::ids::SubscriptionId;
use crate::time::Timestamp;

/// An ordering key: 1 to 128 printable characters (SPEC §4).
pub fn is_valid_ordering_key(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control)
}

/// Marks a task as part of its subscription's order: the event's ordering key, if it had
/// one (without, the whole subscription is one group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InOrder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A group's name, as the queue's message group id: the subscription, and a digest of the
/// key (SQS allows 128 characters of a narrower alphabet than a key's).
pub fn group_of(subscription: SubscriptionId, key: Option<&str>) -> String {
    match key {
        None => subscription.to_string(),
        Some(key) => format!("{subscription}.{}", &hex::encode(Sha256::digest(key.as_bytes()))[..32]),
    }
}

impl DeliveryTask {
    /// The FIFO group this task goes in order within, if it is ordered.
    pub fn group(&self) -> Option<String> {
        self.in_order.as_ref().map(|o| group_of(self.subscription_id, o.key.as_deref()))
    }

    /// Two tasks of one attempt are one message: what a FIFO queue deduplicates on.
    pub fn deduplication_id(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}\n{}", self.subscription_id, self.event_id, self.attempt));
        hex::encode(digest)
    }
}

/// Where a group's head stands while it waits in the queue: the event, the attempt that
/// comes next, when it is due, and the start it holds under the rate limit, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FifoHead {
    pub event_id: String,
    pub attempt: u32,
    pub due: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paced_at: Option<i64>,
}

impl FifoHead {
    /// Kept a week past its due time, then left to the store's TTL.
    pub fn expires_at(&self) -> Timestamp {
        self.due.plus_days(7)
    }
}

/// The longest a queue keeps a received message out of sight in one step (SQS: 12 hours); a
/// longer wait takes several.
pub const MAX_HOLD_SECS: u64 = 43_200;

/// What to do with an ordered task that arrived, given its group's head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Work it: as this attempt, holding this start.
    Work(Box<DeliveryTask>),
    /// Not due yet: hold it this many seconds more.
    Hold { secs: u64 },
}

/// An ordered task resumes where its group's head says it stands, when the head is about
/// this event; otherwise it is the event's first arrival (or a redelivery before any
/// attempt was recorded): its first attempt. `now_us` is the scheduling clock's (unix
/// microseconds).
pub fn resume(task: &DeliveryTask, head: Option<&FifoHead>, now_us: i64) -> Resume {
    match head {
        Some(head) if head.event_id == task.event_id => {
            let left_us = head.due.unix() * 1_000_000 - now_us;
            if left_us > 0 {
                Resume::Hold { secs: u64::try_from((left_us + 999_999) / 1_000_000).unwrap_or(0) }
            } else {
                Resume::Work(Box::new(DeliveryTask { attempt: head.attempt, paced_at: head.paced_at, ..task.clone() }))
            }
        }
        _ => Resume::Work(Box::new(task.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AccountId;

    fn ordered(key: Option<&str>) -> DeliveryTask {
        let mut task = DeliveryTask::first(AccountId::new(), SubscriptionId::new(), "evt_1");
        task.in_order = Some(InOrder { key: key.map(str::to_owned) });
        task
    }

    #[test]
    fn keys_are_printable_and_at_most_128_characters() {
        assert!(is_valid_ordering_key("customer-42"));
        assert!(is_valid_ordering_key("ключ заказа 7"));
        assert!(is_valid_ordering_key(&"k".repeat(128)));
        assert!(!is_valid_ordering_key(&"k".repeat(129)));
        assert!(!is_valid_ordering_key(""));
        assert!(!is_valid_ordering_key("a\nb"));
    }

    #[test]
    fn groups_are_per_subscription_and_key_within_sqs_rules() {
        let plain = DeliveryTask::first(AccountId::new(), SubscriptionId::new(), "evt_1");
        assert_eq!(plain.group(), None);
        let whole = ordered(None);
        assert_eq!(whole.group(), Some(whole.subscription_id.to_string()));
        let a = ordered(Some("customer/42 — ü"));
        let group = a.group().unwrap();
        assert!(group.starts_with(&a.subscription_id.to_string()));
        assert!(group.len() <= 128 && group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        let mut b = a.clone();
        b.in_order = Some(InOrder { key: Some("customer/43".into()) });
        assert_ne!(a.group(), b.group(), "another key, another group");
        let mut elsewhere = ordered(Some("customer/42 — ü"));
        assert_ne!(a.group(), elsewhere.group(), "the same key of another subscription");
        elsewhere.subscription_id = a.subscription_id;
        assert_eq!(a.group(), elsewhere.group());
    }

    #[test]
    fn deduplication_ids_name_one_attempt() {
        let task = ordered(None);
        assert_eq!(task.deduplication_id(), task.clone().deduplication_id());
        assert_eq!(task.deduplication_id().len(), 64);
        let next = DeliveryTask { attempt: 2, ..task.clone() };
        assert_ne!(task.deduplication_id(), next.deduplication_id());
    }

    #[test]
    fn an_ordered_task_resumes_where_its_head_stands() {
        let task = ordered(Some("k"));
        let now = 1_000_000_000;
        assert_eq!(resume(&task, None, now), Resume::Work(Box::new(task.clone())));
        let other = FifoHead { event_id: "evt_0".into(), attempt: 4, due: Timestamp::from_unix(5_000), paced_at: None };
        assert_eq!(
            resume(&task, Some(&other), now),
            Resume::Work(Box::new(task.clone())),
            "a head of an earlier event"
        );
        let waiting =
            FifoHead { event_id: "evt_1".into(), attempt: 3, due: Timestamp::from_unix(1_060), paced_at: None };
        assert_eq!(resume(&task, Some(&waiting), now), Resume::Hold { secs: 60 });
        let due = FifoHead { paced_at: Some(1_000_500_000), ..waiting.clone() };
        assert_eq!(resume(&task, Some(&waiting), now + 59_500_000), Resume::Hold { secs: 1 }, "rounded up");
        match resume(&task, Some(&due), 1_060_000_000) {
            Resume::Work(t) => {
                assert_eq!((t.attempt, t.paced_at, t.event_id.as_str()), (3, Some(1_000_500_000), "evt_1"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(waiting.expires_at(), Timestamp::from_unix(1_060 + 7 * 86_400));
    }
}
