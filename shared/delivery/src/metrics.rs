//! The delivery metrics, under one set of names whichever recorder is installed: Prometheus
//! text on hookpost-local's `/metrics`, CloudWatch embedded metric format in Lambda
//! (namespace `hookpost`). Labels are bounded sets (an outcome, a reason's code), never an
//! account or a subscription, so the number of series, and CloudWatch's bill, stays fixed.

use hookpost_domain::Reason;

pub const EVENTS_PUBLISHED: &str = "hookpost_events_published";
pub const DELIVERY_ATTEMPTS: &str = "hookpost_delivery_attempts";
pub const ATTEMPT_DURATION: &str = "hookpost_attempt_duration_seconds";
pub const PUBLISH_TO_DELIVERY: &str = "hookpost_publish_to_delivery_seconds";
pub const FAILURE_RECORDS: &str = "hookpost_failure_records";
pub const AUTO_DISABLES: &str = "hookpost_subscriptions_auto_disabled";
pub const RETRIGGERS: &str = "hookpost_retriggers";
pub const QUEUED_TASKS: &str = "hookpost_queued_tasks";
pub const QUEUE_CAPACITY: &str = "hookpost_queue_capacity";
pub const OPERATOR_EVENTS: &str = "hookpost_operator_events";
pub const DEFERRED_BY_RATE_LIMIT: &str = "hookpost_deliveries_deferred_by_rate_limit";

/// An event accepted (answered 202).
pub fn published() {
    metrics::counter!(EVENTS_PUBLISHED).increment(1);
}

/// One attempt: its outcome, how long it took, and for a first attempt delivered, how long
/// after its publish.
pub fn attempt(failed: Option<&Reason>, duration_ms: u64, since_publish_secs: Option<f64>) {
    match failed {
        None => metrics::counter!(DELIVERY_ATTEMPTS, "outcome" => "delivered", "reason" => "none").increment(1),
        Some(reason) => {
            metrics::counter!(DELIVERY_ATTEMPTS, "outcome" => "failed", "reason" => reason.code()).increment(1);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!(ATTEMPT_DURATION).record(duration_ms as f64 / 1000.0);
    if let Some(secs) = since_publish_secs {
        metrics::histogram!(PUBLISH_TO_DELIVERY).record(secs);
    }
}

pub fn failure_recorded(reason: Option<&Reason>) {
    metrics::counter!(FAILURE_RECORDS, "reason" => reason.map_or("none", Reason::code)).increment(1);
}

pub fn auto_disabled() {
    metrics::counter!(AUTO_DISABLES).increment(1);
}

/// A delivery sent back to the queue to wait for its start under its subscription's rate
/// limit (SPEC §10): a receiver being held to its limit.
pub fn deferred() {
    metrics::counter!(DEFERRED_BY_RATE_LIMIT).increment(1);
}

pub fn retriggered() {
    metrics::counter!(RETRIGGERS).increment(1);
}

/// hookpost-local's in-process queue: tasks waiting or being worked, and its bound.
#[allow(clippy::cast_precision_loss)]
pub fn queued_tasks(n: usize, capacity: usize) {
    metrics::gauge!(QUEUED_TASKS).set(n as f64);
    metrics::gauge!(QUEUE_CAPACITY).set(capacity as f64);
}

/// An operator event sent (`delivered`) or given up on.
pub fn operator_event(delivered: bool) {
    metrics::counter!(OPERATOR_EVENTS, "outcome" => if delivered { "delivered" } else { "failed" }).increment(1);
}
