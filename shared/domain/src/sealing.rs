//! Secrets sealed at rest: envelope encryption of the values that let someone act as a
//! subscription's sender or get past its receiver's authentication — signing secrets
//! (current and previous), basic-auth passwords, bearer tokens and custom header values.
//!
//! Each value is sealed with AES-256-GCM under a *data key*; the data key is kept only
//! wrapped by a master key (AWS KMS in AWS, a configured key in hookpost-local), so the
//! table, its stream and its backups hold ciphertext. A sealed value names its data key and
//! is bound to the item it belongs to (the additional authenticated data is the
//! subscription's account and id), so a value copied into another subscription does not
//! open. A value without the prefix is plaintext, written before sealing existed: it is read
//! as it is and sealed the next time it is written.
//!
//! Format: `hpenc1:<data key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

pub const SEALED_PREFIX: &str = "hpenc1:";
/// A data key seals new values for this long; then the next write makes a new one (old
/// ones stay to open what they sealed). KMS rotates the master key itself once a year.
pub const DATA_KEY_MAX_AGE_DAYS: i64 = 30;

/// A data key in plaintext, as it lives in one process's memory: its id and its 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey {
    pub id: String,
    bytes: [u8; 32],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).field("bytes", &"<redacted>").finish()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed value")]
    Malformed,
    #[error("the value does not open with its data key (tampered, moved, or another key)")]
    Refused,
    #[error("a data key is 32 bytes")]
    KeyLength,
}

impl DataKey {
    pub fn new(id: impl Into<String>, bytes: [u8; 32]) -> Self {
        Self { id: id.into(), bytes }
    }

    /// From the bytes a key service returned.
    pub fn from_slice(id: impl Into<String>, bytes: &[u8]) -> Result<Self, SealError> {
        Ok(Self::new(id, bytes.try_into().map_err(|_| SealError::KeyLength)?))
    }

    /// A fresh data key id: 24 lowercase hex characters (96 random bits).
    pub fn new_id() -> String {
        let mut id = [0u8; 12];
        rand::rng().fill_bytes(&mut id);
        hex::encode(id)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.bytes).expect("32 bytes is an AES-256 key"))
    }

    /// `plaintext` sealed, bound to `context` (which must be given again to open it).
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        format!("{SEALED_PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(self.seal_bytes(plaintext.as_bytes(), context)))
    }

    /// The value `seal` made, opened.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        let (id, body) = parse(sealed).ok_or(SealError::Malformed)?;
        if id != self.id {
            return Err(SealError::Refused);
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError::Malformed)?;
        String::from_utf8(self.open_bytes(&bytes, context)?).map_err(|_| SealError::Refused)
    }

    /// Raw AEAD: nonce ‖ ciphertext ‖ tag (also how a configured master key wraps a data key).
    pub fn seal_bytes(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut out)
            .expect("a value far below AES-GCM's limit");
        [nonce.as_slice(), &out].concat()
    }

    pub fn open_bytes(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut body = body.to_vec();
        let opened = self
            .aead()
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| SealError::Refused)?;
        Ok(opened.to_vec())
    }
}

/// The id of the data key a stored value is sealed with; `None` for plaintext.
pub fn data_key_of(value: &str) -> Option<&str> {
    parse(value).map(|(id, _)| id)
}

pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

fn parse(value: &str) -> Option<(&str, &str)> {
    let (id, body) = value.strip_prefix(SEALED_PREFIX)?.split_once(':')?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then_some((id, body))
}

/// What a subscription's sealed values are bound to: its account and id.
pub fn subscription_context(account: impl std::fmt::Display, subscription: impl std::fmt::Display) -> String {
    format!("subscription/{account}/{subscription}")
}

/// A master key from configuration (`HOOKPOST_SECRETS_KEY`): 32 bytes, written as
/// standard base64 (44 characters) or 64 hex digits.
pub fn parse_master_key(value: &str) -> Result<[u8; 32], String> {
    use base64::engine::general_purpose::STANDARD;
    let value = value.trim();
    let bytes = if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(value).map_err(|e| e.to_string())?
    } else {
        STANDARD.decode(value).map_err(|_| "must be 32 bytes as base64 (44 characters) or 64 hex digits".to_owned())?
    };
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "must be 32 bytes (as base64 or 64 hex digits), got {} bytes; make one with `openssl rand -base64 32`",
            b.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> DataKey {
        DataKey::new(id, [byte; 32])
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let k = key("k1", 7);
        let sealed = k.seal("whsec_c2VjcmV0", "subscription/a/s");
        assert!(is_sealed(&sealed) && sealed.starts_with("hpenc1:k1:"), "{sealed}");
        assert!(!sealed.contains("whsec_"), "{sealed}");
        assert_eq!(data_key_of(&sealed), Some("k1"));
        assert_eq!(k.open(&sealed, "subscription/a/s").unwrap(), "whsec_c2VjcmV0");
        assert_ne!(k.seal("whsec_c2VjcmV0", "subscription/a/s"), sealed, "a fresh nonce each time");

        assert_eq!(k.open(&sealed, "subscription/a/other"), Err(SealError::Refused), "moved to another item");
        assert_eq!(key("k1", 8).open(&sealed, "subscription/a/s"), Err(SealError::Refused), "another key");
        assert_eq!(key("k2", 7).open(&sealed, "subscription/a/s"), Err(SealError::Refused), "another key's id");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(k.open(std::str::from_utf8(&tampered).unwrap(), "subscription/a/s"), Err(SealError::Refused));
        for malformed in ["", "plain", "hpenc1:", "hpenc1:k1", "hpenc1:k1:", "hpenc1:k1:!!", "hpenc1::abc"] {
            assert!(k.open(malformed, "c").is_err(), "{malformed:?}");
        }
    }

    #[test]
    fn plaintext_is_recognised_as_such() {
        for plain in ["whsec_abc", "hunter2", "", "hpenc2:x:y"] {
            assert!(!is_sealed(plain) && data_key_of(plain).is_none(), "{plain}");
        }
    }

    #[test]
    fn raw_sealing_round_trips_bytes() {
        let master = key("master", 1);
        let data = [9u8; 32];
        let wrapped = master.seal_bytes(&data, "data-key/k1");
        assert_eq!(master.open_bytes(&wrapped, "data-key/k1").unwrap(), data);
        assert_eq!(master.open_bytes(&wrapped, "data-key/k2"), Err(SealError::Refused));
        assert_eq!(master.open_bytes(&wrapped[..10], "data-key/k1"), Err(SealError::Malformed));
    }

    #[test]
    fn master_keys_are_32_bytes_in_base64_or_hex() {
        assert_eq!(parse_master_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert_eq!(parse_master_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap(), [0; 32]);
        assert!(parse_master_key("c2hvcnQ=").unwrap_err().contains("got 5 bytes"));
        assert!(parse_master_key("not base64 at all!").is_err());
        assert!(format!("{:?}", key("k", 3)).contains("<redacted>"));
    }
}
