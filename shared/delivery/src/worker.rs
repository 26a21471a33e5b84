//! The worker step: take a task → load → sign → send → record → reschedule or finish.
//!
//! Every attempt sets `last_delivery_at` and joins the attempt log; a 2xx sets
//! `last_success_at` and resets `consecutive_failures`; an exhausted schedule writes a
//! failure record and counts one failed event, and the fifth in a row auto-disables the
//! subscription. A deleted subscription gets no further attempt; an auto-disabled one turns
//! each of its remaining scheduled tasks into a `subscription_disabled` failure record.
//!
//! Send once, record until it sticks: what an attempt's outcome must write is decided by
//! the domain ([`hookpost_domain::writes`]) and applied here in order. A write the store
//! refuses is tried again after a pause; when the store still will not take it, the writes
//! left go back on the queue as a record task that any worker finishes — the attempt is
//! never sent again to get its outcome recorded. Only a crash between the send and the
//! record (or the store and the queue failing together) can make a delivery go out twice.
//!
//! Delivery control (SPEC §10): before an attempt to a subscription with a rate limit, the
//! worker takes a start from the subscription's limiter in the store (a batch's tasks of one
//! subscription take theirs in one write) and waits for it; a start further away than
//! [`pacing::MAX_START_WAIT_US`] sends the task back to the queue holding it. An ordered
//! task (a `fifo` subscription's) resumes where its group's head stands in the store, and
//! between attempts is held at the head of its group instead of queued again: the worker
//! answers [`Handled::Hold`], and whoever handed it the task keeps it out of sight.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use hookpost_domain::delivery::order::{resume, Resume};
use hookpost_domain::delivery::{
    Attempt, AttemptKey, DeliveryBody, DeliveryTask, Outcome, RetrySchedule, TaskKind, AUTO_DISABLE_AFTER,
};
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, RetriggerOutcome};
use hookpost_domain::operator_event::OperatorEvent;
use hookpost_domain::pacing::{self, RateLimit, StartAt};
use hookpost_domain::signing::signature_header;
use hookpost_domain::subscription::{Authentication, DisabledReason, Subscription};
use hookpost_domain::usage::Usage;
use hookpost_domain::writes::{after_attempt, deferred, disabled_subscription, held_for, Retention, Write};
use hookpost_domain::{AccountId, Clock, Reason, SubscriptionId, Timestamp};
use hookpost_store::{DeliveryControlStore, Store, StoreError};
use serde_json::value::RawValue;

use crate::delivered::DeliveredLog;
use crate::operator::OperatorEvents;
use crate::queue::{Queue, QueueError};
use crate::retry::retry;
use crate::sender::{OutgoingRequest, SendReport, Sender};
use crate::usage::UsageTally;

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

/// Why a queued task's message stays in its queue: what the `deliver` and `dead-letter`
/// consumers report for it (and log, where they report it).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// This function was not set up to work the task (a deployment fault, logged where found).
    #[error("the function's set-up: {0}")]
    Setup(#[from] hookpost_domain::ApiError),
    #[error(transparent)]
    Step(#[from] StepError),
}

impl From<StoreError> for TaskError {
    fn from(err: StoreError) -> Self {
        Self::Step(StepError::Store(err))
    }
}

/// Pauses between tries of a write the store refused. After the last, the writes left go
/// into a record task.
pub const WRITE_RETRIES: [Duration; 3] =
    [Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)];
/// How long a record task waits in the queue before a worker takes it.
pub const RECORD_DELAY: Duration = Duration::from_secs(5);

/// What became of a task a worker was handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Finished: the queue may forget it.
    Done,
    /// An ordered task that keeps its place at the head of its group: the queue keeps it
    /// out of sight this long, then hands it out again.
    Hold(Duration),
}

/// What applying one write means for the ones after it.
enum Applied {
    Next,
    /// The subscription no longer exists: nobody is left for the rest of the writes.
    Stop,
}

pub struct Worker {
    pub store: Arc<dyn Store>,
    /// Rate limiters and FIFO heads: given to the functions that deliver (`deliver`,
    /// hookpost-local); a worker without it (the dead-letter consumer's, finishing record
    /// tasks) refuses a task that needs it.
    pub control: Option<Arc<dyn DeliveryControlStore>>,
    pub queue: Arc<dyn Queue>,
    pub sender: Arc<Sender>,
    pub schedule: RetrySchedule,
    pub clock: Arc<dyn Clock>,
    pub attempt_retention_days: u32,
    pub event_retention_days: u32,
    /// Told of each failure record and auto-disable.
    pub operator_events: Arc<dyn OperatorEvents>,
    /// Counts each attempt and failure record; whoever runs the worker flushes it.
    pub usage: Arc<UsageTally>,
    /// Lists each delivered attempt; whoever runs the worker writes it with the usage.
    pub delivered: Arc<DeliveredLog>,
    /// For a worker given one batch ([`Worker::for_batch`]): the subscription reads its
    /// tasks share.
    pub shared_reads: Option<Arc<SharedReads>>,
    /// For a worker given one batch: the starts under each subscription's rate limit, taken
    /// for all of the batch's tasks of it at once.
    pub batch_starts: Option<Arc<BatchStarts>>,
    /// Otherwise, the process's takes of starts, merged per subscription.
    pub starts: Arc<crate::starts::Starts>,
}

/// The starts one batch's tasks take under their subscriptions' rate limits: the first task
/// of a subscription to need one takes as many as the batch has tasks for it, in one write
/// to the store; the others take theirs from what it got.
#[derive(Default)]
pub struct BatchStarts {
    /// Tasks of the batch per subscription that may need a start.
    demand: Mutex<HashMap<SubscriptionId, u32>>,
    granted: Mutex<HashMap<SubscriptionId, Arc<tokio::sync::Mutex<VecDeque<i64>>>>>,
}

impl BatchStarts {
    fn of(tasks: &[DeliveryTask]) -> Self {
        let mut demand: HashMap<SubscriptionId, u32> = HashMap::new();
        for task in tasks.iter().filter(|t| !matches!(t.kind, TaskKind::Record { .. }) && t.paced_at.is_none()) {
            *demand.entry(task.subscription_id).or_default() += 1;
        }
        Self { demand: Mutex::new(demand), granted: Mutex::default() }
    }

    /// How many starts to take for `id` now: the batch's demand the first time, one after.
    fn take_demand(&self, id: SubscriptionId) -> u32 {
        self.demand.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id).unwrap_or(1).max(1)
    }

    fn starts_of(&self, id: SubscriptionId) -> Arc<tokio::sync::Mutex<VecDeque<i64>>> {
        let mut granted = self.granted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(granted.entry(id).or_default())
    }
}

/// The subscription reads of one batch: its tasks of one subscription share the first one's
/// read (made once, even when they all ask at the same moment) instead of a read each.
#[derive(Default)]
pub struct SharedReads {
    reads: Mutex<HashMap<(AccountId, SubscriptionId), Arc<SharedRead>>>,
}

/// One subscription's read, made by the first task that asks (`None`: there is none).
type SharedRead = tokio::sync::OnceCell<Option<Subscription>>;

/// Why an attempt's request could not be built: a stored value hookpost itself wrote is
/// broken, which no retry mends.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the stored event's data is not JSON: {0}")]
    EventData(serde_json::Error),
    #[error("the delivery body: {0}")]
    Body(serde_json::Error),
    #[error("subscription {subscription}: {source}")]
    Secret { subscription: SubscriptionId, source: hookpost_domain::signing::BadSecret },
}

/// The signed request for one attempt of `event` to `sub` at `now`.
pub fn build_request(sub: &Subscription, event: &Event, now: Timestamp) -> Result<OutgoingRequest, RequestError> {
    let data = RawValue::from_string(event.data.clone()).map_err(RequestError::EventData)?;
    let body = DeliveryBody {
        event: &event.event_type,
        event_id: &event.event_id,
        delivered_at: now,
        channel_id: event.channel_id.as_ref(),
        data: &data,
    };
    let body = serde_json::to_vec(&body).map_err(RequestError::Body)?;
    let signature = signature_header(sub.signing_secrets(now), &event.event_id, now.unix(), &body)
        .map_err(|source| RequestError::Secret { subscription: sub.id, source })?;
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

/// A failure record written (by a worker, the dead-letter consumer or a publish to a
/// disabled subscription): its log line, its count, and the operator's event.
pub async fn failure_recorded(events: &dyn OperatorEvents, failure: &Failure) {
    log_failure_recorded(failure);
    events.emit(OperatorEvent::failure_recorded(failure)).await;
}

fn log_failure_recorded(failure: &Failure) {
    tracing::info!(
        log = "failure_recorded",
        failure_id = %failure.id,
        account_id = %failure.account_id,
        subscription_id = %failure.subscription_id,
        event_id = %failure.event_id,
        reason = failure.reason.as_ref().map(ToString::to_string),
        "failure record {} written for {}",
        failure.id,
        failure.event_id
    );
    crate::metrics::failure_recorded(failure.reason.as_ref());
}

/// Logs an auto-disable for operators and counts it (`hookpost_subscriptions_auto_disabled`).
fn report_auto_disable(sub: &Subscription, reason: &Reason) {
    tracing::warn!(
        operator_event = "subscription_auto_disabled",
        account_id = %sub.account_id,
        subscription_id = %sub.id,
        consecutive_failures = sub.consecutive_failures,
        last_error = %reason,
        "webhook subscription auto-disabled after {} failed events in a row",
        sub.consecutive_failures
    );
    crate::metrics::auto_disabled();
}

impl Worker {
    /// This worker for one batch of tasks worked together (`deliver`'s SQS batch): its
    /// tasks of one subscription share one read of it, and take their starts under its rate
    /// limit in one write. They act on the subscription as it was when the batch began — as
    /// they did when each read it, all at the batch's start (a batch's tasks run together) —
    /// and each attempt's log entry is still preceded by its own strongly consistent read
    /// (`record_attempt`: an erasure during the batch leaves no entry). A worker that lives
    /// longer than a batch (hookpost-local's) must not share: its reads would grow old.
    #[must_use]
    pub fn for_batch(self, tasks: &[DeliveryTask]) -> Self {
        Self { shared_reads: Some(Arc::default()), batch_starts: Some(Arc::new(BatchStarts::of(tasks))), ..self }
    }

    fn control(&self) -> Result<&dyn DeliveryControlStore, StoreError> {
        self.control.as_deref().ok_or_else(|| {
            StoreError::Backend("this worker was not given delivery control (App::with_delivery_control)".into())
        })
    }

    async fn subscription(&self, account: AccountId, id: SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        let Some(shared) = &self.shared_reads else {
            return self.store.get_subscription(account, id).await;
        };
        let cell = {
            let mut reads = shared.reads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(reads.entry((account, id)).or_default())
        };
        // A failed read is not kept: the next task of the subscription reads again.
        cell.get_or_try_init(|| self.store.get_subscription(account, id)).await.cloned()
    }

    /// Works one task. `Ok(Handled::Done)` means the task is finished (its outcome
    /// recorded, or handed on in a record task, or waiting in the queue for its turn);
    /// `Ok(Handled::Hold(d))` that an ordered task keeps its place and comes back after `d`;
    /// `Err` that it must come back.
    pub async fn process(&self, task: &DeliveryTask) -> Result<Handled, StepError> {
        if let TaskKind::Record { writes } = &task.kind {
            // A record task that fails comes back by itself: its writes are idempotent.
            return self.apply_all(writes).await.map(|()| Handled::Done).map_err(|(_, err)| err);
        }
        let now = self.clock.now();
        let now_us = self.clock.now_micros();
        // Not due yet: a delay longer than the queue's own, or an ordered task's first delay
        // (a FIFO queue delays nothing by itself).
        if let Some(not_before) = task.not_before.filter(|t| t * 1_000_000 > now_us) {
            let left = Duration::from_micros(u64::try_from(not_before * 1_000_000 - now_us).unwrap_or(0));
            if task.group().is_some() {
                return Ok(Handled::Hold(left));
            }
            self.queue.enqueue(task, left).await?;
            return Ok(Handled::Done);
        }
        // An ordered task resumes where its group's head stands.
        let task = match (task.group(), &task.kind) {
            (Some(group), TaskKind::Scheduled) => {
                let head = self.control()?.get_fifo_head(task.account_id, &group).await?;
                match resume(task, head.as_ref(), now_us) {
                    Resume::Work(resumed) => Cow::Owned(*resumed),
                    Resume::Hold { secs } => return Ok(Handled::Hold(Duration::from_secs(secs))),
                }
            }
            _ => Cow::Borrowed(task),
        };
        let task = task.as_ref();
        // The event travels in the task when it is small; otherwise both reads go together.
        let (sub, event) = match task.carried_event() {
            Some(event) => (self.subscription(task.account_id, task.subscription_id).await?, Some(event)),
            None => {
                let (sub, event) = tokio::join!(
                    self.subscription(task.account_id, task.subscription_id),
                    self.store.get_event(task.account_id, &task.event_id)
                );
                (sub?, event?)
            }
        };
        let writes = match (&task.kind, sub, event) {
            // A retrigger: one attempt, even to an auto-disabled subscription (a customer's
            // explicit action), never to a deleted one.
            (TaskKind::Retrigger { failure_id }, sub, event) => {
                let deleted = sub.as_ref().is_none_or(Subscription::is_deleted);
                match (sub, event) {
                    (Some(sub), Some(event)) if !deleted => self.paced_attempt(task, &sub, &event).await?,
                    _ => {
                        let reason = if deleted { Reason::SubscriptionDeleted } else { Reason::EventExpired };
                        tracing::warn!(event_id = %task.event_id, reason = %reason, "retrigger made no attempt");
                        let outcome = RetriggerOutcome::Failed(reason);
                        vec![Write::SettleFailure {
                            account_id: task.account_id,
                            failure_id: *failure_id,
                            outcome,
                            at: now,
                        }]
                    }
                }
            }
            (_, None, _) => return Ok(Handled::Done),
            (_, Some(_), None) => {
                tracing::warn!(event_id = %task.event_id, "event expired before its delivery; dropping the task");
                return Ok(Handled::Done);
            }
            (_, Some(sub), Some(event)) => match sub.state.disabled_reason() {
                // The customer deleted it: pending retries stop silently.
                Some(DisabledReason::Deleted) => return Ok(Handled::Done),
                Some(DisabledReason::AutoDisabled) => disabled_subscription(task, &sub, &event, now, self.retention()),
                None => self.paced_attempt(task, &sub, &event).await?,
            },
        };
        self.settle(task, &writes).await
    }

    /// The attempt, once its start under the subscription's rate limit has come: what its
    /// outcome writes. A start further away than a worker waits sends the task back to the
    /// queue to wait for it there (the one write of [`deferred`]), with no attempt made.
    async fn paced_attempt(
        &self,
        task: &DeliveryTask,
        sub: &Subscription,
        event: &Event,
    ) -> Result<Vec<Write>, StepError> {
        if let Some(limit) = sub.rate_limit {
            let start = match task.paced_at.filter(|at| pacing::reserved_start_usable(*at, self.clock.now_micros())) {
                Some(held) => held,
                None => self.take_start(sub, limit).await?,
            };
            match pacing::start_at(start, self.clock.now_micros()) {
                StartAt::Now => {}
                StartAt::After(wait_us) => {
                    tokio::time::sleep(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0))).await;
                }
                StartAt::Defer { delay_secs } => {
                    crate::metrics::deferred();
                    return Ok(vec![deferred(task, start, delay_secs, self.clock.now())]);
                }
            }
        }
        Ok(self.attempt(task, sub, event, self.clock.now()).await)
    }

    /// One start under `sub`'s limit: from the ones this batch took for it, or taken now.
    async fn take_start(&self, sub: &Subscription, limit: RateLimit) -> Result<i64, StoreError> {
        let Some(batch) = &self.batch_starts else {
            return self.starts.take(self.control()?, self.clock.as_ref(), sub.account_id, sub.id, limit).await;
        };
        let starts = batch.starts_of(sub.id);
        let mut starts = starts.lock().await;
        if starts.is_empty() {
            let wanted = batch.take_demand(sub.id);
            let now_us = self.clock.now_micros();
            starts.extend(
                self.control()?.reserve_starts(sub.account_id, sub.id, limit.pacing(), now_us, wanted, None).await?,
            );
        }
        starts.pop_front().ok_or_else(|| StoreError::Backend("the limiter granted no start".into()))
    }

    fn retention(&self) -> Retention {
        Retention { attempt_days: self.attempt_retention_days, event_days: self.event_retention_days }
    }

    /// Sends one attempt and returns what its outcome must write.
    async fn attempt(&self, task: &DeliveryTask, sub: &Subscription, event: &Event, now: Timestamp) -> Vec<Write> {
        let mut body_bytes = 0;
        let report = match build_request(sub, event, now) {
            Ok(request) => {
                body_bytes = request.body.len() as u64;
                self.sender.send(&request).await
            }
            Err(err) => {
                // Not the receiver's fault and not fixable by retrying: record and move on.
                tracing::error!(error = %err, "cannot build the delivery");
                SendReport {
                    outcome: Outcome::Failed(Reason::DeliveryError),
                    duration_ms: 0,
                    response_excerpt: None,
                    retry_after: None,
                }
            }
        };
        match &report.outcome {
            // Delivered: listed in the batch's `deliveries` line (crate::delivered), its own
            // line only at debug level.
            Outcome::Delivered { status } => {
                tracing::debug!(
                    log = "delivery_attempt",
                    event_id = %event.event_id,
                    event = %event.event_type,
                    account_id = %sub.account_id,
                    subscription_id = %sub.id,
                    attempt = task.attempt,
                    outcome = "delivered",
                    status_code = status,
                    duration_ms = report.duration_ms,
                    "delivery attempt delivered"
                );
                self.delivered.add(sub.account_id, &event.event_id, sub.id, task.attempt, *status, report.duration_ms);
            }
            Outcome::Failed(reason) => tracing::info!(
                log = "delivery_attempt",
                event_id = %event.event_id,
                event = %event.event_type,
                account_id = %sub.account_id,
                subscription_id = %sub.id,
                attempt = task.attempt,
                outcome = "failed",
                reason = %reason,
                status_code = reason.status_code(),
                duration_ms = report.duration_ms,
                "delivery attempt failed"
            ),
        }
        let since_publish = (task.attempt == 1 && report.outcome.reason().is_none())
            .then(|| (now.unix() - event.created_at.unix()).max(0) as f64);
        crate::metrics::attempt(report.outcome.reason().as_ref(), report.duration_ms, since_publish);
        let delivered = u64::from(report.outcome.reason().is_none());
        self.usage.add(
            sub.account_id,
            Usage { attempts: 1, deliveries: delivered, bytes_delivered: delivered * body_bytes, ..Usage::default() },
        );
        let attempt = Attempt {
            account_id: sub.account_id,
            subscription_id: sub.id,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            attempt: task.attempt,
            status_code: report.outcome.status_code(),
            reason: report.outcome.reason(),
            duration_ms: report.duration_ms,
            response_excerpt: report.response_excerpt,
            test: false,
            attempted_at: now,
            log_key: AttemptKey::now(),
        };
        after_attempt(
            task,
            sub,
            event,
            attempt,
            &report.outcome,
            report.retry_after,
            &self.schedule,
            self.retention(),
            rand::random::<f64>(),
        )
    }

    /// Applies `writes`; what the store will not take now goes on in a record task. An
    /// ordered task's writes do not: a record task would leave its group, so the task
    /// itself comes back (its attempt may then be made again: at-least-once).
    async fn settle(&self, task: &DeliveryTask, writes: &[Write]) -> Result<Handled, StepError> {
        let handled = match held_for(writes) {
            Some(secs) => Handled::Hold(Duration::from_secs(secs)),
            None => Handled::Done,
        };
        let Err((done, err)) = self.apply_all(writes).await else {
            return Ok(handled);
        };
        if task.group().is_some() {
            return Err(err);
        }
        let rest = writes[done..].to_vec();
        tracing::warn!(
            error = %err,
            event_id = %task.event_id,
            subscription_id = %task.subscription_id,
            writes_left = rest.len(),
            "the store would not take an attempt's outcome; a record task will finish it"
        );
        // Should the queue fail too, the task itself comes back: the one case left where an
        // attempt is made again to get its outcome recorded.
        self.queue.enqueue(&task.record(rest), RECORD_DELAY).await?;
        Ok(handled)
    }

    /// Applies `writes` in order, each tried again after the pauses of [`WRITE_RETRIES`].
    /// On failure, how many were applied and why the next one was not.
    async fn apply_all(&self, writes: &[Write]) -> Result<(), (usize, StepError)> {
        for (done, write) in writes.iter().enumerate() {
            let applied = retry(
                WRITE_RETRIES,
                || self.apply(write),
                |err| {
                    tracing::debug!(error = %err, "a write after an attempt failed; trying again");
                    true
                },
            );
            match applied.await {
                Ok(Applied::Next) => {}
                Ok(Applied::Stop) => return Ok(()),
                Err(err) => return Err((done, err)),
            }
        }
        Ok(())
    }

    async fn apply(&self, write: &Write) -> Result<Applied, StepError> {
        match write {
            Write::LogAttempt { attempt, expires_at } => match self.store.record_attempt(attempt, *expires_at).await {
                Err(StoreError::NotFound) => return Ok(Applied::Stop),
                other => other?,
            },
            Write::DeliveryFields { account_id, subscription_id, at, error } => {
                match self.store.record_delivery(*account_id, *subscription_id, *at, error.as_ref()).await {
                    Err(StoreError::NotFound) => return Ok(Applied::Stop),
                    other => other?,
                }
            }
            Write::Enqueue { task, delay_secs } => self.queue.enqueue(task, Duration::from_secs(*delay_secs)).await?,
            Write::KeepEvent { event, expires_at } => {
                self.store.put_event(event, *expires_at).await?;
            }
            Write::RecordFailure { failure } => {
                self.store.put_failure(failure).await?;
                self.usage.add(failure.account_id, Usage { failures: 1, ..Usage::default() });
                failure_recorded(self.operator_events.as_ref(), failure).await;
            }
            Write::CountExhausted { account_id, subscription_id, event_id, reason, at } => {
                let counted = self
                    .store
                    .record_exhausted(*account_id, *subscription_id, event_id, reason, *at, AUTO_DISABLE_AFTER)
                    .await;
                match counted {
                    Ok(exhausted) if exhausted.disabled_now => {
                        report_auto_disable(&exhausted.subscription, reason);
                        let event = OperatorEvent::auto_disabled(&exhausted.subscription, &reason.to_string(), *at);
                        self.operator_events.emit(event).await;
                    }
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Write::SettleFailure { account_id, failure_id, outcome, at } => {
                if self.store.settle_failure(*account_id, *failure_id, outcome, *at).await?.is_none() {
                    tracing::info!(failure_id = %failure_id, "retrigger outcome arrived after the record left pending");
                }
            }
            Write::HoldHead { account_id, group, head, .. } => {
                self.control()?.put_fifo_head(*account_id, group, head).await?
            }
        }
        Ok(Applied::Next)
    }
}
