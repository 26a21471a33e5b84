//! Subscriptions, their cap and their delivery fields in memory.

use super::*;

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn create_subscription(&self, sub: &Subscription, cap: ActiveCap) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (sub.account_id, sub.id);
        if state.subscriptions.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        let row = state.account_mut(sub.account_id)?;
        if row.active_subscriptions >= cap.0 {
            return Err(StoreError::LimitReached);
        }
        row.active_subscriptions += 1;
        state.subscriptions.insert(key, sub.clone());
        Ok(())
    }

    async fn get_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        Ok(self.lock().subscriptions.get(&(account, id)).cloned())
    }

    async fn list_subscriptions(
        &self,
        account: AccountId,
        filter: SubscriptionFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Subscription>, StoreError> {
        let state = self.lock();
        let matching: Vec<Subscription> = state
            .subscriptions
            .range((account, SubscriptionId::MIN)..=(account, SubscriptionId::MAX))
            .rev()
            .map(|(_, sub)| sub)
            .filter(|sub| filter.matches(sub))
            .cloned()
            .collect();
        Ok(page_of(matching, limit, offset))
    }

    async fn update_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        patch: &SubscriptionPatch,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        patch.clone().apply(sub, now);
        Ok(sub.clone())
    }

    async fn rotate_secret(
        &self,
        account: AccountId,
        id: SubscriptionId,
        new_secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        let old = std::mem::replace(&mut sub.secret, new_secret.to_owned());
        sub.previous_secret = Some((old, previous_until));
        sub.updated_at = now;
        Ok(sub.clone())
    }

    async fn change_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        change: &SubscriptionChange,
        cap: ActiveCap,
    ) -> Result<Applied, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let sub = state.subscriptions.get(&(account, id)).ok_or(StoreError::NotFound)?;
        let no_events = BTreeSet::new();
        let counted = state.exhausted_events.get(&(account, id)).unwrap_or(&no_events);
        if !change.holds(sub, counted) {
            return Ok(Applied::Refused(sub.clone()));
        }
        let delta = change.active_delta();
        let row = state.account_mut(account)?;
        if delta > 0 && row.active_subscriptions >= cap.0 {
            return Err(StoreError::LimitReached);
        }
        row.active_subscriptions = row.active_subscriptions.saturating_add_signed(delta as i32);
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        let counted = state.exhausted_events.entry((account, id)).or_default();
        change.apply(sub, counted);
        if counted.is_empty() {
            state.exhausted_events.remove(&(account, id));
        }
        Ok(Applied::Changed(sub.clone()))
    }

    async fn routable_subscriptions(&self, account: AccountId) -> Result<Vec<Subscription>, StoreError> {
        let state = self.lock();
        Ok(state
            .subscriptions
            .range((account, SubscriptionId::MIN)..=(account, SubscriptionId::MAX))
            .map(|(_, sub)| sub)
            .filter(|sub| sub.state.takes_events())
            .cloned()
            .collect())
    }
}
