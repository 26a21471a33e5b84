//! The SQS-fed delivery worker, on both delivery queues: the standard one (batches of up to a
//! hundred) and the FIFO one of `fifo` subscriptions (a message at a time, so a group's next
//! task is never received while its head waits). Each message is one task; tasks of a batch
//! run concurrently and take their starts under each subscription's rate limit together.
//!
//! A task that cannot be finished is reported as a batch item failure, so SQS shows it again
//! after the visibility timeout and, after the queue's receive limit, moves it to the
//! dead-letter queue. An ordered task that keeps its place (between its attempts, or until
//! its start under the rate limit) is held: out of sight on the FIFO queue for the time it
//! waits, and reported as a batch item failure so that Lambda does not delete it.

use futures::StreamExt;
use hookpost_delivery::{Handled, TaskError, Worker};
use hookpost_domain::delivery::DeliveryTask;
use hookpost_http::App;
use lambda_http::aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;

/// A message's task, or why there is none to work (an empty or malformed message: never
/// one hookpost wrote, so nothing accepted is lost by dropping it).
fn task_of(message: &SqsMessage) -> Option<DeliveryTask> {
    let Some(body) = message.body.as_deref() else {
        tracing::error!(message_id = ?message.message_id, "empty SQS message dropped");
        return None;
    };
    match serde_json::from_str(body) {
        Ok(task) => Some(task),
        Err(err) => {
            tracing::error!(error = %err, message_id = ?message.message_id, "malformed delivery task dropped");
            None
        }
    }
}

/// Why a message stays in the queue.
enum Left {
    /// An ordered task keeping its place: as planned.
    Held,
    /// It could not be finished now; it comes back.
    Failed(TaskError),
}

/// Whether the message is finished (`Ok`), and why not.
async fn process(app: &App, worker: &Worker, message: &SqsMessage, task: Option<&DeliveryTask>) -> Result<(), Left> {
    let Some(task) = task else { return Ok(()) };
    match worker.process(task).await.map_err(|e| Left::Failed(e.into()))? {
        Handled::Done => Ok(()),
        Handled::Hold(wait) => {
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            let holder = app.holder().map_err(|e| Left::Failed(e.into()))?;
            if let Err(err) = holder.hold(receipt, wait).await {
                // It comes back after the queue's visibility timeout instead, and is held
                // again then if it is still early.
                tracing::warn!(error = %err, event_id = %task.event_id, "could not hold an ordered task");
            }
            tracing::debug!(event_id = %task.event_id, hold_secs = wait.as_secs(), "ordered task held at the head of its group");
            Err(Left::Held)
        }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let records = event.payload.records;
    let tasks: Vec<Option<DeliveryTask>> = records.iter().map(task_of).collect();
    // One batch: its tasks of one subscription share one read of it and one take from its
    // rate limiter.
    let batch: Vec<DeliveryTask> = tasks.iter().flatten().cloned().collect();
    let worker = app.worker().map_err(TaskError::Setup)?.for_batch(&batch);
    // One way of running them together whatever the batch's size (`join_all` builds two, each
    // holding a copy of the worker's whole step): a 3 MB zip budget.
    let results: Vec<Result<(), Left>> = records
        .iter()
        .zip(&tasks)
        .map(|(m, t)| process(app, &worker, m, t.as_ref()))
        .collect::<futures::stream::FuturesOrdered<_>>()
        .collect()
        .await;
    // The batch's usage, one addition per account.
    app.flush_tallies().await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in records.iter().zip(results) {
        if let Err(left) = result {
            if let Left::Failed(err) = left {
                tracing::warn!(error = %err, message_id = ?message.message_id, "delivery task will be retried");
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
