//! Consumer of the delivery dead-letter queues: a task SQS gave up on (the worker failed on
//! it too often) becomes a failure record with reason `delivery_error`, so the customer
//! sees it and can retrigger it; nothing accepted is silently dropped. The queues' alarm
//! tells the operator it happened.
//!
//! In AWS it runs every minute (`drain`) and empties both dead-letter queues — the delivery
//! queue's and the FIFO queue's — rather than an event-source mapping polling each around the
//! clock: dead letters are rare, and two pollers were most of hookpost's idle bill. hookpost-
//! local hands it each dead message as an SQS event (`handle`).
//!
//! A record task (an attempt's outcome the store would not take) is different: its attempt
//! was made, so it gets no failure record; its writes are applied here, and stay in this
//! queue until they are.

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use hookpost_delivery::TaskError;
use hookpost_domain::delivery::{DeliveryTask, TaskKind};
use hookpost_domain::failure::Failure;
use hookpost_domain::usage::Usage;
use hookpost_domain::writes::{keep_event, Retention, Write};
use hookpost_domain::Reason;
use hookpost_http::App;
use lambda_http::aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;

/// Records one dead task. `Err` keeps the message for another try.
pub async fn record_dead_task(app: &App, task: &DeliveryTask) -> Result<(), TaskError> {
    if let TaskKind::Record { .. } = task.kind {
        let worker = app.worker()?;
        // A record task holds no place in an order: it is finished, or it stays.
        worker.process(task).await?;
        return Ok(());
    }
    let store = &app.store;
    let Some(sub) = store.get_subscription(task.account_id, task.subscription_id).await? else {
        return Ok(());
    };
    let event = match task.carried_event() {
        Some(event) => {
            let retention = Retention {
                event_days: app.config.event_retention_days,
                attempt_days: app.config.attempt_retention_days,
            };
            if let Some(Write::KeepEvent { event, expires_at }) = keep_event(task, &event, retention) {
                store.put_event(&event, expires_at).await?;
            }
            Some(event)
        }
        None => store.get_event(task.account_id, &task.event_id).await?,
    };
    let event_type = event.map_or_else(|| "unknown".to_owned(), |e| e.event_type);
    let now = app.clock.now();
    let failure = Failure::inactive(
        sub.account_id,
        &task.event_id,
        &event_type,
        sub.id,
        &sub.name,
        Reason::DeliveryError,
        sub.last_delivery_at.unwrap_or(now),
        now,
    );
    store.put_failure(&failure).await?;
    app.usage.add(failure.account_id, Usage { failures: 1, ..Usage::default() });
    hookpost_delivery::worker::failure_recorded(app.operator_events.as_ref(), &failure).await;
    tracing::warn!(
        operator_event = "delivery_task_dead",
        account_id = %task.account_id,
        subscription_id = %task.subscription_id,
        event_id = %task.event_id,
        failure_id = %failure.id,
        "a delivery task reached the dead-letter queue; recorded as a failure"
    );
    Ok(())
}

async fn process(app: &App, message: &SqsMessage) -> Result<(), TaskError> {
    let task: DeliveryTask = match message.body.as_deref().map(serde_json::from_str) {
        Some(Ok(task)) => task,
        _ => {
            // Its size and id, not its content: a body that is not a task may carry anything.
            tracing::error!(
                message_id = message.message_id.as_deref(),
                body_bytes = message.body.as_deref().map_or(0, str::len),
                "unreadable dead task dropped"
            );
            return Ok(());
        }
    };
    record_dead_task(app, &task).await
}

/// How long one scheduled run drains, within the function's timeout (60 s).
pub const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(40);

/// One scheduled run: every message of `queues` (the dead-letter queues' URLs) recorded and
/// deleted, ten at a time, until they are empty or [`DRAIN_FOR`] has passed. A message whose
/// record cannot be written now stays, to come back to the next run. Answers how many were
/// recorded and how many stay.
pub async fn drain(app: &App, sqs: &aws_sdk_sqs::Client, queues: &[String]) -> Result<serde_json::Value, Error> {
    let started = std::time::Instant::now();
    let (mut recorded, mut kept) = (0u64, 0u64);
    for url in queues {
        while started.elapsed() < DRAIN_FOR {
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut done = Vec::with_capacity(messages.len());
            for (i, message) in messages.iter().enumerate() {
                let mut record = SqsMessage::default();
                record.message_id = message.message_id.clone();
                record.body = message.body.clone();
                match process(app, &record).await {
                    Ok(()) => {
                        recorded += 1;
                        let entry = DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(message.receipt_handle.clone().unwrap_or_default())
                            .build()
                            .map_err(|e| e.to_string())?;
                        done.push(entry);
                    }
                    Err(err) => {
                        kept += 1;
                        tracing::error!(error = %err, message_id = ?message.message_id, "recording a dead task failed; it stays for the next run");
                    }
                }
            }
            if !done.is_empty() {
                sqs.delete_message_batch()
                    .queue_url(url)
                    .set_entries(Some(done))
                    .send()
                    .await
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            }
            if kept > 0 {
                break;
            }
        }
    }
    app.flush_tallies().await;
    Ok(serde_json::json!({"recorded": recorded, "kept": kept}))
}

pub async fn handle(app: &App, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for message in &event.payload.records {
        if let Err(err) = process(app, message).await {
            tracing::error!(error = %err, message_id = ?message.message_id, "recording a dead task failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    app.flush_tallies().await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hookpost_http::Config;
    use hookpost_store::MemoryStore;

    use super::*;

    /// Log output the test reads.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_unreadable_message_is_logged_by_its_id_and_size_not_its_content() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let _logging = tracing::subscriber::set_default(subscriber);
        let app = App::new(Arc::new(MemoryStore::new()), Config::default());
        let body = r#"{"secret": "whsec_dGhpcy1pcy1ub3QtYS10YXNr"}"#;
        let mut message = SqsMessage::default();
        message.message_id = Some("m-1".into());
        message.body = Some(body.into());

        process(&app, &message).await.expect("dropped, not kept for another try");

        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("unreadable dead task dropped"), "{logged}");
        assert!(logged.contains("m-1") && logged.contains(&format!("body_bytes={}", body.len())), "{logged}");
        assert!(!logged.contains("whsec_"), "the body's content was logged: {logged}");
    }
}
