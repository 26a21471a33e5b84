//! Standard Webhooks signatures: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
//! keyed with the base64-decoded part of the `whsec_` secret. During a rotation a request
//! carries one signature per secret, space-separated; verifiers accept any that matches.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::subscription::SECRET_PREFIX;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing secret is not whsec_ followed by base64")]
pub struct BadSecret;

/// The HMAC key a secret stands for.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
    if key.is_empty() {
        return Err(BadSecret);
    }
    Ok(key)
}

/// One signature, `v1,<base64>`.
pub fn sign(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret)?).map_err(|_| BadSecret)?;
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, BadSecret> {
    let signatures: Vec<String> =
        secrets.into_iter().map(|s| sign(s, webhook_id, timestamp, body)).collect::<Result<_, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn reproduces_the_published_test_vector() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_input_changes_the_signature() {
        let base = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, b"{}").unwrap();
        assert_ne!(base, sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", "id", 1, b"{}").unwrap());
        assert_ne!(base, sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id2", 1, b"{}").unwrap());
        assert_ne!(base, sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 2, b"{}").unwrap());
        assert_ne!(base, sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, b"{ }").unwrap());
    }

    #[test]
    fn rotation_carries_both_signatures() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = crate::subscription::generate_secret();
        let header = signature_header([new.as_str(), old], "msg", 10, b"x").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [sign(&new, "msg", 10, b"x").unwrap(), sign(old, "msg", 10, b"x").unwrap()]);
    }

    #[test]
    fn refuses_secrets_that_are_not_base64() {
        assert_eq!(sign("whsec_***", "id", 1, b""), Err(BadSecret));
        assert_eq!(sign("whsec_", "id", 1, b""), Err(BadSecret));
    }
}
