//! Tokens by hash, and each account's references to them.

use super::*;

#[async_trait]
impl TokenStore for MemoryStore {
    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.accounts.contains_key(&token.account_id) {
            return Err(StoreError::NotFound);
        }
        if state.tokens.contains_key(&token.token_hash) {
            return Err(StoreError::AlreadyExists);
        }
        state.token_hashes.insert((token.account_id, token.id), token.token_hash.clone());
        state.tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.lock().tokens.get(token_hash).cloned())
    }

    async fn revoke_token(&self, account: AccountId, id: TokenId) -> Result<(), StoreError> {
        let mut state = self.lock();
        let hash = state.token_hashes.get(&(account, id)).cloned().ok_or(StoreError::NotFound)?;
        let token = state.tokens.get_mut(&hash).ok_or(StoreError::NotFound)?;
        token.revoked = true;
        Ok(())
    }

    async fn redeem_portal_link(&self, link_hash: &str, session: &Token, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock();
        let openable = state.tokens.get(link_hash).is_some_and(|link| {
            link.kind == TokenKind::PortalLink
                && link.is_usable(now)
                && (link.account_id, link.id) == (session.account_id, session.id)
        });
        if !openable || !state.accounts.contains_key(&session.account_id) {
            return Err(StoreError::NotFound);
        }
        if state.tokens.contains_key(&session.token_hash) {
            return Err(StoreError::AlreadyExists);
        }
        state.tokens.remove(link_hash);
        state.token_hashes.insert((session.account_id, session.id), session.token_hash.clone());
        state.tokens.insert(session.token_hash.clone(), session.clone());
        Ok(())
    }
}
