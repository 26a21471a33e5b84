//! Failure records (SPEC §7): one event to one subscription whose automatic attempts are
//! exhausted, or that arrived while the subscription was auto-disabled.

use crate::account::string_enum;
use crate::ids::{AccountId, FailureId, SubscriptionId};
use crate::time::Timestamp;

string_enum!(
    FailureStatus {
        Inactive => "inactive",
        Pending => "pending",
        Resolved => "resolved",
    }
);

/// Why an event to a subscription stopped without a retry left.
pub const REASON_SUBSCRIPTION_DISABLED: &str = "subscription_disabled";
/// A task that died in the SQS dead-letter queue.
pub const REASON_DELIVERY_ERROR: &str = "delivery_error";
/// Resolved failures are kept this long (DynamoDB TTL).
pub const RESOLVED_RETENTION_DAYS: i64 = 90;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub id: FailureId,
    pub account_id: AccountId,
    pub event_id: String,
    pub event_type: String,
    pub subscription_id: SubscriptionId,
    pub subscription_name: String,
    pub status: FailureStatus,
    pub reason: Option<String>,
    pub last_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Failure {
    /// A new `inactive` record.
    #[allow(clippy::too_many_arguments)]
    pub fn inactive(
        account_id: AccountId,
        event_id: &str,
        event_type: &str,
        subscription_id: SubscriptionId,
        subscription_name: &str,
        reason: &str,
        last_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Self {
        Self {
            id: FailureId::new(now),
            account_id,
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            subscription_id,
            subscription_name: subscription_name.to_owned(),
            status: FailureStatus::Inactive,
            reason: Some(reason.to_owned()),
            last_attempt_at,
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_record_is_inactive_with_its_reason() {
        let now = Timestamp::from_unix(1_773_568_800);
        let f = Failure::inactive(
            AccountId::new(),
            "evt_1",
            "call.ended",
            SubscriptionId::new(),
            "CRM",
            "timeout",
            now,
            now,
        );
        assert_eq!((f.status, f.reason.as_deref()), (FailureStatus::Inactive, Some("timeout")));
        assert_eq!(f.id.created_at(), now);
        assert_eq!(FailureStatus::parse("pending"), Some(FailureStatus::Pending));
    }
}
