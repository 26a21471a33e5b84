//! `POST /api/v1/webhook-subscriptions/{id}/test`: one signed `webhook.test` delivery, now,
//! through the same guarded sender as every delivery. The outcome is returned and logged in
//! the attempt log marked as a test; no counter or timestamp of the subscription changes.
//!
//! A test counts toward the subscription's rate limit (SPEC §10): it takes a start from the
//! limiter like any delivery and waits for it, up to [`TEST_MAX_WAIT`]; an endpoint whose
//! limit is taken for longer answers 429 `rate_limited` with `Retry-After`, taking nothing.

use std::time::Duration;

use hookpost_delivery::worker::build_request;
use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::event::{new_event_id, Event};
use hookpost_domain::ApiError;
use hookpost_http::parse::{no_body, subscription_id, SUBSCRIPTION};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub const TEST_EVENT: &str = "webhook.test";
/// The longest a test waits for its turn under the endpoint's rate limit: with the sender's
/// 15 s, within API Gateway's 29 s.
pub const TEST_MAX_WAIT: Duration = Duration::from_secs(10);

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::TEST_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let id = subscription_id(req)?;
        no_body(req)?;
        let sub = app.live_subscription(caller.account_id, id).await?;
        if let Some(limit) = sub.rate_limit {
            let now_us = app.clock.now_micros();
            let wait_us = i64::try_from(TEST_MAX_WAIT.as_micros()).unwrap_or(i64::MAX);
            let control = app.delivery_control()?;
            let starts =
                control.reserve_starts(sub.account_id, sub.id, limit.pacing(), now_us, 1, Some(wait_us)).await?;
            let start = starts.first().copied().ok_or(ApiError::EndpointBusy(TEST_MAX_WAIT.as_secs()))?;
            let wait = u64::try_from(start - app.clock.now_micros()).unwrap_or(0);
            tokio::time::sleep(Duration::from_micros(wait)).await;
        }
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
