//! The table's stream → EventBridge. Each failure record inserted and each subscription that
//! becomes auto-disabled is put on the operator's bus (`HOOKPOST_OPERATOR_EVENT_BUS`, the
//! account's default bus unless the template says otherwise) as `source: hookpost`, so a
//! team routes it with a rule to email, Slack or its CRM. The event-source mapping's filter
//! lets only those two kinds of change invoke this function; what they mean is decided by
//! the domain (`OperatorEvent`). A put that fails is reported as a batch item failure, so
//! the stream hands it over again (at-least-once; the event's `id` in `detail` is stable).

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use hookpost_domain::operator_event::{OperatorEvent, SOURCE};
use hookpost_store::dynamo::stream::operator_event;
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;
use serde::Deserialize;
use serde_json::{json, Value};

/// EventBridge's most entries in one PutEvents.
const PUT_EVENTS_MAX: usize = 10;

/// A DynamoDB stream event as Lambda hands it over (only the fields read here).
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    pub dynamodb: StreamChange,
}

#[derive(Debug, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "OldImage")]
    pub old_image: Option<Value>,
    #[serde(rename = "NewImage")]
    pub new_image: Option<Value>,
}

/// Where operator events go.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Puts `events` in order; on failure, the index of the first one not put and why.
    async fn put(&self, events: &[OperatorEvent]) -> Result<(), (usize, PutError)>;
}

/// Why the bus did not take an event.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The request did not get through (unreachable, throttled, refused whole).
    #[error("EventBridge: {}", aws_sdk_eventbridge::error::DisplayErrorContext(.0.as_ref()))]
    Request(Box<dyn std::error::Error + Send + Sync>),
    /// EventBridge took the request but not this entry.
    #[error("EventBridge refused the entry: {code}: {message}")]
    Refused { code: String, message: String },
    /// EventBridge counted failed entries without naming one.
    #[error("{0} entries failed")]
    Failed(i32),
}

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeBus {
    /// `HOOKPOST_OPERATOR_EVENT_BUS` (default `default`), and `HOOKPOST_EVENTS_ENDPOINT` for
    /// an EventBridge-compatible server in local runs (moto), else AWS's.
    pub fn from_env() -> Result<Self, hookpost_store::aws::AwsConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let endpoint = var("HOOKPOST_EVENTS_ENDPOINT");
        let aws = hookpost_store::aws::lambda_aws_config(endpoint.as_deref())?;
        let bus = var("HOOKPOST_OPERATOR_EVENT_BUS").unwrap_or_else(|| "default".to_owned());
        Ok(Self { client: aws_sdk_eventbridge::Client::new(&aws), bus })
    }
}

#[async_trait]
impl Bus for EventBridgeBus {
    async fn put(&self, events: &[OperatorEvent]) -> Result<(), (usize, PutError)> {
        let entries = events
            .iter()
            .map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(event.detail_type())
                    .detail(event.detail().to_string())
                    .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(event.at().unix()))
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| (0, PutError::Request(Box::new(e))))?;
        // Entries answer in order; a failed one carries an error code.
        match out.entries().iter().position(|entry| entry.error_code().is_some()) {
            None if out.failed_entry_count() == 0 => Ok(()),
            None => Err((0, PutError::Failed(out.failed_entry_count()))),
            Some(first) => {
                let entry = &out.entries()[first];
                let code = entry.error_code().unwrap_or_default().to_owned();
                Err((first, PutError::Refused { code, message: entry.error_message().unwrap_or_default().to_owned() }))
            }
        }
    }
}

/// One batch of stream records: their operator events put in order, 10 to a request. The
/// answer names the first record whose event was not put: the stream hands it (and those
/// after it) over again.
pub async fn handle(bus: &dyn Bus, event: LambdaEvent<StreamEvent>) -> Result<Value, Error> {
    let mut pending: Vec<(String, OperatorEvent)> = Vec::new();
    for record in &event.payload.records {
        let change = &record.dynamodb;
        match operator_event(change.old_image.as_ref(), change.new_image.as_ref()) {
            Ok(Some(event)) => pending.push((change.sequence_number.clone(), event)),
            Ok(None) => {}
            // An item this version cannot read would block the shard forever: say so, go on.
            Err(err) => tracing::error!(
                sequence_number = %change.sequence_number, error = %err,
                "a stream record hookpost cannot read; no operator event for it"
            ),
        }
    }
    for chunk in pending.chunks(PUT_EVENTS_MAX) {
        let events: Vec<OperatorEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        if let Err((first, why)) = bus.put(&events).await {
            let sequence_number = &chunk[first.min(chunk.len() - 1)].0;
            tracing::warn!(%sequence_number, error = %why, "EventBridge did not take an operator event; the stream retries");
            return Ok(json!({"batchItemFailures": [{"itemIdentifier": sequence_number}]}));
        }
        for (_, event) in chunk {
            tracing::info!(operator_event = event.kind(), id = %event.id(), "operator event put on the bus");
        }
    }
    Ok(json!({"batchItemFailures": []}))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use hookpost_domain::failure::Failure;
    use hookpost_domain::{AccountId, Reason, SubscriptionId, Timestamp};
    use lambda_http::lambda_runtime::Context;

    use super::*;

    /// A bus that keeps what it is given, and refuses from the `refuse_at`-th event on.
    #[derive(Default)]
    struct Kept {
        events: Mutex<Vec<OperatorEvent>>,
        refuse_at: Option<usize>,
    }

    #[async_trait]
    impl Bus for Kept {
        async fn put(&self, events: &[OperatorEvent]) -> Result<(), (usize, PutError)> {
            let mut kept = self.events.lock().unwrap();
            for (i, event) in events.iter().enumerate() {
                if self.refuse_at == Some(kept.len()) {
                    return Err((i, PutError::Refused { code: "ThrottlingException".into(), message: String::new() }));
                }
                kept.push(event.clone());
            }
            Ok(())
        }
    }

    fn failure_insert(n: u32) -> Value {
        let at = Timestamp::from_unix(1_780_000_000);
        let f = Failure::inactive(
            AccountId::new(),
            &format!("evt_{n}"),
            "call.ended",
            SubscriptionId::new(),
            "CRM",
            Reason::Timeout,
            at,
            at,
        );
        let image = json!({
            "pk": {"S": format!("ACCOUNT#{}", f.account_id)}, "sk": {"S": format!("FAIL#{}", f.id)},
            "kind": {"S": "failure"}, "id": {"S": f.id.to_string()}, "event_id": {"S": f.event_id},
            "event_type": {"S": "call.ended"}, "subscription_id": {"S": f.subscription_id.to_string()},
            "subscription_name": {"S": "CRM"}, "status": {"S": "inactive"}, "reason": {"S": "timeout"},
            "last_attempt_at": {"N": "1780000000"}, "created_at": {"N": "1780000000"}, "updated_at": {"N": "1780000000"},
        });
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": format!("{n:05}"), "NewImage": image}})
    }

    fn batch(records: Vec<Value>) -> LambdaEvent<StreamEvent> {
        LambdaEvent::new(serde_json::from_value(json!({"Records": records})).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn every_failure_record_of_a_batch_is_put_in_order_ten_to_a_request() {
        let bus = Kept::default();
        let mut records: Vec<Value> = (0..13).map(failure_insert).collect();
        records.insert(
            3,
            json!({"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "x", "NewImage": {"kind": {"S": "event"}}}}),
        );
        records.insert(
            4,
            json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "y", "NewImage": {"kind": {"B": "AA=="}}}}),
        );
        let answer = handle(&bus, batch(records)).await.unwrap();
        assert_eq!(answer, json!({"batchItemFailures": []}));
        let kept = bus.events.lock().unwrap();
        let ids: Vec<String> = kept.iter().map(|e| e.detail()["event_id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, (0..13).map(|n| format!("evt_{n}")).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_refused_put_names_the_first_record_not_put() {
        let bus = Kept { refuse_at: Some(11), ..Kept::default() };
        let answer = handle(&bus, batch((0..13).map(failure_insert).collect())).await.unwrap();
        assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "00011"}]}));
        assert_eq!(bus.events.lock().unwrap().len(), 11);
    }
}
