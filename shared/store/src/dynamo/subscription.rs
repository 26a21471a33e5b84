//! Subscriptions: `ACCOUNT#<id>` / `SUB#<uuidv7>`, in the `routes` index while they take
//! events.

use hookpost_domain::sealing::subscription_context;

use super::keyring::{Opener, Sealer};
use super::*;

/// `headers`: names as written, values sealed (a custom header is often a credential).
pub(super) fn headers_value(headers: &BTreeMap<String, String>, sealer: Sealer<'_>, context: &str) -> AttributeValue {
    AttributeValue::M(headers.iter().map(|(k, v)| (k.clone(), s(sealer.seal(v, context)))).collect())
}

/// The authentication as attributes: every one of the four is set or removed; the password
/// and the token sealed.
pub(super) fn authentication_attrs(
    auth: &Authentication,
    sealer: Sealer<'_>,
    context: &str,
) -> [(&'static str, Option<AttributeValue>); 4] {
    let sealed = |v: &str| Some(s(sealer.seal(v, context)));
    let (method, username, password, token) = match auth {
        Authentication::None => ("none", None, None, None),
        Authentication::Basic { username, password } => ("basic", Some(s(username)), sealed(password), None),
        Authentication::Bearer { token } => ("bearer", None, None, sealed(token)),
    };
    [("auth_method", Some(s(method))), ("auth_username", username), ("auth_password", password), ("auth_token", token)]
}

pub(super) fn subscription_item(sub: &Subscription, sealer: Sealer<'_>) -> Item {
    let context = subscription_context(sub.account_id, sub.id);
    let mut item = subscription_key(sub.account_id, sub.id);
    let optional = [
        ("channel_id", sub.channel_id.as_ref().map(|c| s(c.as_str()))),
        ("channel_type", sub.channel_type.map(|c| s(c.as_str()))),
        ("zapier_subscription_id", sub.zapier_subscription_id.as_ref().map(s)),
        ("disabled_reason", sub.state.disabled_reason().map(|d| s(d.as_str()))),
        ("disabled_at", sub.state.disabled_at().map(|t| n(t.unix()))),
        ("last_delivery_at", sub.last_delivery_at.map(|t| n(t.unix()))),
        ("last_success_at", sub.last_success_at.map(|t| n(t.unix()))),
        ("last_error", sub.last_error.as_ref().map(s)),
        ("created_by_user_id", sub.created_by_user_id.as_ref().map(s)),
        ("previous_secret", sub.previous_secret.as_ref().map(|(p, _)| s(sealer.seal(p, &context)))),
        ("previous_secret_until", sub.previous_secret.as_ref().map(|(_, t)| n(t.unix()))),
        ("route_pk", sub.state.takes_events().then(|| s(route_pk(sub.account_id)))),
        ("rate_limit", sub.rate_limit.map(|r| n(r.per_second()))),
        ("filter", sub.filter.as_ref().map(filter_value)),
    ];
    item.extend([
        ("kind".to_owned(), s("subscription")),
        ("id".to_owned(), s(sub.id.to_string())),
        ("account_id".to_owned(), s(sub.account_id.to_string())),
        ("name".to_owned(), s(&sub.name)),
        ("url".to_owned(), s(&sub.url)),
        ("events".to_owned(), AttributeValue::L(sub.events.iter().map(s).collect())),
        ("secret".to_owned(), s(sealer.seal(&sub.secret, &context))),
        ("source".to_owned(), s(sub.source.as_str())),
        ("is_active".to_owned(), AttributeValue::Bool(sub.is_active())),
        ("consecutive_failures".to_owned(), n(sub.consecutive_failures)),
        ("created_at".to_owned(), n(sub.created_at.unix())),
        ("updated_at".to_owned(), n(sub.updated_at.unix())),
        ("headers".to_owned(), headers_value(&sub.headers, sealer, &context)),
        ("ordering".to_owned(), s(sub.ordering.as_str())),
    ]);
    for (name, value) in optional.into_iter().chain(authentication_attrs(&sub.authentication, sealer, &context)) {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    item
}

/// `filter`: the pattern as JSON text, as the customer wrote it.
fn filter_value(filter: &ContentFilter) -> AttributeValue {
    s(filter.pattern().to_string())
}

/// `filter`: absent for none; compiled when first matched (`ContentFilter::stored`).
fn filter_from(r: &Reader<'_>) -> Result<Option<ContentFilter>, StoreError> {
    let Some(text) = r.opt_s("filter") else { return Ok(None) };
    let pattern = serde_json::from_str(text).map_err(|_| corrupt("filter"))?;
    Ok(Some(ContentFilter::stored(pattern)))
}

/// `rate_limit`: the number; absent for no limit (so an item written before limits
/// existed runs without one, as it did).
fn rate_limit_from(r: &Reader<'_>) -> Result<Option<RateLimit>, StoreError> {
    match r.opt_n::<u32>("rate_limit")? {
        Some(limit) => RateLimit::new(limit).map(Some).ok_or_else(|| corrupt("rate_limit")),
        None => Ok(None),
    }
}

/// The subscription an item holds, its secrets opened by `opener` (sealed or, written
/// before sealing, in plaintext).
pub(super) fn subscription_from(item: &Item, opener: &Opener) -> Result<Subscription, StoreError> {
    let r = Reader(item);
    let (id, account_id) = (r.parsed("id", SubscriptionId::parse)?, r.parsed("account_id", AccountId::parse)?);
    let context = subscription_context(account_id, id);
    let open = |attr: &str| -> Result<String, StoreError> { opener.open(r.s(attr)?, &context, attr) };
    let authentication = match r.s("auth_method")? {
        "none" => Authentication::None,
        "basic" => {
            Authentication::Basic { username: r.s("auth_username")?.to_owned(), password: open("auth_password")? }
        }
        "bearer" => Authentication::Bearer { token: open("auth_token")? },
        _ => return Err(corrupt("auth_method")),
    };
    let headers = r
        .string_map("headers")?
        .into_iter()
        .map(|(name, value)| Ok((name, opener.open(&value, &context, "headers")?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(Subscription {
        id,
        account_id,
        name: r.s("name")?.to_owned(),
        url: r.s("url")?.to_owned(),
        events: r.strings("events")?,
        secret: open("secret")?,
        channel_id: r.opt_parsed("channel_id", ChannelId::parse)?,
        channel_type: r.opt_parsed("channel_type", ChannelType::parse)?,
        source: r.parsed("source", Source::parse)?,
        zapier_subscription_id: r.opt_s("zapier_subscription_id").map(str::to_owned),
        state: match r.bool("is_active")? {
            true => SubscriptionState::Active,
            false => SubscriptionState::Disabled {
                reason: r.parsed("disabled_reason", DisabledReason::parse)?,
                at: r.ts("disabled_at")?,
            },
        },
        consecutive_failures: r.n("consecutive_failures")?,
        last_delivery_at: r.opt_ts("last_delivery_at")?,
        last_success_at: r.opt_ts("last_success_at")?,
        last_error: r.opt_s("last_error").map(str::to_owned),
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        created_by_user_id: r.opt_s("created_by_user_id").map(str::to_owned),
        headers,
        authentication,
        previous_secret: match (r.opt_s("previous_secret"), r.opt_ts("previous_secret_until")?) {
            (Some(secret), Some(until)) => Some((opener.open(secret, &context, "previous_secret")?, until)),
            _ => None,
        },
        rate_limit: rate_limit_from(&r)?,
        // Items written before ordering existed are unordered.
        ordering: match r.opt_s("ordering") {
            None => Ordering::Unordered,
            Some(o) => Ordering::parse(o).ok_or_else(|| corrupt("ordering"))?,
        },
        filter: filter_from(&r)?,
    })
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    #[instrument(skip_all, fields(account = %sub.account_id, subscription = %sub.id))]
    async fn create_subscription(&self, sub: &Subscription, cap: ActiveCap) -> Result<(), StoreError> {
        let key = self.current_data_key().await?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(subscription_item(sub, Sealer(key.as_ref()))))
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
        match self.get_item(subscription_key(account, id)).await? {
            Some(item) => Ok(Some(subscription_from(&item, &self.opener_for([&item]).await?)?)),
            None => Ok(None),
        }
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
        let opener = self.opener_for(&items).await?;
        let mut matching = Vec::with_capacity(items.len());
        for item in &items {
            let sub = subscription_from(item, &opener)?;
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
        let sealing = match patch.headers.is_some() || patch.authentication.is_some() {
            true => self.current_data_key().await?,
            false => None,
        };
        let (sealer, context) = (Sealer(sealing.as_ref()), subscription_context(account, id));
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
            e.set("headers", headers_value(headers, sealer, &context));
        }
        if let Some(auth) = &patch.authentication {
            for (attr, value) in authentication_attrs(auth, sealer, &context) {
                e.set_opt(attr, value);
            }
        }
        if let Some(rate_limit) = &patch.rate_limit {
            e.set_opt("rate_limit", rate_limit.map(|r| n(r.per_second())));
        }
        if let Some(ordering) = patch.ordering {
            e.set("ordering", s(ordering.as_str()));
        }
        if let Some(filter) = &patch.filter {
            e.set_opt("filter", filter.as_ref().map(filter_value));
        }
        let result = self.update(subscription_key(account, id), &e, Some("attribute_exists(pk)")).await?;
        self.written(result).await
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
        let sealing = self.current_data_key().await?;
        let new_secret = Sealer(sealing.as_ref()).seal(new_secret, &subscription_context(account, id));
        let mut e = Expr::default();
        let (previous, secret) = (e.name("previous_secret"), e.name("secret"));
        e.sets.push(format!("{previous} = {secret}"));
        e.set("secret", s(new_secret))
            .set("previous_secret_until", n(previous_until.unix()))
            .set("updated_at", n(now.unix()));
        let result = self.update(subscription_key(account, id), &e, Some("attribute_exists(pk)")).await?;
        self.written(result).await
    }

    #[instrument(skip(self, change))]
    async fn change_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        change: &SubscriptionChange,
        cap: ActiveCap,
    ) -> Result<Applied, StoreError> {
        let (e, condition) = change_expression(account, change);
        let key = subscription_key(account, id);
        let delta = change.active_delta();
        if delta == 0 {
            return match self.update(key, &e, Some(&condition)).await? {
                Some(item) => Ok(Applied::Changed(subscription_from(&item, &self.opener_for([&item]).await?)?)),
                None => self.refused(account, id).await,
            };
        }
        // The state and the account's active count move in one transaction: of concurrent
        // changes exactly one moves the count.
        let items = vec![
            e.transact_update(&self.table, key, &condition)?,
            self.counter_update(account, delta, (delta > 0).then_some(cap))?,
        ];
        match self.transact(items).await? {
            Ok(()) => self.get_subscription(account, id).await?.map(Applied::Changed).ok_or(StoreError::NotFound),
            Err(failed) if failed.get(1) == Some(&true) && failed.first() != Some(&true) => {
                Err(StoreError::LimitReached)
            }
            Err(_) => self.refused(account, id).await,
        }
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
        let items = self.query_all(query).await?;
        let opener = self.opener_for(&items).await?;
        items.iter().map(|item| subscription_from(item, &opener)).collect()
    }
}

impl DynamoStore {
    /// The subscription an update wrote (`NotFound` when it was not there), with any secret
    /// it still held in plaintext from before sealing sealed now.
    async fn written(&self, result: Option<Item>) -> Result<Subscription, StoreError> {
        let item = result.ok_or(StoreError::NotFound)?;
        self.reseal(&item).await;
        subscription_from(&item, &self.opener_for([&item]).await?)
    }

    /// A change's condition failed: the subscription as it is, or `NotFound`.
    async fn refused(&self, account: AccountId, id: SubscriptionId) -> Result<Applied, StoreError> {
        self.get_subscription(account, id).await?.map(Applied::Refused).ok_or(StoreError::NotFound)
    }
}

/// The attributes of a state: `is_active`, `disabled_reason`, `disabled_at`, and `route_pk`
/// (the `routes` index) while it takes events.
fn set_state(e: &mut Expr, account: AccountId, state: SubscriptionState) {
    e.set("is_active", AttributeValue::Bool(state.is_active()))
        .set_opt("disabled_reason", state.disabled_reason().map(|r| s(r.as_str())))
        .set_opt("disabled_at", state.disabled_at().map(|t| n(t.unix())))
        .set_opt("route_pk", state.takes_events().then(|| s(route_pk(account))));
}

fn state_condition(e: &mut Expr, state: SubscriptionState) -> String {
    let active = e.name("is_active");
    let is_active = e.value(AttributeValue::Bool(state.is_active()));
    match state {
        SubscriptionState::Active => format!("{active} = {is_active}"),
        SubscriptionState::Disabled { reason, at } => {
            let (reason_name, reason) = (e.name("disabled_reason"), e.value(s(reason.as_str())));
            let (at_name, at) = (e.name("disabled_at"), e.value(n(at.unix())));
            format!("{active} = {is_active} AND {reason_name} = {reason} AND {at_name} = {at}")
        }
    }
}

/// A domain change as one update: its fields as `SET`/`ADD`/`REMOVE`, its requirements as
/// the condition (with the item's existence).
pub(super) fn change_expression(account: AccountId, change: &SubscriptionChange) -> (Expr, String) {
    let mut e = Expr::default();
    let mut conditions = vec!["attribute_exists(pk)".to_owned()];
    for requirement in &change.requires {
        conditions.push(match requirement {
            Requirement::State(state) => state_condition(&mut e, *state),
            Requirement::DeliveredNoLaterThan(at) => {
                let (last, when) = (e.name("last_delivery_at"), e.value(n(at.unix())));
                format!("(attribute_not_exists({last}) OR {last} <= {when})")
            }
            Requirement::EventNotCounted(event) => {
                format!("NOT contains({}, {})", e.name(EXHAUSTED_EVENTS), e.value(s(event)))
            }
            Requirement::FailuresBelow(limit) => {
                format!("{} < {}", e.name("consecutive_failures"), e.value(n(limit)))
            }
        });
    }
    if let Some(state) = change.state {
        set_state(&mut e, account, state);
    }
    match change.failures {
        Some(FailureCount::Reset) => {
            e.set("consecutive_failures", n(0));
        }
        // ADD, so concurrent workers cannot lose an increment.
        Some(FailureCount::Increment) => {
            e.add("consecutive_failures", n(1));
        }
        None => {}
    }
    match &change.counted_events {
        Some(CountedEvents::Add(event)) => {
            e.add(EXHAUSTED_EVENTS, AttributeValue::Ss(vec![event.clone()]));
        }
        Some(CountedEvents::Clear) => {
            e.remove(EXHAUSTED_EVENTS);
        }
        None => {}
    }
    for (attr, at) in [
        ("last_delivery_at", change.last_delivery_at),
        ("last_success_at", change.last_success_at),
        ("updated_at", change.updated_at),
    ] {
        if let Some(at) = at {
            e.set(attr, n(at.unix()));
        }
    }
    if let Some(error) = &change.last_error {
        e.set("last_error", s(error));
    }
    (e, conditions.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::test_support::{sk, T};
    use hookpost_domain::sealing::{is_sealed, DataKey};

    fn data_key() -> DataKey {
        DataKey::new("k1", [7; 32])
    }

    fn sealed(sub: &Subscription) -> Item {
        subscription_item(sub, Sealer(Some(&data_key())))
    }

    fn read_back(item: &Item) -> Result<Subscription, StoreError> {
        subscription_from(item, &Opener::holding([data_key()]))
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
            state: SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at: T.plus_seconds(9) },
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
            rate_limit: RateLimit::new(25),
            ordering: Ordering::Fifo,
            filter: Some(
                ContentFilter::new(serde_json::json!({"data": {"amount": [{"numeric": [">", 100]}]}}), "filter")
                    .unwrap(),
            ),
        }
    }

    #[test]
    fn a_subscription_round_trips_every_field() {
        let sub = subscription();
        let item = sealed(&sub);
        assert_eq!(sk(&item), format!("SUB#{}", sub.id));
        assert_eq!(Reader(&item).s("route_pk").unwrap(), format!("ROUTE#{}", sub.account_id), "still routable");
        assert_eq!(read_back(&item).unwrap(), sub);
        for authentication in [Authentication::None, Authentication::Bearer { token: "t".into() }] {
            let other = Subscription {
                authentication,
                previous_secret: None,
                channel_id: None,
                channel_type: None,
                rate_limit: None,
                ordering: Ordering::Unordered,
                filter: None,
                ..sub.clone()
            };
            assert_eq!(read_back(&sealed(&other)).unwrap(), other);
        }
    }

    #[test]
    fn secrets_are_sealed_at_rest_and_plaintext_from_before_still_reads() {
        let sub = subscription();
        let item = sealed(&sub);
        let stored = |attr: &str| Reader(&item).s(attr).unwrap().to_owned();
        for attr in ["secret", "previous_secret", "auth_password"] {
            assert!(is_sealed(&stored(attr)), "{attr} at rest: {}", stored(attr));
        }
        let headers = Reader(&item).string_map("headers").unwrap();
        assert!(is_sealed(&headers["x-team"]), "a header value at rest: {headers:?}");
        let text = format!("{item:?}");
        for secret in ["whsec_c2VjcmV0", "whsec_b2xk", "\"crm\""] {
            assert!(!text.contains(secret), "{secret} in the item");
        }
        assert_eq!(Reader(&item).s("auth_username").unwrap(), "u", "a user name is no secret");

        // Bound to its subscription: copied into another, it does not open.
        let mut moved = item.clone();
        moved.insert("id".to_owned(), s(SubscriptionId::new().to_string()));
        assert!(read_back(&moved).is_err());
        // Without the data key: a clear error, not a wrong secret.
        assert!(subscription_from(&item, &Opener::holding([])).is_err());
        // The stream reads no secret: ciphertext stays ciphertext.
        assert_eq!(subscription_from(&item, &Opener::AS_STORED).unwrap().secret, stored("secret"));

        // Written before sealing existed: read as it is.
        let plain = subscription_item(&sub, Sealer(None));
        assert_eq!(Reader(&plain).s("secret").unwrap(), "whsec_c2VjcmV0");
        assert_eq!(read_back(&plain).unwrap(), sub);
        assert!(super::super::keyring::holds_plaintext(&plain) && !super::super::keyring::holds_plaintext(&item));
    }

    #[test]
    fn an_item_from_before_delivery_control_is_unlimited_and_unordered() {
        let mut item = sealed(&subscription());
        item.remove("rate_limit");
        item.remove("ordering");
        let read = read_back(&item).unwrap();
        assert_eq!((read.rate_limit, read.ordering), (None, Ordering::Unordered));
        item.insert("ordering".to_owned(), s("lifo"));
        assert!(read_back(&item).is_err());
    }

    #[test]
    fn a_filter_is_kept_as_written_and_read_compiled() {
        let mut item = sealed(&subscription());
        assert_eq!(Reader(&item).s("filter").unwrap(), r#"{"data":{"amount":[{"numeric":[">",100]}]}}"#);
        let read = read_back(&item).unwrap().filter.expect("the filter");
        assert!(read.matches(&serde_json::json!({"data": {"amount": 101}})));
        assert!(!read.matches(&serde_json::json!({"data": {"amount": 100}})));
        item.remove("filter");
        assert_eq!(read_back(&item).unwrap().filter, None, "an item from before filters has none");
        item.insert("filter".to_owned(), s("{\"data\": "));
        assert!(read_back(&item).is_err(), "a stored pattern that is not JSON is corrupt");
    }

    #[test]
    fn a_deleted_subscription_leaves_the_routes_index() {
        let deleted = Subscription {
            state: SubscriptionState::Disabled { reason: DisabledReason::Deleted, at: T },
            ..subscription()
        };
        assert!(!sealed(&deleted).contains_key("route_pk"));
    }
}
