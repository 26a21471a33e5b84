//! Usage per account and hour (the cost issue's lever 5): what an account published and what
//! its deliveries took, counted by the code that did it — once per publish request and once
//! per delivery batch, not once per delivery — so a team can bill its customers or spot a
//! noisy one. Counts are additions to hourly counters; the usage route sums a range of them.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// What an account used (in one hour, or summed over several).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Events accepted by a publish (HTTP, batch or the ingest queue).
    pub events_published: u64,
    /// Attempts answered 2xx.
    pub deliveries: u64,
    /// Attempts made, whatever their outcome (test deliveries not counted).
    pub attempts: u64,
    /// Failure records written.
    pub failures: u64,
    /// Request bodies of the attempts answered 2xx, in bytes.
    pub bytes_delivered: u64,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        let Self { events_published, deliveries, attempts, failures, bytes_delivered } = other;
        self.events_published += events_published;
        self.deliveries += deliveries;
        self.attempts += attempts;
        self.failures += failures;
        self.bytes_delivered += bytes_delivered;
    }
}

/// The hour `t` falls in: its counter's key.
pub fn hour_of(t: Timestamp) -> Timestamp {
    Timestamp::from_unix(t.unix() - t.unix().rem_euclid(3_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_start_on_the_hour_and_usage_adds_field_by_field() {
        assert_eq!(hour_of(Timestamp::from_unix(7_199)), Timestamp::from_unix(3_600));
        assert_eq!(hour_of(Timestamp::from_unix(7_200)), Timestamp::from_unix(7_200));
        assert_eq!(hour_of(Timestamp::from_unix(-1)), Timestamp::from_unix(-3_600));
        let mut total = Usage::default();
        assert!(total.is_empty());
        total += Usage { events_published: 2, deliveries: 1, attempts: 3, failures: 1, bytes_delivered: 10 };
        total += Usage { deliveries: 1, attempts: 1, bytes_delivered: 5, ..Usage::default() };
        assert_eq!(total, Usage { events_published: 2, deliveries: 2, attempts: 4, failures: 1, bytes_delivered: 15 });
    }
}
