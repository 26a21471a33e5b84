//! Identifiers, parsed once at the edge. A malformed id never reaches a store: the caller
//! answers 404 for it (SPEC §2).

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::time::Timestamp;

/// Only the canonical 36-char hyphenated form is an id; `Uuid::try_parse` would also take
/// the braced, URN and simple forms, which would give one object several URLs.
fn parse_hyphenated(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $new:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Bounds for range scans over ids of this kind.
            pub const MIN: Self = Self(Uuid::nil());
            pub const MAX: Self = Self(Uuid::max());

            pub fn new() -> Self {
                Self($new)
            }

            pub fn parse(s: &str) -> Option<Self> {
                parse_hyphenated(s).map(Self)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom(concat!("not a ", stringify!($name))))
            }
        }
    };
}

uuid_id!(
    /// An account (tenant).
    AccountId,
    Uuid::new_v4()
);
uuid_id!(
    /// A webhook subscription: UUIDv7, so ids sort by creation time.
    SubscriptionId,
    Uuid::now_v7()
);
uuid_id!(
    /// A personal access token's public id (what revocation names).
    TokenId,
    Uuid::new_v4()
);

/// An operator-assigned channel id: 1–128 chars of `[A-Za-z0-9._:-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(String);

impl ChannelId {
    /// What a client is told when a channel id is malformed.
    pub const EXPECTED: &'static str = "must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'";

    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ChannelId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChannelId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a channel id")))
    }
}

/// A delivery failure: 4 bytes of `created_at` (unix seconds, big-endian) then 8 random
/// bytes, as 24 lowercase hex chars, so ids sort as `created_at` does (SPEC §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailureId([u8; 12]);

impl FailureId {
    /// Bounds for range scans.
    pub const MIN: Self = Self([0; 12]);
    pub const MAX: Self = Self([0xff; 12]);

    pub fn new(created_at: Timestamp) -> Self {
        let mut random = [0u8; 8];
        rand::rng().fill_bytes(&mut random);
        Self::from_parts(created_at, random)
    }

    /// The id of the record `key` names, created at `created_at`: the same inputs give the
    /// same id, so writing that record again (a repeated publish, a task handed out twice)
    /// finds the first one instead of adding another.
    pub fn derived(created_at: Timestamp, key: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&digest[..8]);
        Self::from_parts(created_at, tail)
    }

    pub fn from_parts(created_at: Timestamp, random: [u8; 8]) -> Self {
        // Seconds past 2106 wrap; the clamp keeps the id well-formed for any input.
        let secs = u32::try_from(created_at.unix().max(0)).unwrap_or(u32::MAX);
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..].copy_from_slice(&random);
        Self(bytes)
    }

    /// The smallest id of a second: a `created_at >= t` bound as an id bound.
    pub fn lower_bound(t: Timestamp) -> Self {
        Self::from_parts(t, [0; 8])
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 24 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut bytes = [0u8; 12];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    pub fn created_at(&self) -> Timestamp {
        let secs = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        Timestamp::from_unix(i64::from(secs))
    }
}

impl fmt::Display for FailureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for FailureId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FailureId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom("not a failure id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_are_v7_and_sort_by_time() {
        let a = SubscriptionId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = SubscriptionId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn uuid_ids_take_only_the_hyphenated_form() {
        let id = AccountId::new();
        assert_eq!(AccountId::parse(&id.to_string()), Some(id));
        let simple = id.as_uuid().simple().to_string();
        assert_eq!(AccountId::parse(&simple), None);
        assert_eq!(AccountId::parse(&format!("{{{id}}}")), None);
        assert_eq!(AccountId::parse("not-a-uuid"), None);
        assert_eq!(AccountId::parse(""), None);
        assert_eq!(AccountId::parse("0b97ce11-b6e0-49b4-8f92-68040aa324bg"), None);
    }

    #[test]
    fn failure_id_layout() {
        let t = Timestamp::from_unix(0x6a0b_c0de);
        let id = FailureId::from_parts(t, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(id.to_string(), "6a0bc0de0102030405060708");
        assert_eq!(id.created_at(), t);
        assert_eq!(FailureId::parse(&id.to_string()), Some(id));
    }

    #[test]
    fn derived_failure_ids_repeat_for_the_same_key_only() {
        let t = Timestamp::from_unix(1_700_000_000);
        let a = FailureId::derived(t, "disabled|evt_1|sub");
        assert_eq!(a, FailureId::derived(t, "disabled|evt_1|sub"));
        assert_ne!(a, FailureId::derived(t, "disabled|evt_2|sub"));
        assert_eq!(a.created_at(), t);
    }

    #[test]
    fn failure_ids_sort_as_created_at() {
        let early = FailureId::new(Timestamp::from_unix(1_700_000_000));
        let late = FailureId::new(Timestamp::from_unix(1_700_000_001));
        assert!(early.to_string() < late.to_string());
        assert!(FailureId::lower_bound(Timestamp::from_unix(1_700_000_001)) <= late);
        assert!(FailureId::lower_bound(Timestamp::from_unix(1_700_000_001)) > early);
    }

    #[test]
    fn failure_id_parse_is_strict() {
        assert!(FailureId::parse("aabbccddeeff001122334455").is_some());
        assert!(FailureId::parse("AABBCCDDEEFF001122334455").is_none());
        assert!(FailureId::parse("aabbccddeeff00112233445").is_none());
        assert!(FailureId::parse("aabbccddeeff0011223344556").is_none());
        assert!(FailureId::parse("aabbccddeeff00112233445g").is_none());
        assert!(FailureId::parse("123").is_none());
    }

    #[test]
    fn channel_ids() {
        assert!(ChannelId::parse("dom_123:eu-1.a").is_some());
        assert!(ChannelId::parse("").is_none());
        assert!(ChannelId::parse("has space").is_none());
        assert!(ChannelId::parse("ACCOUNT#x").is_none());
        assert!(ChannelId::parse(&"a".repeat(129)).is_none());
        assert!(ChannelId::parse(&"a".repeat(128)).is_some());
    }
}
