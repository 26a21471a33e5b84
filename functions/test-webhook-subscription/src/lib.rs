//! `POST /api/v1/webhook-subscriptions/{id}/test`: one signed `webhook.test` delivery, now,
//! through the same guarded sender as every delivery. The outcome is returned and logged in
//! the attempt log marked as a test; no counter or timestamp of the subscription changes.

use hookpost_delivery::worker::build_request;
use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::event::{new_event_id, Event};
use hookpost_domain::ApiError;
use hookpost_http::parse::{no_body, subscription_id, SUBSCRIPTION};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub const TEST_EVENT: &str = "webhook.test";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::TEST_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let id = subscription_id(req)?;
        no_body(req)?;
        let sub = app.live_subscription(caller.account_id, id).await?;
        let now = app.clock.now();
        let event = Event {
            account_id: sub.account_id,
            event_id: new_event_id(),
            event_type: TEST_EVENT.to_owned(),
            channel_id: sub.channel_id.clone(),
            data: json!({"message": "a test delivery from hookpost", "subscription_id": sub.id}).to_string(),
            created_at: now,
            subscriptions: 1,
            fanned_out: true,
        };
        let request = build_request(&sub, &event, now).map_err(|e| {
            tracing::error!(error = %e, "cannot build the test delivery");
            ApiError::Internal
        })?;
        let report = app.sender()?.send(&request).await;
        let attempt = Attempt {
            account_id: sub.account_id,
            subscription_id: sub.id,
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            attempt: 1,
            status_code: report.outcome.status_code(),
            reason: report.outcome.reason(),
            duration_ms: report.duration_ms,
            response_excerpt: report.response_excerpt.clone(),
            test: true,
            attempted_at: now,
            log_key: AttemptKey::now(),
        };
        // Purged while the test was on its way: the log keeps nothing of it, and the caller
        // learns the subscription is gone.
        app.store
            .record_attempt(&attempt, now.plus_days(i64::from(app.config.attempt_retention_days)))
            .await
            .or_not_found(SUBSCRIPTION)?;
        Reply::json(
            200,
            &json!({
                "success": report.outcome.is_success(),
                "status_code": attempt.status_code,
                "duration_ms": report.duration_ms,
                "reason": attempt.reason,
            }),
        )
    })
    .await
}
