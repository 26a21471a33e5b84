//! hookpost-local's durable delivery, used whenever it keeps its state outside memory: the
//! delivery queue and dead-letter queue of the AWS deployment, on SQS (at the DynamoDB
//! endpoint, which moto serves too, or at `--sqs-endpoint`), worked by the same `deliver`
//! and `dead-letter` handlers as in Lambda; the FIFO delivery queue of `fifo` subscriptions
//! and its dead-letter queue, worked by the same two, a message at a time (as Lambda's
//! event source for it is set); and the ingest queue, worked by `ingest-events`.
//!
//! A loop stands in for Lambda's event-source mapping. It receives up to ten messages when
//! that many workers are idle (so a received message never waits for a worker while its
//! visibility timeout runs), hands each to a worker as a one-message SQS event, keeps the
//! message hidden while the handler runs (where Lambda relies on its timeout being shorter
//! than the queue's visibility), and deletes the message once the handler reports it done. A message that is not deleted — a handler
//! that failed, a process killed with `kill -9` — comes back after the visibility timeout,
//! and after five receives SQS moves it to the dead-letter queue, whose consumer turns it
//! into a failure record.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use aws_sdk_sqs::Client;
use hookpost_delivery::retry::retry;
use hookpost_delivery::{HoldQueue, Queue, QueueError, SqsQueue};
use hookpost_domain::delivery::DeliveryTask;
use hookpost_http::App;
use lambda_http::aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Receives before SQS moves a task to the dead-letter queue (as in `template.yaml`).
pub const MAX_RECEIVES: u32 = 5;
/// How long SQS keeps a message: 14 days, its maximum (as in `template.yaml`).
const RETENTION_SECS: u32 = 1_209_600;
/// The most messages one receive returns.
const RECEIVE_BATCH: usize = 10;
/// Pauses between tries of deleting finished tasks; after the last they come back instead.
const DELETE_RETRIES: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)];
/// A FIFO head can be received this often (its attempts, its holds in 12-hour steps, the
/// redeliveries after a crash) before SQS moves it to the dead-letter queue (as in
/// `template.yaml`).
pub const FIFO_MAX_RECEIVES: u32 = 100;

/// The queues of one hookpost table.
pub struct SqsQueues {
    client: Client,
    deliveries: String,
    dead_letters: String,
    /// The FIFO queue of ordered tasks, and its dead-letter queue.
    fifo: String,
    fifo_dead_letters: String,
    /// The ingest queue (publishing without HTTP) and where its rejected events go.
    ingest: String,
    ingest_dead_letters: String,
    visibility: Duration,
    /// Wake the receive loops when this process queued something, so an idle loop can poll
    /// rarely without delaying a fresh publish.
    nudge: Arc<Notify>,
    fifo_nudge: Arc<Notify>,
}

/// Why hookpost-local's queues could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("SQS: {}", DisplayErrorContext(.0.as_ref()))]
    Request(Box<dyn std::error::Error + Send + Sync>),
    /// SQS answered without what it always sends.
    #[error("SQS: the queue {queue} came back without its {missing}")]
    Incomplete { queue: String, missing: &'static str },
}

fn sqs_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> SqsError {
    SqsError::Request(Box::new(err))
}

/// A queue name from the table name: SQS allows 80 characters of `[A-Za-z0-9_-]`.
fn queue_name(table: &str, suffix: &str) -> String {
    let base: String =
        table.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).take(60).collect();
    format!("{base}-{suffix}")
}

impl SqsQueues {
    /// The queues of `table`, created when missing: `<table>-deliveries` (redriving to the
    /// dead-letter queue after [`MAX_RECEIVES`]) and `<table>-dead-letters`; `<table>-ingest`
    /// (redriving to `<table>-ingest-dead-letters`), as in `template.yaml`.
    pub async fn open(client: Client, table: &str, visibility: Duration) -> Result<Self, SqsError> {
        let standard = Pair { live: "deliveries", dead: "dead-letters", fifo: false, max_receives: MAX_RECEIVES };
        let (dead_letters, deliveries) = queue_pair(&client, table, &standard, visibility).await?;
        let ordered = Pair { live: "deliveries", dead: "dead-letters", fifo: true, max_receives: FIFO_MAX_RECEIVES };
        let (fifo_dead_letters, fifo) = queue_pair(&client, table, &ordered, visibility).await?;
        let ingest = Pair { live: "ingest", dead: "ingest-dead-letters", fifo: false, max_receives: MAX_RECEIVES };
        let (ingest_dead_letters, ingest) = queue_pair(&client, table, &ingest, visibility).await?;
        Ok(Self {
            client,
            deliveries,
            dead_letters,
            fifo,
            fifo_dead_letters,
            ingest,
            ingest_dead_letters,
            visibility,
            nudge: Arc::new(Notify::new()),
            fifo_nudge: Arc::new(Notify::new()),
        })
    }

    pub fn fifo_url(&self) -> &str {
        &self.fifo
    }

    pub fn fifo_dead_letters_url(&self) -> &str {
        &self.fifo_dead_letters
    }

    pub fn ingest_url(&self) -> &str {
        &self.ingest
    }

    pub fn ingest_dead_letters_url(&self) -> &str {
        &self.ingest_dead_letters
    }

    /// Whether the delivery queue answers (for `/readyz`).
    pub async fn reachable(&self) -> Result<(), SqsError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.deliveries)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs_error)
    }

    pub fn deliveries_url(&self) -> &str {
        &self.deliveries
    }

    pub fn dead_letters_url(&self) -> &str {
        &self.dead_letters
    }

    /// The delivery queues, as the handlers send to them.
    pub fn queue(&self) -> Arc<dyn Queue> {
        Arc::new(Nudging {
            inner: SqsQueue::new(self.client.clone(), self.deliveries.clone()).with_fifo(Some(self.fifo.clone())),
            nudges: [Arc::clone(&self.nudge), Arc::clone(&self.fifo_nudge)],
        })
    }

    /// The FIFO queue's consumer side: what the deliver handler holds ordered tasks with.
    pub fn holder(&self) -> Arc<dyn HoldQueue> {
        Arc::new(SqsQueue::new(self.client.clone(), self.deliveries.clone()).with_fifo(Some(self.fifo.clone())))
    }

    /// `workers` workers on the delivery queue, one on the dead-letter queue.
    /// Works both queues until `drain` turns true; then nothing more is received, what was
    /// received is finished and deleted, and the set ends.
    pub fn spawn(&self, app: &Arc<App>, workers: usize, drain: &watch::Receiver<bool>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        let mapping = |url: &String, idle_poll: u64, nudge: Option<&Arc<Notify>>, receive: usize, handler| Mapping {
            client: self.client.clone(),
            url: url.clone(),
            visibility: self.visibility,
            idle_poll: Duration::from_secs(idle_poll),
            nudge: nudge.map(Arc::clone),
            receive,
            handler,
        };
        mapping(&self.deliveries, 1, Some(&self.nudge), RECEIVE_BATCH, Handler::Deliver).spawn(
            &mut set,
            app,
            workers.max(1),
            drain.clone(),
        );
        // A message a receive, as Lambda's event source for the FIFO queue: a group's next
        // task is never received while its head waits.
        mapping(&self.fifo, 1, Some(&self.fifo_nudge), 1, Handler::Deliver).spawn(
            &mut set,
            app,
            workers.max(1),
            drain.clone(),
        );
        mapping(&self.dead_letters, 5, None, RECEIVE_BATCH, Handler::DeadLetter).spawn(&mut set, app, 1, drain.clone());
        mapping(&self.fifo_dead_letters, 5, None, RECEIVE_BATCH, Handler::DeadLetter).spawn(
            &mut set,
            app,
            1,
            drain.clone(),
        );
        let ingest = Handler::Ingest { dead_letters: self.ingest_dead_letters.clone() };
        mapping(&self.ingest, 1, None, RECEIVE_BATCH, ingest).spawn(&mut set, app, 1, drain.clone());
        set
    }
}

/// A queue and its dead-letter queue, as `template.yaml` makes them.
struct Pair {
    live: &'static str,
    dead: &'static str,
    /// FIFO queues, named `<table>-<name>.fifo`.
    fifo: bool,
    /// Receives before a message moves to the dead-letter queue.
    max_receives: u32,
}

/// A queue and its dead-letter queue (`<table>-<dead>`, after `max_receives` receives):
/// their URLs, the dead-letter queue's first.
async fn queue_pair(
    client: &Client,
    table: &str,
    pair: &Pair,
    visibility: Duration,
) -> Result<(String, String), SqsError> {
    let retention = RETENTION_SECS.to_string();
    let name = |base: &str| match pair.fifo {
        true => format!("{}.fifo", queue_name(table, base)),
        false => queue_name(table, base),
    };
    let fifo = pair.fifo.then_some(());
    let dead_letters =
        ensure_queue(client, &name(pair.dead), fifo, &[(QueueAttributeName::MessageRetentionPeriod, &retention)])
            .await?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&dead_letters)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_error)?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| SqsError::Incomplete { queue: dead_letters.clone(), missing: "ARN" })?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": pair.max_receives.to_string()}).to_string();
    let visibility_secs = visibility.as_secs().to_string();
    let queue = ensure_queue(
        client,
        &name(pair.live),
        fifo,
        &[
            (QueueAttributeName::MessageRetentionPeriod, &retention),
            (QueueAttributeName::VisibilityTimeout, &visibility_secs),
            (QueueAttributeName::RedrivePolicy, &redrive),
        ],
    )
    .await?;
    Ok((dead_letters, queue))
}

/// The queue URL of `name`, creating the queue when it does not exist (a FIFO queue with
/// `fifo`, deduplicated by the ids hookpost gives); an existing queue gets `attributes` set
/// (an older queue gains the redrive policy, say).
async fn ensure_queue(
    client: &Client,
    name: &str,
    fifo: Option<()>,
    attributes: &[(QueueAttributeName, &String)],
) -> Result<String, SqsError> {
    if let Ok(found) = client.get_queue_url().queue_name(name).send().await {
        if let Some(url) = found.queue_url {
            let mut set = client.set_queue_attributes().queue_url(&url);
            for (k, v) in attributes {
                set = set.attributes(k.clone(), (*v).clone());
            }
            set.send().await.map_err(sqs_error)?;
            return Ok(url);
        }
    }
    let mut create = client.create_queue().queue_name(name);
    if fifo.is_some() {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    for (k, v) in attributes {
        create = create.attributes(k.clone(), (*v).clone());
    }
    create
        .send()
        .await
        .map_err(sqs_error)?
        .queue_url
        .ok_or_else(|| SqsError::Incomplete { queue: name.to_owned(), missing: "URL" })
}

/// The SQS queues, plus a nudge to this process's receive loops after each send.
struct Nudging {
    inner: SqsQueue,
    nudges: [Arc<Notify>; 2],
}

impl Nudging {
    fn nudge(&self) {
        for nudge in &self.nudges {
            nudge.notify_one();
        }
    }
}

#[async_trait]
impl Queue for Nudging {
    async fn enqueue(&self, task: &DeliveryTask, delay: Duration) -> Result<(), QueueError> {
        let sent = self.inner.enqueue(task, delay).await;
        self.nudge();
        sent
    }

    async fn enqueue_all(&self, tasks: &[DeliveryTask], delay: Duration) -> Result<(), QueueError> {
        let sent = self.inner.enqueue_all(tasks, delay).await;
        self.nudge();
        sent
    }

    async fn enqueue_each(&self, tasks: &[DeliveryTask], delay: Duration) -> Vec<Result<(), QueueError>> {
        let sent = self.inner.enqueue_each(tasks, delay).await;
        self.nudge();
        sent
    }
}

#[derive(Clone)]
enum Handler {
    Deliver,
    DeadLetter,
    /// The ingest queue's consumer, keeping what it rejects in `dead_letters`.
    Ingest {
        dead_letters: String,
    },
}

/// One queue's event-source mapping.
struct Mapping {
    client: Client,
    url: String,
    visibility: Duration,
    /// The longest pause between receives while the queue is empty.
    idle_poll: Duration,
    nudge: Option<Arc<Notify>>,
    /// The most messages one receive asks for.
    receive: usize,
    handler: Handler,
}

impl Mapping {
    fn spawn(self, set: &mut JoinSet<()>, app: &Arc<App>, workers: usize, drain: watch::Receiver<bool>) {
        let idle = Arc::new(Semaphore::new(workers));
        let (work_tx, work_rx) = mpsc::unbounded_channel::<(SqsMessage, OwnedSemaphorePermit)>();
        let work_rx = Arc::new(tokio::sync::Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::unbounded_channel::<String>();
        for _ in 0..workers {
            let (app, work_rx, done_tx, handler) =
                (Arc::clone(app), Arc::clone(&work_rx), done_tx.clone(), self.handler.clone());
            let (client, url, visibility) = (self.client.clone(), self.url.clone(), self.visibility);
            set.spawn(async move {
                loop {
                    let Some((message, permit)) = work_rx.lock().await.recv().await else { return };
                    let receipt = message.receipt_handle.clone();
                    let handled = handle(&app, &client, &handler, message);
                    let done = match &receipt {
                        Some(receipt) => keep_hidden(&client, &url, receipt, visibility, handled).await,
                        None => handled.await,
                    };
                    if let (true, Some(receipt)) = (done, receipt) {
                        let _ = done_tx.send(receipt);
                    }
                    drop(permit);
                }
            });
        }
        set.spawn(delete_loop(self.client.clone(), self.url.clone(), done_rx));
        set.spawn(self.receive_loop(idle, work_tx, drain));
    }

    /// Receives while workers are idle. Returning (on drain) closes the work channel: the
    /// workers finish what they hold and end, and with them the delete loop.
    async fn receive_loop(
        self,
        idle: Arc<Semaphore>,
        work: mpsc::UnboundedSender<(SqsMessage, OwnedSemaphorePermit)>,
        mut drain: watch::Receiver<bool>,
    ) {
        let mut pause = Duration::ZERO;
        let visibility = i32::try_from(self.visibility.as_secs()).unwrap_or(i32::MAX);
        loop {
            let first = tokio::select! {
                biased;
                _ = drain.wait_for(|draining| *draining) => return,
                permit = Arc::clone(&idle).acquire_owned() => permit,
            };
            let Ok(first) = first else { return };
            let mut permits = vec![first];
            while permits.len() < self.receive {
                match Arc::clone(&idle).try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            // Short polls: a long poll would hold a single-threaded test server (moto behind
            // scripts/moto_server.py) for everyone. An empty queue is polled less and less
            // often, and at once again when this process queues something.
            let received = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(i32::try_from(permits.len()).unwrap_or(1))
                .visibility_timeout(visibility)
                .wait_time_seconds(0)
                .send()
                .await;
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(err) => {
                    tracing::warn!(error = %DisplayErrorContext(err), queue = %self.url, "receiving from the queue failed");
                    drop(permits);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                drop(permits);
                pause = (pause * 2).clamp(Duration::from_millis(20), self.idle_poll);
                let nudged = async {
                    match &self.nudge {
                        Some(nudge) => nudge.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = drain.wait_for(|draining| *draining) => return,
                    () = nudged => pause = Duration::ZERO,
                    () = tokio::time::sleep(pause) => {}
                }
                continue;
            }
            pause = Duration::ZERO;
            for (message, permit) in messages.into_iter().zip(permits) {
                let mut record = SqsMessage::default();
                record.message_id = message.message_id;
                record.receipt_handle = message.receipt_handle;
                record.body = message.body;
                if work.send((record, permit)).is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs `work` while keeping its message hidden: every half visibility timeout the timeout
/// starts again, so a slow handler (a slow store, retried writes) is never overtaken by a
/// second worker sending the same delivery. A process that dies stops extending, and the
/// message comes back as before.
pub async fn keep_hidden<F: std::future::Future<Output = bool>>(
    client: &Client,
    url: &str,
    receipt: &str,
    visibility: Duration,
    work: F,
) -> bool {
    let every = visibility / 2;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let seconds = i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX);
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = beat.tick() => {
                let extended = client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(seconds)
                    .send()
                    .await;
                if let Err(err) = extended {
                    tracing::warn!(error = %DisplayErrorContext(err), "could not keep a task in progress hidden");
                }
            }
        }
    }
}

/// Runs the function's handler on a one-message event; whether it reported the message done.
async fn handle(app: &App, client: &Client, handler: &Handler, message: SqsMessage) -> bool {
    let message_id = message.message_id.clone();
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let event = LambdaEvent::new(event, Context::default());
    let outcome = match handler {
        Handler::Deliver => deliver::handle(app, event).await,
        Handler::DeadLetter => dead_letter::handle(app, event).await,
        Handler::Ingest { dead_letters } => {
            let rejections = ingest_events::SqsRejections::new(client.clone(), dead_letters.clone());
            ingest_events::handle(app, &rejections, event).await
        }
    };
    match outcome {
        Ok(response) => response.batch_item_failures.is_empty(),
        Err(err) => {
            tracing::warn!(error = %err, message_id = ?message_id, "the handler failed; the task comes back");
            false
        }
    }
}

/// Deletes the messages the workers finished, up to ten per request. A delete that keeps
/// failing leaves its message to come back: delivered at least once, maybe twice.
async fn delete_loop(client: Client, url: String, mut done: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = done.recv().await {
        let mut receipts = vec![first];
        while receipts.len() < RECEIVE_BATCH {
            match done.try_recv() {
                Ok(receipt) => receipts.push(receipt),
                Err(_) => break,
            }
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().ok()
            })
            .collect();
        let delete = || client.delete_message_batch().queue_url(&url).set_entries(Some(entries.clone())).send();
        match retry(DELETE_RETRIES, delete, |_| true).await {
            Ok(out) if out.failed.is_empty() => {}
            Ok(out) => tracing::warn!(failed = out.failed.len(), "SQS kept some finished tasks; they will come back"),
            Err(err) => {
                tracing::warn!(error = %DisplayErrorContext(err), "deleting finished tasks failed; they will come back");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_keep_what_sqs_allows() {
        assert_eq!(queue_name("hookpost", "deliveries"), "hookpost-deliveries");
        assert_eq!(queue_name("test.table#1", "dead-letters"), "test-table-1-dead-letters");
        assert!(queue_name(&"t".repeat(255), "dead-letters").len() <= 80);
    }
}
