//! `POST /internal/v1/events` (operator): validate, store the event once per `event_id`
//! (a repeat returns the same 202 and creates no deliveries), then fan out: one delivery
//! task per active subscription that wants it, and a `subscription_disabled` failure record
//! for each auto-disabled one, so nothing is silently dropped.
//!
//! A 202 means durable: it is sent only once every task is on the queue and every record
//! written. When the queue or the store cannot take the event, the answer is 503
//! `unavailable` with `Retry-After`; a repeat with the same `event_id` then finishes what
//! was started, without duplicating a record (their ids derive from the event).

use std::time::Duration;

use hookpost_domain::delivery::{is_carried, DeliveryTask};
use hookpost_domain::event::{
    fan_out, new_event_id, parse_publish, stored_at_publish, wants, Event, FanOut, MAX_EVENT_BYTES,
};
use hookpost_domain::failure::Failure;
use hookpost_domain::subscription::Subscription;
use hookpost_domain::ApiError;
use hookpost_http::parse::json_body;
use hookpost_http::{routes, App, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

fn body_len(req: &Request) -> usize {
    match req.body() {
        Body::Text(t) => t.len(),
        Body::Binary(b) => b.len(),
        _ => 0,
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::PUBLISH_EVENT, &req, async {
        if body_len(&req) > MAX_EVENT_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let publish = parse_publish(json_body(&req)?)?;
        let routable = app.store.routable_subscriptions(publish.account_id).await?;
        // Subscriptions exist only under an existing account: the account is read only when
        // there are none, to tell an unknown account (404) from one with nobody listening.
        if routable.is_empty() && app.store.get_account(publish.account_id).await?.is_none() {
            return Err(ApiError::NotFound("account"));
        }
        let now = app.clock.now();
        // An id the caller chose can come back in a retry, so its fan-out is marked done only
        // once every task is queued. A generated id cannot: nobody holds it until the 202,
        // so the event (when it is stored at all) is stored as fanned out and the closing
        // write is saved.
        let chosen_id = publish.event_id.is_some();
        let wanting: Vec<Subscription> =
            routable.into_iter().filter(|s| wants(s, &publish.event_type, publish.channel_id.as_ref())).collect();
        let deliver: Vec<&Subscription> = wanting.iter().filter(|s| fan_out(s) == FanOut::Deliver).collect();
        let disabled: Vec<&Subscription> = wanting.iter().filter(|s| fan_out(s) == FanOut::RecordDisabled).collect();
        let event = Event {
            account_id: publish.account_id,
            event_id: publish.event_id.unwrap_or_else(new_event_id),
            event_type: publish.event_type,
            channel_id: publish.channel_id,
            data: publish.data,
            created_at: now,
            subscriptions: u32::try_from(deliver.len()).unwrap_or(u32::MAX),
            fanned_out: !chosen_id,
        };
        let stored = if stored_at_publish(chosen_id, !disabled.is_empty(), is_carried(&event)) {
            match app.store.put_event(&event, event.expires_at(app.config.event_retention_days)).await? {
                None => event,
                Some(existing) if existing.fanned_out => {
                    return Reply::json(
                        202,
                        &json!({"event_id": existing.event_id, "subscriptions": existing.subscriptions}),
                    );
                }
                // Accepted before, but its fan-out never finished (a crash, a 503): finish it
                // now. At-least-once: a delivery may go out twice, with the same webhook-id.
                Some(existing) => existing,
            }
        } else {
            event
        };

        // The records first, the tasks last: a refusal (503) then never follows queued
        // deliveries, and a repeat finds the records it wrote (their ids derive from the event).
        for sub in disabled {
            let failure = Failure::disabled_at_publish(sub, &stored.event_id, &stored.event_type, stored.created_at);
            app.store.put_failure(&failure).await?;
            hookpost_delivery::worker::failure_recorded(app.operator_events.as_ref(), &failure).await;
        }
        let queue = app.queue()?;
        let first_delay = Duration::from_secs(u64::from(app.config.retry_schedule.delay_before(1).unwrap_or(0)));
        let tasks: Vec<DeliveryTask> = deliver.iter().map(|sub| DeliveryTask::first_of(&stored, sub.id)).collect();
        queue.enqueue_all(&tasks, first_delay).await.map_err(|e| {
            tracing::warn!(error = %e, event_id = %stored.event_id, "the delivery queue refused a fan-out");
            ApiError::Unavailable
        })?;
        // Everything is durable now: the answer is 202 whatever this last write does. Were it
        // refused, a 503 would invite a repeat that sends every delivery again; left undone,
        // only a repeat the caller makes anyway sends them again (same webhook-id).
        if chosen_id {
            if let Err(err) = app.store.mark_fanned_out(stored.account_id, &stored.event_id).await {
                tracing::warn!(error = %err, event_id = %stored.event_id, "could not mark the event fanned out");
            }
        }
        hookpost_delivery::metrics::published();
        Reply::json(202, &json!({"event_id": stored.event_id, "subscriptions": stored.subscriptions}))
    })
    .await
}
