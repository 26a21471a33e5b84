//! `DELETE /internal/v1/accounts/{id}` (operator): erases the account and everything it owns
//! — tokens, portal sessions, channels, subscriptions, events, attempts, failure records,
//! rate-limit counters — and answers 200 with what this call removed. Safe to call again
//! (after a timeout, say): a call finishes what an interrupted one left, and an account with
//! nothing left answers zeros. Deliveries still queued for it find no subscription and stop.

use hookpost_http::parse::account_id;
use hookpost_http::{routes, App, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::ERASE_ACCOUNT, &req, async {
        let id = account_id(&req)?;
        let removed = app.eraser()?.erase_account(id).await?;
        tracing::warn!(
            operator_event = "account_erased",
            account_id = %id,
            removed = removed.total(),
            subscriptions = removed.subscriptions,
            events = removed.events,
            attempts = removed.attempts,
            failures = removed.failures,
            "account {id} erased: {} items removed",
            removed.total()
        );
        Reply::json(200, &json!({"account_id": id, "removed": removed}))
    })
    .await
}
