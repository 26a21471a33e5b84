//! Tenancy: accounts, plans, channels and token scopes (SPEC §1).

use crate::ids::{AccountId, ChannelId};
use crate::input::Fields;
use crate::time::Timestamp;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted spellings, for error messages.
            pub fn choices() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not one of {}", Self::choices())))
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Ordered from cheapest to dearest; the order is the tier index.
    Plan {
        Free => "free",
        Starter => "starter",
        Pro => "pro",
        Business => "business",
        Enterprise => "enterprise",
    }
);

impl Plan {
    /// 0 for free .. 4 for enterprise (`GET /api/v1/me`).
    pub fn tier_index(self) -> u8 {
        match self {
            Plan::Free => 0,
            Plan::Starter => 1,
            Plan::Pro => 2,
            Plan::Business => 3,
            Plan::Enterprise => 4,
        }
    }

    /// Every customer API but `/api/v1/me` needs a paid plan.
    pub fn allows_api(self) -> bool {
        self != Plan::Free
    }
}

string_enum!(
    /// What a token may do. Neither scope implies the other.
    Scope {
        WebhooksRead => "tasks.webhooks.read",
        WebhooksManage => "tasks.webhooks.manage",
    }
);

string_enum!(
    ChannelType {
        Domain => "domain",
        Campaign => "campaign",
    }
);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub plan: Plan,
    pub created_at: Timestamp,
}

impl Account {
    pub const MAX_NAME_LEN: usize = 200;

    pub fn validate_name(name: &str) -> Result<String, &'static str> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            Err("must not be empty")
        } else if name.chars().count() > Self::MAX_NAME_LEN {
            Err("must be at most 200 characters")
        } else if name.chars().any(char::is_control) {
            Err("must not contain control characters")
        } else {
            Ok(trimmed.to_owned())
        }
    }

    /// The operator's view of an account (create and update answer it).
    pub fn operator_view(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "name": self.name, "plan": self.plan, "created_at": self.created_at})
    }

    /// Reads `name` and `plan` from an account body; `required` says whether both must be
    /// there (create) or each may be left out (update; neither may be null).
    pub fn read_fields(fields: &mut Fields, required: bool) -> (Option<String>, Option<Plan>) {
        let name = if required { fields.required_string("name") } else { fields.opt_string_not_null("name") };
        let name = name.and_then(|n| match Self::validate_name(&n) {
            Ok(n) => Some(n),
            Err(msg) => {
                fields.issue("name", msg);
                None
            }
        });
        let plan = if required { fields.required_string("plan") } else { fields.opt_string_not_null("plan") };
        let plan = fields.parsed("plan", plan, Plan::parse, format!("must be one of {}", Plan::choices()));
        (name, plan)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub account_id: AccountId,
    pub channel_id: ChannelId,
    pub channel_type: ChannelType,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_rank() {
        for (i, plan) in Plan::ALL.iter().enumerate() {
            assert_eq!(Plan::parse(plan.as_str()), Some(*plan));
            assert_eq!(usize::from(plan.tier_index()), i);
        }
        assert_eq!(Plan::parse("Free"), None);
        assert!(!Plan::Free.allows_api());
        assert!(Plan::Starter.allows_api());
        assert_eq!(Plan::choices(), "free, starter, pro, business, enterprise");
    }

    #[test]
    fn scopes_are_exact_strings() {
        assert_eq!(Scope::parse("tasks.webhooks.read"), Some(Scope::WebhooksRead));
        assert_eq!(Scope::parse("tasks.webhooks.manage"), Some(Scope::WebhooksManage));
        assert_eq!(Scope::parse("tasks.webhooks.*"), None);
        assert_eq!(serde_json::to_string(&Scope::WebhooksRead).unwrap(), "\"tasks.webhooks.read\"");
    }

    #[test]
    fn channel_types() {
        assert_eq!(ChannelType::parse("domain"), Some(ChannelType::Domain));
        assert_eq!(ChannelType::parse("campaign"), Some(ChannelType::Campaign));
        assert_eq!(ChannelType::parse("other"), None);
    }

    #[test]
    fn account_names() {
        assert_eq!(Account::validate_name("  Acme  ").unwrap(), "Acme");
        assert!(Account::validate_name("   ").is_err());
        assert!(Account::validate_name(&"x".repeat(201)).is_err());
        assert!(Account::validate_name("a\u{0}b").is_err());
    }
}
