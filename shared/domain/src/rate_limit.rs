//! The per-account, per-endpoint rate limit (SPEC §1): fixed one-minute windows whose
//! counters live in the store, so the limit holds across Lambda instances.

use crate::error::RateLimitInfo;
use crate::time::Timestamp;

pub const WINDOW_SECS: i64 = 60;
pub const DEFAULT_PER_MINUTE: u32 = 60;

/// The window a request falls in: its start (the counter's key) and when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

pub fn window_at(now: Timestamp) -> Window {
    let start = now.unix().div_euclid(WINDOW_SECS) * WINDOW_SECS;
    Window { start: Timestamp::from_unix(start), end: Timestamp::from_unix(start + WINDOW_SECS) }
}

/// The counter key for one endpoint (method + route template) within an account's counters:
/// the store keeps each account's counters apart, so an erasure can find them all.
pub fn counter_key(method: &str, route: &str, window: Window) -> String {
    format!("{method} {route}#{}", window.start.unix())
}

/// Given the count after this request was added, whether it may proceed, and the headers'
/// figures either way.
pub fn decide(
    count_including_this: u64,
    limit: u32,
    now: Timestamp,
    window: Window,
) -> Result<RateLimitInfo, RateLimitInfo> {
    let reset_secs = u64::try_from((window.end.unix() - now.unix()).max(1)).unwrap_or(1);
    let remaining = u64::from(limit).saturating_sub(count_including_this);
    let info = RateLimitInfo { limit, remaining: u32::try_from(remaining).unwrap_or(u32::MAX), reset_secs };
    if count_including_this <= u64::from(limit) {
        Ok(info)
    } else {
        Err(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_minutes() {
        let w = window_at(Timestamp::from_unix(125));
        assert_eq!((w.start.unix(), w.end.unix()), (120, 180));
        assert_eq!(window_at(Timestamp::from_unix(120)).start.unix(), 120);
        assert_eq!(window_at(Timestamp::from_unix(179)).start.unix(), 120);
    }

    #[test]
    fn allows_up_to_the_limit_then_refuses() {
        let now = Timestamp::from_unix(125);
        let w = window_at(now);
        let ok = decide(60, 60, now, w).unwrap();
        assert_eq!((ok.remaining, ok.reset_secs), (0, 55));
        let first = decide(1, 60, now, w).unwrap();
        assert_eq!(first.remaining, 59);
        let refused = decide(61, 60, now, w).unwrap_err();
        assert_eq!((refused.limit, refused.remaining, refused.reset_secs), (60, 0, 55));
    }

    #[test]
    fn reset_is_at_least_one_second() {
        let now = Timestamp::from_unix(180);
        let w = window_at(Timestamp::from_unix(179));
        assert_eq!(decide(99, 1, now, w).unwrap_err().reset_secs, 1);
    }

    #[test]
    fn keys_separate_endpoints_and_windows() {
        let w = window_at(Timestamp::from_unix(60));
        let a = counter_key("GET", "/api/v1/webhook-subscriptions/{id}", w);
        assert_ne!(a, counter_key("PATCH", "/api/v1/webhook-subscriptions/{id}", w));
        assert_ne!(a, counter_key("GET", "/api/v1/webhook-subscriptions/{id}", window_at(Timestamp::from_unix(120))));
    }
}
