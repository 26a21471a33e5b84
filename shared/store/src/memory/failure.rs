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
        let mut state = self.lock();
        let failure = state.failures.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        failure.status = failure.status.retrigger().map_err(|_| StoreError::Conflict)?;
        failure.reason = None;
        failure.last_attempt_at = now;
        failure.updated_at = now;
        Ok(failure.clone())
    }

    async fn settle_failure(
        &self,
        account: AccountId,
        id: FailureId,
        outcome: &RetriggerOutcome,
        now: Timestamp,
    ) -> Result<Option<Failure>, StoreError> {
        let mut state = self.lock();
        let Some(failure) = state.failures.get_mut(&(account, id)) else {
            return Ok(None);
        };
        let Ok(next) = failure.status.settle(outcome) else {
            return Ok(None);
        };
        failure.status = next;
        failure.reason = match outcome {
            RetriggerOutcome::Delivered => None,
            RetriggerOutcome::Failed(reason) => Some(reason.clone()),
        };
        failure.updated_at = now;
        let settled = failure.clone();
        if settled.status == FailureStatus::Resolved {
            let expires_at = now.plus_days(hookpost_domain::failure::RESOLVED_RETENTION_DAYS);
            state.expire(Expiring::ResolvedFailure((account, id)), expires_at, now);
        }
        Ok(Some(settled))
    }

    async fn stuck_pending_failures(&self, before: Timestamp, limit: u32) -> Result<Vec<Failure>, StoreError> {
        let state = self.lock();
        Ok(state
            .failures
            .values()
            .filter(|f| f.status == FailureStatus::Pending && f.updated_at < before)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}
