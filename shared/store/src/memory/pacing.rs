//! Each subscription's delivery rate limiter, under the store's one lock.

use hookpost_domain::pacing::Pacing;

use super::*;
use crate::PacingStore;

#[async_trait]
impl PacingStore for MemoryStore {
    async fn reserve_starts(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        pacing: Pacing,
        now_us: i64,
        n: u32,
        max_wait_us: Option<i64>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut state = self.lock();
        let tat = state.pacing.get(&(account, subscription)).copied();
        let take = max_wait_us.map_or(n, |wait| n.min(pacing.cells_within(tat, now_us, wait)));
        if take == 0 {
            return Ok(Vec::new());
        }
        let reservation = pacing.reserve(tat, now_us, take);
        state.pacing.insert((account, subscription), reservation.new_tat);
        Ok(reservation.starts)
    }
}
