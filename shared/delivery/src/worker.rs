//! The worker step: take a task → load → sign → send → record → reschedule or finish.
//!
//! Every attempt sets `last_delivery_at` and joins the attempt log; a 2xx sets
//! `last_success_at` and resets `consecutive_failures`; an exhausted schedule writes a
//! failure record and counts one failed event, and the fifth in a row auto-disables the
//! subscription. A deleted subscription gets no further attempt; an auto-disabled one turns
//! each of its remaining scheduled tasks into a `subscription_disabled` failure record.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use hookpost_domain::delivery::{
    effective_delay, Attempt, DeliveryBody, DeliveryTask, Outcome, RetrySchedule, TaskKind, AUTO_DISABLE_AFTER,
};
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, RetriggerOutcome, REASON_SUBSCRIPTION_DELETED};
use hookpost_domain::signing::signature_header;
use hookpost_domain::subscription::{Authentication, DisabledReason, Subscription};
use hookpost_domain::{Clock, Timestamp};
use hookpost_store::{Store, StoreError};
use serde_json::value::RawValue;

use crate::queue::{Queue, QueueError};
use crate::sender::{OutgoingRequest, SendReport, Sender};

pub const USER_AGENT: &str = concat!("hookpost/", env!("CARGO_PKG_VERSION"));
pub const DEFAULT_ATTEMPT_RETENTION_DAYS: u32 = 30;

/// Why a task could not be finished now; it stays queued and comes back.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A failed attempt: its reason, and the receiver's `Retry-After` where it applies.
struct FailedAttempt {
    reason: String,
    retry_after: Option<u64>,
}

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub sender: Arc<Sender>,
    pub schedule: RetrySchedule,
    pub clock: Arc<dyn Clock>,
    pub attempt_retention_days: u32,
    pub event_retention_days: u32,
}

/// The signed request for one attempt of `event` to `sub` at `now`.
pub fn build_request(sub: &Subscription, event: &Event, now: Timestamp) -> Result<OutgoingRequest, String> {
    let data = RawValue::from_string(event.data.clone()).map_err(|e| format!("stored event data: {e}"))?;
    let body = DeliveryBody {
        event: &event.event_type,
        event_id: &event.event_id,
        delivered_at: now,
        channel_id: event.channel_id.as_ref(),
        data: &data,
    };
    let body = serde_json::to_vec(&body).map_err(|e| format!("delivery body: {e}"))?;
    let signature = signature_header(sub.signing_secrets(now), &event.event_id, now.unix(), &body)
        .map_err(|e| format!("subscription {}: {e}", sub.id))?;
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), USER_AGENT.to_owned()),
        ("webhook-id".to_owned(), event.event_id.clone()),
        ("webhook-timestamp".to_owned(), now.unix().to_string()),
        ("webhook-signature".to_owned(), signature),
    ];
    // The subscription's own headers never carry a name hookpost sets (refused at input).
    headers.extend(sub.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    match &sub.authentication {
        Authentication::None => {}
        Authentication::Basic { username, password } => {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            headers.push(("authorization".to_owned(), format!("Basic {token}")));
        }
        Authentication::Bearer { token } => headers.push(("authorization".to_owned(), format!("Bearer {token}"))),
    }
    Ok(OutgoingRequest { url: sub.url.clone(), headers, body: Bytes::from(body) })
}

/// Logs an auto-disable for operators, and counts it as a CloudWatch metric (embedded
/// metric format) when running in Lambda.
fn report_auto_disable(sub: &Subscription, reason: &str, at: Timestamp) {
    tracing::warn!(
        operator_event = "subscription_auto_disabled",
        account_id = %sub.account_id,
        subscription_id = %sub.id,
        consecutive_failures = sub.consecutive_failures,
        last_error = reason,
        "webhook subscription auto-disabled after {} failed events in a row",
        sub.consecutive_failures
    );
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        let emf = serde_json::json!({
            "_aws": {
                "Timestamp": at.unix() * 1000,
                "CloudWatchMetrics": [{
                    "Namespace": "hookpost",
                    "Dimensions": [[]],
                    "Metrics": [{"Name": "SubscriptionsAutoDisabled", "Unit": "Count"}],
                }],
            },
            "SubscriptionsAutoDisabled": 1,
            "account_id": sub.account_id,
            "subscription_id": sub.id,
        });
        println!("{emf}");
    }
}

impl Worker {
    /// Works one task. `Ok` means the task is finished (including when its next attempt was
    /// enqueued); `Err` means it must come back.
    pub async fn process(&self, task: &DeliveryTask) -> Result<(), StepError> {
        let now = self.clock.now();
        // The event travels in the task when it is small; otherwise both reads go together.
        let (sub, event) = match task.carried_event() {
            Some(event) => (self.store.get_subscription(task.account_id, task.subscription_id).await?, Some(event)),
            None => {
                let (sub, event) = tokio::join!(
                    self.store.get_subscription(task.account_id, task.subscription_id),
                    self.store.get_event(task.account_id, &task.event_id)
                );
                (sub?, event?)
            }
        };
        if let TaskKind::Retrigger { failure_id } = &task.kind {
            return self.retrigger(task, *failure_id, sub, event, now).await;
        }
        let Some(sub) = sub else {
            return Ok(());
        };
        let Some(event) = event else {
            tracing::warn!(event_id = %task.event_id, "event expired before its delivery; dropping the task");
            return Ok(());
        };
        match sub.disabled_reason {
            // The customer deleted it: pending retries stop silently.
            Some(DisabledReason::Deleted) => return Ok(()),
            Some(DisabledReason::AutoDisabled) => {
                let failure = Failure::subscription_disabled(&sub, &event.event_id, &event.event_type, now);
                self.keep_event(task, &event).await?;
                self.store.put_failure(&failure).await?;
                return Ok(());
            }
            None => {}
        }

        let Some(FailedAttempt { reason, retry_after }) = self.attempt(task, &sub, &event, now).await? else {
            return Ok(());
        };

        let next = task.attempt + 1;
        if let Some(nominal) = self.schedule.delay_before(next) {
            let delay = effective_delay(nominal, retry_after, rand::random::<f64>());
            let next_task = DeliveryTask { attempt: next, not_before: None, ..task.clone() };
            self.queue.enqueue(&next_task, Duration::from_secs(delay)).await?;
            return Ok(());
        }

        let failure =
            Failure::inactive(sub.account_id, &event.event_id, &event.event_type, sub.id, &sub.name, &reason, now, now);
        self.keep_event(task, &event).await?;
        self.store.put_failure(&failure).await?;
        let exhausted =
            match self.store.record_exhausted(sub.account_id, sub.id, &reason, now, AUTO_DISABLE_AFTER).await {
                Err(StoreError::NotFound) => return Ok(()),
                other => other?,
            };
        if exhausted.disabled_now {
            report_auto_disable(&exhausted.subscription, &reason, now);
        }
        Ok(())
    }

    /// Stores the event a failure record is about to point at, when only the task had it:
    /// publish stores an event only when something may ask for it again (a chosen id, a
    /// large event, a `subscription_disabled` record); a retrigger reads it from the store.
    async fn keep_event(&self, task: &DeliveryTask, event: &Event) -> Result<(), StepError> {
        if task.event.is_some() {
            self.store.put_event(event, event.expires_at(self.event_retention_days)).await?;
        }
        Ok(())
    }

    /// Sends one attempt, logs it, updates the subscription's delivery fields. Returns the
    /// failure reason, `None` for a delivery. A subscription gone meanwhile is a delivery
    /// nobody waits for: `None` as well.
    async fn attempt(
        &self,
        task: &DeliveryTask,
        sub: &Subscription,
        event: &Event,
        now: Timestamp,
    ) -> Result<Option<FailedAttempt>, StepError> {
        let report = match build_request(sub, event, now) {
            Ok(request) => self.sender.send(&request).await,
            Err(err) => {
                // Not the receiver's fault and not fixable by retrying: record and move on.
                tracing::error!(error = %err, "cannot build the delivery");
                SendReport {
                    outcome: Outcome::ConnectionRefused,
                    duration_ms: 0,
                    response_excerpt: None,
                    retry_after: None,
                }
            }
        };
        let reason = report.outcome.reason();
        let attempt = Attempt {
            account_id: sub.account_id,
            subscription_id: sub.id,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            attempt: task.attempt,
            status_code: report.outcome.status_code(),
            reason: reason.clone(),
            duration_ms: report.duration_ms,
            response_excerpt: report.response_excerpt.clone(),
            test: false,
            attempted_at: now,
        };
        self.store.record_attempt(&attempt, now.plus_days(i64::from(self.attempt_retention_days))).await?;
        match self.store.record_delivery(sub.account_id, sub.id, now, reason.as_deref()).await {
            Err(StoreError::NotFound) => Ok(None),
            Err(err) => Err(err.into()),
            Ok(()) => Ok(reason.map(|reason| FailedAttempt {
                reason,
                retry_after: report.retry_after.filter(|_| report.outcome.honours_retry_after()),
            })),
        }
    }

    /// A retrigger: one attempt, even to an auto-disabled subscription (a customer's
    /// explicit action), never to a deleted one. Its outcome settles the failure record and
    /// never counts as another failed event nor starts a retry cycle. A delivery resets
    /// `consecutive_failures` but leaves an auto-disabled subscription disabled.
    async fn retrigger(
        &self,
        task: &DeliveryTask,
        failure_id: hookpost_domain::FailureId,
        sub: Option<Subscription>,
        event: Option<Event>,
        now: Timestamp,
    ) -> Result<(), StepError> {
        let outcome = match (sub, event) {
            (Some(sub), _) if sub.disabled_reason == Some(DisabledReason::Deleted) => {
                RetriggerOutcome::Failed(REASON_SUBSCRIPTION_DELETED.to_owned())
            }
            (None, _) => RetriggerOutcome::Failed(REASON_SUBSCRIPTION_DELETED.to_owned()),
            (Some(_), None) => {
                tracing::warn!(event_id = %task.event_id, "retriggered event expired");
                RetriggerOutcome::Failed("event_expired".to_owned())
            }
            (Some(sub), Some(event)) => match self.attempt(task, &sub, &event, now).await? {
                None => RetriggerOutcome::Delivered,
                Some(failed) => RetriggerOutcome::Failed(failed.reason),
            },
        };
        let settled = self.store.settle_failure(task.account_id, failure_id, &outcome, now).await?;
        if settled.is_none() {
            tracing::info!(failure_id = %failure_id, "retrigger outcome arrived after the record left pending");
        }
        Ok(())
    }
}
