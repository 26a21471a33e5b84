//! Events, until their retention ends.

use super::*;

#[async_trait]
impl EventStore for MemoryStore {
    async fn put_event(&self, event: &Event, expires_at: Timestamp) -> Result<Option<Event>, StoreError> {
        let mut state = self.lock();
        let key = (event.account_id, event.event_id.clone());
        if let Some(existing) = state.events.get(&key) {
            return Ok(Some(existing.clone()));
        }
        state.events.insert(key.clone(), event.clone());
        state.expire(Expiring::Event(key), expires_at, event.created_at);
        Ok(None)
    }

    async fn mark_fanned_out(&self, account: AccountId, event_id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let event = state.events.get_mut(&(account, event_id.to_owned())).ok_or(StoreError::NotFound)?;
        event.fanned_out = true;
        Ok(())
    }

    async fn get_event(&self, account: AccountId, event_id: &str) -> Result<Option<Event>, StoreError> {
        Ok(self.lock().events.get(&(account, event_id.to_owned())).cloned())
    }
}
