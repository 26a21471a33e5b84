//! Usage counted while a publish request, a delivery batch or a dead-letter batch is
//! worked, and written once at its end: one addition per account to the counter of the
//! hour, not one per delivery (`hookpost_domain::usage`).

use std::sync::Mutex;

use hookpost_domain::usage::{hour_of, Usage, RETENTION_DAYS};
use hookpost_domain::{AccountId, Timestamp};
use hookpost_store::{Store, StoreError};

/// What the work since the last [`UsageTally::flush`] used, by account. A list, not a map: a
/// request or batch rarely spans more than a few accounts (and every publish function's zip
/// stays within its 3 MB budget).
#[derive(Debug, Default)]
pub struct UsageTally {
    counted: Mutex<Vec<(AccountId, Usage)>>,
}

impl UsageTally {
    pub fn add(&self, account: AccountId, usage: Usage) {
        // A poisoned lock only means a panic elsewhere mid-addition: the counts are still sums.
        let mut counted = self.counted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match counted.iter_mut().find(|(a, _)| *a == account) {
            Some((_, sum)) => *sum += usage,
            None => counted.push((account, usage)),
        }
    }

    fn take(&self) -> Vec<(AccountId, Usage)> {
        std::mem::take(&mut *self.counted.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Adds what was counted to each account's counter of the hour `now` falls in, and
    /// starts again from nothing. Counting never fails the work it counts: an addition the
    /// store refuses is logged (`operator_event = usage_not_counted`) and left out.
    pub async fn flush(&self, store: &dyn Store, now: Timestamp) {
        let hour = hour_of(now);
        let expires_at = hour.plus_days(RETENTION_DAYS);
        // One account after the other: a batch's deliveries are out already, and a few
        // milliseconds per account cost less than the code to run them together.
        for (account, usage) in self.take() {
            match store.add_usage(account, hour, &usage, expires_at).await {
                // Erased while its work was counted: nothing of it is kept.
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(err) => tracing::warn!(
                    operator_event = "usage_not_counted",
                    error = %err,
                    account_id = %account,
                    events_published = usage.events_published,
                    attempts = usage.attempts,
                    "usage counters not updated; this usage is left out of the account's figures"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hookpost_domain::{Account, Plan};
    use hookpost_store::memory::MemoryStore;
    use hookpost_store::{AccountStore, UsageStore};

    use super::*;

    async fn account(store: &MemoryStore) -> AccountId {
        let account =
            Account { id: AccountId::new(), name: "Acme".into(), plan: Plan::Pro, created_at: Timestamp::from_unix(0) };
        store.create_account(&account).await.unwrap();
        account.id
    }

    #[tokio::test]
    async fn a_flush_adds_each_accounts_sum_once_and_starts_again() {
        let store = MemoryStore::new();
        let tally = UsageTally::default();
        let (a, b) = (account(&store).await, account(&store).await);
        // An erased account's usage is dropped; the others' still count.
        tally.add(AccountId::new(), Usage { attempts: 1, ..Usage::default() });
        let delivered = Usage { deliveries: 1, attempts: 1, bytes_delivered: 100, ..Usage::default() };
        tally.add(a, delivered);
        tally.add(a, delivered);
        tally.add(b, Usage { events_published: 3, ..Usage::default() });
        let now = Timestamp::from_unix(10 * 3_600 + 59);
        tally.flush(&store, now).await;
        tally.flush(&store, now).await;
        let hour = Timestamp::from_unix(10 * 3_600);
        let until = hour.plus_seconds(3_600);
        let a_used = store.usage_between(a, hour, until).await.unwrap();
        assert_eq!(
            a_used,
            vec![(hour, Usage { deliveries: 2, attempts: 2, bytes_delivered: 200, ..Usage::default() })]
        );
        assert_eq!(store.usage_between(b, hour, until).await.unwrap()[0].1.events_published, 3);
    }
}
