//! `POST /internal/v1/accounts/{id}/tokens` (operator): `{scopes, user_id?, expires_in_days?}`
//! → 201 with the token in plaintext, this once. Only its SHA-256 is stored.

use hookpost_domain::input::Fields;
use hookpost_domain::token::{
    generate_pat, hash_pat, read_scopes, validate_user_id, Token, TokenKind, MAX_EXPIRES_IN_DAYS,
};
use hookpost_domain::TokenId;
use hookpost_http::parse::{account_id, json_body};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::ISSUE_TOKEN, &req, async {
        let account = account_id(&req)?;
        let mut fields = Fields::from_value(json_body(&req)?)?;
        let scopes = read_scopes(&mut fields);
        if scopes.is_none() && !fields.has_issues() {
            fields.issue("scopes", "is required");
        }
        let scopes = scopes.unwrap_or_default();
        let user_id = fields.opt_string("user_id");
        if let Some(Err(msg)) = user_id.as_deref().map(validate_user_id) {
            fields.issue("user_id", msg);
        }
        let expires_in_days = fields.opt_u32("expires_in_days");
        if expires_in_days.is_some_and(|d| d == 0 || d > MAX_EXPIRES_IN_DAYS) {
            fields.issue("expires_in_days", format!("must be from 1 to {MAX_EXPIRES_IN_DAYS}"));
        }
        fields.finish()?;
        let now = app.clock.now();
        let plaintext = generate_pat();
        let token = Token {
            id: TokenId::new(),
            kind: TokenKind::Pat,
            account_id: account,
            token_hash: hash_pat(&plaintext),
            scopes,
            user_id,
            expires_at: expires_in_days.map(|d| now.plus_days(i64::from(d))),
            revoked: false,
            created_at: now,
        };
        // Written with the account or not at all (an erasure racing it wins).
        app.store.put_token(&token).await.or_not_found("account")?;
        Reply::json(
            201,
            &json!({
                "id": token.id,
                "token": plaintext,
                "scopes": token.scopes,
                "user_id": token.user_id,
                "expires_at": token.expires_at,
                "created_at": token.created_at,
            }),
        )
    })
    .await
}
