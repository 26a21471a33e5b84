//! The SQS adapter of the Queue port. SQS delays at most 15 minutes; a longer delay travels
//! in the task's `not_before`, and the consumer sends the task on again until it is due.
//!
//! Ordered tasks (SPEC §10) go to a second, FIFO queue, in message groups of their
//! subscription and ordering key (`DeliveryTask::group`), deduplicated by attempt. A FIFO
//! queue delays no message on its own: a delay travels as `not_before` there too, and the
//! worker holds the task (keeps it out of sight, first of its group) until then.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use hookpost_domain::delivery::DeliveryTask;
use hookpost_domain::Timestamp;

use super::{HoldQueue, Queue, QueueError};

/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY_SECS: u64 = 900;
/// SQS's limits on one `SendMessageBatch`: ten messages, 256 KiB of bodies in all.
pub const MAX_BATCH_MESSAGES: usize = 10;
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    /// The FIFO queue of ordered tasks, where the deployment has one.
    fifo_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into(), fifo_url: None }
    }

    /// Ordered tasks go to `fifo_url`.
    #[must_use]
    pub fn with_fifo(mut self, fifo_url: Option<String>) -> Self {
        self.fifo_url = fifo_url;
        self
    }

    pub fn fifo_url(&self) -> Option<&str> {
        self.fifo_url.as_deref()
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
    fn fifo(&self) -> Result<&str, QueueError> {
        self.fifo_url.as_deref().ok_or_else(|| QueueError::NoFifoQueue)
    }

    /// `task` as the message that carries it: its body, and for an ordered task its group
    /// and deduplication id. A delay SQS cannot carry (past 15 minutes, or any on the FIFO
    /// queue) travels in `not_before`.
    fn message(task: &DeliveryTask, delay: Duration) -> Result<Message, QueueError> {
        let now = Timestamp::now();
        let group = task.group();
        let (delay_seconds, not_before) = match group {
            None => split_delay(now, delay),
            Some(_) if delay.is_zero() => (0, None),
            Some(_) => (0, Some(now.unix() + i64::try_from(delay.as_secs()).unwrap_or(i64::MAX / 2))),
        };
        let body = serde_json::to_string(&DeliveryTask { not_before, ..task.clone() })
            .map_err(|e| QueueError::Encode(std::sync::Arc::new(e)))?;
        let ordered = group.map(|group| (group, task.deduplication_id()));
        Ok(Message { body, ordered, delay_seconds: i32::try_from(delay_seconds).unwrap_or(900) })
    }

    fn url_of(&self, message: &Message) -> Result<&str, QueueError> {
        match message.ordered {
            Some(_) => self.fifo(),
            None => Ok(&self.url),
        }
    }

    /// One message, as a batch of one: SQS bills it as one `SendMessage`, and every function
    /// that sends links one operation of the SDK's instead of two.
    async fn send_one(&self, message: Message) -> Result<(), QueueError> {
        let url = self.url_of(&message)?.to_owned();
        let entry = entry(0, &message)?;
        let answer =
            self.client.send_message_batch().queue_url(url).entries(entry).send().await.map_err(QueueError::request)?;
        match answer.failed().first() {
            Some(refused) => Err(QueueError::Refused { code: refused.code().to_owned() }),
            None => Ok(()),
        }
    }
}

/// The `SendMessageBatch` entry of `message`, numbered `i`.
fn entry(i: usize, message: &Message) -> Result<SendMessageBatchRequestEntry, QueueError> {
    let entry = SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(&message.body);
    match &message.ordered {
        Some((group, dedup)) => entry.message_group_id(group).message_deduplication_id(dedup),
        None => entry.delay_seconds(message.delay_seconds),
    }
    .build()
    .map_err(QueueError::request)
}

/// One message to send.
struct Message {
    body: String,
    /// An ordered task's group and deduplication id (the FIFO queue).
    ordered: Option<(String, String)>,
    delay_seconds: i32,
}

#[async_trait]
impl HoldQueue for SqsQueue {
    /// A FIFO head between its attempts: out of sight on the FIFO queue for `delay` (at most
    /// SQS's 12 hours a step; the worker holds it again when it comes back early).
    async fn hold(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let secs = delay.as_secs().clamp(0, hookpost_domain::delivery::order::MAX_HOLD_SECS);
        self.client
            .change_message_visibility()
            .queue_url(self.fifo()?)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(QueueError::request)?;
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError> {
        self.send_one(Self::message(task, delay)?).await
    }

    /// Up to ten tasks per `SendMessageBatch` (SQS bills a batch as one request); entries
    /// SQS refuses are sent once more one by one, and an error is returned only if that fails.
    async fn enqueue_all(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<(), QueueError> {
        self.enqueue_each(tasks, delay).await.into_iter().collect()
    }

    /// As `enqueue_all`, with an answer per task: a batch SQS refuses whole refuses its
    /// tasks only, and an entry it refuses is sent once more on its own. Ordered tasks go to
    /// the FIFO queue in their order; once one of a group is refused, the later ones of that
    /// group are not sent (they would overtake it) and are refused too.
    async fn enqueue_each(&self, tasks: &[DeliveryTask], delay: Duration) -> Vec<Result<(), QueueError>> {
        let mut sent: Vec<Result<(), QueueError>> = Vec::with_capacity(tasks.len());
        let mut ready: [Vec<(usize, Message)>; 2] = [Vec::new(), Vec::new()];
        for task in tasks {
            match Self::message(task, delay) {
                Ok(message) => {
                    ready[usize::from(message.ordered.is_some())].push((sent.len(), message));
                    sent.push(Ok(()));
                }
                Err(err) => sent.push(Err(err)),
            }
        }
        let mut refused_groups: Vec<String> = Vec::new();
        for queue in ready {
            for batch in batches_by(queue, |(_, m)| m.body.len()) {
                let (batch, blocked): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .partition(|(_, m)| m.ordered.as_ref().is_none_or(|(g, _)| !refused_groups.contains(g)));
                for (slot, _) in blocked {
                    sent[slot] = Err(QueueError::GroupBlocked);
                }
                let (slots, messages): (Vec<usize>, Vec<Message>) = batch.into_iter().unzip();
                let groups: Vec<Option<String>> =
                    messages.iter().map(|m| m.ordered.as_ref().map(|o| o.0.clone())).collect();
                for ((slot, group), outcome) in slots.iter().zip(groups).zip(self.send_batch(messages).await) {
                    if outcome.is_err() {
                        refused_groups.extend(group);
                    }
                    sent[*slot] = outcome;
                }
            }
        }
        sent
    }
}

impl SqsQueue {
    /// One `SendMessageBatch` (or a `SendMessage` for one message) to one queue, an answer
    /// per message.
    async fn send_batch(&self, mut batch: Vec<Message>) -> Vec<Result<(), QueueError>> {
        if batch.len() <= 1 {
            return match batch.pop() {
                Some(message) => vec![self.send_one(message).await],
                None => Vec::new(),
            };
        }
        let url = match self.url_of(&batch[0]) {
            Ok(url) => url.to_owned(),
            Err(err) => return batch.iter().map(|_| Err(err.clone())).collect(),
        };
        let entries = match batch.iter().enumerate().map(|(i, m)| entry(i, m)).collect::<Result<Vec<_>, _>>() {
            Ok(entries) => entries,
            Err(err) => return batch.iter().map(|_| Err(err.clone())).collect(),
        };
        let answer = self.client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await;
        // Each refused entry by its number, with SQS's code for it.
        let refused: Vec<(usize, String)> = match answer {
            Ok(answer) => answer
                .failed()
                .iter()
                .filter_map(|f| Some((f.id().parse::<usize>().ok()?, f.code().to_owned())))
                .collect(),
            Err(err) => {
                let err = QueueError::request(err);
                return batch.iter().map(|_| Err(err.clone())).collect();
            }
        };
        let mut sent: Vec<Result<(), QueueError>> = batch.iter().map(|_| Ok(())).collect();
        // An ordered entry is not sent again on its own: it would overtake the ones after it.
        let mut again: Vec<(usize, Message)> = Vec::new();
        for (i, message) in batch.into_iter().enumerate() {
            if let Some((_, code)) = refused.iter().find(|(entry, _)| *entry == i) {
                match message.ordered {
                    Some(_) => sent[i] = Err(QueueError::Refused { code: code.clone() }),
                    None => again.push((i, message)),
                }
            }
        }
        for (i, message) in again {
            sent[i] = self.send_one(message).await;
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
