//! The master key behind the secrets sealed at rest (`hookpost_domain::sealing`): a port
//! that makes and unwraps data keys, with two adapters held to one contract — AWS KMS
//! (`GenerateDataKey` / `Decrypt`, the key never leaving KMS) and a key from configuration
//! (`HOOKPOST_SECRETS_KEY`, for hookpost-local and machines without KMS), which wraps data
//! keys with AES-256-GCM itself.

use async_trait::async_trait;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use hookpost_domain::sealing::DataKey;

use crate::StoreError;

/// Makes data keys and unwraps them again. `id` is the data key's id, bound to the wrapped
/// key (KMS encryption context, or the AEAD's associated data): a wrapped key filed under
/// another id does not unwrap.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// A fresh 32-byte data key, in plaintext and wrapped by the master key.
    async fn generate_data_key(&self, id: &str) -> Result<(DataKey, Vec<u8>), StoreError>;
    /// The data key `wrapped` holds; `Backend` when it does not unwrap under this master key.
    async fn unwrap_data_key(&self, id: &str, wrapped: &[u8]) -> Result<DataKey, StoreError>;
}

/// The encryption context KMS binds a data key to (it appears in CloudTrail with each call).
const CONTEXT_KEY: &str = "hookpost:data-key";

/// A master key in AWS KMS.
pub struct KmsKeys {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeys {
    /// `key_id`: the key's id, ARN or alias (`HOOKPOST_KMS_KEY_ID`).
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }

    /// With a client built from `aws` (the configuration the store's own client came from).
    pub fn from_config(aws: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self::new(aws_sdk_kms::Client::new(aws), key_id)
    }
}

fn kms_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> StoreError {
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            matches!(
                service.err().code(),
                Some("ThrottlingException" | "KMSInternalException" | "DependencyTimeoutException")
            ) || service.raw().status().as_u16() >= 500
        }
        _ => false,
    };
    let text = format!("KMS: {}", DisplayErrorContext(err));
    if transient {
        StoreError::Unavailable(text)
    } else {
        StoreError::Backend(text)
    }
}

#[async_trait]
impl KeyService for KmsKeys {
    async fn generate_data_key(&self, id: &str) -> Result<(DataKey, Vec<u8>), StoreError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, id)
            .send()
            .await
            .map_err(kms_error)?;
        let (Some(plaintext), Some(wrapped)) = (out.plaintext, out.ciphertext_blob) else {
            return Err(StoreError::Backend("KMS GenerateDataKey answered without the key".into()));
        };
        let key = DataKey::from_slice(id, plaintext.as_ref()).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok((key, wrapped.into_inner()))
    }

    async fn unwrap_data_key(&self, id: &str, wrapped: &[u8]) -> Result<DataKey, StoreError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, id)
            .send()
            .await
            .map_err(kms_error)?;
        let plaintext =
            out.plaintext.ok_or_else(|| StoreError::Backend("KMS Decrypt answered without the key".into()))?;
        DataKey::from_slice(id, plaintext.as_ref()).map_err(|e| StoreError::Backend(e.to_string()))
    }
}

/// A master key from configuration: 32 bytes that wrap each data key with AES-256-GCM.
pub struct ConfiguredKey {
    master: DataKey,
}

impl ConfiguredKey {
    pub fn new(master: [u8; 32]) -> Self {
        Self { master: DataKey::new("configured", master) }
    }
}

fn wrap_context(id: &str) -> String {
    format!("{CONTEXT_KEY}/{id}")
}

#[async_trait]
impl KeyService for ConfiguredKey {
    async fn generate_data_key(&self, id: &str) -> Result<(DataKey, Vec<u8>), StoreError> {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let wrapped = self.master.seal_bytes(&bytes, &wrap_context(id));
        Ok((DataKey::new(id, bytes), wrapped))
    }

    async fn unwrap_data_key(&self, id: &str, wrapped: &[u8]) -> Result<DataKey, StoreError> {
        let bytes = self.master.open_bytes(wrapped, &wrap_context(id)).map_err(|e| {
            StoreError::Backend(format!("data key {id} does not unwrap with the configured key ({e}): is HOOKPOST_SECRETS_KEY the one it was written with?"))
        })?;
        DataKey::from_slice(id, &bytes).map_err(|e| StoreError::Backend(e.to_string()))
    }
}

/// The contract both adapters keep.
pub async fn key_service_contract(keys: &dyn KeyService, other: &dyn KeyService) {
    let (key, wrapped) = keys.generate_data_key("k1").await.unwrap();
    assert_eq!(key.id, "k1");
    assert!(!wrapped.windows(32).any(|w| w == key.bytes()), "the wrapped key does not hold the key in the clear");
    assert_eq!(keys.unwrap_data_key("k1", &wrapped).await.unwrap(), key);
    let (again, _) = keys.generate_data_key("k2").await.unwrap();
    assert_ne!(again.bytes(), key.bytes(), "every data key is fresh");
    assert!(keys.unwrap_data_key("k2", &wrapped).await.is_err(), "filed under another id");
    assert!(other.unwrap_data_key("k1", &wrapped).await.is_err(), "another master key");
    let mut tampered = wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(keys.unwrap_data_key("k1", &tampered).await.is_err(), "tampered");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_configured_key_keeps_the_contract() {
        key_service_contract(&ConfiguredKey::new([1; 32]), &ConfiguredKey::new([2; 32])).await;
    }
}
