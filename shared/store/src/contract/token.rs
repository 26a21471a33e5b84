//! Tokens.

use super::*;

pub async fn tokens_are_found_by_hash_and_revoked_by_owner<S: AccountStore + TokenStore>(store: &S) {
    let acc = account(store).await;
    let other = account(store).await;
    let pat = generate_pat();
    let token = Token {
        id: TokenId::new(),
        kind: TokenKind::Pat,
        account_id: acc.id,
        token_hash: hash_pat(&pat),
        scopes: vec![Scope::WebhooksRead, Scope::WebhooksManage],
        user_id: Some("user_9".into()),
        expires_at: Some(NOW.plus_days(30)),
        revoked: false,
        created_at: NOW,
    };
    store.put_token(&token).await.unwrap();
    assert_eq!(store.get_token_by_hash(&hash_pat(&pat)).await.unwrap(), Some(token.clone()));
    assert_eq!(store.get_token_by_hash(&hash_pat("other")).await.unwrap(), None);

    assert!(matches!(store.revoke_token(other.id, token.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.revoke_token(acc.id, TokenId::new()).await, Err(StoreError::NotFound)));
    store.revoke_token(acc.id, token.id).await.unwrap();
    store.revoke_token(acc.id, token.id).await.unwrap();
    assert!(store.get_token_by_hash(&token.token_hash).await.unwrap().unwrap().revoked);

    let bare = Token {
        id: TokenId::new(),
        token_hash: hash_pat(&generate_pat()),
        user_id: None,
        expires_at: None,
        ..token.clone()
    };
    store.put_token(&bare).await.unwrap();
    assert_eq!(store.get_token_by_hash(&bare.token_hash).await.unwrap(), Some(bare));

    let session = Token {
        id: TokenId::new(),
        kind: TokenKind::PortalSession,
        token_hash: hash_pat(&generate(TokenKind::PortalSession)),
        expires_at: Some(NOW.plus_seconds(3600)),
        ..token
    };
    store.put_token(&session).await.unwrap();
    assert_eq!(store.get_token_by_hash(&session.token_hash).await.unwrap(), Some(session.clone()));
    store.revoke_token(acc.id, session.id).await.unwrap();
    assert!(store.get_token_by_hash(&session.token_hash).await.unwrap().unwrap().revoked);
}
