//! Failure records and their state machine.

use super::*;

#[async_trait]
impl FailureStore for MemoryStore {
    async fn put_failure(&self, failure: &Failure) -> Result<(), StoreError> {
        self.lock().failures.entry((failure.account_id, failure.id)).or_insert_with(|| failure.clone());
        Ok(())
    }

    async fn get_failure(&self, account: AccountId, id: FailureId) -> Result<Option<Failure>, StoreError> {
        Ok(self.lock().failures.get(&(account, id)).cloned())
    }

    async fn list_failures(&self, account: AccountId) -> Result<Vec<Failure>, StoreError> {
        let state = self.lock();
        Ok(state
            .failures
            .range((account, FailureId::MIN)..=(account, FailureId::MAX))
            .rev()
            .map(|(_, f)| f.clone())
            .collect())
    }

    async fn query_failures(&self, account: AccountId, query: &FailureQuery) -> Result<Page<Failure>, StoreError> {
        let state = self.lock();
        let (low, high) = query.id_range();
        let selected: Vec<Failure> = state
            .failures
            .range((account, low)..=(account, high))
            .rev()
            .map(|(_, f)| f)
            .filter(|f| query.matches(f))
            .cloned()
            .collect();
        Ok(page_of(selected, query.limit, query.offset))
    }

    async fn retrigger_failure(
        &self,
        account: AccountId,
        id: FailureId,
        now: Timestamp,
    ) -> Result<Failure, StoreError> {
        match self.change_failure(account, id, &FailureChange::retrigger(now), now) {
            Ok(Some(pending)) => Ok(pending),
            Ok(None) | Err(StoreError::NotFound) => Err(StoreError::Conflict),
            Err(err) => Err(err),
        }
    }

    async fn settle_failure(
        &self,
        account: AccountId,
        id: FailureId,
        outcome: &RetriggerOutcome,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError> {
        match self.change_failure(account, id, &FailureChange::settle(outcome, now), now) {
            Err(StoreError::NotFound) => Ok(None),
            other => other,
        }
    }

    async fn stuck_pending_failures(&self, before: Timestamp, limit: u32) -> Result<Vec<Failure>, StoreError> {
        let state = self.lock();
        Ok(state
            .failures
            .values()
            .filter(|f| f.pending_since().is_some_and(|since| since < before))
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

impl MemoryStore {
    /// Applies a transition the domain decided: `None` when the record is not in the status
    /// it requires.
    fn change_failure(
        &self,
        account: AccountId,
        id: FailureId,
        change: &FailureChange,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError> {
        let mut state = self.lock();
        let failure = state.failures.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        if change.apply(failure).is_err() {
            return Ok(None);
        }
        let changed = failure.clone();
        if let Some(expires_at) = change.expires_at {
            state.expire(Expiring::ResolvedFailure((account, id)), expires_at, now);
        }
        Ok(Some(changed))
    }
}
