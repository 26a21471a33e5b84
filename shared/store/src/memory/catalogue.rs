//! The event-type catalogue.

use hookpost_domain::event_type::{EventType, EventTypeInput};

use super::*;
use crate::CatalogueStore;

#[async_trait]
impl CatalogueStore for MemoryStore {
    async fn put_event_type(
        &self,
        name: &str,
        input: &EventTypeInput,
        now: Timestamp,
    ) -> Result<(EventType, bool), StoreError> {
        let mut state = self.lock();
        let created_at = state.event_types.get(name).map(|existing| existing.created_at);
        let stored = input.clone().into_event_type(name, created_at.unwrap_or(now), now);
        state.event_types.insert(name.to_owned(), stored.clone());
        Ok((stored, created_at.is_none()))
    }

    async fn get_event_type(&self, name: &str) -> Result<Option<EventType>, StoreError> {
        Ok(self.lock().event_types.get(name).cloned())
    }

    async fn delete_event_type(&self, name: &str) -> Result<(), StoreError> {
        self.lock().event_types.remove(name).map(|_| ()).ok_or(StoreError::NotFound)
    }

    async fn list_event_types(&self) -> Result<Vec<EventType>, StoreError> {
        Ok(self.lock().event_types.values().cloned().collect())
    }
}
