//! Accounts (with their active-subscription counter) and channels: `ACCOUNT#<id>`.

use super::*;

pub(super) fn account_item(account: &Account) -> Item {
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

pub(super) fn account_from(item: &Item) -> Result<Account, StoreError> {
    let r = Reader(item);
    Ok(Account {
        id: r.parsed("id", AccountId::parse)?,
        name: r.s("name")?.to_owned(),
        plan: r.parsed("plan", Plan::parse)?,
        created_at: r.ts("created_at")?,
    })
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
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid_request)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            // With the account, or not at all: erasure deletes the account item first.
            self.account_exists_check(channel.account_id)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(failed) if failed.get(1).copied().unwrap_or(false) => Err(StoreError::NotFound),
            Err(_) => Err(StoreError::AlreadyExists),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::test_support::{sk, T};

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
}
