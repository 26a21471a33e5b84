//! The store and the delivery queue the configuration asks for.

use std::sync::Arc;
use std::time::Duration;

use hookpost_delivery::retry::retry;
use hookpost_delivery::{InProcessQueue, Queue};
use hookpost_http::{App, Config};
use hookpost_store::{CatalogueStore, DeliveryControlStore, DynamoStore, ErasureStore, MemoryStore, Store};

use crate::durable::SqsQueues;
use crate::{StartError, VISIBILITY_TIMEOUT};

/// An app on the store the options ask for — DynamoDB (creating the table if missing) or
/// in-memory — with erasure, the event-type catalogue and delivery control.
pub async fn open_app(config: &Config) -> Result<App, StartError> {
    fn app<S: Store + ErasureStore + DeliveryControlStore + CatalogueStore + 'static>(
        store: S,
        config: &Config,
    ) -> App {
        let store = Arc::new(store);
        App::new(Arc::clone(&store) as Arc<dyn Store>, config.clone())
            .with_eraser(Arc::clone(&store) as Arc<dyn ErasureStore>)
            .with_catalogue(Arc::clone(&store) as Arc<dyn CatalogueStore>)
            .with_delivery_control(store)
    }
    match &config.dynamodb_endpoint {
        Some(endpoint) => {
            let master = config.master_key.as_ref().ok_or(StartError::NoMasterKey)?;
            let aws = hookpost_store::aws::aws_config(Some(endpoint)).await;
            let store = DynamoStore::new(hookpost_store::dynamo::Client::new(&aws), config.table.clone())
                .with_sealing(hookpost_http::key_service(master, &aws));
            // A throttled or briefly unreachable endpoint is waited out, as any call would be.
            let pauses = [1, 2, 4, 8].map(Duration::from_secs);
            let ready = retry(
                pauses,
                || store.ensure_table(),
                |err| match err {
                    hookpost_store::StoreError::Unavailable(why) => {
                        tracing::warn!(error = %why, "DynamoDB at {endpoint} is unavailable; trying again");
                        true
                    }
                    _ => false,
                },
            );
            match ready.await {
                Ok(()) => Ok(app(store, config)),
                Err(source) => Err(StartError::Store { endpoint: endpoint.clone(), source }),
            }
        }
        None => Ok(app(MemoryStore::new(), config)),
    }
}

/// Where hookpost-local's delivery tasks wait: in memory with the memory store (a restart
/// forgets them with everything else), on SQS whenever the state is kept in DynamoDB, so
/// that a task outlives a crash as the account and the subscription do.
#[derive(Clone)]
pub enum Delivery {
    InProcess(Arc<InProcessQueue>),
    Sqs(Arc<SqsQueues>),
}

impl Delivery {
    /// The queue the handlers send tasks to.
    pub fn queue(&self) -> Arc<dyn Queue> {
        match self {
            Self::InProcess(queue) => Arc::clone(queue) as Arc<dyn Queue>,
            Self::Sqs(queues) => queues.queue(),
        }
    }

    /// Whether delivery tasks survive a crash of the process.
    pub fn is_durable(&self) -> bool {
        matches!(self, Self::Sqs(_))
    }
}

/// Whether `endpoint` is AWS's own DynamoDB (then SQS is AWS's too, at its default address).
fn is_aws_dynamodb(endpoint: &str) -> bool {
    url::Url::parse(endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).is_some_and(|host| {
        host.starts_with("dynamodb.") && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
    })
}

/// The delivery queues the configuration asks for: SQS when the state is in DynamoDB (at
/// `HOOKPOST_SQS_ENDPOINT`, else at the DynamoDB endpoint), in-process otherwise.
pub async fn open_delivery(config: &Config) -> Result<Delivery, StartError> {
    let Some(dynamodb) = &config.dynamodb_endpoint else {
        return Ok(Delivery::InProcess(Arc::new(InProcessQueue::with_capacity(
            VISIBILITY_TIMEOUT,
            config.queue_capacity,
        ))));
    };
    let endpoint = config.sqs_endpoint.clone().or_else(|| (!is_aws_dynamodb(dynamodb)).then(|| dynamodb.clone()));
    let aws = hookpost_store::aws::aws_config(endpoint.as_deref()).await;
    let visibility = Duration::from_secs(u64::from(config.queue_visibility_secs));
    let queues = SqsQueues::open(aws_sdk_sqs::Client::new(&aws), &config.table, visibility)
        .await
        .map_err(|source| StartError::Queue { at: endpoint.clone().unwrap_or_else(|| "AWS".to_owned()), source })?;
    Ok(Delivery::Sqs(Arc::new(queues)))
}
