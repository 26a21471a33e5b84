//! `POST /internal/v1/accounts/{id}/portal-sessions` (operator): `{scopes?, user_id?,
//! expires_in_minutes?}` → 201 `{id, url, token, scopes, user_id, expires_at}`. `url` is the
//! magic link the team hands its customer, `token` (`hp_pl_…`, stored as its SHA-256) in
//! its fragment. The link is single-use: the portal trades it once (`POST
//! /portal/sessions`) for a portal session (`hp_ps_…`) with the link's scopes — read-only
//! when `scopes` is only `tasks.webhooks.read` — and expiry, at most a day; the session
//! passes the authorizer's plan, scope and rate-limit gate like a PAT. `id` revokes the
//! link or the session it became through `DELETE /internal/v1/accounts/{id}/tokens/{token_id}`.

use hookpost_domain::input::Fields;
use hookpost_domain::token::{
    generate, hash_pat, read_scopes, validate_user_id, Token, TokenKind, DEFAULT_PORTAL_SESSION_MINUTES,
    MAX_PORTAL_SESSION_MINUTES,
};
use hookpost_domain::{Scope, TokenId};
use hookpost_http::parse::{account_id, json_body};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::CREATE_PORTAL_SESSION, &req, async {
        let account = account_id(&req)?;
        let body = match req.body() {
            Body::Empty => json!({}),
            _ => json_body(&req)?,
        };
        let mut fields = Fields::from_value(body)?;
        let scopes = match read_scopes(&mut fields) {
            Some(scopes) => scopes,
            None => vec![Scope::WebhooksRead, Scope::WebhooksManage],
        };
        let user_id = fields.opt_string("user_id");
        if let Some(Err(msg)) = user_id.as_deref().map(validate_user_id) {
            fields.issue("user_id", msg);
        }
        let minutes = fields.opt_u32("expires_in_minutes");
        if minutes.is_some_and(|m| m == 0 || m > MAX_PORTAL_SESSION_MINUTES) {
            fields.issue("expires_in_minutes", format!("must be from 1 to {MAX_PORTAL_SESSION_MINUTES}"));
        }
        fields.finish()?;
        let now = app.clock.now();
        let plaintext = generate(TokenKind::PortalLink);
        let minutes = minutes.unwrap_or(DEFAULT_PORTAL_SESSION_MINUTES);
        let link = Token {
            id: TokenId::new(),
            kind: TokenKind::PortalLink,
            account_id: account,
            token_hash: hash_pat(&plaintext),
            scopes,
            user_id,
            expires_at: Some(now.plus_seconds(i64::from(minutes) * 60)),
            revoked: false,
            created_at: now,
        };
        // Written with the account or not at all (an erasure racing it wins).
        app.store.put_token(&link).await.or_not_found("account")?;
        Reply::json(
            201,
            &json!({
                "id": link.id,
                "url": app.config.portal.session_url(&request_base(&req), &plaintext),
                "token": plaintext,
                "scopes": link.scopes,
                "user_id": link.user_id,
                "expires_at": link.expires_at,
            }),
        )
    })
    .await
}

/// The base URL this request reached: scheme and host as the client used them, and the
/// stage when the request came through API Gateway's own domain (whose paths begin with
/// it). Behind a custom domain, `HOOKPOST_PUBLIC_BASE_URL` says better.
fn request_base(req: &Request) -> String {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let proto = header("x-forwarded-proto").filter(|p| matches!(*p, "http" | "https")).unwrap_or("http");
    let host =
        header("host").filter(|h| !h.is_empty() && !h.contains(['/', ' ', '#', '?', '@'])).unwrap_or("localhost");
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx))
            if ctx.domain_name.as_deref().is_some_and(|d| d.contains(".execute-api.")) =>
        {
            ctx.stage.as_deref().map(|s| format!("/{s}")).unwrap_or_default()
        }
        _ => String::new(),
    };
    format!("{proto}://{host}{stage}")
}
