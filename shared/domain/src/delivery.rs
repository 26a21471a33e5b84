//! Delivery rules (SPEC §5): the retry schedule, how an attempt's outcome is named, and the
//! body each attempt carries.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::Event;
use crate::ids::{AccountId, ChannelId, FailureId, SubscriptionId};
use crate::reason::Reason;
use crate::time::Timestamp;

pub const DEFAULT_RETRY_SCHEDULE: &str = "0,60,600,3600,21600";
/// The jitter applied to every non-zero delay: ±10 %.
pub const JITTER: f64 = 0.10;
/// Consecutive failed events (whole retry cycles) that auto-disable a subscription.
pub const AUTO_DISABLE_AFTER: u32 = 5;
/// How much of a response body is kept with the attempt.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// Seconds before each attempt, counted from the previous one (the first from publish):
/// as many entries as attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(Vec<u32>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(vec![0, 60, 600, 3600, 21600])
    }
}

impl RetrySchedule {
    /// `HOOKPOST_RETRY_SCHEDULE`: comma-separated whole seconds, 1 to 20 entries, each at
    /// most 7 days.
    pub fn parse(s: &str) -> Result<Self, String> {
        let delays: Vec<u32> = s
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|d| *d <= 7 * 86_400)
                    .ok_or_else(|| format!("`{}` is not a delay in seconds (0 to 604800)", part.trim()))
            })
            .collect::<Result<_, _>>()?;
        if delays.is_empty() || delays.len() > 20 {
            return Err("the retry schedule needs 1 to 20 entries".to_owned());
        }
        Ok(Self(delays))
    }

    pub fn attempts(&self) -> u32 {
        self.0.len() as u32
    }

    /// The nominal delay before attempt `n` (1-based), if there is such an attempt.
    pub fn delay_before(&self, attempt: u32) -> Option<u32> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.0.get(index).copied()
    }
}

/// The delay actually waited before an attempt: ±10 % jitter on a non-zero nominal delay
/// (`unit` is a random number in [0, 1)), and a receiver's `Retry-After` (from a 429 or
/// 503) honoured within [delay, 2 × delay].
pub fn effective_delay(nominal: u32, retry_after: Option<u64>, unit: f64) -> u64 {
    if nominal == 0 {
        return 0;
    }
    let nominal = u64::from(nominal);
    if let Some(asked) = retry_after {
        return asked.clamp(nominal, 2 * nominal);
    }
    let factor = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    ((nominal as f64) * factor).round().max(1.0) as u64
}

/// How one attempt ended: delivered (a 2xx), or failed for a [`Reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered { status: u16 },
    Failed(Reason),
}

impl Outcome {
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Delivered { status },
            300..=399 => Self::Failed(Reason::RedirectBlocked(status)),
            _ => Self::Failed(Reason::HttpStatus(status)),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Delivered { status } => Some(*status),
            Self::Failed(reason) => reason.status_code(),
        }
    }

    /// The reason recorded for a failed attempt; `None` for a delivery.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::Delivered { .. } => None,
            Self::Failed(reason) => Some(reason.clone()),
        }
    }

    /// Whether a receiver's `Retry-After` applies to this outcome.
    pub fn honours_retry_after(&self) -> bool {
        matches!(self, Self::Failed(reason) if reason.honours_retry_after())
    }
}

/// The JSON body of one attempt. `data` is the published object, kept as the exact bytes
/// the operator sent.
#[derive(Debug, Serialize)]
pub struct DeliveryBody<'a> {
    pub event: &'a str,
    pub event_id: &'a str,
    pub delivered_at: Timestamp,
    pub channel_id: Option<&'a ChannelId>,
    pub data: &'a RawValue,
}

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

    /// A task that finishes `writes` for this one, carrying no event of its own (a write
    /// that needs the event has it).
    pub fn record(&self, writes: Vec<crate::writes::Write>) -> Self {
        Self { kind: TaskKind::Record { writes }, not_before: None, event: None, ..self.clone() }
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

/// One attempt, as the attempt log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub account_id: AccountId,
    pub subscription_id: SubscriptionId,
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub reason: Option<Reason>,
    pub duration_ms: u64,
    pub response_excerpt: Option<String>,
    pub test: bool,
    pub attempted_at: Timestamp,
    /// Where the attempt sits in the log, fixed when the attempt is made: the wall clock's
    /// nanoseconds (to order attempts within one second) and a random tail. Writing the
    /// same attempt twice overwrites one entry instead of adding a second.
    pub log_key: AttemptKey,
}

/// An attempt's place in the log (see [`Attempt::log_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttemptKey {
    pub nanos: u64,
    pub nonce: u32,
}

impl AttemptKey {
    /// A key for an attempt made now.
    pub fn now() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self { nanos, nonce: rand::random() }
    }
}

/// What `GET /api/v1/webhook-subscriptions/{id}/attempts` shows of an attempt.
#[derive(Debug, Serialize)]
pub struct AttemptView<'a> {
    pub event_id: &'a str,
    pub event: &'a str,
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub reason: Option<&'a Reason>,
    pub duration_ms: u64,
    pub response_excerpt: Option<&'a str>,
    pub test: bool,
    pub attempted_at: Timestamp,
}

impl Attempt {
    pub fn view(&self) -> AttemptView<'_> {
        AttemptView {
            event_id: &self.event_id,
            event: &self.event_type,
            attempt: self.attempt,
            status_code: self.status_code,
            reason: self.reason.as_ref(),
            duration_ms: self.duration_ms,
            response_excerpt: self.response_excerpt.as_deref(),
            test: self.test,
            attempted_at: self.attempted_at,
        }
    }
}

/// Parses a `Retry-After` header: delta-seconds only (an HTTP date is ignored).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_five_attempts() {
        let s = RetrySchedule::parse(DEFAULT_RETRY_SCHEDULE).unwrap();
        assert_eq!(s, RetrySchedule::default());
        assert_eq!(s.attempts(), 5);
        assert_eq!(
            (s.delay_before(1), s.delay_before(2), s.delay_before(5), s.delay_before(6)),
            (Some(0), Some(60), Some(21600), None)
        );
        assert_eq!(s.delay_before(0), None);
    }

    #[test]
    fn schedule_parsing() {
        assert_eq!(RetrySchedule::parse(" 0, 1 ,2").unwrap().attempts(), 3);
        assert_eq!(RetrySchedule::parse("5").unwrap().delay_before(1), Some(5));
        for bad in ["", "a", "1,,2", "-1", "604801", &vec!["1"; 21].join(",")] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        assert_eq!(effective_delay(0, None, 0.7), 0);
        assert_eq!(effective_delay(600, None, 0.0), 540);
        assert_eq!(effective_delay(600, None, 0.5), 600);
        assert_eq!(effective_delay(600, None, 1.0), 660);
        for i in 0..100 {
            let d = effective_delay(3600, None, f64::from(i) / 100.0);
            assert!((3240..=3960).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        assert_eq!(effective_delay(60, Some(90), 0.0), 90);
        assert_eq!(effective_delay(60, Some(5), 0.0), 60);
        assert_eq!(effective_delay(60, Some(100_000), 0.0), 120);
        assert_eq!(effective_delay(0, Some(30), 0.0), 0, "an immediate attempt stays immediate");
        assert_eq!(parse_retry_after(" 120 "), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn outcomes_name_their_reasons() {
        assert_eq!(Outcome::from_status(204), Outcome::Delivered { status: 204 });
        assert_eq!(Outcome::from_status(302).reason().map(|r| r.to_string()).as_deref(), Some("redirect_blocked: 302"));
        assert_eq!(Outcome::from_status(503).reason().map(|r| r.to_string()).as_deref(), Some("http_status: 503"));
        assert_eq!(Outcome::from_status(100).reason(), Some(Reason::HttpStatus(100)));
        assert_eq!(Outcome::Failed(Reason::Timeout).reason(), Some(Reason::Timeout));
        assert_eq!(Outcome::Delivered { status: 200 }.reason(), None);
        assert!(Outcome::from_status(429).honours_retry_after() && Outcome::from_status(503).honours_retry_after());
        assert!(!Outcome::from_status(500).honours_retry_after());
        assert_eq!(Outcome::from_status(301).status_code(), Some(301));
        assert_eq!(Outcome::Failed(Reason::Timeout).status_code(), None);
    }

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

    #[test]
    fn body_shape() {
        let data = RawValue::from_string(r#"{"call_id": 7}"#.to_owned()).unwrap();
        let body = DeliveryBody {
            event: "call.ended",
            event_id: "evt_1",
            delivered_at: Timestamp::from_unix(0),
            channel_id: None,
            data: &data,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"event":"call.ended","event_id":"evt_1","delivered_at":"1970-01-01T00:00:00Z","channel_id":null,"data":{"call_id": 7}}"#
        );
    }
}
