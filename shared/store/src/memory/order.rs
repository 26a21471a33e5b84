//! FIFO heads, under the store's one lock, forgotten when they expire as DynamoDB's TTL
//! forgets them.

use super::*;
use crate::OrderStore;

#[async_trait]
impl OrderStore for MemoryStore {
    async fn put_fifo_head(&self, account: AccountId, group: &str, head: &FifoHead) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (account, group.to_owned());
        state.expire_later(Expiring::FifoHead(key.clone(), head.due), head.expires_at());
        state.fifo_heads.insert(key, head.clone());
        Ok(())
    }

    async fn get_fifo_head(&self, account: AccountId, group: &str) -> Result<Option<FifoHead>, StoreError> {
        Ok(self.lock().fifo_heads.get(&(account, group.to_owned())).cloned())
    }
}
