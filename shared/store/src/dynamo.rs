//! The DynamoDB single-table adapter.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account (+ `active_subscriptions` counter) | `ACCOUNT#<id>` | `ACCOUNT` |
//! | channel | `ACCOUNT#<id>` | `CHANNEL#<channel_id>` |
//! | subscription | `ACCOUNT#<id>` | `SUB#<uuidv7>` |
//! | token reference (for revocation) | `ACCOUNT#<id>` | `TOKEN#<token_id>` |
//! | token | `TOKEN#<sha256 hex>` | `TOKEN` |
//! | event (TTL) | `ACCOUNT#<id>` | `EVENT#<event_id>` |
//! | failure record (TTL once resolved) | `ACCOUNT#<id>` | `FAIL#<uuidv7>` |
//! | attempt (TTL) | `ACCOUNT#<id>` | `ATT#<subscription>#<time>#<nanos>#<nonce>` |
//! | rate-limit counter (TTL) | `RATE#<account>` | `<method> <route>#<window>` |
//! | a subscription's delivery rate limiter (TTL) | `RATE#<account>` | `PACE#<subscription>` |
//! | a FIFO group's head (TTL) | `ACCOUNT#<id>` | `FIFO#<subscription>[.<key digest>]` |
//! | an event type of the catalogue | `CATALOGUE` | `TYPE#<name>` |
//! | a data key, wrapped by the master key | `DATAKEY` | `KEY#<id>` |
//! | the data key new secrets are sealed with | `DATAKEY` | `CURRENT` |
//!
//! Everything an account owns is in its two partitions or named by them (its tokens, by the
//! references), which is what lets [`erasure`] find all of it.
//!
//! The TTL attribute is `expires_at` (unix seconds).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, ReturnValue, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, FailureChange, FailureQuery, FailureStatus, RetriggerOutcome};
use hookpost_domain::filter::ContentFilter;
use hookpost_domain::pacing::RateLimit;
use hookpost_domain::subscription::{
    Authentication, CountedEvents, DisabledReason, FailureCount, Ordering, Requirement, Source, Subscription,
    SubscriptionChange, SubscriptionFilter, SubscriptionPatch, SubscriptionState,
};
use hookpost_domain::token::{Token, TokenKind};
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, ChannelType, FailureId, Plan, Reason, Scope, SubscriptionId, Timestamp,
    TokenId,
};
use tracing::instrument;

use crate::{
    page_of, AccountStore, ActiveCap, Applied, AttemptStore, EventStore, FailureStore, Page, RateLimitStore,
    StoreError, SubscriptionStore, TokenStore, UsageStore,
};

mod account;
mod attempt;
mod catalogue;
mod erasure;
mod event;
mod expr;
mod failure;
mod keyring;
mod order;
mod pacing;
mod reader;
pub mod stream;
mod subscription;
mod token;
mod usage;

use self::expr::*;
use self::failure::*;
use self::reader::*;
use self::subscription::*;

pub use self::usage::USAGE_CHECK_PROJECTION;
pub use aws_sdk_dynamodb::Client;

pub const TTL_ATTRIBUTE: &str = "expires_at";
/// On a subscription: the events whose failure is counted in `consecutive_failures`, so a
/// repeated count of the same event adds nothing. Cleared with the counter.
const EXHAUSTED_EVENTS: &str = "exhausted_events";
/// The sparse index over `route_pk`: an account's subscriptions that still take events.
pub const ROUTES_INDEX: &str = "routes";
/// The sparse index of failure records pending a retrigger's outcome, by `pending_since`:
/// what the sweeper reads.
pub const PENDING_INDEX: &str = "pending";
const PENDING_PK: &str = "PENDING";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// This process's last sight of each subscription's rate limiter.
    pacing_hints: std::sync::Arc<pacing::PacingHints>,
    /// The data keys that seal subscription secrets; `None` writes them as they are (the
    /// mapping's own tests).
    keyring: Option<std::sync::Arc<keyring::Keyring>>,
}

/// A request hookpost could not build (a bug, not the service's doing).
fn invalid_request<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(err).to_string())
}

/// Service errors that say "not now": the caller may try again shortly.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// A failed call: throttling, a timeout, a connection that failed or a server error is
/// `Unavailable` (SPEC: 503, try again); anything else is `Backend` (500).
fn backend<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
                || service.raw().status().as_u16() >= 500
        }
        _ => false,
    };
    let text = DisplayErrorContext(err).to_string();
    if transient {
        StoreError::Unavailable(text)
    } else {
        StoreError::Backend(text)
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn account_pk(id: AccountId) -> String {
    format!("ACCOUNT#{id}")
}

/// The sparse index key of subscriptions that still take events (active or auto-disabled):
/// fan-out reads these without touching deleted ones.
/// An account's rate-limit counters: a partition of their own, apart from the account's
/// data, so the busiest writes do not share its partition.
fn rate_pk(account: AccountId) -> String {
    format!("RATE#{account}")
}

fn route_pk(account: AccountId) -> String {
    format!("ROUTE#{account}")
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn account_key(id: AccountId) -> Item {
    key(account_pk(id), "ACCOUNT")
}

fn subscription_key(account: AccountId, id: SubscriptionId) -> Item {
    key(account_pk(account), format!("SUB#{id}"))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), pacing_hints: pacing::new_hints(), keyring: None }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on demand, TTL on `expires_at`) unless it exists, and waits until
    /// it is active. For `hookpost-local` and tests; in AWS the template owns the table.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        self.ensure_table_with_stream(true).await
    }

    /// [`DynamoStore::ensure_table`], with or without the table's stream. Without is for
    /// benchmarks against moto at scale: moto copies every table, its stream's records
    /// included, on each transaction, so a stream makes each transaction dearer than the last.
    pub async fn ensure_table_with_stream(&self, stream: bool) -> Result<(), StoreError> {
        match self.client.describe_table().table_name(&self.table).send().await {
            Ok(_) => return Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(err) => return Err(backend(err)),
        }
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let key_el = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let index = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key_el(hash, KeyType::Hash).map_err(invalid_request)?)
                .key_schema(key_el(range, KeyType::Range).map_err(invalid_request)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(invalid_request)
        };
        let routes = index(ROUTES_INDEX, "route_pk", "sk")?;
        let pending = index(PENDING_INDEX, "pending_pk", "pending_since")?;
        let number = AttributeDefinition::builder()
            .attribute_name("pending_since")
            .attribute_type(ScalarAttributeType::N)
            .build()
            .map_err(invalid_request)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk").map_err(invalid_request)?)
            .attribute_definitions(attr("sk").map_err(invalid_request)?)
            .attribute_definitions(attr("route_pk").map_err(invalid_request)?)
            .attribute_definitions(attr("pending_pk").map_err(invalid_request)?)
            .attribute_definitions(number)
            .key_schema(key_el("pk", KeyType::Hash).map_err(invalid_request)?)
            .key_schema(key_el("sk", KeyType::Range).map_err(invalid_request)?)
            .global_secondary_indexes(routes)
            .global_secondary_indexes(pending)
            // As template.yaml has it: what the operator-events function reads.
            .set_stream_specification(if stream {
                Some(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewAndOldImages)
                        .build()
                        .map_err(invalid_request)?,
                )
            } else {
                None
            })
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Someone else created it in the meantime.
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => return Err(backend(err)),
        }
        for _ in 0..100 {
            let desc = self.client.describe_table().table_name(&self.table).send().await.map_err(backend)?;
            if desc.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .map_err(invalid_request)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Puts an item that must not exist yet; `false` when it does.
    async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(backend(err)),
        }
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(backend)?;
        Ok(())
    }

    /// Runs the update `e` on `key` under `condition`. Returns the item as it is after the
    /// update, or `None` when the condition failed.
    async fn update(&self, key: Item, e: &Expr, condition: Option<&str>) -> Result<Option<Item>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(e.update_expression())
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }

    /// Every item `query` selects, page after page.
    async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start.take()).send().await.map_err(backend)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Every item of a partition whose sort key starts with `prefix`, newest (highest) first.
    async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .consistent_read(true);
        self.query_all(query).await
    }

    /// Runs a transaction; on cancellation returns which items failed their condition.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Result<(), Vec<bool>>, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() {
                    let reasons: Vec<bool> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect();
                    if reasons.iter().any(|failed| *failed) || reasons.is_empty() {
                        return Ok(Err(reasons));
                    }
                }
                Err(backend(err))
            }
        }
    }

    /// A transaction's condition that the account exists: a create in the same transaction
    /// fails with it once erasure has deleted the account item (its first delete), so
    /// nothing is written into a partition erasure has already passed.
    fn account_exists_check(&self, account: AccountId) -> Result<TransactWriteItem, StoreError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(account_key(account)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(invalid_request)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn counter_update(
        &self,
        account: AccountId,
        delta: i64,
        cap: Option<ActiveCap>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        e.add("active_subscriptions", n(delta));
        let condition = match cap {
            Some(cap) => {
                let count = e.name("active_subscriptions");
                let limit = e.value(n(cap.0));
                format!("attribute_exists(pk) AND {count} < {limit}")
            }
            None => "attribute_exists(pk)".to_owned(),
        };
        e.transact_update(&self.table, account_key(account), &condition)
    }
}

/// A DynamoDB client for `endpoint` (a DynamoDB-compatible server such as moto) or, when
/// `None`, for AWS as the environment configures it.
pub async fn connect(endpoint: Option<&str>) -> Client {
    Client::new(&crate::aws::aws_config(endpoint).await)
}

#[cfg(test)]
mod test_support {
    use super::*;

    pub(super) const T: Timestamp = Timestamp::from_unix(1_780_000_000);

    pub(super) fn sk(item: &Item) -> &str {
        Reader(item).s("sk").unwrap()
    }
}
