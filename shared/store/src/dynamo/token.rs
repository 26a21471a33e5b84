//! Tokens under their hash (`TOKEN#<sha256>`), with a reference in the account's partition
//! for revocation and erasure.

use super::*;

pub(super) fn token_item(token: &Token) -> Item {
    let mut item = key(format!("TOKEN#{}", token.token_hash), "TOKEN");
    item.extend([
        ("kind".to_owned(), s("token")),
        ("token_kind".to_owned(), s(token.kind.as_str())),
        ("id".to_owned(), s(token.id.to_string())),
        ("account_id".to_owned(), s(token.account_id.to_string())),
        ("token_hash".to_owned(), s(&token.token_hash)),
        ("scopes".to_owned(), AttributeValue::L(token.scopes.iter().map(|sc| s(sc.as_str())).collect())),
        ("revoked".to_owned(), AttributeValue::Bool(token.revoked)),
        ("created_at".to_owned(), n(token.created_at.unix())),
    ]);
    if let Some(user) = &token.user_id {
        item.insert("user_id".to_owned(), s(user));
    }
    if let Some(exp) = token.expires_at {
        item.insert("token_expires_at".to_owned(), n(exp.unix()));
    }
    if let Some(removable) = token.removable_at() {
        item.insert(TTL_ATTRIBUTE.to_owned(), n(removable.unix()));
    }
    item
}

/// The token's entry in its account's partition (revocation and erasure find it there),
/// deleted by the table's TTL with the token.
pub(super) fn token_reference(token: &Token) -> Item {
    let mut reference = key(account_pk(token.account_id), format!("TOKEN#{}", token.id));
    reference.insert("token_hash".to_owned(), s(&token.token_hash));
    reference.insert("kind".to_owned(), s("token_ref"));
    if let Some(removable) = token.removable_at() {
        reference.insert(TTL_ATTRIBUTE.to_owned(), n(removable.unix()));
    }
    reference
}

pub(super) fn token_from(item: &Item) -> Result<Token, StoreError> {
    let r = Reader(item);
    let scopes = r
        .strings("scopes")?
        .iter()
        .map(|sc| Scope::parse(sc).ok_or_else(|| corrupt("scopes")))
        .collect::<Result<_, _>>()?;
    Ok(Token {
        id: r.parsed("id", TokenId::parse)?,
        // Tokens written before portal sessions existed have no `token_kind`: they are PATs.
        kind: match r.opt_s("token_kind") {
            None => TokenKind::Pat,
            Some(kind) => TokenKind::parse(kind).ok_or_else(|| corrupt("token_kind"))?,
        },
        account_id: r.parsed("account_id", AccountId::parse)?,
        token_hash: r.s("token_hash")?.to_owned(),
        scopes,
        user_id: r.opt_s("user_id").map(str::to_owned),
        expires_at: r.opt_ts("token_expires_at")?,
        revoked: r.bool("revoked")?,
        created_at: r.ts("created_at")?,
    })
}

#[async_trait]
impl TokenStore for DynamoStore {
    #[instrument(skip_all, fields(account = %token.account_id, token = %token.id))]
    async fn put_token(&self, token: &Token) -> Result<(), StoreError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(invalid_request)
        };
        let items = vec![
            TransactWriteItem::builder().put(put(token_item(token))?).build(),
            TransactWriteItem::builder().put(put(token_reference(token))?).build(),
            // With the account, or not at all: erasure deletes the account item first.
            self.account_exists_check(token.account_id)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(failed) if failed.get(2).copied().unwrap_or(false) => Err(StoreError::NotFound),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    #[instrument(skip_all)]
    async fn get_token_by_hash(&self, token_hash: &str) -> Result<Option<Token>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("TOKEN#{token_hash}"), "TOKEN")))
            .send()
            .await
            .map_err(backend)?;
        out.item.as_ref().map(token_from).transpose()
    }

    #[instrument(skip(self))]
    async fn revoke_token(&self, account: AccountId, id: TokenId) -> Result<(), StoreError> {
        // A portal link opened between reading the reference and the update has moved to
        // its session's hash: read the reference again (an open happens once, so twice is
        // enough).
        for _ in 0..2 {
            let reference =
                self.get_item(key(account_pk(account), format!("TOKEN#{id}"))).await?.ok_or(StoreError::NotFound)?;
            let hash = Reader(&reference).s("token_hash")?.to_owned();
            let mut e = Expr::default();
            e.set("revoked", AttributeValue::Bool(true));
            if self.update(key(format!("TOKEN#{hash}"), "TOKEN"), &e, Some("attribute_exists(pk)")).await?.is_some() {
                return Ok(());
            }
        }
        Err(StoreError::NotFound)
    }

    #[instrument(skip_all, fields(account = %session.account_id, token = %session.id))]
    async fn redeem_portal_link(&self, link_hash: &str, session: &Token, now: Timestamp) -> Result<(), StoreError> {
        let link_key = key(format!("TOKEN#{link_hash}"), "TOKEN");
        let delete_link = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(link_key))
            .condition_expression(
                "#kind = :link AND #revoked = :unrevoked AND #account = :account AND #id = :id AND #expires > :now",
            )
            .expression_attribute_names("#kind", "token_kind")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#expires", "token_expires_at")
            .expression_attribute_values(":link", s(TokenKind::PortalLink.as_str()))
            .expression_attribute_values(":unrevoked", AttributeValue::Bool(false))
            .expression_attribute_values(":account", s(session.account_id.to_string()))
            .expression_attribute_values(":id", s(session.id.to_string()))
            .expression_attribute_values(":now", n(now.unix()))
            .build()
            .map_err(invalid_request)?;
        let put_session = Put::builder()
            .table_name(&self.table)
            .set_item(Some(token_item(session)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid_request)?;
        let mut reference = Expr::default();
        reference.set("token_hash", s(&session.token_hash));
        // Only from this link: a reference already moved means another open won.
        let still_the_link = format!("{} = {}", reference.name("token_hash"), reference.value(s(link_hash)));
        let move_reference = reference.transact_update(
            &self.table,
            key(account_pk(session.account_id), format!("TOKEN#{}", session.id)),
            &still_the_link,
        )?;
        let items = vec![
            TransactWriteItem::builder().delete(delete_link).build(),
            TransactWriteItem::builder().put(put_session).build(),
            move_reference,
            self.account_exists_check(session.account_id)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(failed) if failed.get(1).copied().unwrap_or(false) => Err(StoreError::AlreadyExists),
            Err(_) => Err(StoreError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::test_support::T;

    #[test]
    fn a_token_round_trips_under_its_hash() {
        let token = Token {
            id: TokenId::new(),
            kind: TokenKind::PortalSession,
            account_id: AccountId::new(),
            token_hash: "ab".repeat(32),
            scopes: vec![Scope::WebhooksRead, Scope::WebhooksManage],
            user_id: Some("user_1".into()),
            expires_at: Some(T.plus_days(3)),
            revoked: true,
            created_at: T,
        };
        let item = token_item(&token);
        assert_eq!(Reader(&item).s("pk").unwrap(), format!("TOKEN#{}", token.token_hash));
        assert_eq!(token_from(&item).unwrap(), token);
        let bare = Token { kind: TokenKind::Pat, user_id: None, expires_at: None, revoked: false, ..token };
        assert_eq!(token_from(&token_item(&bare)).unwrap(), bare);
        let mut before_sessions = token_item(&bare);
        before_sessions.remove("token_kind");
        assert_eq!(token_from(&before_sessions).unwrap(), bare);
    }

    #[test]
    fn an_expiring_token_and_its_reference_are_left_to_the_ttl_a_day_after_it_expires() {
        let session = Token {
            id: TokenId::new(),
            kind: TokenKind::PortalSession,
            account_id: AccountId::new(),
            token_hash: "cd".repeat(32),
            scopes: vec![Scope::WebhooksRead],
            user_id: None,
            expires_at: Some(T.plus_seconds(3600)),
            revoked: false,
            created_at: T,
        };
        let removable = n(T.plus_seconds(3600).plus_days(1).unix());
        assert_eq!(token_item(&session).get(TTL_ATTRIBUTE), Some(&removable));
        assert_eq!(token_reference(&session).get(TTL_ATTRIBUTE), Some(&removable));
        let pat = Token { kind: TokenKind::Pat, expires_at: None, ..session };
        assert_eq!(token_item(&pat).get(TTL_ATTRIBUTE), None, "a token that does not expire stays");
        assert_eq!(token_reference(&pat).get(TTL_ATTRIBUTE), None);
    }
}
