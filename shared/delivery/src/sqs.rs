//! The SQS adapter of the Queue port. SQS delays at most 15 minutes; a longer delay travels
//! in the task's `not_before`, and the consumer sends the task on again until it is due.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use hookpost_domain::delivery::DeliveryTask;
use hookpost_domain::Timestamp;

use crate::queue::{Queue, QueueError};

/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY_SECS: u64 = 900;
/// SQS's limits on one `SendMessageBatch`: ten messages, 256 KiB of bodies in all.
pub const MAX_BATCH_MESSAGES: usize = 10;
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// How to send a task with `delay`: the SQS delay, and the `not_before` it carries.
pub fn split_delay(now: Timestamp, delay: Duration) -> (u64, Option<i64>) {
    let secs = delay.as_secs();
    if secs <= MAX_DELAY_SECS {
        (secs, None)
    } else {
        (MAX_DELAY_SECS, Some(now.unix() + i64::try_from(secs).unwrap_or(i64::MAX / 2)))
    }
}

/// Splits message bodies into batches SQS accepts, in order.
pub fn batches(bodies: Vec<String>) -> Vec<Vec<String>> {
    batches_by(bodies, String::len)
}

/// Splits messages into batches SQS accepts (ten messages, their `size` in bytes within the
/// batch limit), in order.
pub fn batches_by<T>(messages: Vec<T>, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut batches: Vec<Vec<T>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let len = size(&message);
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_BATCH_MESSAGES && bytes + len <= MAX_BATCH_BYTES => {
                bytes += len;
                batch.push(message);
            }
            _ => {
                bytes = len;
                batches.push(vec![message]);
            }
        }
    }
    batches
}

impl SqsQueue {
    fn body(task: &DeliveryTask, not_before: Option<i64>) -> Result<String, QueueError> {
        serde_json::to_string(&DeliveryTask { not_before, ..task.clone() }).map_err(|e| QueueError(e.to_string()))
    }

    async fn send_one(&self, body: String, delay_seconds: i32) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(|e| QueueError(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError> {
        let (sqs_delay, not_before) = split_delay(Timestamp::now(), delay);
        self.send_one(Self::body(task, not_before)?, i32::try_from(sqs_delay).unwrap_or(900)).await
    }

    /// Up to ten tasks per `SendMessageBatch` (SQS bills a batch as one request); entries
    /// SQS refuses are sent once more one by one, and an error is returned only if that fails.
    async fn enqueue_all(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<(), QueueError> {
        self.enqueue_each(tasks, delay).await.into_iter().collect()
    }

    /// As `enqueue_all`, with an answer per task: a batch SQS refuses whole refuses its
    /// tasks only, and an entry it refuses is sent once more on its own.
    async fn enqueue_each(&self, tasks: &[DeliveryTask], delay: Duration) -> Vec<Result<(), QueueError>> {
        let (sqs_delay, not_before) = split_delay(Timestamp::now(), delay);
        let delay_seconds = i32::try_from(sqs_delay).unwrap_or(900);
        let bodies: Vec<Result<String, QueueError>> = tasks.iter().map(|t| Self::body(t, not_before)).collect();
        let mut sent: Vec<Result<(), QueueError>> = Vec::with_capacity(tasks.len());
        let mut ready = Vec::new();
        for (i, body) in bodies.into_iter().enumerate() {
            match body {
                Ok(body) => {
                    ready.push((i, body));
                    sent.push(Ok(()));
                }
                Err(err) => sent.push(Err(err)),
            }
        }
        let (order, bodies): (Vec<usize>, Vec<String>) = ready.into_iter().unzip();
        let mut next = order.into_iter();
        for batch in batches(bodies) {
            let slots: Vec<usize> = next.by_ref().take(batch.len()).collect();
            for (slot, outcome) in slots.iter().zip(self.send_batch(batch, delay_seconds).await) {
                sent[*slot] = outcome;
            }
        }
        sent
    }
}

impl SqsQueue {
    /// One `SendMessageBatch` (or a `SendMessage` for one body), an answer per body.
    async fn send_batch(&self, batch: Vec<String>, delay_seconds: i32) -> Vec<Result<(), QueueError>> {
        if batch.len() == 1 {
            return vec![self.send_one(batch.into_iter().next().unwrap_or_default(), delay_seconds).await];
        }
        let entries = batch.iter().enumerate().map(|(i, body)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .delay_seconds(delay_seconds)
                .build()
                .map_err(|e| QueueError(e.to_string()))
        });
        let entries = match entries.collect::<Result<Vec<_>, _>>() {
            Ok(entries) => entries,
            Err(err) => return batch.iter().map(|_| Err(err.clone())).collect(),
        };
        let answer = self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await;
        let refused: Vec<usize> = match answer {
            Ok(answer) => answer.failed().iter().filter_map(|f| f.id().parse::<usize>().ok()).collect(),
            Err(err) => {
                let err = QueueError(DisplayErrorContext(err).to_string());
                return batch.iter().map(|_| Err(err.clone())).collect();
            }
        };
        let mut sent: Vec<Result<(), QueueError>> = batch.iter().map(|_| Ok(())).collect();
        for i in refused {
            if let Some(body) = batch.get(i) {
                sent[i] = self.send_one(body.clone(), delay_seconds).await;
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_ten_messages_and_256_kib_at_most() {
        let sizes = |b: &[Vec<String>]| b.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(&batches((0..23).map(|i| i.to_string()).collect())), vec![10, 10, 3]);
        let big = "x".repeat(100 * 1024);
        assert_eq!(sizes(&batches(vec![big.clone(), big.clone(), big.clone(), "y".into()])), vec![2, 2]);
        assert!(batches(Vec::new()).is_empty());
    }

    #[test]
    fn long_delays_travel_in_not_before() {
        let now = Timestamp::from_unix(1000);
        assert_eq!(split_delay(now, Duration::from_secs(0)), (0, None));
        assert_eq!(split_delay(now, Duration::from_secs(900)), (900, None));
        assert_eq!(split_delay(now, Duration::from_secs(3600)), (900, Some(4600)));
    }
}
