//! Operator events: what hookpost tells the team running it when a customer's endpoint is in
//! trouble — a failure record written, a subscription auto-disabled. In AWS they go to an
//! EventBridge bus (`source: hookpost`), locally to an optional signed webhook. The shapes
//! here are the documented contract (README "Operator events").

use serde::Serialize;
use serde_json::{json, Value};

use crate::failure::Failure;
#[cfg(test)]
use crate::subscription::SubscriptionState;
use crate::subscription::{DisabledReason, Subscription};
use crate::time::Timestamp;

/// EventBridge's `source` for every operator event.
pub const SOURCE: &str = "hookpost";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum OperatorEvent {
    /// A failure record was written: an event a subscription did not get.
    #[serde(rename = "failure.recorded")]
    FailureRecorded {
        account_id: String,
        webhook_failure_id: String,
        event_id: String,
        event: String,
        subscription_id: String,
        subscription_name: String,
        reason: String,
        created_at: Timestamp,
    },
    /// A subscription failed too many events in a row and takes none until reactivated.
    #[serde(rename = "subscription.auto_disabled")]
    SubscriptionAutoDisabled {
        account_id: String,
        subscription_id: String,
        subscription_name: String,
        consecutive_failures: u32,
        last_error: String,
        disabled_at: Timestamp,
    },
}

impl OperatorEvent {
    pub fn failure_recorded(failure: &Failure) -> Self {
        Self::FailureRecorded {
            account_id: failure.account_id.to_string(),
            webhook_failure_id: failure.id.to_string(),
            event_id: failure.event_id.clone(),
            event: failure.event_type.clone(),
            subscription_id: failure.subscription_id.to_string(),
            subscription_name: failure.subscription_name.clone(),
            reason: failure.reason.as_ref().map(ToString::to_string).unwrap_or_default(),
            created_at: failure.created_at,
        }
    }

    pub fn auto_disabled(sub: &Subscription, last_error: &str, at: Timestamp) -> Self {
        Self::SubscriptionAutoDisabled {
            account_id: sub.account_id.to_string(),
            subscription_id: sub.id.to_string(),
            subscription_name: sub.name.clone(),
            consecutive_failures: sub.consecutive_failures,
            last_error: last_error.to_owned(),
            disabled_at: sub.state.disabled_at().unwrap_or(at),
        }
    }

    /// What a change of a subscription (`old` → `new`, as a table's stream shows it) tells
    /// the operator: an auto-disable when it just became auto-disabled, else nothing.
    pub fn of_subscription_change(old: Option<&Subscription>, new: &Subscription) -> Option<Self> {
        let auto = |s: &Subscription| s.state.disabled_reason() == Some(DisabledReason::AutoDisabled);
        (auto(new) && !old.is_some_and(auto))
            .then(|| Self::auto_disabled(new, new.last_error.as_deref().unwrap_or_default(), new.updated_at))
    }

    /// EventBridge's `detail-type`: what a rule matches on.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::FailureRecorded { .. } => "Webhook Failure Recorded",
            Self::SubscriptionAutoDisabled { .. } => "Webhook Subscription Auto-Disabled",
        }
    }

    /// The webhook's `type` and the log's `operator_event`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FailureRecorded { .. } => "failure.recorded",
            Self::SubscriptionAutoDisabled { .. } => "subscription.auto_disabled",
        }
    }

    /// The same for every emission of one fact, so a receiver can drop a repeat (the
    /// webhook's `webhook-id`).
    pub fn id(&self) -> String {
        match self {
            Self::FailureRecorded { webhook_failure_id, .. } => format!("op_failure_{webhook_failure_id}"),
            Self::SubscriptionAutoDisabled { subscription_id, disabled_at, .. } => {
                format!("op_disabled_{subscription_id}_{}", disabled_at.unix())
            }
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Self::FailureRecorded { created_at, .. } => *created_at,
            Self::SubscriptionAutoDisabled { disabled_at, .. } => *disabled_at,
        }
    }

    /// EventBridge's `detail` (and the webhook's): the fields, without the tag, with the
    /// fact's stable `id`.
    pub fn detail(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut value {
            fields.remove("type");
            fields.insert("id".to_owned(), Value::String(self.id()));
        }
        value
    }

    /// The operator webhook's body: the same envelope EventBridge gives a rule's target.
    pub fn webhook_body(&self) -> Value {
        json!({
            "id": self.id(),
            "type": self.kind(),
            "source": SOURCE,
            "detail-type": self.detail_type(),
            "time": self.at(),
            "detail": self.detail(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscription::{parse_new_subscription, Subscription};
    use crate::{AccountId, DestinationPolicy, Reason, SubscriptionId};

    #[test]
    fn only_the_change_into_auto_disabled_is_an_event() {
        let at = Timestamp::from_unix(1_780_000_000);
        let input =
            parse_new_subscription(serde_json::json!({"url": "https://example.com/h"}), &DestinationPolicy::default())
                .unwrap();
        let active = Subscription::create(AccountId::new(), input, None, None, at);
        let mut disabled = active.clone();
        disabled.state = SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: at.plus_seconds(5) };
        disabled.consecutive_failures = 5;
        disabled.last_error = Some("timeout".into());
        let event = OperatorEvent::of_subscription_change(Some(&active), &disabled).expect("an auto-disable");
        assert_eq!(event.detail_type(), "Webhook Subscription Auto-Disabled");
        assert_eq!(
            (event.detail()["last_error"].as_str(), event.detail()["consecutive_failures"].as_u64()),
            (Some("timeout"), Some(5))
        );
        assert_eq!(event.at(), at.plus_seconds(5));
        // Still disabled (renamed, say), deleted, or active: nothing to tell.
        assert_eq!(OperatorEvent::of_subscription_change(Some(&disabled), &disabled), None);
        let mut deleted = active.clone();
        deleted.state = SubscriptionState::Disabled { reason: DisabledReason::Deleted, at };
        assert_eq!(OperatorEvent::of_subscription_change(Some(&active), &deleted), None);
        assert_eq!(OperatorEvent::of_subscription_change(None, &active), None);
    }

    fn failure() -> Failure {
        let at = Timestamp::from_unix(1_780_000_000);
        Failure::inactive(
            AccountId::new(),
            "evt_1",
            "call.ended",
            SubscriptionId::new(),
            "CRM",
            Reason::Timeout,
            at,
            at,
        )
    }

    #[test]
    fn a_failure_record_becomes_a_documented_event() {
        let f = failure();
        let event = OperatorEvent::failure_recorded(&f);
        assert_eq!(event.detail_type(), "Webhook Failure Recorded");
        let detail = event.detail();
        assert_eq!(detail["reason"], "timeout");
        assert_eq!(detail["webhook_failure_id"], f.id.to_string());
        assert_eq!(detail["created_at"], "2026-05-28T20:26:40Z");
        assert!(detail.get("type").is_none(), "the tag is EventBridge's detail-type, not a field");
        assert_eq!(detail["id"], event.id());
        let body = event.webhook_body();
        assert_eq!((body["source"].as_str(), body["type"].as_str()), (Some("hookpost"), Some("failure.recorded")));
        assert_eq!(body["id"], format!("op_failure_{}", f.id));
    }

    #[test]
    fn one_fact_has_one_id_however_often_it_is_emitted() {
        let f = failure();
        assert_eq!(OperatorEvent::failure_recorded(&f).id(), OperatorEvent::failure_recorded(&f.clone()).id());
    }
}
