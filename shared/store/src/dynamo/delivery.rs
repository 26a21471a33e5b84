//! Events, failure records and the attempt log, and the delivery writes on subscriptions.

use super::*;

pub(super) fn event_item(event: &Event, expires_at: Timestamp) -> Item {
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

pub(super) fn event_from(account: AccountId, item: &Item) -> Result<Event, StoreError> {
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

pub(super) fn failure_item(failure: &Failure) -> Item {
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

pub(super) fn failure_key(account: AccountId, id: FailureId) -> Item {
    key(account_pk(account), format!("FAIL#{id}"))
}

pub(super) fn failure_from(account: AccountId, item: &Item) -> Result<Failure, StoreError> {
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
pub(super) fn attempt_sk(attempt: &Attempt) -> String {
    format!(
        "ATT#{}#{:010}#{:020}#{:08x}",
        attempt.subscription_id,
        attempt.attempted_at.unix().max(0),
        attempt.log_key.nanos,
        attempt.log_key.nonce
    )
}

/// The log key inside an attempt's sort key.
pub(super) fn attempt_key_of(sk: &str) -> Option<AttemptKey> {
    let mut parts = sk.rsplitn(3, '#');
    let nonce = u32::from_str_radix(parts.next()?, 16).ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some(AttemptKey { nanos, nonce })
}

pub(super) fn attempt_item(attempt: &Attempt, expires_at: Timestamp) -> Item {
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

pub(super) fn attempt_from(account: AccountId, item: &Item) -> Result<Attempt, StoreError> {
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
    use super::*;
    use crate::dynamo::test_support::{sk, T};

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
