//! Starting a retrigger's one attempt, shared by retrigger and recover.

use std::time::Duration;

use hookpost_domain::delivery::DeliveryTask;
use hookpost_domain::failure::{Failure, RetriggerOutcome};
use hookpost_domain::{Reason, Timestamp};
use hookpost_store::FailureStore;

use crate::queue::{Queue, QueueError};

/// Enqueues the attempt of a record just moved to `pending`. When the queue refuses it, the
/// record goes back to `inactive` (`retrigger_lost`) at once, so the customer can retrigger
/// it again instead of waiting for the sweeper; should that write fail too, the sweeper
/// returns it within 15 minutes.
pub async fn start_retrigger(
    store: &dyn FailureStore,
    queue: &dyn Queue,
    pending: &Failure,
    now: Timestamp,
) -> Result<(), QueueError> {
    let task = DeliveryTask::retrigger(pending.account_id, pending.subscription_id, &pending.event_id, pending.id);
    let Err(err) = queue.enqueue(&task, Duration::ZERO).await else {
        tracing::info!(
            log = "retrigger",
            failure_id = %pending.id,
            account_id = %pending.account_id,
            subscription_id = %pending.subscription_id,
            event_id = %pending.event_id,
            "failure {} retriggered",
            pending.id
        );
        crate::metrics::retriggered();
        return Ok(());
    };
    tracing::warn!(error = %err, failure_id = %pending.id, "the queue refused a retrigger; the record returns to inactive");
    let lost = RetriggerOutcome::Failed(Reason::RetriggerLost);
    if let Err(put_back) = store.settle_failure(pending.account_id, pending.id, &lost, now).await {
        tracing::warn!(error = %put_back, failure_id = %pending.id, "returning the record failed; the sweeper will");
    }
    Err(err)
}
