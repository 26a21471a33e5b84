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

/// A portal link opens once: its session takes its place under the same id (the operator's
/// revocation reaches it), a second open — or a racing one — finds nothing, and a revoked,
/// expired or erased link never opens.
pub async fn portal_links_open_once<S: AccountStore + TokenStore + ErasureStore>(store: &S) {
    let acc = account(store).await;
    let link_of = |expires_at: Timestamp| Token {
        id: TokenId::new(),
        kind: TokenKind::PortalLink,
        account_id: acc.id,
        token_hash: hash_pat(&generate(TokenKind::PortalLink)),
        scopes: vec![Scope::WebhooksRead],
        user_id: Some("user_1".into()),
        expires_at: Some(expires_at),
        revoked: false,
        created_at: NOW,
    };
    let open = |link: &Token, now: Timestamp| {
        let session = Token {
            kind: TokenKind::PortalSession,
            token_hash: hash_pat(&generate(TokenKind::PortalSession)),
            created_at: now,
            ..link.clone()
        };
        (session, now)
    };

    let link = link_of(NOW.plus_seconds(3600));
    store.put_token(&link).await.unwrap();
    let (session, now) = open(&link, NOW.plus_seconds(60));
    let (rival, _) = open(&link, now);
    let (first, second) = tokio::join!(
        store.redeem_portal_link(&link.token_hash, &session, now),
        store.redeem_portal_link(&link.token_hash, &rival, now)
    );
    let winner = match (first, second) {
        (Ok(()), Err(StoreError::NotFound)) => &session,
        (Err(StoreError::NotFound), Ok(())) => &rival,
        other => panic!("two opens of one link: exactly one wins, got {other:?}"),
    };
    let loser = if std::ptr::eq(winner, &session) { &rival } else { &session };
    assert_eq!(store.get_token_by_hash(&link.token_hash).await.unwrap(), None, "the link is gone");
    assert_eq!(store.get_token_by_hash(&winner.token_hash).await.unwrap().as_ref(), Some(winner));
    assert_eq!(store.get_token_by_hash(&loser.token_hash).await.unwrap(), None, "the loser wrote nothing");
    let (again, _) = open(&link, now);
    assert!(matches!(store.redeem_portal_link(&link.token_hash, &again, now).await, Err(StoreError::NotFound)));
    store.revoke_token(acc.id, link.id).await.unwrap();
    assert!(store.get_token_by_hash(&winner.token_hash).await.unwrap().unwrap().revoked, "revoked by the link's id");

    let revoked = link_of(NOW.plus_seconds(3600));
    store.put_token(&revoked).await.unwrap();
    store.revoke_token(acc.id, revoked.id).await.unwrap();
    let (session, now) = open(&revoked, NOW);
    assert!(matches!(store.redeem_portal_link(&revoked.token_hash, &session, now).await, Err(StoreError::NotFound)));

    let expiring = link_of(NOW.plus_seconds(60));
    store.put_token(&expiring).await.unwrap();
    let (session, now) = open(&expiring, NOW.plus_seconds(60));
    assert!(matches!(store.redeem_portal_link(&expiring.token_hash, &session, now).await, Err(StoreError::NotFound)));
    assert!(
        store.get_token_by_hash(&expiring.token_hash).await.unwrap().is_some(),
        "an expired link stays for its TTL"
    );

    // A PAT is no link, whatever its hash is presented as.
    let pat = Token { kind: TokenKind::Pat, ..link_of(NOW.plus_seconds(3600)) };
    store.put_token(&pat).await.unwrap();
    let (session, now) = open(&pat, NOW);
    assert!(matches!(store.redeem_portal_link(&pat.token_hash, &session, now).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_token_by_hash(&pat.token_hash).await.unwrap().map(|t| t.kind), Some(TokenKind::Pat));

    let orphan = link_of(NOW.plus_seconds(3600));
    store.put_token(&orphan).await.unwrap();
    store.erase_account(acc.id).await.unwrap();
    let (session, now) = open(&orphan, NOW);
    assert!(matches!(store.redeem_portal_link(&orphan.token_hash, &session, now).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_token_by_hash(&session.token_hash).await.unwrap(), None);
}
