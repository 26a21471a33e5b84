//! Webhook subscriptions (SPEC §3): the model and how one is made. What a client may send
//! is read in `input`, what it sees back is `view`, how a subscription's state moves is
//! `lifecycle`.

mod input;
pub mod lifecycle;
mod view;

pub use input::*;
pub use lifecycle::{
    check_reactivation, CountedEvents, FailureCount, Requirement, SubscriptionChange, SubscriptionState,
};
pub use view::*;

use std::collections::BTreeMap;

use base64::Engine;
use rand::RngCore;

use crate::account::{string_enum, ChannelType};
use crate::filter::ContentFilter;
use crate::ids::{AccountId, ChannelId, SubscriptionId};
use crate::pacing::{RateLimit, DEFAULT_RATE_LIMIT};
use crate::time::Timestamp;

pub const SECRET_PREFIX: &str = "whsec_";
pub const SECRET_PREFIX_LEN: usize = 12;
pub const MAX_HEADERS: usize = 10;
pub const MAX_EVENTS: usize = 100;
pub const MAX_NAME_LEN: usize = 200;
pub const DEFAULT_MAX_ACTIVE: u32 = 25;
/// How long a disabled subscription may still be reactivated.
pub const REACTIVATION_WINDOW_DAYS: i64 = 90;
/// How long the previous signing secret keeps signing after a rotation (SPEC §3: receivers
/// switch over without dropping a delivery).
pub const SECRET_OVERLAP_SECS: i64 = 24 * 3600;

string_enum!(Source { Zapier => "zapier", Dashboard => "dashboard" });
string_enum!(DisabledReason { Deleted => "deleted", AutoDisabled => "auto_disabled" });
string_enum!(Ordering { Unordered => "unordered", Fifo => "fifo" });

/// How hookpost authenticates to the receiver, besides the signature. Write-only; its
/// `Debug` names the kind and the user name, never a password or a token.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Authentication {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &"<redacted>").finish()
            }
            Self::Bearer { .. } => f.debug_struct("Bearer").field("token", &"<redacted>").finish(),
        }
    }
}

/// Its `Debug` leaves out what authenticates it to the receiver: the secrets, the header
/// values (names only: `x-api-key` is a common one), the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub account_id: AccountId,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret in full (`whsec_...`): needed to sign, never returned after create.
    pub secret: String,
    pub channel_id: Option<ChannelId>,
    pub channel_type: Option<ChannelType>,
    pub source: Source,
    pub zapier_subscription_id: Option<String>,
    pub state: SubscriptionState,
    pub consecutive_failures: u32,
    pub last_delivery_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by_user_id: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub authentication: Authentication,
    /// The secret replaced by the last rotation, still signing until the time given.
    pub previous_secret: Option<(String, Timestamp)>,
    /// The most delivery attempts a second to its URL (SPEC §10); `None`: no limit.
    pub rate_limit: Option<RateLimit>,
    /// Whether its events go one at a time, in order (SPEC §10).
    pub ordering: Ordering,
    /// Which events it wants by their content (SPEC §11); `None`: every event its `events`
    /// and channel select.
    pub filter: Option<ContentFilter>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .field("channel_id", &self.channel_id)
            .field("channel_type", &self.channel_type)
            .field("source", &self.source)
            .field("zapier_subscription_id", &self.zapier_subscription_id)
            .field("state", &self.state)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("last_delivery_at", &self.last_delivery_at)
            .field("last_success_at", &self.last_success_at)
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("created_by_user_id", &self.created_by_user_id)
            .field("header_names", &self.headers.keys().collect::<Vec<_>>())
            .field("authentication", &self.authentication)
            .field("previous_secret_until", &self.previous_secret.as_ref().map(|(_, until)| until))
            .field("rate_limit", &self.rate_limit)
            .field("ordering", &self.ordering)
            .field("filter", &self.filter)
            .finish()
    }
}

/// `whsec_` + base64 of 32 random bytes: the Standard Webhooks secret format.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

pub fn secret_prefix(secret: &str) -> String {
    secret.chars().take(SECRET_PREFIX_LEN).collect()
}

impl Subscription {
    /// Builds a new active subscription from a validated request.
    pub fn create(
        account_id: AccountId,
        input: NewSubscription,
        channel_type: Option<ChannelType>,
        user_id: Option<String>,
        now: Timestamp,
    ) -> Self {
        let created_by_user_id = match input.source {
            Source::Dashboard => user_id,
            Source::Zapier => None,
        };
        Self {
            id: SubscriptionId::new(),
            account_id,
            name: input.name,
            url: input.url,
            events: input.events,
            secret: generate_secret(),
            channel_id: input.channel_id,
            channel_type,
            source: input.source,
            zapier_subscription_id: input.zapier_subscription_id,
            state: SubscriptionState::Active,
            consecutive_failures: 0,
            last_delivery_at: None,
            last_success_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            created_by_user_id,
            headers: input.headers,
            authentication: input.authentication,
            previous_secret: None,
            rate_limit: input.rate_limit.unwrap_or(RateLimit::new(DEFAULT_RATE_LIMIT)),
            ordering: input.ordering,
            filter: input.filter,
        }
    }
}

impl Subscription {
    /// The secrets that sign a delivery at `now`: the current one, and the previous one
    /// while a rotation's overlap lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret {
            if now < *until {
                secrets.push(previous);
            }
        }
        secrets
    }
}

/// Filters of `GET /api/v1/webhook-subscriptions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    pub source: Option<Source>,
    pub is_active: Option<bool>,
}

impl SubscriptionFilter {
    pub fn matches(&self, sub: &Subscription) -> bool {
        self.source.is_none_or(|s| s == sub.source) && self.is_active.is_none_or(|a| a == sub.is_active())
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::json;

    use super::*;
    use crate::address::DestinationPolicy;

    pub(crate) fn policy() -> DestinationPolicy {
        DestinationPolicy::default()
    }

    pub(crate) fn sample() -> Subscription {
        let input = parse_new_subscription(json!({"url": "https://example.com/h"}), &policy()).unwrap();
        Subscription::create(AccountId::new(), input, None, Some("u1".into()), Timestamp::from_unix(1000))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::test_support::sample;
    use super::*;

    #[test]
    fn debug_output_leaves_out_what_authenticates() {
        let mut sub = sample();
        sub.secret = "whsec_c2VjcmV0LXNpZ25pbmcta2V5".into();
        sub.previous_secret = Some(("whsec_b2xkLXNpZ25pbmcta2V5".into(), Timestamp::from_unix(100)));
        sub.headers = BTreeMap::from([("X-Api-Key".to_owned(), "key-in-a-header".to_owned())]);
        sub.authentication = Authentication::Basic { username: "hooks".into(), password: "pa55word".into() };
        let shown = format!("{sub:?}");
        for secret in ["c2VjcmV0LXNpZ25pbmcta2V5", "b2xkLXNpZ25pbmcta2V5", "key-in-a-header", "pa55word"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("X-Api-Key") && shown.contains("hooks"), "{shown}");
        let bearer = format!("{:?}", Authentication::Bearer { token: "tok_live_123".into() });
        assert_eq!(bearer, r#"Bearer { token: "<redacted>" }"#);
    }

    #[test]
    fn secrets_have_the_standard_webhooks_format() {
        let s = generate_secret();
        let raw = base64::engine::general_purpose::STANDARD.decode(s.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(secret_prefix(&s).len(), 12);
        assert!(s.starts_with(&secret_prefix(&s)));
        assert_ne!(s, generate_secret());
    }

    #[test]
    fn filters() {
        let mut sub = sample();
        assert!(SubscriptionFilter::default().matches(&sub));
        assert!(SubscriptionFilter { source: Some(Source::Dashboard), is_active: Some(true) }.matches(&sub));
        sub.state = SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: sub.created_at };
        assert!(!SubscriptionFilter { source: None, is_active: Some(true) }.matches(&sub));
        assert!(!SubscriptionFilter { source: Some(Source::Zapier), is_active: None }.matches(&sub));
    }

    #[test]
    fn rotation_overlap_signs_with_both() {
        let mut sub = sample();
        assert_eq!(sub.signing_secrets(Timestamp::from_unix(0)), vec![sub.secret.as_str()]);
        sub.previous_secret = Some(("whsec_old".into(), Timestamp::from_unix(100)));
        assert_eq!(sub.signing_secrets(Timestamp::from_unix(99)), vec![sub.secret.as_str(), "whsec_old"]);
        assert_eq!(sub.signing_secrets(Timestamp::from_unix(100)), vec![sub.secret.as_str()]);
    }
}
