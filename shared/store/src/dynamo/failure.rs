//! Failure records: `ACCOUNT#<id>` / `FAIL#<time-ordered id>`, pending ones in the sweeper's
//! `pending` index, resolved ones kept 90 days (TTL).

use super::*;

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
    if let Some(since) = failure.pending_since() {
        item.insert("pending_pk".to_owned(), s(PENDING_PK));
        item.insert("pending_since".to_owned(), n(since.unix()));
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

#[async_trait]
impl FailureStore for DynamoStore {
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
        self.change_failure(account, id, &FailureChange::retrigger(now)).await?.ok_or(StoreError::Conflict)
    }

    #[instrument(skip(self))]
    async fn settle_failure(
        &self,
        account: AccountId,
        id: FailureId,
        outcome: &RetriggerOutcome,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError> {
        self.change_failure(account, id, &FailureChange::settle(outcome, now)).await
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
}

impl DynamoStore {
    /// Applies a transition the domain decided as one conditional update: `None` when the
    /// record is missing or not in the status it requires.
    async fn change_failure(
        &self,
        account: AccountId,
        id: FailureId,
        change: &FailureChange,
    ) -> Result<Option<Failure>, StoreError> {
        let (e, condition) = failure_change_expression(change);
        match self.update(failure_key(account, id), &e, Some(&condition)).await? {
            Some(item) => failure_from(account, &item).map(Some),
            None => Ok(None),
        }
    }
}

/// A failure transition as `SET`/`REMOVE` under a status condition; the sweeper's index
/// entry (`pending_pk`, `pending_since`) and the TTL follow the new status as in
/// [`failure_item`].
fn failure_change_expression(change: &FailureChange) -> (Expr, String) {
    let mut e = Expr::default();
    e.set("status", s(change.status.as_str()))
        .set_opt("reason", change.reason.as_ref().map(|r| s(r.to_string())))
        .set("updated_at", n(change.updated_at.unix()))
        .set_opt(TTL_ATTRIBUTE, change.expires_at.map(|t| n(t.unix())));
    if let Some(at) = change.last_attempt_at {
        e.set("last_attempt_at", n(at.unix()));
    }
    let pending = change.status == FailureStatus::Pending;
    e.set_opt("pending_pk", pending.then(|| s(PENDING_PK)))
        .set_opt("pending_since", pending.then(|| n(change.updated_at.unix())));
    let (status, required) = (e.name("status"), e.value(s(change.requires.as_str())));
    (e, format!("attribute_exists(pk) AND {status} = {required}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::test_support::{sk, T};

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
}
