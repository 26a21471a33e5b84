//! Erasure in the single table. Everything an account owns sits in its partition
//! (`ACCOUNT#<id>`) or its rate-limit partition (`RATE#<id>`), except its token items
//! (`TOKEN#<hash>`), which the references in its partition name. So erasure is a Query of two
//! partitions and batched deletes, in an order that stops new work first: the account item
//! (nothing more can be created for it), the tokens (the authorizer lets no one in), the
//! subscriptions (queued deliveries find none and stop), then the history. A delivery already
//! past its subscription read when erasure began may still write its outcome, so the
//! partitions are read again until a pass finds nothing.

use aws_sdk_dynamodb::types::{DeleteRequest, ReturnValue, WriteRequest};
use hookpost_domain::erasure::Removed;
use hookpost_domain::token::TokenKind;
use hookpost_domain::{AccountId, SubscriptionId, Timestamp};
use tracing::instrument;

use super::{
    account_key, account_pk, backend, invalid_request, key, rate_pk, subscription_key, DynamoStore, Item, Reader,
};
use crate::{ErasureStore, StoreError, SubscriptionStore};

/// DynamoDB's most deletes in one BatchWriteItem.
const BATCH: usize = 25;
/// Passes over the partitions before an erasure reports what it removed; the later ones
/// only find what writes in flight added during the first.
const PASSES: usize = 4;
/// Pauses before sending a batch's unprocessed deletes again (throttling).
const UNPROCESSED_PAUSES_MS: [u64; 6] = [50, 100, 200, 400, 800, 1600];

/// What an item of an account's partition is, by its sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Account,
    TokenReference,
    Channel,
    Subscription,
    Event,
    Failure,
    Attempt,
    FifoHead,
    Unknown,
}

fn kind_of(sk: &str) -> Kind {
    match sk.split_once('#').map_or(sk, |(prefix, _)| prefix) {
        "ACCOUNT" => Kind::Account,
        "TOKEN" => Kind::TokenReference,
        "CHANNEL" => Kind::Channel,
        "SUB" => Kind::Subscription,
        "EVENT" => Kind::Event,
        "FAIL" => Kind::Failure,
        "ATT" => Kind::Attempt,
        "FIFO" => Kind::FifoHead,
        _ => Kind::Unknown,
    }
}

fn count(removed: &mut Removed, kind: Kind) {
    match kind {
        Kind::Account => removed.account += 1,
        Kind::Channel => removed.channels += 1,
        Kind::Subscription => removed.subscriptions += 1,
        Kind::Event => removed.events += 1,
        Kind::Failure => removed.failures += 1,
        Kind::Attempt => removed.attempts += 1,
        Kind::FifoHead => removed.fifo_heads += 1,
        // Counted by the token each names; an unknown item is logged where it is found.
        Kind::TokenReference | Kind::Unknown => {}
    }
}

fn key_of(item: &Item) -> Item {
    item.iter().filter(|(name, _)| *name == "pk" || *name == "sk").map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn sk(item: &Item) -> &str {
    Reader(item).opt_s("sk").unwrap_or_default()
}

impl DynamoStore {
    /// The keys (and `extra` attributes) of a partition's items whose sort key starts with
    /// `prefix`, every page of them.
    async fn keys_of(&self, pk: String, prefix: &str, extra: &[&str]) -> Result<Vec<Item>, StoreError> {
        let mut names = vec![("#pk".to_owned(), "pk".to_owned()), ("#sk".to_owned(), "sk".to_owned())];
        names.extend(extra.iter().enumerate().map(|(i, attr)| (format!("#a{i}"), (*attr).to_owned())));
        let projection = names.iter().map(|(placeholder, _)| placeholder.as_str()).collect::<Vec<_>>().join(", ");
        // DynamoDB takes no empty string in a key condition: no prefix, no begins_with.
        let (condition, prefix) = match prefix {
            "" => ("#pk = :pk", None),
            prefix => ("#pk = :pk AND begins_with(#sk, :prefix)", Some(super::s(prefix))),
        };
        let mut values = Item::from([(":pk".to_owned(), super::s(pk))]);
        values.extend(prefix.map(|p| (":prefix".to_owned(), p)));
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .projection_expression(projection)
            .set_expression_attribute_names(Some(names.into_iter().collect()))
            .set_expression_attribute_values(Some(values))
            .consistent_read(true);
        self.query_all(query).await
    }

    /// Deletes every item whose key is given, 25 to a request; what DynamoDB leaves
    /// unprocessed is sent again after a pause.
    async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH) {
            let mut requests = chunk
                .iter()
                .map(|key| {
                    let delete =
                        DeleteRequest::builder().set_key(Some(key.clone())).build().map_err(invalid_request)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut pauses = UNPROCESSED_PAUSES_MS.iter();
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(backend)?;
                requests = out.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
                if !requests.is_empty() {
                    let Some(pause) = pauses.next() else {
                        return Err(StoreError::Unavailable(format!("{} deletes left unprocessed", requests.len())));
                    };
                    tokio::time::sleep(std::time::Duration::from_millis(*pause)).await;
                }
            }
        }
        Ok(())
    }

    /// Deletes one item; whether it was there, and what it held.
    async fn delete_returning(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.attributes.filter(|item| !item.is_empty()))
    }

    /// One pass over what is left of an account: tokens, then subscriptions, then the rest.
    async fn erase_pass(&self, account: AccountId, removed: &mut Removed) -> Result<bool, StoreError> {
        let items = self.keys_of(account_pk(account), "", &["token_hash"]).await?;
        let counters = self.keys_of(rate_pk(account), "", &[]).await?;
        if items.is_empty() && counters.is_empty() {
            return Ok(false);
        }
        let (references, rest): (Vec<Item>, Vec<Item>) =
            items.into_iter().partition(|item| kind_of(sk(item)) == Kind::TokenReference);
        for reference in &references {
            // The token before its reference: a crash in between leaves the reference, so
            // the next call still finds the token.
            let Ok(hash) = Reader(reference).s("token_hash") else { continue };
            let token = self.delete_returning(key(format!("TOKEN#{hash}"), "TOKEN")).await?;
            match token.as_ref().and_then(|t| Reader(t).opt_s("token_kind")).and_then(TokenKind::parse) {
                Some(TokenKind::PortalSession | TokenKind::PortalLink) => removed.portal_sessions += 1,
                Some(TokenKind::Pat) => removed.tokens += 1,
                None => {}
            }
        }
        self.delete_keys(references.iter().map(key_of).collect()).await?;
        let (subscriptions, history): (Vec<Item>, Vec<Item>) =
            rest.into_iter().partition(|item| kind_of(sk(item)) == Kind::Subscription);
        for batch in [subscriptions, history] {
            for item in &batch {
                let kind = kind_of(sk(item));
                if kind == Kind::Unknown {
                    tracing::warn!(sk = sk(item), "erasing an item of a kind this version does not know");
                }
                count(removed, kind);
            }
            self.delete_keys(batch.iter().map(key_of).collect()).await?;
        }
        let usage = counters.iter().filter(|item| sk(item).starts_with("USAGE#")).count() as u64;
        removed.usage_counters += usage;
        removed.rate_limit_counters += counters.len() as u64 - usage;
        self.delete_keys(counters).await?;
        Ok(true)
    }
}

#[async_trait::async_trait]
impl ErasureStore for DynamoStore {
    #[instrument(skip(self))]
    async fn erase_account(&self, account: AccountId) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        if self.delete_returning(account_key(account)).await?.is_some() {
            removed.account = 1;
        }
        for _ in 0..PASSES {
            if !self.erase_pass(account, &mut removed).await? {
                break;
            }
        }
        Ok(removed)
    }

    #[instrument(skip(self, now))]
    async fn purge_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<Removed, StoreError> {
        // The soft delete first: it leaves the cap once, and from then on the subscription
        // takes no delivery, so its history only shrinks.
        self.delete_subscription(account, id, now).await?;
        let mut removed = Removed::default();
        let attempts_prefix = format!("ATT#{id}#");
        let attempts = self.keys_of(account_pk(account), &attempts_prefix, &[]).await?;
        let id_text = id.to_string();
        let failures: Vec<Item> = self
            .keys_of(account_pk(account), "FAIL#", &["subscription_id"])
            .await?
            .into_iter()
            .filter(|item| Reader(item).opt_s("subscription_id") == Some(id_text.as_str()))
            .collect();
        let heads = self.keys_of(account_pk(account), &super::order::fifo_prefix(id), &[]).await?;
        removed.attempts = attempts.len() as u64;
        removed.failures = failures.len() as u64;
        removed.fifo_heads = heads.len() as u64;
        self.delete_keys(attempts).await?;
        self.delete_keys(failures.iter().map(key_of).collect()).await?;
        self.delete_keys(heads).await?;
        if self.delete_returning(key(rate_pk(account), super::pacing::pace_sk(id))).await?.is_some() {
            removed.rate_limit_counters = 1;
        }
        if self.delete_returning(subscription_key(account, id)).await?.is_some() {
            removed.subscriptions = 1;
        }
        // An attempt in flight when the soft delete landed logs itself after it.
        let late = self.keys_of(account_pk(account), &attempts_prefix, &[]).await?;
        removed.attempts += late.len() as u64;
        self.delete_keys(late).await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_key_the_adapter_writes_has_a_kind() {
        assert_eq!(kind_of("ACCOUNT"), Kind::Account);
        assert_eq!(kind_of("TOKEN#01J9Z"), Kind::TokenReference);
        assert_eq!(kind_of("CHANNEL#dom_1"), Kind::Channel);
        assert_eq!(kind_of("SUB#0190"), Kind::Subscription);
        assert_eq!(kind_of("EVENT#evt_1"), Kind::Event);
        assert_eq!(kind_of("FAIL#0190"), Kind::Failure);
        assert_eq!(kind_of("ATT#0190#1780000000#0#0"), Kind::Attempt);
        assert_eq!(kind_of("FIFO#0190.ab12"), Kind::FifoHead);
        assert_eq!(kind_of("SOMETHING#new"), Kind::Unknown);
    }

    #[test]
    fn a_deleted_key_is_only_the_key() {
        let mut item = key("ACCOUNT#a".to_owned(), "TOKEN#t");
        item.insert("token_hash".to_owned(), super::super::s("abc"));
        assert_eq!(key_of(&item), key("ACCOUNT#a".to_owned(), "TOKEN#t"));
    }
}
