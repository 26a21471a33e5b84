//! SQS requests as SQS bills them, counted by an SDK interceptor: each request, each 64 KB
//! of a request's payload once more, standard and FIFO queues apart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchInput;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use hookpost_domain::price::SQS_CHUNK_BYTES;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Requests since the last [`SqsCounter::take`]: billed requests (64 KB chunks) by operation,
/// and by queue kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqsTally {
    pub requests: BTreeMap<&'static str, f64>,
    pub standard: f64,
    pub fifo: f64,
}

#[derive(Clone, Debug, Default)]
pub struct SqsCounter(Arc<Mutex<SqsTally>>);

impl SqsCounter {
    pub fn take(&self) -> SqsTally {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A request's operation, queue and billed units (every 64 KB of payload one request).
fn classify(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> Option<(&'static str, String, f64)> {
    let chunks = |bytes: usize| (bytes.max(1) as f64 / SQS_CHUNK_BYTES).ceil();
    if let Some(batch) = input.downcast_ref::<SendMessageBatchInput>() {
        let bytes: usize = batch.entries.iter().flatten().map(|e| e.message_body.len()).sum();
        return Some(("SendMessageBatch", batch.queue_url.clone().unwrap_or_default(), chunks(bytes)));
    }
    if let Some(send) = input.downcast_ref::<SendMessageInput>() {
        let bytes = send.message_body.as_ref().map_or(0, String::len);
        return Some(("SendMessage", send.queue_url.clone().unwrap_or_default(), chunks(bytes)));
    }
    if let Some(receive) = input.downcast_ref::<ReceiveMessageInput>() {
        return Some(("ReceiveMessage", receive.queue_url.clone().unwrap_or_default(), 1.0));
    }
    if let Some(delete) = input.downcast_ref::<DeleteMessageBatchInput>() {
        return Some(("DeleteMessageBatch", delete.queue_url.clone().unwrap_or_default(), 1.0));
    }
    if let Some(change) = input.downcast_ref::<ChangeMessageVisibilityInput>() {
        return Some(("ChangeMessageVisibility", change.queue_url.clone().unwrap_or_default(), 1.0));
    }
    None
}

impl Intercept for SqsCounter {
    fn name(&self) -> &'static str {
        "hookpost-bench SQS request counter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((operation, url, units)) = classify(context.input()) else { return Ok(()) };
        let mut tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A receive that returns a response of more than 64 KB is billed for each 64 KB too;
        // the deliveries' tasks are small (under 2 KB each), so it is counted as one.
        *tally.requests.entry(operation).or_default() += units;
        if url.ends_with(".fifo") {
            tally.fifo += units;
        } else {
            tally.standard += units;
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &aws_sdk_sqs::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}
