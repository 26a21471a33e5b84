//! The attempt log, newest first.

use super::*;

#[async_trait]
impl AttemptStore for MemoryStore {
    async fn record_attempt(&self, attempt: &Attempt, expires_at: Timestamp) -> Result<(), StoreError> {
        let key = (attempt.account_id, attempt.subscription_id, attempt.attempted_at, attempt.log_key);
        let mut state = self.lock();
        if !state.subscriptions.contains_key(&(attempt.account_id, attempt.subscription_id)) {
            return Err(StoreError::NotFound);
        }
        state.attempts.insert(key, attempt.clone());
        state.expire(Expiring::Attempt(key), expires_at, attempt.attempted_at);
        Ok(())
    }

    async fn list_attempts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Attempt>, StoreError> {
        let state = self.lock();
        let low = (account, subscription, Timestamp::from_unix(i64::MIN), AttemptKey { nanos: 0, nonce: 0 });
        let high =
            (account, subscription, Timestamp::from_unix(i64::MAX), AttemptKey { nanos: u64::MAX, nonce: u32::MAX });
        let newest_first: Vec<Attempt> = state.attempts.range(low..=high).rev().map(|(_, a)| a.clone()).collect();
        Ok(page_of(newest_first, limit, offset))
    }
}
