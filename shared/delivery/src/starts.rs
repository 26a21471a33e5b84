//! Starts under a subscription's rate limit for a process's long-lived workers, taken from
//! the store together: while one take for a subscription is on its way, the workers that
//! ask meanwhile wait, and the next take asks for all of them at once. A subscription then
//! costs one write per round trip to the store however many workers deliver to it, and the
//! workers of one process never race each other for the limiter (a race costs a refused
//! conditional write). A batch's worker takes its batch's starts at once instead
//! ([`crate::worker::BatchStarts`]).

use std::collections::HashMap;
use std::sync::Mutex;

use hookpost_domain::pacing::RateLimit;
use hookpost_domain::{AccountId, Clock, SubscriptionId};
use hookpost_store::{DeliveryControlStore, StoreError};
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<i64, String>>;

#[derive(Default)]
struct Round {
    /// A take is on its way for this subscription.
    taking: bool,
    /// Who asked since it left.
    waiting: Vec<Waiter>,
}

/// A process's takes of starts, merged per subscription.
#[derive(Default)]
pub struct Starts {
    rounds: Mutex<HashMap<SubscriptionId, Round>>,
}

impl Starts {
    fn rounds(&self) -> std::sync::MutexGuard<'_, HashMap<SubscriptionId, Round>> {
        self.rounds.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One start under `limit` for a delivery to `subscription`.
    pub async fn take(
        &self,
        store: &dyn DeliveryControlStore,
        clock: &dyn Clock,
        account: AccountId,
        subscription: SubscriptionId,
        limit: RateLimit,
    ) -> Result<i64, StoreError> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut rounds = self.rounds();
            let round = rounds.entry(subscription).or_default();
            round.waiting.push(tx);
            !std::mem::replace(&mut round.taking, true)
        };
        if lead {
            // Should this task be dropped while it leads, those waiting are told (their
            // senders dropped) and the next to ask leads again.
            let guard = Abandon { starts: self, subscription };
            // Takes for everyone waiting, round after round, until a round finds nobody.
            loop {
                let waiting = {
                    let mut rounds = self.rounds();
                    let Some(round) = rounds.get_mut(&subscription) else { break };
                    if round.waiting.is_empty() {
                        rounds.remove(&subscription);
                        break;
                    }
                    std::mem::take(&mut round.waiting)
                };
                let wanted = u32::try_from(waiting.len()).unwrap_or(u32::MAX);
                let taken =
                    store.reserve_starts(account, subscription, limit.pacing(), clock.now_micros(), wanted, None).await;
                match taken {
                    Ok(starts) => {
                        for (waiter, start) in waiting.into_iter().zip(starts) {
                            let _ = waiter.send(Ok(start));
                        }
                    }
                    Err(err) => {
                        let text = err.to_string();
                        for waiter in waiting {
                            let _ = waiter.send(Err(text.clone()));
                        }
                    }
                }
            }
            std::mem::forget(guard);
        }
        match rx.await {
            Ok(Ok(start)) => Ok(start),
            Ok(Err(text)) => Err(StoreError::Unavailable(text)),
            Err(_) => Err(StoreError::Backend("the limiter granted no start".to_owned())),
        }
    }
}

/// Ends a leader's rounds when it is dropped before it finished them.
struct Abandon<'a> {
    starts: &'a Starts,
    subscription: SubscriptionId,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        self.starts.rounds().remove(&self.subscription);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hookpost_domain::SystemClock;
    use hookpost_store::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn concurrent_takes_share_writes_and_each_get_a_start_of_their_own() {
        let store: Arc<dyn DeliveryControlStore> = Arc::new(MemoryStore::new());
        let starts = Arc::new(Starts::default());
        let limit = RateLimit::new(1000).unwrap();
        let (account, sub) = (AccountId::new(), SubscriptionId::new());
        let takes = (0..50).map(|_| {
            let (store, starts) = (Arc::clone(&store), Arc::clone(&starts));
            tokio::spawn(async move { starts.take(store.as_ref(), &SystemClock, account, sub, limit).await })
        });
        let mut got: Vec<i64> = Vec::new();
        for take in takes {
            got.push(take.await.unwrap().unwrap());
        }
        // Fifty starts of one limiter: the burst (most at one instant), then one a millisecond.
        got.sort_unstable();
        let spread = got.last().unwrap() - got[0];
        assert!(spread < 200_000, "{spread} µs");
        assert!(starts.rounds().is_empty(), "no round is left open");
    }
}
