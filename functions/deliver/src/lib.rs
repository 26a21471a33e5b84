//! The SQS-fed delivery worker. Each message is one task; tasks of a batch run
//! concurrently; a task that cannot be finished is reported as a batch item failure, so
//! SQS shows it again after the visibility timeout and, after the queue's receive limit,
//! moves it to the dead-letter queue. A task not yet due (delays past SQS's 15 minutes) is
//! sent on with the time that is left.

use std::time::Duration;

use hookpost_delivery::Worker;
use hookpost_domain::delivery::DeliveryTask;
use hookpost_http::App;
use lambda_http::aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;

async fn process(app: &App, worker: &Worker, message: &SqsMessage) -> Result<(), String> {
    let Some(body) = message.body.as_deref() else {
        tracing::error!(message_id = ?message.message_id, "empty SQS message dropped");
        return Ok(());
    };
    let task: DeliveryTask = match serde_json::from_str(body) {
        Ok(task) => task,
        Err(err) => {
            // Never a task hookpost wrote: nothing accepted is lost by dropping it.
            tracing::error!(error = %err, message_id = ?message.message_id, "malformed delivery task dropped");
            return Ok(());
        }
    };
    let now = app.clock.now().unix();
    if let Some(not_before) = task.not_before.filter(|t| *t > now) {
        let remaining = u64::try_from(not_before - now).unwrap_or(0);
        let queue = app.queue().map_err(|e| e.to_string())?;
        return queue.enqueue(&task, Duration::from_secs(remaining)).await.map_err(|e| e.to_string());
    }
    worker.process(&task).await.map_err(|e| e.to_string())
}

pub async fn handle(app: &App, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    // One batch: its tasks of one subscription share one read of it.
    let worker = app.worker().map_err(|e| e.to_string())?.sharing_reads();
    let records = event.payload.records;
    let results = futures::future::join_all(records.iter().map(|m| process(app, &worker, m))).await;
    // The batch's usage, one addition per account.
    app.flush_tallies().await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in records.iter().zip(results) {
        if let Err(err) = result {
            tracing::warn!(error = %err, message_id = ?message.message_id, "delivery task will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
