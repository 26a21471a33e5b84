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

    async fn delete_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        if sub.disabled_reason == Some(DisabledReason::Deleted) {
            return Ok(());
        }
        let was_active = sub.is_active;
        sub.is_active = false;
        sub.disabled_reason = Some(DisabledReason::Deleted);
        sub.disabled_at = Some(now);
        sub.updated_at = now;
        if was_active {
            let row = state.account_mut(account)?;
            row.active_subscriptions = row.active_subscriptions.saturating_sub(1);
        }
        Ok(())
    }

    async fn reactivate_subscription(
        &self,
        account: AccountId,
        id: SubscriptionId,
        seen_disabled_at: Option<Timestamp>,
        cap: ActiveCap,
        now: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get(&(account, id)).ok_or(StoreError::NotFound)?;
        if sub.is_active || sub.disabled_at != seen_disabled_at {
            return Err(StoreError::Conflict);
        }
        let row = state.account_mut(account)?;
        if row.active_subscriptions >= cap.0 {
            return Err(StoreError::LimitReached);
        }
        row.active_subscriptions += 1;
        let sub = state.subscriptions.get_mut(&(account, id)).ok_or(StoreError::NotFound)?;
        sub.is_active = true;
        sub.disabled_reason = None;
        sub.disabled_at = None;
        sub.consecutive_failures = 0;
        sub.updated_at = now;
        let sub = sub.clone();
        state.exhausted_events.remove(&(account, id));
        Ok(sub)
    }

    async fn routable_subscriptions(&self, account: AccountId) -> Result<Vec<Subscription>, StoreError> {
        let state = self.lock();
        Ok(state
            .subscriptions
            .range((account, SubscriptionId::MIN)..=(account, SubscriptionId::MAX))
            .map(|(_, sub)| sub)
            .filter(|sub| sub.disabled_reason != Some(DisabledReason::Deleted))
            .cloned()
            .collect())
    }

    async fn record_delivery(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        at: Timestamp,
        error: Option<&Reason>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let sub = state.subscriptions.get_mut(&(account, subscription)).ok_or(StoreError::NotFound)?;
        if sub.last_delivery_at.is_some_and(|last| last > at) {
            return Ok(());
        }
        sub.last_delivery_at = Some(at);
        match error {
            None => {
                sub.last_success_at = Some(at);
                sub.consecutive_failures = 0;
                state.exhausted_events.remove(&(account, subscription));
            }
            Some(reason) => sub.last_error = Some(reason.to_string()),
        }
        Ok(())
    }

    async fn record_exhausted(
        &self,
        account: AccountId,
        subscription: SubscriptionId,
        event_id: &str,
        reason: &Reason,
        at: Timestamp,
        disable_after: u32,
    ) -> Result<Exhausted, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let sub = state.subscriptions.get_mut(&(account, subscription)).ok_or(StoreError::NotFound)?;
        let counted = state.exhausted_events.entry((account, subscription)).or_default();
        if sub.is_active && sub.consecutive_failures < disable_after && counted.insert(event_id.to_owned()) {
            sub.consecutive_failures += 1;
            sub.last_error = Some(reason.to_string());
            sub.last_delivery_at = Some(at);
        }
        let disabled_now = sub.is_active && sub.consecutive_failures >= disable_after;
        if disabled_now {
            sub.is_active = false;
            sub.disabled_reason = Some(DisabledReason::AutoDisabled);
            sub.disabled_at = Some(at);
            sub.updated_at = at;
        }
        let subscription = sub.clone();
        if disabled_now {
            let row = guard.account_mut(account)?;
            row.active_subscriptions = row.active_subscriptions.saturating_sub(1);
        }
        Ok(Exhausted { subscription, disabled_now })
    }
}
