//! `POST /internal/v1/events` (operator): validate, store the event once per `event_id`
//! (a repeat returns the same 202 and creates no deliveries), then fan out: one delivery
//! task per active subscription that wants it, and a `subscription_disabled` failure record
//! for each auto-disabled one, so nothing is silently dropped.
//!
//! A 202 means durable: it is sent only once every task is on the queue and every record
//! written. When the queue or the store cannot take the event, the answer is 503
//! `unavailable` with `Retry-After`; a repeat with the same `event_id` then finishes what
//! was started, without duplicating a record (their ids derive from the event).
//!
//! `POST /internal/v1/events/batch` publishes up to 100 events in one request, each by the
//! same rules and on its own: `{"results": [...]}` in the request's order, each
//! `{"event_id", "subscriptions"}` (that event is durable) or an error in the SPEC's
//! envelope (that event alone was refused; repeat it, with its `event_id` if it had one).
//! An account's routable subscriptions are read once per batch.
//!
//! Every path checks `data` against its type's schema in the event-type catalogue (and,
//! with `HOOKPOST_EVENT_TYPES=strict`, refuses a type outside it), and matches each
//! subscription's content filter at fan-out (SPEC §11). This crate reads the requests; the
//! publishing itself is `hookpost_delivery::publish::Publisher`'s, shared with the ingest
//! queue's consumer.

use hookpost_delivery::publish::{parse_event, Incoming, Published};
use hookpost_domain::error::ErrorBody;
use hookpost_domain::event::{parse_publish_checked, MAX_BATCH_EVENTS, MAX_EVENT_BYTES};
use hookpost_domain::input::Fields;
use hookpost_domain::ApiError;
use hookpost_http::parse::json_body;
use hookpost_http::{routes, App, Keyed, Reply};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

fn body_len(req: &Request) -> usize {
    match req.body() {
        Body::Text(t) => t.len(),
        Body::Binary(b) => b.len(),
        _ => 0,
    }
}

/// Both routes' entry: API Gateway (and hookpost-local) name the resource they matched.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if hookpost_http::context::resource_path(&req).as_deref() == Some(routes::PUBLISH_EVENTS_BATCH.template) {
        publish_batch(app, req).await
    } else {
        publish_one(app, req).await
    }
}

async fn publish_one(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::PUBLISH_EVENT, &req, async {
        if body_len(&req) > MAX_EVENT_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let catalogue = app.catalogue()?.current().await?;
        let publish = parse_publish_checked(json_body(&req)?, &catalogue)?;
        let published = app.publisher().publish_one(publish).await?;
        app.flush_tallies().await;
        Reply::json(202, &published)
    })
    .await
}

async fn publish_batch(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::PUBLISH_EVENTS_BATCH, &req, async {
        let events = parse_batch(json_body(&req)?)?;
        let catalogue = app.catalogue()?.current().await?;
        // Each event is read on its own: one event's mistake refuses that event only.
        let incoming =
            events.into_iter().map(|event| Incoming { publish: parse_event(event, &catalogue), id_if_none: None });
        let outcomes = app.publisher().publish_many(incoming.collect()).await;
        app.flush_tallies().await;
        let results: Vec<Outcome<'_>> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(published) => Outcome::Published(published),
                Err(err) => Outcome::Refused(err.body()),
            })
            .collect();
        Reply::json(202, &Keyed("results", &results))
    })
    .await
}

/// The batch body: `{"events": [1 to 100 values]}`; what each value holds is checked per
/// event.
fn parse_batch(body: Value) -> Result<Vec<Value>, ApiError> {
    let mut fields = Fields::from_value(body)?;
    let events = match fields.take("events") {
        Some(Value::Array(events)) if (1..=MAX_BATCH_EVENTS).contains(&events.len()) => events,
        Some(Value::Array(_)) => {
            fields.issue("events", format!("must hold 1 to {MAX_BATCH_EVENTS} events"));
            Vec::new()
        }
        _ => {
            fields.issue("events", format!("is required: an array of 1 to {MAX_BATCH_EVENTS} events"));
            Vec::new()
        }
    };
    fields.finish()?;
    Ok(events)
}

/// One event's answer in a batch: its acceptance, or its error in the usual envelope.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome<'a> {
    Published(&'a Published),
    Refused(ErrorBody<'a>),
}
