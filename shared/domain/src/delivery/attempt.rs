//! What the attempt log keeps of each attempt, and what clients see of it.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, SubscriptionId};
use crate::reason::Reason;
use crate::time::Timestamp;

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
