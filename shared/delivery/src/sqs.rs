//! The SQS adapter of the Queue port. SQS delays at most 15 minutes; a longer delay travels
//! in the task's `not_before`, and the consumer sends the task on again until it is due.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use hookpost_domain::delivery::DeliveryTask;
use hookpost_domain::Timestamp;

use crate::queue::{Queue, QueueError};

/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY_SECS: u64 = 900;

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

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError> {
        let (sqs_delay, not_before) = split_delay(Timestamp::now(), delay);
        let task = DeliveryTask { not_before, ..task.clone() };
        let body = serde_json::to_string(&task).map_err(|e| QueueError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(sqs_delay).unwrap_or(900))
            .send()
            .await
            .map_err(|e| QueueError(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_delays_travel_in_not_before() {
        let now = Timestamp::from_unix(1000);
        assert_eq!(split_delay(now, Duration::from_secs(0)), (0, None));
        assert_eq!(split_delay(now, Duration::from_secs(900)), (900, None));
        assert_eq!(split_delay(now, Duration::from_secs(3600)), (900, Some(4600)));
    }
}
