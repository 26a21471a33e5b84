//! lambda_http glue shared by every function: the [`App`] a handler runs against, the
//! request gate of SPEC §1, request parsing and the rendering of replies and errors.

use std::sync::{Arc, OnceLock};

use hookpost_delivery::operator::LogOnly;
use hookpost_delivery::{DeliveredLog, HoldQueue, OperatorEvents, Queue, Sender, SqsQueue, UsageTally, Worker};
use hookpost_domain::{ApiError, Clock, SystemClock};
use hookpost_store::keys::{ConfiguredKey, KeyService, KmsKeys};
use hookpost_store::{ActiveCap, CatalogueStore, DeliveryControlStore, DynamoStore, ErasureStore, Store};

use crate::catalogue::CatalogueCache;

pub mod catalogue;
pub mod config;
pub mod context;
mod found;
mod gate;
pub mod parse;
mod reply;
pub mod routes;
mod runtime;

pub use config::Config;
pub use context::caller_of;
pub use found::{Found, OrNotFound};
pub use gate::check_access;
pub use reply::{error_response, Keyed, PageReply, Reply};
pub use routes::{Access, Route};
pub use runtime::{
    cloudwatch_metrics, serve, serve_cataloguing, serve_delivering, serve_erasing, serve_events,
    serve_events_delivering, serve_events_measured, serve_events_measured_cataloguing, serve_measured,
    serve_measured_cataloguing, RequestFacts,
};

/// Why a function cannot start: its configuration, or the AWS environment.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Aws(#[from] hookpost_store::aws::AwsConfigError),
    #[error(
        "HOOKPOST_KMS_KEY_ID (in AWS, the template sets it) or HOOKPOST_SECRETS_KEY must be set: \
         subscription secrets are sealed in DynamoDB under that key"
    )]
    NoMasterKey,
}

/// The key service `master` names; a KMS client is built from `aws`.
pub fn key_service(master: &config::MasterKey, aws: &hookpost_store::aws::SdkConfig) -> Arc<dyn KeyService> {
    match master {
        config::MasterKey::Kms(key_id) => Arc::new(KmsKeys::from_config(aws, key_id.clone())),
        config::MasterKey::Configured(bytes) => Arc::new(ConfiguredKey::new(*bytes)),
    }
}

type KeyServiceOf = fn(&config::MasterKey, &hookpost_store::aws::SdkConfig) -> Arc<dyn KeyService>;

/// Set by [`open_sealed_secrets`]: how this function's store gets its key service.
static SEALING: OnceLock<KeyServiceOf> = OnceLock::new();

/// Called first in the `main` of a function that reads or writes subscriptions: its store
/// then seals and opens their secrets under `HOOKPOST_KMS_KEY_ID` (or `HOOKPOST_SECRETS_KEY`),
/// which it requires. Only these functions link the KMS client and may use the key (the
/// template grants exactly them `kms:Decrypt`); a function that never calls it cannot open
/// a sealed secret, and none of them writes one.
pub fn open_sealed_secrets() {
    let _ = SEALING.set(key_service);
}

/// What every handler runs against: the store, the configuration and the clock, built once
/// per process.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// The delivery queue: in-process in hookpost-local, SQS in Lambda (where
    /// `HOOKPOST_QUEUE_URL` names it). `None` for functions that enqueue nothing.
    pub queue: Option<Arc<dyn Queue>>,
    /// The sender, built on first use (it reads the system's root certificates).
    sender: Arc<OnceLock<Arc<Sender>>>,
    /// Erasure, for the functions that erase (see [`App::with_eraser`]).
    eraser: Option<Arc<dyn ErasureStore>>,
    /// Rate limiters and FIFO heads, for the functions that deliver (see
    /// [`App::with_delivery_control`]).
    control: Option<Arc<dyn DeliveryControlStore>>,
    /// The event-type catalogue, for the functions that publish, subscribe or manage it (see
    /// [`App::with_catalogue`]).
    catalogue: Option<Arc<CatalogueCache>>,
    /// The FIFO queue's consumer side, for the delivery worker (see [`App::with_holder`]).
    holder: Option<Arc<dyn HoldQueue>>,
    /// In Lambda, the DynamoDB adapter behind `store`.
    dynamo: Option<DynamoStore>,
    /// In Lambda, an SQS client (for the queues a function names beyond the delivery queue).
    sqs: Option<aws_sdk_sqs::Client>,
    /// Where failure records and auto-disables are told: hookpost-local's operator webhook
    /// when configured; otherwise (and in Lambda, for now) their log lines only.
    pub operator_events: Arc<dyn OperatorEvents>,
    /// What this app's publishes and deliveries used since it was last written
    /// ([`App::flush_tallies`]).
    pub usage: Arc<UsageTally>,
    /// The attempts this app's deliveries delivered since they were last logged, written
    /// with the usage ([`App::flush_tallies`]): a line per account, not per delivery.
    pub delivered: Arc<DeliveredLog>,
    /// The starts under subscriptions' rate limits this process's long-lived workers take,
    /// merged per subscription.
    pub starts: Arc<hookpost_delivery::starts::Starts>,
    /// Whether the handlers write usage and the delivered log at the end of each request
    /// and batch (Lambda), or leave them to a timer ([`App::with_tallies_on_a_timer`]: hookpost-local).
    tallies_on_a_timer: bool,
}

impl App {
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            store,
            config,
            clock: Arc::new(SystemClock),
            queue: None,
            sender: Arc::new(OnceLock::new()),
            operator_events: Arc::new(LogOnly),
            usage: Arc::new(UsageTally::default()),
            delivered: Arc::new(DeliveredLog::default()),
            starts: Arc::default(),
            tallies_on_a_timer: false,
            eraser: None,
            control: None,
            catalogue: None,
            holder: None,
            dynamo: None,
            sqs: None,
        }
    }

    /// Lets this app erase (`DELETE /internal/v1/accounts/{id}`, `?purge=true`). Given
    /// only where needed: a function that never erases does not link erasure's code.
    pub fn with_eraser(mut self, eraser: Arc<dyn ErasureStore>) -> Self {
        self.eraser = Some(eraser);
        self
    }

    /// The eraser, or a logged 500 where the wiring forgot to give this function one.
    pub fn eraser(&self) -> Result<Arc<dyn ErasureStore>, ApiError> {
        self.eraser.clone().ok_or_else(|| {
            tracing::error!("this function was not given erasure (App::with_eraser)");
            ApiError::Internal
        })
    }

    /// Lets this app's deliveries keep to rate limits and order (SPEC §10). Given only where
    /// deliveries are made: the other functions do not link its code.
    pub fn with_delivery_control(mut self, control: Arc<dyn DeliveryControlStore>) -> Self {
        self.control = Some(control);
        self
    }

    /// The rate limiters and FIFO heads, or a logged 500 where the wiring forgot them.
    pub fn delivery_control(&self) -> Result<Arc<dyn DeliveryControlStore>, ApiError> {
        self.control.clone().ok_or_else(|| {
            tracing::error!("this function was not given delivery control (App::with_delivery_control)");
            ApiError::Internal
        })
    }

    /// Lets this app read and check against the event-type catalogue (SPEC §11). Given only
    /// where events are published, subscriptions written or the catalogue managed.
    pub fn with_catalogue(mut self, store: Arc<dyn CatalogueStore>) -> Self {
        self.catalogue = Some(Arc::new(CatalogueCache::new(store, self.config.event_types_strict)));
        self
    }

    /// The catalogue, or a logged 500 where the wiring forgot it.
    pub fn catalogue(&self) -> Result<&CatalogueCache, ApiError> {
        self.catalogue.as_deref().ok_or_else(|| {
            tracing::error!("this function was not given the catalogue (App::with_catalogue)");
            ApiError::Internal
        })
    }

    /// Lets this app's delivery worker hold ordered tasks on the FIFO queue it works.
    pub fn with_holder(mut self, holder: Arc<dyn HoldQueue>) -> Self {
        self.holder = Some(holder);
        self
    }

    /// The FIFO queue's consumer side, or a logged 500 where the wiring forgot it.
    pub fn holder(&self) -> Result<Arc<dyn HoldQueue>, ApiError> {
        self.holder.clone().ok_or_else(|| {
            tracing::error!("this function cannot hold ordered tasks (App::with_holder)");
            ApiError::Internal
        })
    }

    /// A Lambda app's SQS client, for wiring that sends to a queue of its own.
    pub fn sqs(&self) -> Option<&aws_sdk_sqs::Client> {
        self.sqs.as_ref()
    }

    /// A Lambda app's DynamoDB store as itself, for wiring that needs more than `Store`.
    pub fn dynamo(&self) -> Option<&DynamoStore> {
        self.dynamo.as_ref()
    }

    pub fn with_operator_events(mut self, events: Arc<dyn OperatorEvents>) -> Self {
        self.operator_events = events;
        self
    }

    /// Leaves writing usage and the delivered log to whoever calls [`App::write_tallies`] on
    /// a timer: hookpost-local works its durable queues one message a handler call, where a
    /// write per call would be a write (and a log line) per delivery.
    pub fn with_tallies_on_a_timer(mut self) -> Self {
        self.tallies_on_a_timer = true;
        self
    }

    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Uses this sender instead of the default one (tests inject resolvers and timeouts).
    pub fn with_sender(self, sender: Arc<Sender>) -> Self {
        let _ = self.sender.set(sender);
        self
    }

    /// A Lambda function's app: configuration from the environment, the DynamoDB table and
    /// (when `HOOKPOST_QUEUE_URL` is set) the SQS queue it names.
    pub async fn from_env() -> Result<Self, SetupError> {
        let config = Config::from_env()?;
        let aws = hookpost_store::aws::lambda_aws_config(config.dynamodb_endpoint.as_deref())?;
        let mut store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), config.table.clone());
        if let Some(keys_of) = SEALING.get() {
            let master = config.master_key.as_ref().ok_or(SetupError::NoMasterKey)?;
            store = store.with_sealing(keys_of(master, &aws));
        }
        // SQS at HOOKPOST_SQS_ENDPOINT when a local run names one, else where DynamoDB is.
        let sqs_aws = match &config.sqs_endpoint {
            Some(endpoint) => hookpost_store::aws::lambda_aws_config(Some(endpoint))?,
            None => aws,
        };
        let sqs = aws_sdk_sqs::Client::new(&sqs_aws);
        let queue = config
            .queue_url
            .clone()
            .map(|url| Arc::new(SqsQueue::new(sqs.clone(), url).with_fifo(config.fifo_queue_url.clone())));
        let mut app = Self::new(Arc::new(store.clone()), config);
        app.dynamo = Some(store);
        app.sqs = Some(sqs);
        if let Some(queue) = queue {
            app = app.with_queue(queue);
        }
        Ok(app)
    }

    /// The queue, or a logged 500 where the deployment forgot to give this function one.
    pub fn queue(&self) -> Result<Arc<dyn Queue>, ApiError> {
        self.queue.clone().ok_or_else(|| {
            tracing::error!("this function has no delivery queue (HOOKPOST_QUEUE_URL)");
            ApiError::Internal
        })
    }

    pub fn sender(&self) -> Result<Arc<Sender>, ApiError> {
        if let Some(sender) = self.sender.get() {
            return Ok(Arc::clone(sender));
        }
        let sender = Sender::new(self.config.destinations.clone(), self.config.resolve.clone()).map_err(|e| {
            tracing::error!(error = %e, "cannot build the sender");
            ApiError::Internal
        })?;
        Ok(Arc::clone(self.sender.get_or_init(|| Arc::new(sender))))
    }

    /// The end of a publish request, ingest batch, delivery batch or dead-letter batch: logs
    /// the attempts delivered and writes what was counted to each account's hourly counter,
    /// unless the app does both on a timer.
    pub async fn flush_tallies(&self) {
        if !self.tallies_on_a_timer {
            self.write_tallies().await;
        }
    }

    /// Logs the attempts delivered since the last write (`deliveries` lines) and writes what
    /// was counted to each account's hourly counter.
    pub async fn write_tallies(&self) {
        self.delivered.write();
        self.usage.flush(self.store.as_ref(), self.clock.now()).await;
    }

    /// The delivery worker over this app's store, queue, sender, schedule and clock.
    pub fn worker(&self) -> Result<Worker, ApiError> {
        Ok(Worker {
            store: Arc::clone(&self.store),
            control: self.control.clone(),
            queue: self.queue()?,
            sender: self.sender()?,
            schedule: self.config.retry_schedule.clone(),
            clock: Arc::clone(&self.clock),
            attempt_retention_days: self.config.attempt_retention_days,
            event_retention_days: self.config.event_retention_days,
            operator_events: Arc::clone(&self.operator_events),
            usage: Arc::clone(&self.usage),
            delivered: Arc::clone(&self.delivered),
            shared_reads: None,
            batch_starts: None,
            starts: Arc::clone(&self.starts),
        })
    }

    /// The publisher over this app's store, queue, schedule, retention and clock: what the
    /// publish routes and the ingest queue's consumer publish with.
    pub fn publisher(&self) -> hookpost_delivery::publish::Publisher {
        hookpost_delivery::publish::Publisher {
            store: Arc::clone(&self.store),
            queue: self.queue.clone(),
            clock: Arc::clone(&self.clock),
            first_delay: std::time::Duration::from_secs(u64::from(
                self.config.retry_schedule.delay_before(1).unwrap_or(0),
            )),
            event_retention_days: self.config.event_retention_days,
            usage: Arc::clone(&self.usage),
            operator_events: Arc::clone(&self.operator_events),
        }
    }

    pub fn active_cap(&self) -> ActiveCap {
        ActiveCap(self.config.max_active_subscriptions)
    }

    /// A subscription of the account that is not deleted: 404 when there is none, 409
    /// `subscription_deleted` when it was deleted.
    pub async fn live_subscription(
        &self,
        account: hookpost_domain::AccountId,
        id: hookpost_domain::SubscriptionId,
    ) -> Result<hookpost_domain::subscription::Subscription, ApiError> {
        let sub = self.store.get_subscription(account, id).await.found(parse::SUBSCRIPTION)?;
        if sub.is_deleted() {
            return Err(ApiError::SubscriptionDeleted);
        }
        Ok(sub)
    }

    /// The 409 for a create or reactivation past the cap.
    pub fn limit_reached(&self) -> ApiError {
        ApiError::LimitReached(format!(
            "an account may have at most {} active webhook subscriptions",
            self.config.max_active_subscriptions
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The functions that open sealed secrets are exactly those the template lets use the
    /// key: a function reading subscriptions without it would fail on every sealed value,
    /// one granted the key without needing it would hold a permission for nothing.
    #[test]
    fn the_functions_that_open_secrets_are_the_ones_granted_the_key() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut opening = BTreeSet::new();
        for entry in std::fs::read_dir(format!("{root}/functions")).unwrap() {
            let dir = entry.unwrap().path();
            let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap_or_default();
            if main.contains("hookpost_http::open_sealed_secrets();") {
                opening.insert(dir.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        let template = std::fs::read_to_string(format!("{root}/template.yaml")).unwrap();
        let (mut granted, mut binary) = (BTreeSet::new(), None);
        for line in template.lines() {
            if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
                binary = None;
            } else if let Some(name) = line.trim().strip_prefix("Binary: ") {
                binary = Some(name.to_owned());
            } else if line.contains("kms:Decrypt") {
                granted.insert(binary.clone().expect("kms:Decrypt granted outside a function"));
            }
        }
        assert_eq!(opening.len(), 15, "{opening:?}");
        assert_eq!(opening, granted);
    }
}
