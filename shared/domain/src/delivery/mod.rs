//! Delivery rules (SPEC §5): the retry schedule, how an attempt's outcome is named, and the
//! body each attempt carries. The unit of work on the queue is a `task`; what the attempt
//! log keeps of each attempt is an `attempt`.

mod attempt;
pub mod order;
mod task;

pub use attempt::*;
pub use task::*;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::ids::ChannelId;
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
