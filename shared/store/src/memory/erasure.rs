//! Erasure under the store's one lock.

use super::*;

#[async_trait]
impl ErasureStore for MemoryStore {
    async fn erase_account(&self, account: AccountId) -> Result<Removed, StoreError> {
        let mut state = self.lock();
        let mut removed =
            Removed { account: u64::from(state.accounts.remove(&account).is_some()), ..Removed::default() };
        let mine = |owner: &AccountId| *owner == account;
        let hashes: Vec<String> =
            state.token_hashes.iter().filter(|((owner, _), _)| mine(owner)).map(|(_, hash)| hash.clone()).collect();
        state.token_hashes.retain(|(owner, _), _| !mine(owner));
        for hash in hashes {
            match state.tokens.remove(&hash).map(|token| token.kind) {
                Some(TokenKind::Pat) => removed.tokens += 1,
                Some(TokenKind::PortalSession | TokenKind::PortalLink) => removed.portal_sessions += 1,
                None => {}
            }
        }
        removed.channels = drain_count(&mut state.channels, |(owner, _)| mine(owner));
        removed.subscriptions = drain_count_ordered(&mut state.subscriptions, |(owner, _)| mine(owner));
        removed.events = drain_count(&mut state.events, |(owner, _)| mine(owner));
        removed.failures = drain_count_ordered(&mut state.failures, |(owner, _)| mine(owner));
        removed.attempts = drain_count_ordered(&mut state.attempts, |(owner, ..)| mine(owner));
        removed.rate_limit_counters = drain_count(&mut state.rate_counters, |(owner, _)| mine(owner));
        removed.usage_counters = drain_count_ordered(&mut state.usage, |(owner, _)| mine(owner));
        removed.rate_limit_counters += drain_count(&mut state.pacing, |(owner, _)| mine(owner));
        removed.fifo_heads = drain_count(&mut state.fifo_heads, |(owner, _)| mine(owner));
        state.exhausted_events.retain(|(owner, _), _| !mine(owner));
        Ok(removed)
    }

    async fn purge_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<Removed, StoreError> {
        // The soft delete first, as the DynamoDB adapter does: the cap is released once.
        self.delete_subscription(account, id, now).await?;
        let mut state = self.lock();
        let mut removed = Removed {
            subscriptions: u64::from(state.subscriptions.remove(&(account, id)).is_some()),
            ..Removed::default()
        };
        removed.attempts = drain_count_ordered(&mut state.attempts, |(owner, sub, ..)| *owner == account && *sub == id);
        let failures_before = state.failures.len();
        state.failures.retain(|(owner, _), failure| !(*owner == account && failure.subscription_id == id));
        removed.failures = (failures_before - state.failures.len()) as u64;
        removed.rate_limit_counters = u64::from(state.pacing.remove(&(account, id)).is_some());
        let groups = id.to_string();
        removed.fifo_heads =
            drain_count(&mut state.fifo_heads, |(owner, group)| *owner == account && group.starts_with(&groups));
        state.exhausted_events.remove(&(account, id));
        Ok(removed)
    }
}

/// Removes the entries whose key `doomed` picks, and counts them.
fn drain_count<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, doomed: impl Fn(&K) -> bool) -> u64 {
    let before = map.len();
    map.retain(|k, _| !doomed(k));
    (before - map.len()) as u64
}

fn drain_count_ordered<K: Ord, V>(map: &mut BTreeMap<K, V>, doomed: impl Fn(&K) -> bool) -> u64 {
    let before = map.len();
    map.retain(|k, _| !doomed(k));
    (before - map.len()) as u64
}
