//! What clients see of a subscription.

use serde::Serialize;

use super::{secret_prefix, DisabledReason, Ordering, Source, Subscription};
use crate::account::ChannelType;
use crate::filter::ContentFilter;
use crate::ids::{ChannelId, SubscriptionId};
use crate::pacing::RateLimit;
use crate::time::Timestamp;

/// What clients see of a subscription: every field of the seed, always present.
#[derive(Debug, Serialize)]
pub struct SubscriptionView<'a> {
    pub id: SubscriptionId,
    pub name: &'a str,
    pub url: &'a str,
    pub events: &'a [String],
    pub secret_prefix: String,
    pub channel_id: Option<&'a ChannelId>,
    pub channel_type: Option<ChannelType>,
    pub source: Source,
    pub zapier_subscription_id: Option<&'a str>,
    pub is_active: bool,
    pub disabled_reason: Option<DisabledReason>,
    pub consecutive_failures: u32,
    pub last_delivery_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<&'a str>,
    pub created_at: Timestamp,
    pub created_by_user_id: Option<&'a str>,
    pub rate_limit: Option<RateLimit>,
    pub ordering: Ordering,
    pub filter: Option<&'a ContentFilter>,
    /// Only in the answer to create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'a str>,
}

impl Subscription {
    pub fn view(&self) -> SubscriptionView<'_> {
        SubscriptionView {
            id: self.id,
            name: &self.name,
            url: &self.url,
            events: &self.events,
            secret_prefix: secret_prefix(&self.secret),
            channel_id: self.channel_id.as_ref(),
            channel_type: self.channel_type,
            source: self.source,
            zapier_subscription_id: self.zapier_subscription_id.as_deref(),
            is_active: self.is_active(),
            disabled_reason: self.state.disabled_reason(),
            consecutive_failures: self.consecutive_failures,
            last_delivery_at: self.last_delivery_at,
            last_success_at: self.last_success_at,
            last_error: self.last_error.as_deref(),
            created_at: self.created_at,
            created_by_user_id: self.created_by_user_id.as_deref(),
            rate_limit: self.rate_limit,
            ordering: self.ordering,
            filter: self.filter.as_ref(),
            secret: None,
        }
    }

    /// The view with the plaintext secret: the create answer, shown once.
    pub fn view_with_secret(&self) -> SubscriptionView<'_> {
        SubscriptionView { secret: Some(&self.secret), ..self.view() }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample;
    use super::super::Authentication;
    use super::*;

    #[test]
    fn view_hides_secret_and_credentials() {
        let mut sub = sample();
        sub.authentication = Authentication::Bearer { token: "tok-123".into() };
        sub.headers.insert("x-key".into(), "hdr-secret".into());
        let v = serde_json::to_value(sub.view()).unwrap();
        let text = v.to_string();
        assert!(!text.contains(&sub.secret) && !text.contains("tok-123") && !text.contains("hdr-secret"));
        assert_eq!(v["secret_prefix"], secret_prefix(&sub.secret));
        for field in [
            "id",
            "name",
            "url",
            "events",
            "secret_prefix",
            "channel_id",
            "channel_type",
            "source",
            "zapier_subscription_id",
            "is_active",
            "disabled_reason",
            "consecutive_failures",
            "last_delivery_at",
            "last_success_at",
            "last_error",
            "created_at",
            "created_by_user_id",
            "rate_limit",
            "ordering",
            "filter",
        ] {
            assert!(v.get(field).is_some(), "{field} missing");
        }
        assert!(v.get("secret").is_none());
        assert_eq!((v["rate_limit"].as_u64(), v["ordering"].as_str()), (Some(100), Some("unordered")));
        let with = serde_json::to_value(sub.view_with_secret()).unwrap();
        assert_eq!(with["secret"], sub.secret.as_str());
    }
}
