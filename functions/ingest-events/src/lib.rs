//! Consumer of the ingest queue: publishing without API Gateway. A team sends SPEC §4 events
//! to the queue (`aws sqs send-message-batch`, ten to a request) or puts them on its
//! EventBridge bus with detail-type `hookpost.publish` (a rule targets the queue); each
//! message is published by the same rules and code as `POST /internal/v1/events/batch`,
//! a batch of messages together (one read of an account's routable subscriptions).
//!
//! - Published: the message is done (SQS deletes it).
//! - The event can never be published (invalid, unknown account, too large): it goes to the
//!   ingest dead-letter queue with the error envelope in its `hookpost-error` attribute,
//!   and an alarm tells the operator; never silently dropped.
//! - hookpost could not publish it now (the store or the delivery queue failed): reported
//!   as a batch item failure, so SQS hands it out again; after five receives SQS moves it
//!   to the same dead-letter queue.
//!
//! Trust: whoever can send to the queue or put on the bus can publish for any account. The
//! bus's rule takes events only from the stack's AWS account and the operator's sources, and
//! an EventBridge event is checked against both again here (`IngestTrust`): one from
//! elsewhere goes to the dead-letter queue with a validation error naming the field.
//!
//! Idempotent by `event_id`: an event that names one is published once, as over HTTP. An
//! event that names none takes its message's id (`evt_<EventBridge event id>`, or
//! `evt_<SQS message id>`), so a message handed out twice delivers under the same
//! `webhook-id`, which receivers deduplicate on.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use hookpost_delivery::publish::{parse_event, Incoming};
use hookpost_delivery::queue::sqs::batches_by;
use hookpost_domain::event::is_valid_event_id;
use hookpost_domain::event_type::Catalogue;
use hookpost_domain::ingest::IngestTrust;
use hookpost_domain::ApiError;
use hookpost_http::App;
use lambda_http::aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;
use serde_json::Value;

/// The EventBridge detail-type the template's rule sends to the ingest queue.
pub const DETAIL_TYPE: &str = "hookpost.publish";
/// The message attribute carrying a rejected event's error envelope.
pub const ERROR_ATTRIBUTE: &str = "hookpost-error";

/// A message whose event can never be published, and why (the SPEC's error envelope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub message_id: String,
    pub body: String,
    pub error: String,
}

/// Where rejected messages are kept for the operator: the ingest dead-letter queue.
#[async_trait]
pub trait Rejections: Send + Sync {
    /// Keeps each of `rejected`; for each, whether it was kept (one that was not comes back
    /// from the ingest queue and is tried again).
    async fn keep(&self, rejected: &[Rejected]) -> Vec<bool>;
}

/// The ingest dead-letter queue on SQS, ten messages to a request.
pub struct SqsRejections {
    target: Option<(aws_sdk_sqs::Client, String)>,
}

impl SqsRejections {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { target: Some((client, url.into())) }
    }

    /// The queue `HOOKPOST_INGEST_DEAD_LETTER_URL` names. Without one nothing can be kept:
    /// each rejected message stays in the ingest queue (and is logged as an error).
    pub fn of(app: &App) -> Self {
        let target = app.sqs().cloned().zip(app.config.ingest_dead_letter_url.clone());
        Self { target }
    }
}

#[async_trait]
impl Rejections for SqsRejections {
    async fn keep(&self, rejected: &[Rejected]) -> Vec<bool> {
        let Some((client, url)) = &self.target else {
            tracing::error!(
                "no ingest dead-letter queue (HOOKPOST_INGEST_DEAD_LETTER_URL): rejected events stay queued"
            );
            return vec![false; rejected.len()];
        };
        let mut kept = Vec::with_capacity(rejected.len());
        // Batches SQS takes: ten messages, the bodies and their error attributes within its
        // batch size.
        let all: Vec<&Rejected> = rejected.iter().collect();
        for chunk in batches_by(all, |r| r.body.len() + ERROR_ATTRIBUTE.len() + r.error.len()) {
            let entries: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let error =
                        MessageAttributeValue::builder().data_type("String").string_value(&r.error).build().ok()?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&r.body)
                        .message_attributes(ERROR_ATTRIBUTE, error)
                        .build()
                        .ok()
                })
                .collect();
            let sent = client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await;
            match sent {
                Ok(out) => {
                    let failed: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
                    kept.extend((0..chunk.len()).map(|i| !failed.contains(&i.to_string().as_str())));
                }
                Err(err) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(err), "the ingest dead-letter queue refused rejected events");
                    kept.extend(std::iter::repeat_n(false, chunk.len()));
                }
            }
        }
        kept
    }
}

/// Rejected messages kept in memory: the tests' dead-letter queue.
#[derive(Default)]
pub struct MemoryRejections {
    pub kept: Mutex<Vec<Rejected>>,
}

#[async_trait]
impl Rejections for MemoryRejections {
    async fn keep(&self, rejected: &[Rejected]) -> Vec<bool> {
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(rejected);
        vec![true; rejected.len()]
    }
}

/// A message's event and the id it takes when it names none. A message is a SPEC §4 event,
/// or an EventBridge event whose `detail` is one.
fn read(message: &SqsMessage, catalogue: &Catalogue, trust: &IngestTrust) -> Incoming {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(err) => return Incoming { publish: Err(ApiError::InvalidJson(err.to_string())), id_if_none: None },
    };
    let (event, id) = match value {
        Value::Object(mut envelope) if envelope.contains_key("detail-type") && envelope.contains_key("detail") => {
            let id = envelope.get("id").and_then(Value::as_str).unwrap_or(message_id).to_owned();
            let text = |field: &str| envelope.get(field).and_then(Value::as_str);
            // The bus's rule takes only trusted publishers; an event that reached the queue
            // another way is held to the same rule.
            if let Err(refused) = trust.admits(text("source"), text("account")) {
                return Incoming { publish: Err(refused), id_if_none: None };
            }
            (envelope.remove("detail").unwrap_or_default(), id)
        }
        event => (event, message_id.to_owned()),
    };
    let id_if_none = Some(format!("evt_{id}")).filter(|id| is_valid_event_id(id));
    Incoming { publish: parse_event(event, catalogue), id_if_none }
}

/// Whether hookpost, not the event, stopped it: the message is tried again.
fn comes_back(err: &ApiError) -> bool {
    err.status() >= 500 || matches!(err, ApiError::RateLimited(_))
}

fn failure(message_id: &str) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message_id.to_owned();
    failure
}

pub async fn handle(
    app: &App,
    rejections: &dyn Rejections,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages = &event.payload.records;
    // Without the catalogue no event can be checked: the whole batch comes back later.
    let catalogue = app.catalogue()?.current().await?;
    let trust = &app.config.ingest_trust;
    let outcomes = app.publisher().publish_many(messages.iter().map(|m| read(m, &catalogue, trust)).collect()).await;
    app.flush_tallies().await;
    let mut response = SqsBatchResponse::default();
    let mut rejected = Vec::new();
    // The batch's published events in one line (CloudWatch Logs bills every line: a line an
    // event was $0.24 per million events), each as `<message id> <event id> <subscriptions>`.
    let mut ingested: Vec<String> = Vec::with_capacity(messages.len());
    for (message, outcome) in messages.iter().zip(outcomes) {
        let message_id = message.message_id.clone().unwrap_or_default();
        match outcome {
            Ok(published) => {
                ingested.push(format!("{message_id} {} {}", published.event_id, published.subscriptions));
            }
            Err(err) if comes_back(&err) => {
                tracing::warn!(message_id, error = %err, "could not publish an ingested event now; it comes back");
                response.batch_item_failures.push(failure(&message_id));
            }
            Err(err) => {
                let error = serde_json::to_string(&err.body()).unwrap_or_else(|_| err.to_string());
                tracing::warn!(
                    operator_event = "ingest_rejected",
                    message_id,
                    error = %error,
                    "an ingested event can never be published; kept in the ingest dead-letter queue"
                );
                rejected.push(Rejected { message_id, body: message.body.clone().unwrap_or_default(), error });
            }
        }
    }
    if !ingested.is_empty() {
        tracing::info!(
            log = "ingested",
            published = ingested.len(),
            events = ingested.join(", "),
            "published {} events from the ingest queue",
            ingested.len()
        );
    }
    let kept = rejections.keep(&rejected).await;
    for (rejected, kept) in rejected.iter().zip(kept) {
        if !kept {
            response.batch_item_failures.push(failure(&rejected.message_id));
        }
    }
    Ok(response)
}
