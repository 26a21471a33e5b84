//! The operator-events port: where hookpost tells the team running it that a failure record
//! was written or a subscription auto-disabled. Emitting never fails the caller — the fact
//! itself is already in the store; this is the notice of it — so adapters retry briefly and
//! log (and count, `hookpost_operator_events{outcome}`) what they could not deliver.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hookpost_domain::operator_event::OperatorEvent;
use hookpost_domain::{Clock, DestinationPolicy};

use crate::retry::retry;
use crate::sender::{OutgoingRequest, Sender};

/// Why an operator event was not delivered to the webhook.
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error("the event as JSON: {0}")]
    Body(#[from] serde_json::Error),
    #[error("the operator webhook secret cannot sign")]
    Secret,
    #[error("{0}")]
    NotDelivered(hookpost_domain::Reason),
}

#[async_trait]
pub trait OperatorEvents: Send + Sync {
    async fn emit(&self, event: OperatorEvent);
}

/// No destination: the log line each fact already has is the notice.
pub struct LogOnly;

#[async_trait]
impl OperatorEvents for LogOnly {
    async fn emit(&self, _event: OperatorEvent) {}
}

/// Pauses before the second and third try of an operator webhook.
const WEBHOOK_RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

/// `HOOKPOST_OPERATOR_WEBHOOK_URL`: each event POSTed as JSON, signed the Standard Webhooks
/// way with `HOOKPOST_OPERATOR_WEBHOOK_SECRET` (`webhook-id` is the event's id, the same on
/// every try). Sent in the background, so a slow receiver never holds up a delivery.
pub struct SignedWebhook {
    url: String,
    secret: String,
    sender: Arc<Sender>,
    clock: Arc<dyn Clock>,
}

/// Why the operator webhook cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("HOOKPOST_OPERATOR_WEBHOOK_URL: {0}")]
    Url(String),
    #[error("HOOKPOST_OPERATOR_WEBHOOK_SECRET must be a whsec_ secret (base64 after the prefix)")]
    Secret,
    #[error(transparent)]
    Tls(#[from] crate::sender::TlsSetupError),
}

impl SignedWebhook {
    /// The operator chose this URL, so the customer-facing destination guard does not apply:
    /// any scheme of http(s) and any address (a collector on the same host is common).
    pub fn new(url: &str, secret: &str, clock: Arc<dyn Clock>) -> Result<Self, WebhookSetupError> {
        let parsed = url::Url::parse(url).map_err(|e| WebhookSetupError::Url(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebhookSetupError::Url("must be an http:// or https:// URL".to_owned()));
        }
        hookpost_domain::signing::secret_key(secret).map_err(|_| WebhookSetupError::Secret)?;
        let everywhere = DestinationPolicy {
            allow_http: true,
            allow_cidrs: vec![hookpost_domain::Cidr::ALL_V4, hookpost_domain::Cidr::ALL_V6],
        };
        let sender = Sender::new(everywhere, hookpost_domain::ResolveOverrides::default())?;
        Ok(Self { url: url.to_owned(), secret: secret.to_owned(), sender: Arc::new(sender), clock })
    }

    fn request(&self, event: &OperatorEvent) -> Result<OutgoingRequest, WebhookError> {
        let body = serde_json::to_vec(&event.webhook_body())?;
        let id = event.id();
        let timestamp = self.clock.now().unix();
        let signature =
            hookpost_domain::signing::sign(&self.secret, &id, timestamp, &body).map_err(|_| WebhookError::Secret)?;
        Ok(OutgoingRequest {
            url: self.url.clone(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("user-agent".to_owned(), concat!("hookpost/", env!("CARGO_PKG_VERSION")).to_owned()),
                ("webhook-id".to_owned(), id),
                ("webhook-timestamp".to_owned(), timestamp.to_string()),
                ("webhook-signature".to_owned(), signature),
            ],
            body: Bytes::from(body),
        })
    }

    async fn send(&self, event: &OperatorEvent) -> Result<(), WebhookError> {
        let send = || async {
            // Signed per try: the timestamp is when it was sent.
            match self.sender.send(&self.request(event)?).await.outcome.reason() {
                None => Ok(()),
                Some(reason) => Err(WebhookError::NotDelivered(reason)),
            }
        };
        // What cannot be signed now will not be later.
        retry(WEBHOOK_RETRIES, send, |err| matches!(err, WebhookError::NotDelivered(_))).await
    }
}

#[async_trait]
impl OperatorEvents for Arc<SignedWebhook> {
    async fn emit(&self, event: OperatorEvent) {
        let webhook = Arc::clone(self);
        tokio::spawn(async move {
            let kind = event.kind();
            match webhook.send(&event).await {
                Ok(()) => crate::metrics::operator_event(true),
                Err(reason) => {
                    crate::metrics::operator_event(false);
                    tracing::error!(operator_event = kind, id = %event.id(), %reason, "operator webhook not delivered");
                }
            }
        });
    }
}
