//! Erasure: removing an account and everything it owns, or one subscription with its
//! history — and saying what went.

use serde::Serialize;

/// What one erasure call removed, by kind. Erasure is resumable, so a call after a complete
/// one removes nothing and answers zeros; a call after an interrupted one answers what it
/// removed itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub account: u64,
    pub tokens: u64,
    pub portal_sessions: u64,
    pub channels: u64,
    pub subscriptions: u64,
    pub events: u64,
    pub attempts: u64,
    pub failures: u64,
    /// The API's rate-limit counters and each subscription's delivery rate limiter.
    pub rate_limit_counters: u64,
    pub usage_counters: u64,
    /// Where FIFO groups' heads stood (SPEC §10).
    pub fifo_heads: u64,
}

impl Removed {
    /// Everything removed, whatever its kind.
    pub fn total(&self) -> u64 {
        let Self {
            account,
            tokens,
            portal_sessions,
            channels,
            subscriptions,
            events,
            attempts,
            failures,
            rate_limit_counters,
            usage_counters,
            fifo_heads,
        } = *self;
        account
            + tokens
            + portal_sessions
            + channels
            + subscriptions
            + events
            + attempts
            + failures
            + rate_limit_counters
            + usage_counters
            + fifo_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_counts_every_kind() {
        let removed = Removed {
            account: 1,
            tokens: 2,
            portal_sessions: 3,
            events: 4,
            attempts: 5,
            failures: 6,
            rate_limit_counters: 7,
            channels: 8,
            subscriptions: 9,
            usage_counters: 10,
            fifo_heads: 11,
        };
        assert_eq!(removed.total(), 66);
        assert_eq!(serde_json::to_value(removed).unwrap()["rate_limit_counters"], 7);
    }
}
