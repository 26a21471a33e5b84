//! Usage counters: `RATE#<account>` / `USAGE#<hour, 10 digits>`, beside the rate-limit
//! counters (an account's counters partition, which erasure clears), added to with `ADD`
//! and read by a range Query.

use hookpost_domain::usage::Usage;

use super::*;

/// What the account check before an addition reads of the account item: its key alone.
pub const USAGE_CHECK_PROJECTION: &str = "pk";

/// The counters and their attribute names, in one place for the write and the read.
const FIELDS: [&str; 5] = ["events_published", "deliveries", "attempts", "failures", "bytes_delivered"];

pub(super) fn usage_sk(hour: Timestamp) -> String {
    format!("USAGE#{:010}", hour.unix().max(0))
}

fn values(usage: &Usage) -> [u64; 5] {
    [usage.events_published, usage.deliveries, usage.attempts, usage.failures, usage.bytes_delivered]
}

fn usage_from(item: &Item) -> Result<(Timestamp, Usage), StoreError> {
    let r = Reader(item);
    let hour = r.s("sk")?.strip_prefix("USAGE#").and_then(|h| h.parse().ok()).ok_or_else(|| corrupt("sk"))?;
    let count = |name: &str| r.opt_n::<u64>(name).map(Option::unwrap_or_default);
    let usage = Usage {
        events_published: count(FIELDS[0])?,
        deliveries: count(FIELDS[1])?,
        attempts: count(FIELDS[2])?,
        failures: count(FIELDS[3])?,
        bytes_delivered: count(FIELDS[4])?,
    };
    Ok((Timestamp::from_unix(hour), usage))
}

#[async_trait]
impl UsageStore for DynamoStore {
    #[instrument(skip(self, usage))]
    async fn add_usage(
        &self,
        account: AccountId,
        hour: Timestamp,
        usage: &Usage,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut e = Expr::default();
        for (name, value) in FIELDS.iter().zip(values(usage)) {
            if value > 0 {
                e.add(name, n(value));
            }
        }
        e.set(TTL_ATTRIBUTE, n(expires_at.unix()));
        // One strongly consistent read a flush (a batch's worth of usage): a fifth of a write.
        // Only the key comes back (`USAGE_CHECK_PROJECTION`, which also lets the benchmark's
        // call counter tell this read from the others of the account item).
        let account_item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_key(account)))
            .consistent_read(true)
            .projection_expression(USAGE_CHECK_PROJECTION)
            .send()
            .await
            .map_err(backend)?;
        if account_item.item.is_none() {
            return Err(StoreError::NotFound);
        }
        self.update(key(rate_pk(account), usage_sk(hour)), &e, None).await.map(|_| ())
    }

    #[instrument(skip(self))]
    async fn usage_between(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, Usage)>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(rate_pk(account)))
            .expression_attribute_values(":from", s(usage_sk(from)))
            .expression_attribute_values(":to", s(usage_sk(to.plus_seconds(-1))))
            .consistent_read(true);
        self.query_all(query).await?.iter().map(usage_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_item_reads_back_its_hour_and_counts() {
        let hour = Timestamp::from_unix(1_780_002_000);
        let mut item = key(rate_pk(AccountId::new()), usage_sk(hour));
        item.insert("deliveries".to_owned(), n(3));
        item.insert("bytes_delivered".to_owned(), n(3072));
        let (read_hour, usage) = usage_from(&item).unwrap();
        assert_eq!(read_hour, hour);
        assert_eq!(usage, Usage { deliveries: 3, bytes_delivered: 3072, ..Usage::default() });
        assert!(usage_sk(hour) < usage_sk(hour.plus_seconds(3_600)), "hours sort as text");
    }
}
