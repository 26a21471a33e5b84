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
use hookpost_domain::failure::{Failure, FailureQuery, FailureStatus, RetriggerOutcome, RESOLVED_RETENTION_DAYS};
use hookpost_domain::subscription::{
    Authentication, DisabledReason, Source, Subscription, SubscriptionFilter, SubscriptionPatch,
};
use hookpost_domain::token::{Token, TokenKind};
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, ChannelType, FailureId, Plan, Reason, Scope, SubscriptionId, Timestamp,
    TokenId,
};
use tracing::instrument;

use crate::{
    page_of, AccountStore, ActiveCap, DeliveryStore, Exhausted, Page, RateLimitStore, StoreError, SubscriptionStore,
    TokenStore,
};

mod erasure;
pub mod stream;

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

/// Reads typed attributes out of an item; a missing or mistyped attribute is a corrupt item.
struct Reader<'a>(&'a Item);

fn corrupt(field: &str) -> StoreError {
    StoreError::Backend(format!("corrupt item: attribute `{field}`"))
}

impl<'a> Reader<'a> {
    fn opt_s(&self, k: &str) -> Option<&'a str> {
        match self.0.get(k) {
            Some(AttributeValue::S(v)) => Some(v),
            _ => None,
        }
    }

    fn s(&self, k: &str) -> Result<&'a str, StoreError> {
        self.opt_s(k).ok_or_else(|| corrupt(k))
    }

    fn opt_n<T: FromStr>(&self, k: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(k) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| corrupt(k)),
            Some(_) => Err(corrupt(k)),
        }
    }

    fn n<T: FromStr>(&self, k: &str) -> Result<T, StoreError> {
        self.opt_n(k)?.ok_or_else(|| corrupt(k))
    }

    fn opt_ts(&self, k: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_n::<i64>(k)?.map(Timestamp::from_unix))
    }

    fn ts(&self, k: &str) -> Result<Timestamp, StoreError> {
        self.n::<i64>(k).map(Timestamp::from_unix)
    }

    fn bool(&self, k: &str) -> Result<bool, StoreError> {
        match self.0.get(k) {
            Some(AttributeValue::Bool(b)) => Ok(*b),
            _ => Err(corrupt(k)),
        }
    }

    fn strings(&self, k: &str) -> Result<Vec<String>, StoreError> {
        match self.0.get(k) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items.iter().map(|v| v.as_s().cloned().map_err(|_| corrupt(k))).collect(),
            Some(_) => Err(corrupt(k)),
        }
    }

    fn string_map(&self, k: &str) -> Result<BTreeMap<String, String>, StoreError> {
        match self.0.get(k) {
            None => Ok(BTreeMap::new()),
            Some(AttributeValue::M(m)) => {
                m.iter().map(|(name, v)| Ok((name.clone(), v.as_s().map_err(|_| corrupt(k))?.clone()))).collect()
            }
            Some(_) => Err(corrupt(k)),
        }
    }

    fn parsed<T>(&self, k: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
        parse(self.s(k)?).ok_or_else(|| corrupt(k))
    }

    fn opt_parsed<T>(&self, k: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, StoreError> {
        self.opt_s(k).map(|v| parse(v).ok_or_else(|| corrupt(k))).transpose()
    }
}

/// Builds an update expression with a placeholder for every name and value, so reserved
/// words (`name`, `url`, ...) never matter.
#[derive(Default)]
struct Expr {
    sets: Vec<String>,
    removes: Vec<String>,
    adds: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(v));
        self.sets.push(format!("{name} = {value}"));
        self
    }

    fn set_opt(&mut self, attr: &str, v: Option<AttributeValue>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }

    fn remove(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        self.removes.push(name);
        self
    }

    fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(v));
        self.adds.push(format!("{name} {value}"));
        self
    }

    fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        parts.join(" ")
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// This expression as one item of a transaction.
    fn transact_update(&self, table: &str, key: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update_expression())
            .condition_expression(condition)
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .build()
            .map_err(invalid_request)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

fn account_item(account: &Account) -> Item {
    let mut item = account_key(account.id);
    item.extend([
        ("kind".to_owned(), s("account")),
        ("id".to_owned(), s(account.id.to_string())),
        ("name".to_owned(), s(&account.name)),
        ("plan".to_owned(), s(account.plan.as_str())),
        ("created_at".to_owned(), n(account.created_at.unix())),
        ("active_subscriptions".to_owned(), n(0)),
    ]);
    item
}

fn account_from(item: &Item) -> Result<Account, StoreError> {
    let r = Reader(item);
    Ok(Account {
        id: r.parsed("id", AccountId::parse)?,
        name: r.s("name")?.to_owned(),
        plan: r.parsed("plan", Plan::parse)?,
        created_at: r.ts("created_at")?,
    })
}

fn token_item(token: &Token) -> Item {
    let mut item = key(format!("TOKEN#{}", token.token_hash), "TOKEN");
    item.extend([
        ("kind".to_owned(), s("token")),
        ("token_kind".to_owned(), s(token.kind.as_str())),
        ("id".to_owned(), s(token.id.to_string())),
        ("account_id".to_owned(), s(token.account_id.to_string())),
        ("token_hash".to_owned(), s(&token.token_hash)),
        ("scopes".to_owned(), AttributeValue::L(token.scopes.iter().map(|sc| s(sc.as_str())).collect())),
        ("revoked".to_owned(), AttributeValue::Bool(token.revoked)),
        ("created_at".to_owned(), n(token.created_at.unix())),
    ]);
    if let Some(user) = &token.user_id {
        item.insert("user_id".to_owned(), s(user));
    }
    if let Some(exp) = token.expires_at {
        item.insert("token_expires_at".to_owned(), n(exp.unix()));
    }
    item
}

fn token_from(item: &Item) -> Result<Token, StoreError> {
    let r = Reader(item);
    let scopes = r
        .strings("scopes")?
        .iter()
        .map(|sc| Scope::parse(sc).ok_or_else(|| corrupt("scopes")))
        .collect::<Result<_, _>>()?;
    Ok(Token {
        id: r.parsed("id", TokenId::parse)?,
        // Tokens written before portal sessions existed have no `token_kind`: they are PATs.
        kind: match r.opt_s("token_kind") {
            None => TokenKind::Pat,
            Some(kind) => TokenKind::parse(kind).ok_or_else(|| corrupt("token_kind"))?,
        },
        account_id: r.parsed("account_id", AccountId::parse)?,
        token_hash: r.s("token_hash")?.to_owned(),
        scopes,
        user_id: r.opt_s("user_id").map(str::to_owned),
        expires_at: r.opt_ts("token_expires_at")?,
        revoked: r.bool("revoked")?,
        created_at: r.ts("created_at")?,
    })
}

fn headers_value(headers: &BTreeMap<String, String>) -> AttributeValue {
    AttributeValue::M(headers.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

/// The authentication as attributes: every one of the four is set or removed.
fn authentication_attrs(auth: &Authentication) -> [(&'static str, Option<AttributeValue>); 4] {
    let (method, username, password, token) = match auth {
        Authentication::None => ("none", None, None, None),
        Authentication::Basic { username, password } => ("basic", Some(s(username)), Some(s(password)), None),
        Authentication::Bearer { token } => ("bearer", None, None, Some(s(token))),
    };
    [("auth_method", Some(s(method))), ("auth_username", username), ("auth_password", password), ("auth_token", token)]
}

fn subscription_item(sub: &Subscription) -> Item {
    let mut item = subscription_key(sub.account_id, sub.id);
    let optional = [
        ("channel_id", sub.channel_id.as_ref().map(|c| s(c.as_str()))),
        ("channel_type", sub.channel_type.map(|c| s(c.as_str()))),
        ("zapier_subscription_id", sub.zapier_subscription_id.as_ref().map(s)),
        ("disabled_reason", sub.disabled_reason.map(|d| s(d.as_str()))),
        ("disabled_at", sub.disabled_at.map(|t| n(t.unix()))),
        ("last_delivery_at", sub.last_delivery_at.map(|t| n(t.unix()))),
        ("last_success_at", sub.last_success_at.map(|t| n(t.unix()))),
        ("last_error", sub.last_error.as_ref().map(s)),
        ("created_by_user_id", sub.created_by_user_id.as_ref().map(s)),
        ("previous_secret", sub.previous_secret.as_ref().map(|(p, _)| s(p))),
        ("previous_secret_until", sub.previous_secret.as_ref().map(|(_, t)| n(t.unix()))),
        ("route_pk", (sub.disabled_reason != Some(DisabledReason::Deleted)).then(|| s(route_pk(sub.account_id)))),
    ];
    item.extend([
        ("kind".to_owned(), s("subscription")),
        ("id".to_owned(), s(sub.id.to_string())),
        ("account_id".to_owned(), s(sub.account_id.to_string())),
        ("name".to_owned(), s(&sub.name)),
        ("url".to_owned(), s(&sub.url)),
        ("events".to_owned(), AttributeValue::L(sub.events.iter().map(s).collect())),
        ("secret".to_owned(), s(&sub.secret)),
        ("source".to_owned(), s(sub.source.as_str())),
        ("is_active".to_owned(), AttributeValue::Bool(sub.is_active)),
        ("consecutive_failures".to_owned(), n(sub.consecutive_failures)),
        ("created_at".to_owned(), n(sub.created_at.unix())),
        ("updated_at".to_owned(), n(sub.updated_at.unix())),
        ("headers".to_owned(), headers_value(&sub.headers)),
    ]);
    for (name, value) in optional.into_iter().chain(authentication_attrs(&sub.authentication)) {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    item
}

fn subscription_from(item: &Item) -> Result<Subscription, StoreError> {
    let r = Reader(item);
    let authentication = match r.s("auth_method")? {
        "none" => Authentication::None,
        "basic" => Authentication::Basic {
            username: r.s("auth_username")?.to_owned(),
            password: r.s("auth_password")?.to_owned(),
        },
        "bearer" => Authentication::Bearer { token: r.s("auth_token")?.to_owned() },
        _ => return Err(corrupt("auth_method")),
    };
    Ok(Subscription {
        id: r.parsed("id", SubscriptionId::parse)?,
        account_id: r.parsed("account_id", AccountId::parse)?,
        name: r.s("name")?.to_owned(),
        url: r.s("url")?.to_owned(),
        events: r.strings("events")?,
        secret: r.s("secret")?.to_owned(),
        channel_id: r.opt_parsed("channel_id", ChannelId::parse)?,
        channel_type: r.opt_parsed("channel_type", ChannelType::parse)?,
        source: r.parsed("source", Source::parse)?,
        zapier_subscription_id: r.opt_s("zapier_subscription_id").map(str::to_owned),
        is_active: r.bool("is_active")?,
        disabled_reason: r.opt_parsed("disabled_reason", DisabledReason::parse)?,
        disabled_at: r.opt_ts("disabled_at")?,
        consecutive_failures: r.n("consecutive_failures")?,
        last_delivery_at: r.opt_ts("last_delivery_at")?,
        last_success_at: r.opt_ts("last_success_at")?,
        last_error: r.opt_s("last_error").map(str::to_owned),
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        created_by_user_id: r.opt_s("created_by_user_id").map(str::to_owned),
        headers: r.string_map("headers")?,
        authentication,
        previous_secret: match (r.opt_s("previous_secret"), r.opt_ts("previous_secret_until")?) {
            (Some(secret), Some(until)) => Some((secret.to_owned(), until)),
            _ => None,
        },
    })
}

fn event_item(event: &Event, expires_at: Timestamp) -> Item {
    let mut item = key(account_pk(event.account_id), format!("EVENT#{}", event.event_id));
    item.extend([
        ("kind".to_owned(), s("event")),
        ("event_id".to_owned(), s(&event.event_id)),
        ("event_type".to_owned(), s(&event.event_type)),
        ("data".to_owned(), s(&event.data)),
        ("created_at".to_owned(), n(event.created_at.unix())),
        ("subscriptions".to_owned(), n(event.subscriptions)),
        ("fanned_out".to_owned(), AttributeValue::Bool(event.fanned_out)),
        (TTL_ATTRIBUTE.to_owned(), n(expires_at.unix())),
    ]);
    if let Some(channel) = &event.channel_id {
        item.insert("channel_id".to_owned(), s(channel.as_str()));
    }
    item
}

fn event_from(account: AccountId, item: &Item) -> Result<Event, StoreError> {
    let r = Reader(item);
    Ok(Event {
        account_id: account,
        event_id: r.s("event_id")?.to_owned(),
        event_type: r.s("event_type")?.to_owned(),
        channel_id: r.opt_parsed("channel_id", ChannelId::parse)?,
        data: r.s("data")?.to_owned(),
        created_at: r.ts("created_at")?,
        subscriptions: r.n("subscriptions")?,
        fanned_out: r.bool("fanned_out")?,
    })
}

fn failure_item(failure: &Failure) -> Item {
    let mut item = key(account_pk(failure.account_id), format!("FAIL#{}", failure.id));
    item.extend([
        ("kind".to_owned(), s("failure")),
        ("id".to_owned(), s(failure.id.to_string())),
        ("event_id".to_owned(), s(&failure.event_id)),
        ("event_type".to_owned(), s(&failure.event_type)),
        ("subscription_id".to_owned(), s(failure.subscription_id.to_string())),
        ("subscription_name".to_owned(), s(&failure.subscription_name)),
        ("status".to_owned(), s(failure.status.as_str())),
        ("last_attempt_at".to_owned(), n(failure.last_attempt_at.unix())),
        ("created_at".to_owned(), n(failure.created_at.unix())),
        ("updated_at".to_owned(), n(failure.updated_at.unix())),
    ]);
    if let Some(reason) = &failure.reason {
        item.insert("reason".to_owned(), s(reason.to_string()));
    }
    if failure.status == FailureStatus::Pending {
        item.insert("pending_pk".to_owned(), s(PENDING_PK));
        item.insert("pending_since".to_owned(), n(failure.updated_at.unix()));
    }
    item
}

fn failure_key(account: AccountId, id: FailureId) -> Item {
    key(account_pk(account), format!("FAIL#{id}"))
}

fn failure_from(account: AccountId, item: &Item) -> Result<Failure, StoreError> {
    let r = Reader(item);
    Ok(Failure {
        id: r.parsed("id", FailureId::parse)?,
        account_id: account,
        event_id: r.s("event_id")?.to_owned(),
        event_type: r.s("event_type")?.to_owned(),
        subscription_id: r.parsed("subscription_id", SubscriptionId::parse)?,
        subscription_name: r.s("subscription_name")?.to_owned(),
        status: r.parsed("status", FailureStatus::parse)?,
        reason: r.opt_parsed("reason", Reason::parse)?,
        last_attempt_at: r.ts("last_attempt_at")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

/// An attempt's sort key: time first so a reverse Query is newest first (the second, then
/// the nanoseconds fixed at the attempt to order those within a second), then a random tail.
/// The whole key is fixed when the attempt is made, so logging it twice writes one item.
fn attempt_sk(attempt: &Attempt) -> String {
    format!(
        "ATT#{}#{:010}#{:020}#{:08x}",
        attempt.subscription_id,
        attempt.attempted_at.unix().max(0),
        attempt.log_key.nanos,
        attempt.log_key.nonce
    )
}

/// The log key inside an attempt's sort key.
fn attempt_key_of(sk: &str) -> Option<AttemptKey> {
    let mut parts = sk.rsplitn(3, '#');
    let nonce = u32::from_str_radix(parts.next()?, 16).ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some(AttemptKey { nanos, nonce })
}

fn attempt_item(attempt: &Attempt, expires_at: Timestamp) -> Item {
    let sk = attempt_sk(attempt);
    let mut item = key(account_pk(attempt.account_id), sk);
    item.extend([
        ("kind".to_owned(), s("attempt")),
        ("subscription_id".to_owned(), s(attempt.subscription_id.to_string())),
        ("event_id".to_owned(), s(&attempt.event_id)),
        ("event_type".to_owned(), s(&attempt.event_type)),
        ("attempt".to_owned(), n(attempt.attempt)),
        ("duration_ms".to_owned(), n(attempt.duration_ms)),
        ("test".to_owned(), AttributeValue::Bool(attempt.test)),
        ("attempted_at".to_owned(), n(attempt.attempted_at.unix())),
        (TTL_ATTRIBUTE.to_owned(), n(expires_at.unix())),
    ]);
    for (name, value) in [
        ("status_code", attempt.status_code.map(n)),
        ("reason", attempt.reason.as_ref().map(|r| s(r.to_string()))),
        ("response_excerpt", attempt.response_excerpt.as_ref().map(s)),
    ] {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    item
}

fn attempt_from(account: AccountId, item: &Item) -> Result<Attempt, StoreError> {
    let r = Reader(item);
    Ok(Attempt {
        account_id: account,
        subscription_id: r.parsed("subscription_id", SubscriptionId::parse)?,
        event_id: r.s("event_id")?.to_owned(),
        event_type: r.s("event_type")?.to_owned(),
        attempt: r.n("attempt")?,
        status_code: r.opt_n("status_code")?,
        reason: r.opt_parsed("reason", Reason::parse)?,
        duration_ms: r.n("duration_ms")?,
        response_excerpt: r.opt_s("response_excerpt").map(str::to_owned),
        test: r.bool("test")?,
        attempted_at: r.ts("attempted_at")?,
        log_key: attempt_key_of(r.s("sk")?).ok_or_else(|| corrupt("sk"))?,
    })
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
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
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(invalid_request)?,
            )
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

#[async_trait]
impl AccountStore for DynamoStore {
    #[instrument(skip_all, fields(account = %account.id))]
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        if self.put_new(account_item(account)).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    #[instrument(skip(self))]
    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.get_item(account_key(id)).await?.as_ref().map(account_from).transpose()
    }

    #[instrument(skip(self))]
    async fn update_account(
        &self,
        id: AccountId,
        name: Option<String>,
        plan: Option<Plan>,
    ) -> Result<Account, StoreError> {
        let mut e = Expr::default();
        e.set("kind", s("account"));
        if let Some(name) = name {
            e.set("name", s(name));
        }
        if let Some(plan) = plan {
            e.set("plan", s(plan.as_str()));
        }
        let result = self.update(account_key(id), &e, Some("attribute_exists(pk)")).await?;
        match result {
            Some(item) => account_from(&item),
            None => Err(StoreError::NotFound),
        }
    }

    #[instrument(skip_all, fields(account = %channel.account_id))]
    async fn create_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        let mut item = key(account_pk(channel.account_id), format!("CHANNEL#{}", channel.channel_id));
        item.extend([
            ("kind".to_owned(), s("channel")),
            ("account_id".to_owned(), s(channel.account_id.to_string())),
            ("channel_id".to_owned(), s(channel.channel_id.as_str())),
            ("channel_type".to_owned(), s(channel.channel_type.as_str())),
            ("created_at".to_owned(), n(channel.created_at.unix())),
        ]);
        if self.put_new(item).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    #[instrument(skip(self))]
    async fn get_channel(&self, account: AccountId, channel_id: &ChannelId) -> Result<Option<Channel>, StoreError> {
        let Some(item) = self.get_item(key(account_pk(account), format!("CHANNEL#{channel_id}"))).await? else {
            return Ok(None);
        };
        let r = Reader(&item);
        Ok(Some(Channel {
            account_id: account,
            channel_id: r.parsed("channel_id", ChannelId::parse)?,
            channel_type: r.parsed("channel_type", ChannelType::parse)?,
            created_at: r.ts("created_at")?,
        }))
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    #[instrument(skip_all, fields(account = %token.account_id, token = %token.id))]
    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(invalid_request)
        };
        let mut reference = key(account_pk(token.account_id), format!("TOKEN#{}", token.id));
        reference.insert("token_hash".to_owned(), s(&token.token_hash));
        reference.insert("kind".to_owned(), s("token_ref"));
        let items = vec![
            TransactWriteItem::builder().put(put(token_item(token))?).build(),
            TransactWriteItem::builder().put(put(reference)?).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    #[instrument(skip_all)]
    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<Token>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("TOKEN#{token_hash}"), "TOKEN")))
            .send()
            .await
            .map_err(backend)?;
        out.item.as_ref().map(token_from).transpose()
    }

    #[instrument(skip(self))]
    async fn revoke_token(&self, account: AccountId, id: TokenId) -> Result<(), StoreError> {
        let reference =
            self.get_item(key(account_pk(account), format!("TOKEN#{id}"))).await?.ok_or(StoreError::NotFound)?;
        let hash = Reader(&reference).s("token_hash")?.to_owned();
        let mut e = Expr::default();
        e.set("revoked", AttributeValue::Bool(true));
        let result = self.update(key(format!("TOKEN#{hash}"), "TOKEN"), &e, Some("attribute_exists(pk)")).await?;
        match result {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    #[instrument(skip_all, fields(account = %sub.account_id, subscription = %sub.id))]
    async fn create_subscription(&self, sub: &Subscription, cap: ActiveCap) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(subscription_item(sub)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid_request)?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), self.counter_update(sub.account_id, 1, Some(cap))?];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(failed) if failed.first() == Some(&true) => Err(StoreError::AlreadyExists),
            Err(_) => match self.get_account(sub.account_id).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::LimitReached),
            },
        }
    }

    #[instrument(skip(self))]
    async fn get_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.get_item(subscription_key(account, id)).await?.as_ref().map(subscription_from).transpose()
    }

    #[instrument(skip(self))]
    async fn list_subscriptions(
        &self,
        account: AccountId,
        filter: SubscriptionFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Subscription>, StoreError> {
        let items = self.query_prefix(account_pk(account), "SUB#").await?;
        let mut matching = Vec::with_capacity(items.len());
        for item in &items {
            let sub = subscription_from(item)?;
            if filter.matches(&sub) {
                matching.push(sub);
            }
        }
        Ok(page_of(matching, limit, offset))
    }

    #[instrument(skip(self, patch))]
    async fn update_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        patch: &SubscriptionPatch,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut e = Expr::default();
        e.set("updated_at", n(now.unix()));
        if let Some(name) = &patch.name {
            e.set("name", s(name));
        }
        if let Some(url) = &patch.url {
            e.set("url", s(url));
        }
        if let Some(events) = &patch.events {
            e.set("events", AttributeValue::L(events.iter().map(s).collect()));
        }
        if let Some(headers) = &patch.headers {
            e.set("headers", headers_value(headers));
        }
        if let Some(auth) = &patch.authentication {
            for (attr, value) in authentication_attrs(auth) {
                e.set_opt(attr, value);
            }
        }
        let result = self.update(subscription_key(account, id), &e, Some("attribute_exists(pk)")).await?;
        match result {
            Some(item) => subscription_from(&item),
            None => Err(StoreError::NotFound),
        }
    }

    #[instrument(skip(self, new_secret))]
    async fn rotate_secret(
        &self,
        account: AccountId,
        id: SubscriptionId,
        new_secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        // One UpdateItem: every SET reads the item as it was, so the old secret moves to
        // previous_secret as the new one takes its place, whatever races it.
        let mut e = Expr::default();
        let (previous, secret) = (e.name("previous_secret"), e.name("secret"));
        e.sets.push(format!("{previous} = {secret}"));
        e.set("secret", s(new_secret))
            .set("previous_secret_until", n(previous_until.unix()))
            .set("updated_at", n(now.unix()));
        let result = self.update(subscription_key(account, id), &e, Some("attribute_exists(pk)")).await?;
        match result {
            Some(item) => subscription_from(&item),
            None => Err(StoreError::NotFound),
        }
    }

    #[instrument(skip(self))]
    async fn delete_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // A concurrent auto-disable or reactivation can change the state between the read
        // and the conditional write; the write's condition catches it and we look again.
        for _ in 0..5 {
            let sub = self.get_subscription(account, id).await?.ok_or(StoreError::NotFound)?;
            if sub.disabled_reason == Some(DisabledReason::Deleted) {
                return Ok(());
            }
            let mut e = Expr::default();
            e.set("disabled_reason", s(DisabledReason::Deleted.as_str()))
                .set("disabled_at", n(now.unix()))
                .set("updated_at", n(now.unix()))
                .set("is_active", AttributeValue::Bool(false))
                .remove("route_pk");
            let active = e.name("is_active");
            let expected = e.value(AttributeValue::Bool(sub.is_active));
            let condition = format!("{active} = {expected}");
            let mut items = vec![e.transact_update(&self.table, subscription_key(account, id), &condition)?];
            if sub.is_active {
                items.push(self.counter_update(account, -1, None)?);
            }
            if self.transact(items).await?.is_ok() {
                return Ok(());
            }
        }
        Err(StoreError::Conflict)
    }

    #[instrument(skip(self))]
    async fn reactivate_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        seen_disabled_at: Option<Timestamp>,
        cap: ActiveCap,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut e = Expr::default();
        e.set("is_active", AttributeValue::Bool(true))
            .set("consecutive_failures", n(0))
            .set("updated_at", n(now.unix()))
            .set("route_pk", s(route_pk(account)))
            .remove("disabled_reason")
            .remove("disabled_at")
            .remove(EXHAUSTED_EVENTS);
        let active = e.name("is_active");
        let inactive = e.value(AttributeValue::Bool(false));
        let disabled_at = e.name("disabled_at");
        let seen = match seen_disabled_at {
            Some(t) => format!("{disabled_at} = {}", e.value(n(t.unix()))),
            None => format!("attribute_not_exists({disabled_at})"),
        };
        let condition = format!("attribute_exists(pk) AND {active} = {inactive} AND {seen}");
        let items = vec![
            e.transact_update(&self.table, subscription_key(account, id), &condition)?,
            self.counter_update(account, 1, Some(cap))?,
        ];
        match self.transact(items).await? {
            Ok(()) => self.get_subscription(account, id).await?.ok_or(StoreError::NotFound),
            Err(failed) if failed.get(1) == Some(&true) && failed.first() != Some(&true) => {
                Err(StoreError::LimitReached)
            }
            Err(_) => match self.get_subscription(account, id).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::Conflict),
            },
        }
    }
}

#[async_trait]
impl RateLimitStore for DynamoStore {
    async fn hit_rate_counter(
        &self,
        account: AccountId,
        key_name: &str,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut e = Expr::default();
        e.add("hits", n(1)).set(TTL_ATTRIBUTE, n(expires_at.unix()));
        let out = self.update(key(rate_pk(account), key_name), &e, None).await?;
        Reader(&out.unwrap_or_default()).n("hits")
    }
}

/// A DynamoDB client for `endpoint` (a DynamoDB-compatible server such as moto) or, when
/// `None`, for AWS as the environment configures it.
pub async fn connect(endpoint: Option<&str>) -> Client {
    Client::new(&crate::aws::aws_config(endpoint).await)
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    #[instrument(skip_all, fields(account = %event.account_id, event = %event.event_id))]
    async fn put_event(&self, event: &Event, expires_at: Timestamp) -> Result<Option<Event>, StoreError> {
        if self.put_new(event_item(event, expires_at)).await? {
            return Ok(None);
        }
        // An event past its retention but not yet removed by TTL (which lags) still counts.
        self.get_event(event.account_id, &event.event_id).await
    }

    #[instrument(skip(self))]
    async fn mark_fanned_out(&self, account: AccountId, event_id: &str) -> Result<(), StoreError> {
        let mut e = Expr::default();
        e.set("fanned_out", AttributeValue::Bool(true));
        let result = self
            .update(key(account_pk(account), format!("EVENT#{event_id}")), &e, Some("attribute_exists(pk)"))
            .await?;
        match result {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }

    #[instrument(skip(self))]
    async fn get_event(&self, account: AccountId, event_id: &str) -> Result<Option<Event>, StoreError> {
        let item = self.get_item(key(account_pk(account), format!("EVENT#{event_id}"))).await?;
        item.as_ref().map(|i| event_from(account, i)).transpose()
    }

    #[instrument(skip(self))]
    async fn routable_subscriptions(&self, account: AccountId) -> Result<Vec<Subscription>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ROUTES_INDEX)
            .key_condition_expression("route_pk = :route")
            .expression_attribute_values(":route", s(route_pk(account)));
        self.query_all(query).await?.iter().map(subscription_from).collect()
    }

    #[instrument(skip_all, fields(account = %failure.account_id, failure = %failure.id))]
    async fn put_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        // Inserted once: a record already there (this very write, repeated) stays as it is,
        // even if a retrigger has moved it on since.
        self.put_new(failure_item(failure)).await.map(|_| ())
    }

    #[instrument(skip(self))]
    async fn get_failure(&self, account: AccountId, id: FailureId) -> Result<Option<Failure>, StoreError> {
        let item = self.get_item(failure_key(account, id)).await?;
        item.as_ref().map(|i| failure_from(account, i)).transpose()
    }

    #[instrument(skip(self))]
    async fn list_failures(&self, account: AccountId) -> Result<Vec<Failure>, StoreError> {
        let items = self.query_prefix(account_pk(account), "FAIL#").await?;
        items.iter().map(|i| failure_from(account, i)).collect()
    }

    #[instrument(skip(self))]
    async fn query_failures(&self, account: AccountId, query: &FailureQuery) -> Result<Page<Failure>, StoreError> {
        let (low, high) = query.id_range();
        let range = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(account_pk(account)))
            .expression_attribute_values(":low", s(format!("FAIL#{low}")))
            .expression_attribute_values(":high", s(format!("FAIL#{high}")))
            .scan_index_forward(false);
        let mut selected = Vec::new();
        for item in self.query_all(range).await? {
            let failure = failure_from(account, &item)?;
            if query.matches(&failure) {
                selected.push(failure);
            }
        }
        Ok(page_of(selected, query.limit, query.offset))
    }

    #[instrument(skip(self))]
    async fn retrigger_failure(
        &self,
        account: AccountId,
        id: FailureId,
        now: Timestamp,
    ) -> Result<Failure, StoreError> {
        let mut e = Expr::default();
        e.set("status", s(FailureStatus::Pending.as_str()))
            .set("last_attempt_at", n(now.unix()))
            .set("updated_at", n(now.unix()))
            .set("pending_pk", s(PENDING_PK))
            .set("pending_since", n(now.unix()))
            .remove("reason")
            .remove(TTL_ATTRIBUTE);
        let status = e.name("status");
        let inactive = e.value(s(FailureStatus::Inactive.as_str()));
        let result = self
            .update(failure_key(account, id), &e, Some(&format!("attribute_exists(pk) AND {status} = {inactive}")))
            .await?;
        match result {
            Some(item) => failure_from(account, &item),
            None => match self.get_failure(account, id).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::Conflict),
            },
        }
    }

    #[instrument(skip(self))]
    async fn settle_failure(
        &self,
        account: AccountId,
        id: FailureId,
        outcome: &RetriggerOutcome,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError> {
        let mut e = Expr::default();
        e.set("updated_at", n(now.unix())).remove("pending_pk").remove("pending_since");
        match outcome {
            RetriggerOutcome::Delivered => {
                e.set("status", s(FailureStatus::Resolved.as_str()))
                    .set(TTL_ATTRIBUTE, n(now.plus_days(RESOLVED_RETENTION_DAYS).unix()))
                    .remove("reason");
            }
            RetriggerOutcome::Failed(reason) => {
                e.set("status", s(FailureStatus::Inactive.as_str())).set("reason", s(reason.to_string()));
            }
        }
        let status = e.name("status");
        let pending = e.value(s(FailureStatus::Pending.as_str()));
        let result = self
            .update(failure_key(account, id), &e, Some(&format!("attribute_exists(pk) AND {status} = {pending}")))
            .await?;
        match result {
            Some(item) => failure_from(account, &item).map(Some),
            None => Ok(None),
        }
    }

    #[instrument(skip(self))]
    async fn stuck_pending_failures(&self, before: Timestamp, limit: u32) -> Result<Vec<Failure>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("pending_pk = :p AND pending_since < :before")
            .expression_attribute_values(":p", s(PENDING_PK))
            .expression_attribute_values(":before", n(before.unix()))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(backend)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let account = Reader(item)
                    .s("pk")?
                    .strip_prefix("ACCOUNT#")
                    .and_then(AccountId::parse)
                    .ok_or_else(|| corrupt("pk"))?;
                failure_from(account, item)
            })
            .collect()
    }

    #[instrument(skip_all, fields(account = %attempt.account_id, subscription = %attempt.subscription_id))]
    async fn record_attempt(&self, attempt: &Attempt, expires_at: Timestamp) -> Result<(), StoreError> {
        self.put(attempt_item(attempt, expires_at)).await
    }

    #[instrument(skip(self))]
    async fn list_attempts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Attempt>, StoreError> {
        let items = self.query_prefix(account_pk(account), &format!("ATT#{subscription}#")).await?;
        let attempts = items.iter().map(|i| attempt_from(account, i)).collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(attempts, limit, offset))
    }

    #[instrument(skip(self))]
    async fn record_delivery(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        at: Timestamp,
        error: Option<&Reason>,
    ) -> Result<(), StoreError> {
        let mut e = Expr::default();
        e.set("last_delivery_at", n(at.unix()));
        match error {
            None => {
                e.set("last_success_at", n(at.unix())).set("consecutive_failures", n(0)).remove(EXHAUSTED_EVENTS);
            }
            Some(reason) => {
                e.set("last_error", s(reason.to_string()));
            }
        }
        // Not over a later attempt's fields (a write that waited in a record task).
        let last = e.name("last_delivery_at");
        let when = e.value(n(at.unix()));
        let condition = format!("attribute_exists(pk) AND (attribute_not_exists({last}) OR {last} <= {when})");
        match self.update(subscription_key(account, subscription), &e, Some(&condition)).await? {
            Some(_) => Ok(()),
            None => match self.get_item(subscription_key(account, subscription)).await? {
                Some(_) => Ok(()),
                None => Err(StoreError::NotFound),
            },
        }
    }

    #[instrument(skip(self))]
    async fn record_exhausted(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        event_id: &str,
        reason: &Reason,
        at: Timestamp,
        disable_after: u32,
    ) -> Result<Exhausted, StoreError> {
        // One atomic ADD, so concurrent workers cannot lose an increment; conditional, so an
        // event counts once (its id joins a set that the next delivery clears), only while
        // the subscription is active, and never past the threshold.
        let mut e = Expr::default();
        e.add("consecutive_failures", n(1))
            .add(EXHAUSTED_EVENTS, AttributeValue::Ss(vec![event_id.to_owned()]))
            .set("last_error", s(reason.to_string()))
            .set("last_delivery_at", n(at.unix()));
        let (active, yes) = (e.name("is_active"), e.value(AttributeValue::Bool(true)));
        let (events, this_event) = (e.name(EXHAUSTED_EVENTS), e.value(s(event_id)));
        let (count, threshold) = (e.name("consecutive_failures"), e.value(n(disable_after)));
        let condition = format!(
            "attribute_exists(pk) AND {active} = {yes} AND NOT contains({events}, {this_event}) AND {count} < {threshold}"
        );
        let mut sub = match self.update(subscription_key(account, subscription), &e, Some(&condition)).await? {
            Some(item) => subscription_from(&item)?,
            None => self.get_subscription(account, subscription).await?.ok_or(StoreError::NotFound)?,
        };
        if !(sub.is_active && sub.consecutive_failures >= disable_after) {
            return Ok(Exhausted { subscription: sub, disabled_now: false });
        }
        // Disabling is conditional on still being active, and leaves the cap in the same
        // transaction: of concurrent workers exactly one disables.
        let mut d = Expr::default();
        d.set("is_active", AttributeValue::Bool(false))
            .set("disabled_reason", s(DisabledReason::AutoDisabled.as_str()))
            .set("disabled_at", n(at.unix()))
            .set("updated_at", n(at.unix()));
        let active = d.name("is_active");
        let yes = d.value(AttributeValue::Bool(true));
        let items = vec![
            d.transact_update(&self.table, subscription_key(account, subscription), &format!("{active} = {yes}"))?,
            self.counter_update(account, -1, None)?,
        ];
        let disabled_now = self.transact(items).await?.is_ok();
        if disabled_now {
            sub.is_active = false;
            sub.disabled_reason = Some(DisabledReason::AutoDisabled);
            sub.disabled_at = Some(at);
            sub.updated_at = at;
        } else if let Some(current) = self.get_subscription(account, subscription).await? {
            sub = current;
        }
        Ok(Exhausted { subscription: sub, disabled_now })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hookpost_domain::failure::FailureStatus;

    use super::*;

    const T: Timestamp = Timestamp::from_unix(1_780_000_000);

    fn sk(item: &Item) -> &str {
        Reader(item).s("sk").unwrap()
    }

    #[test]
    fn an_account_round_trips_and_starts_with_no_active_subscriptions() {
        let account = Account { id: AccountId::new(), name: "Acme".into(), plan: Plan::Business, created_at: T };
        let item = account_item(&account);
        assert_eq!(
            (Reader(&item).s("pk").unwrap(), sk(&item)),
            (format!("ACCOUNT#{}", account.id).as_str(), "ACCOUNT")
        );
        assert_eq!(Reader(&item).n::<u32>("active_subscriptions").unwrap(), 0);
        assert_eq!(account_from(&item).unwrap(), account);
    }

    #[test]
    fn a_token_round_trips_under_its_hash() {
        let token = Token {
            id: TokenId::new(),
            kind: TokenKind::PortalSession,
            account_id: AccountId::new(),
            token_hash: "ab".repeat(32),
            scopes: vec![Scope::WebhooksRead, Scope::WebhooksManage],
            user_id: Some("user_1".into()),
            expires_at: Some(T.plus_days(3)),
            revoked: true,
            created_at: T,
        };
        let item = token_item(&token);
        assert_eq!(Reader(&item).s("pk").unwrap(), format!("TOKEN#{}", token.token_hash));
        assert_eq!(token_from(&item).unwrap(), token);
        let bare = Token { kind: TokenKind::Pat, user_id: None, expires_at: None, revoked: false, ..token };
        assert_eq!(token_from(&token_item(&bare)).unwrap(), bare);
        let mut before_sessions = token_item(&bare);
        before_sessions.remove("token_kind");
        assert_eq!(token_from(&before_sessions).unwrap(), bare);
    }

    fn subscription() -> Subscription {
        Subscription {
            id: SubscriptionId::new(),
            account_id: AccountId::new(),
            name: "CRM".into(),
            url: "https://crm.example.com/hooks".into(),
            events: vec!["call.ended".into(), "call.started".into()],
            secret: "whsec_c2VjcmV0".into(),
            channel_id: ChannelId::parse("dom_1"),
            channel_type: Some(ChannelType::Domain),
            source: Source::Zapier,
            zapier_subscription_id: Some("zap_1".into()),
            is_active: false,
            disabled_reason: Some(DisabledReason::AutoDisabled),
            disabled_at: Some(T.plus_seconds(9)),
            consecutive_failures: 5,
            last_delivery_at: Some(T.plus_seconds(8)),
            last_success_at: Some(T.plus_seconds(2)),
            last_error: Some("http_status: 500".into()),
            created_at: T,
            updated_at: T.plus_seconds(9),
            created_by_user_id: None,
            headers: BTreeMap::from([("x-team".to_owned(), "crm".to_owned())]),
            authentication: Authentication::Basic { username: "u".into(), password: "p".into() },
            previous_secret: Some(("whsec_b2xk".into(), T.plus_days(1))),
        }
    }

    #[test]
    fn a_subscription_round_trips_every_field() {
        let sub = subscription();
        let item = subscription_item(&sub);
        assert_eq!(sk(&item), format!("SUB#{}", sub.id));
        assert_eq!(Reader(&item).s("route_pk").unwrap(), format!("ROUTE#{}", sub.account_id), "still routable");
        assert_eq!(subscription_from(&item).unwrap(), sub);
        for authentication in [Authentication::None, Authentication::Bearer { token: "t".into() }] {
            let other = Subscription {
                authentication,
                previous_secret: None,
                channel_id: None,
                channel_type: None,
                ..sub.clone()
            };
            assert_eq!(subscription_from(&subscription_item(&other)).unwrap(), other);
        }
    }

    #[test]
    fn a_deleted_subscription_leaves_the_routes_index() {
        let deleted = Subscription { disabled_reason: Some(DisabledReason::Deleted), ..subscription() };
        assert!(!subscription_item(&deleted).contains_key("route_pk"));
    }

    #[test]
    fn an_event_round_trips_with_its_ttl() {
        let event = Event {
            account_id: AccountId::new(),
            event_id: "evt_1".into(),
            event_type: "call.ended".into(),
            channel_id: ChannelId::parse("dom_1"),
            data: r#"{"n":1}"#.into(),
            created_at: T,
            subscriptions: 3,
            fanned_out: false,
        };
        let item = event_item(&event, T.plus_days(30));
        assert_eq!(sk(&item), "EVENT#evt_1");
        assert_eq!(Reader(&item).n::<i64>(TTL_ATTRIBUTE).unwrap(), T.plus_days(30).unix());
        assert_eq!(event_from(event.account_id, &item).unwrap(), event);
    }

    #[test]
    fn a_failure_round_trips_and_only_a_pending_one_is_in_the_sweepers_index() {
        let failure = Failure::inactive(
            AccountId::new(),
            "evt_1",
            "call.ended",
            SubscriptionId::new(),
            "CRM",
            Reason::BlockedDestination("10.0.0.1".parse().unwrap()),
            T,
            T,
        );
        let item = failure_item(&failure);
        assert_eq!(sk(&item), format!("FAIL#{}", failure.id));
        assert!(!item.contains_key("pending_pk"));
        assert_eq!(failure_from(failure.account_id, &item).unwrap(), failure);
        let pending =
            Failure { status: FailureStatus::Pending, reason: None, updated_at: T.plus_seconds(4), ..failure };
        let item = failure_item(&pending);
        assert_eq!(Reader(&item).s("pending_pk").unwrap(), PENDING_PK);
        assert_eq!(Reader(&item).n::<i64>("pending_since").unwrap(), T.plus_seconds(4).unix());
        assert_eq!(failure_from(pending.account_id, &item).unwrap(), pending);
    }

    #[test]
    fn an_unknown_stored_reason_is_a_corrupt_item_not_a_guess() {
        let mut item = failure_item(&Failure::inactive(
            AccountId::new(),
            "e",
            "x",
            SubscriptionId::new(),
            "n",
            Reason::Timeout,
            T,
            T,
        ));
        item.insert("reason".into(), s("Connection timeout"));
        assert!(matches!(failure_from(AccountId::new(), &item), Err(StoreError::Backend(_))));
    }

    #[test]
    fn an_attempt_round_trips_through_its_item_with_its_log_key() {
        let attempt = Attempt {
            account_id: AccountId::new(),
            subscription_id: SubscriptionId::new(),
            event_id: "evt_1".into(),
            event_type: "call.ended".into(),
            attempt: 3,
            status_code: Some(503),
            reason: Some(Reason::HttpStatus(503)),
            duration_ms: 40,
            response_excerpt: Some("busy".into()),
            test: false,
            attempted_at: Timestamp::from_unix(1_780_000_000),
            log_key: AttemptKey { nanos: 1_780_000_000_123_456_789, nonce: 0xdead_beef },
        };
        let item = attempt_item(&attempt, Timestamp::from_unix(1_790_000_000));
        let sk = Reader(&item).s("sk").unwrap().to_owned();
        assert_eq!(sk, format!("ATT#{}#1780000000#01780000000123456789#deadbeef", attempt.subscription_id));
        assert_eq!(attempt_from(attempt.account_id, &item).unwrap(), attempt);
        // The same attempt always maps to the same item: logging it twice writes one.
        assert_eq!(attempt_item(&attempt, Timestamp::from_unix(1_790_000_000)), item);
        assert_eq!(attempt_key_of("ATT#x#1#2#zz"), None);
    }
}
