//! Usage counters by account and hour.

use super::*;

#[async_trait]
impl UsageStore for MemoryStore {
    async fn add_usage(
        &self,
        account: AccountId,
        hour: Timestamp,
        usage: &Usage,
        _expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        // One counter per account and hour: small enough to keep for the process's life.
        let mut state = self.lock();
        if !state.accounts.contains_key(&account) {
            return Err(StoreError::NotFound);
        }
        *state.usage.entry((account, hour)).or_default() += *usage;
        Ok(())
    }

    async fn usage_between(
        &self,
        account: AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, Usage)>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let state = self.lock();
        Ok(state.usage.range((account, from)..(account, to)).map(|((_, hour), usage)| (*hour, *usage)).collect())
    }
}
