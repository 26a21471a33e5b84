//! The sweeper: a failure record left `pending` for 15 minutes without an outcome (its
//! retrigger task was lost) returns to `inactive` with reason `retrigger_lost`, so the
//! customer can retrigger it again. Runs in-process in hookpost-local and on a schedule in
//! AWS.

use hookpost_domain::failure::{RetriggerOutcome, PENDING_TIMEOUT_SECS};
use hookpost_domain::{Reason, Timestamp};
use hookpost_store::{FailureStore, StoreError};

/// Records returned per run at most; a larger backlog is taken by the next runs.
pub const SWEEP_BATCH: u32 = 1000;

/// Returns the lost retriggers to inactive; how many it returned.
pub async fn return_lost_retriggers(store: &dyn FailureStore, now: Timestamp) -> Result<usize, StoreError> {
    let stuck = store.stuck_pending_failures(now.plus_seconds(-PENDING_TIMEOUT_SECS), SWEEP_BATCH).await?;
    let lost = RetriggerOutcome::Failed(Reason::RetriggerLost);
    let mut returned = 0;
    for failure in stuck {
        // Conditional on still pending: an outcome that arrives first wins.
        if store.settle_failure(failure.account_id, failure.id, &lost, now).await?.is_some() {
            tracing::warn!(account_id = %failure.account_id, failure_id = %failure.id, "retrigger lost; record returned to inactive");
            returned += 1;
        }
    }
    Ok(returned)
}

#[cfg(test)]
mod tests {
    use hookpost_domain::failure::{Failure, FailureStatus};
    use hookpost_domain::{Account, AccountId, Plan, SubscriptionId};
    use hookpost_store::{AccountStore, MemoryStore};

    use super::*;

    #[tokio::test]
    async fn only_records_pending_past_the_timeout_return() {
        let store = MemoryStore::new();
        let t0 = Timestamp::from_unix(1_780_000_000);
        let account = Account { id: AccountId::new(), name: "a".into(), plan: Plan::Pro, created_at: t0 };
        store.create_account(&account).await.unwrap();
        let old = Failure::inactive(account.id, "e1", "x", SubscriptionId::new(), "n", Reason::Timeout, t0, t0);
        let fresh = Failure::inactive(account.id, "e2", "x", SubscriptionId::new(), "n", Reason::Timeout, t0, t0);
        for f in [&old, &fresh] {
            store.put_failure(f).await.unwrap();
        }
        store.retrigger_failure(account.id, old.id, t0).await.unwrap();
        store.retrigger_failure(account.id, fresh.id, t0.plus_seconds(600)).await.unwrap();
        let now = t0.plus_seconds(PENDING_TIMEOUT_SECS + 1);
        assert_eq!(return_lost_retriggers(&store, now).await.unwrap(), 1);
        let swept = store.get_failure(account.id, old.id).await.unwrap().unwrap();
        assert_eq!((swept.status, swept.reason), (FailureStatus::Inactive, Some(Reason::RetriggerLost)));
        assert_eq!(store.get_failure(account.id, fresh.id).await.unwrap().unwrap().status, FailureStatus::Pending);
        assert_eq!(return_lost_retriggers(&store, now).await.unwrap(), 0);
    }
}
