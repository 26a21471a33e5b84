//! The attempt log: `ACCOUNT#<id>` / `ATT#<subscription>#<time>#<nanos>#<nonce>`, newest first
//! by a reverse Query, kept for its retention (TTL).

use super::*;

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
impl AttemptStore for DynamoStore {
    #[instrument(skip_all, fields(account = %attempt.account_id, subscription = %attempt.subscription_id))]
    async fn record_attempt(&self, attempt: &Attempt, expires_at: Timestamp) -> Result<(), StoreError> {
        // Erasure and purge delete the subscription before they read its history for the last
        // time, so a log entry put right after this read is still found by them; a
        // subscription already gone takes none. (A put cannot be conditional on another item
        // without a transaction, which would cost twice the write units.)
        if self.get_item(subscription_key(attempt.account_id, attempt.subscription_id)).await?.is_none() {
            return Err(StoreError::NotFound);
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
