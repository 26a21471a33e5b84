//! Usage counted while a publish request, a delivery batch or a dead-letter batch is
//! worked, and written once at its end: one addition per account to the counter of the
//! hour, not one per delivery (`hookpost_domain::usage`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use hookpost_domain::usage::{hour_of, Usage, RETENTION_DAYS};
use hookpost_domain::{AccountId, Timestamp};
use hookpost_store::{Store, StoreError};

/// What the work since the last [`UsageTally::flush`] used, by account.
#[derive(Debug, Default)]
pub struct UsageTally {
    counted: Mutex<BTreeMap<AccountId, Usage>>,
}

impl UsageTally {
    pub fn add(&self, account: AccountId, usage: Usage) {
        // A poisoned lock only means a panic elsewhere mid-addition: the counts are still sums.
        let mut counted = self.counted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *counted.entry(account).or_default() += usage;
    }

    fn take(&self) -> BTreeMap<AccountId, Usage> {
        std::mem::take(&mut *self.counted.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Adds what was counted to each account's counter of the hour `now` falls in, and
    /// starts again from nothing. Counting never fails the work it counts: an addition the
    /// store refuses is logged (`operator_event = usage_not_counted`) and left out.
    pub async fn flush(&self, store: &dyn Store, now: Timestamp) {
        let counted = self.take();
        if counted.is_empty() {
            return;
        }
        let hour = hour_of(now);
        let expires_at = hour.plus_days(RETENTION_DAYS);
        let added = futures::future::join_all(
            counted.iter().map(|(account, usage)| store.add_usage(*account, hour, usage, expires_at)),
        )
        .await;
        for ((account, usage), result) in counted.iter().zip(added) {
            match result {
                Ok(()) => {}
                // Erased while its work was counted: nothing of it is kept.
                Err(StoreError::NotFound) => {
                    tracing::debug!(account_id = %account, "usage of an erased account dropped")
                }
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
