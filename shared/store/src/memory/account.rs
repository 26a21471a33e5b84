//! Accounts, channels and rate-limit counters in memory.

use super::*;

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.accounts.contains_key(&account.id) {
            return Err(StoreError::AlreadyExists);
        }
        state.accounts.insert(account.id, AccountRow { account: account.clone(), active_subscriptions: 0 });
        Ok(())
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(self.lock().accounts.get(&id).map(|row| row.account.clone()))
    }

    async fn update_account(
        &self,
        id: AccountId,
        name: Option<String>,
        plan: Option<Plan>,
    ) -> Result<Account, StoreError> {
        let mut state = self.lock();
        let row = state.account_mut(id)?;
        if let Some(name) = name {
            row.account.name = name;
        }
        if let Some(plan) = plan {
            row.account.plan = plan;
        }
        Ok(row.account.clone())
    }

    async fn create_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.accounts.contains_key(&channel.account_id) {
            return Err(StoreError::NotFound);
        }
        let key = (channel.account_id, channel.channel_id.clone());
        if state.channels.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        state.channels.insert(key, channel.clone());
        Ok(())
    }

    async fn get_channel(&self, account: AccountId, channel_id: &ChannelId) -> Result<Option<Channel>, StoreError> {
        Ok(self.lock().channels.get(&(account, channel_id.clone())).cloned())
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn hit_rate_counter(&self, account: AccountId, key: &str, expires_at: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.lock();
        if state.rate_counters.len() >= RATE_COUNTERS_BEFORE_SWEEP {
            // Counters of windows that ended before this one's started are dead weight.
            let horizon = expires_at.plus_seconds(-2 * hookpost_domain::rate_limit::WINDOW_SECS);
            state.rate_counters.retain(|_, (_, exp)| *exp >= horizon);
        }
        let entry = state.rate_counters.entry((account, key.to_owned())).or_insert((0, expires_at));
        entry.0 += 1;
        Ok(entry.0)
    }
}
