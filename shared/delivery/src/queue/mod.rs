//! The Queue port and its adapters: in memory (`memory`, hookpost-local's queue when its
//! state is in memory) and SQS (`sqs`, every deployment and hookpost-local on DynamoDB).
//!
//! Delivery is at-least-once: a task stays in the queue until a worker acknowledges it. A
//! worker that dies, hangs past the visibility timeout, or is dropped mid-attempt leaves its
//! task to come back, exactly as an SQS message whose receipt was never deleted.
//!
//! Ordered tasks (of `fifo` subscriptions, SPEC §10) go in groups, as in an SQS FIFO queue:
//! a group's next task is handed out only once the one before it is acknowledged, so a task
//! held between its attempts, or one whose worker died, keeps the later ones of its group
//! waiting, and the other groups go on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hookpost_domain::delivery::DeliveryTask;

mod memory;
pub mod sqs;

pub use memory::{spawn_workers, InProcessQueue, Lease, TaskHandler, DEFAULT_CAPACITY, RETRY_AFTER_ERROR};
pub use sqs::SqsQueue;

/// Why a task was not queued. Clone: one SQS failure answers for every task of its batch.
#[derive(Clone, Debug, thiserror::Error)]
pub enum QueueError {
    /// The in-process queue is at its bound: the fan-out is refused whole.
    #[error("the in-process queue holds {held} tasks, its bound is {capacity}")]
    Full { held: usize, capacity: usize },
    /// An ordered task, and this deployment has no FIFO queue to carry it.
    #[error("this deployment has no FIFO queue for ordered tasks")]
    NoFifoQueue,
    /// The task could not be written as a message.
    #[error("the task as a message: {0}")]
    Encode(Arc<serde_json::Error>),
    /// The request did not get through (unreachable, throttled, refused whole).
    #[error("the queue's request failed: {}", aws_sdk_sqs::error::DisplayErrorContext(.0.as_ref()))]
    Request(Arc<dyn std::error::Error + Send + Sync>),
    /// SQS took the batch but refused this message, with its error code.
    #[error("SQS refused the message: {code}")]
    Refused { code: String },
    /// An ordered task not sent: an earlier one of its group was refused, and it would
    /// overtake it.
    #[error("an earlier task of its group was refused")]
    GroupBlocked,
}

impl QueueError {
    pub fn request(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Request(Arc::new(err))
    }
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends a task to be worked on after `delay` (any length: adapters with a maximum
    /// delay carry the rest in the task's `not_before`).
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError>;

    /// Sends several tasks with the same delay (a fan-out); adapters that can send them in
    /// fewer requests do.
    async fn enqueue_all(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<(), QueueError> {
        for task in tasks {
            self.enqueue(task, delay).await?;
        }
        Ok(())
    }

    /// Sends each task with the same delay and answers for each, in order, whether it is
    /// queued: one refusal does not refuse the others (a batch publish answers per event).
    /// Adapters that can send them in fewer requests do.
    async fn enqueue_each(&self, tasks: &[DeliveryTask], delay: Duration) -> Vec<Result<(), QueueError>> {
        let mut sent = Vec::with_capacity(tasks.len());
        for task in tasks {
            sent.push(self.enqueue(task, delay).await);
        }
        sent
    }
}

/// Keeps a received ordered task out of sight for `delay`, after which it is handed out
/// again, still first of its group: what a worker's consumer does between a FIFO head's
/// attempts on SQS (`receipt` names the received message). Apart from [`Queue`] so that only
/// the consumers link it; the in-process queue's workers hold their tasks themselves
/// ([`InProcessQueue::release`]).
#[async_trait]
pub trait HoldQueue: Send + Sync {
    async fn hold(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
}
