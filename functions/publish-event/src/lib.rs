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
//! subscription's content filter at fan-out (SPEC §11).

use std::time::Duration;

use hookpost_domain::delivery::{is_carried, DeliveryTask};
use hookpost_domain::error::ErrorBody;
use hookpost_domain::event::{
    fan_out, new_event_id, parse_publish_checked, stored_at_publish, Event, FanOut, Matching, PublishRequest,
    MAX_BATCH_EVENTS, MAX_EVENT_BYTES,
};
use hookpost_domain::event_type::Catalogue;
use hookpost_domain::failure::Failure;
use hookpost_domain::input::Fields;
use hookpost_domain::subscription::Subscription;
use hookpost_domain::usage::Usage;
use hookpost_domain::AccountId;
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
        let routable = routable(app, publish.account_id).await?;
        let published = match prepare(app, publish, None, &routable).await? {
            Prepared::Done(published) => published,
            Prepared::Ready(ready) => {
                app.queue()?.enqueue_all(&ready.tasks, first_delay(app)).await.map_err(|e| {
                    tracing::warn!(error = %e, event_id = %ready.event.event_id, "the delivery queue refused a fan-out");
                    ApiError::Unavailable
                })?;
                finish(app, ready.event, ready.chosen_id).await
            }
        };
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
        let outcomes = publish_many(app, incoming.collect()).await;
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

/// One event to publish, as read, and the id to give it when its publisher chose none.
pub struct Incoming {
    pub publish: Result<PublishRequest, ApiError>,
    /// Instead of a new id: a queue message's own (a redelivered message keeps it, so its
    /// deliveries go out again under the same `webhook-id`). The event is still treated as
    /// one whose id nobody chose: not stored for idempotency.
    pub id_if_none: Option<String>,
}

/// Publishes `incoming` events, each by the single publish's rules and on its own, and
/// answers each in order: what a batch publish answers, and what the ingest queue's
/// consumer acts on. An account's routable subscriptions are read once.
pub async fn publish_many(app: &App, incoming: Vec<Incoming>) -> Vec<Result<Published, ApiError>> {
    let mut accounts: Vec<AccountId> =
        incoming.iter().filter_map(|i| i.publish.as_ref().ok().map(|p| p.account_id)).collect();
    accounts.sort_unstable();
    accounts.dedup();
    // A batch rarely spans many accounts: one read each, in turn (and a list, not a map:
    // each publish function's zip stays within its 3 MB budget).
    let mut routables: Routables = Vec::with_capacity(accounts.len());
    for account in accounts {
        routables.push((account, routable(app, account).await));
    }
    // An id given twice in one batch is one event: its repeats wait for the first, and
    // then find it accepted (or try again what the first could not finish).
    let mut seen: Vec<(AccountId, &str)> = Vec::new();
    let repeats: Vec<bool> = incoming
        .iter()
        .map(|i| match &i.publish {
            Ok(PublishRequest { account_id, event_id: Some(id), .. }) => {
                let repeat = seen.contains(&(*account_id, id.as_str()));
                seen.push((*account_id, id));
                repeat
            }
            _ => false,
        })
        .collect();
    let (firsts, later): (Vec<_>, Vec<_>) =
        incoming.into_iter().zip(&repeats).map(|(i, repeat)| (i, *repeat)).partition(|(_, repeat)| !*repeat);
    let firsts = publish_together(app, firsts.into_iter().map(|(i, _)| i).collect(), &routables).await;
    let later = publish_together(app, later.into_iter().map(|(i, _)| i).collect(), &routables).await;
    let (mut firsts, mut later) = (firsts.into_iter(), later.into_iter());
    repeats.iter().filter_map(|repeat| if *repeat { later.next() } else { firsts.next() }).collect()
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

/// One event of a batch or of the ingest queue, held to the single publish's rules, its
/// size and its type's schema included.
pub fn parse_event(event: Value, catalogue: &Catalogue) -> Result<PublishRequest, ApiError> {
    if event.to_string().len() > MAX_EVENT_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    parse_publish_checked(event, catalogue)
}

/// One event's answer in a batch: its acceptance, or its error in the usual envelope.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome<'a> {
    Published(&'a Published),
    Refused(ErrorBody<'a>),
}

/// What publishing one event answers.
#[derive(Debug, Serialize)]
pub struct Published {
    pub event_id: String,
    pub subscriptions: u32,
}

/// The account's routable subscriptions; 404 for an unknown account. Subscriptions exist
/// only under an existing account: the account is read only when there are none, to tell
/// an unknown account from one with nobody listening.
async fn routable(app: &App, account: AccountId) -> Result<Vec<Subscription>, ApiError> {
    let routable = app.store.routable_subscriptions(account).await?;
    if routable.is_empty() && app.store.get_account(account).await?.is_none() {
        return Err(ApiError::NotFound("account"));
    }
    Ok(routable)
}

/// Each account's routable subscriptions (or why there are none to read).
type Routables = Vec<(AccountId, Result<Vec<Subscription>, ApiError>)>;

/// Events of a batch, published together: each prepared on its own (in turn: most need no
/// I/O there, only a chosen id, a large event or a `subscription_disabled` record writes,
/// and joining them concurrently would push the zip past its 3 MB budget), then
/// every task of every ready event queued in as few requests as the queue allows (ten to
/// an SQS batch, across events), then each event answered by its own tasks: durable when
/// all of them are queued, `unavailable` otherwise.
async fn publish_together(
    app: &App,
    incoming: Vec<Incoming>,
    routables: &Routables,
) -> Vec<Result<Published, ApiError>> {
    let mut prepared = Vec::with_capacity(incoming.len());
    for Incoming { publish, id_if_none } in incoming {
        prepared.push(match publish {
            Err(err) => Err(err),
            Ok(publish) => match routables.iter().find(|(account, _)| *account == publish.account_id) {
                Some((_, Ok(routable))) => prepare(app, publish, id_if_none, routable).await,
                Some((_, Err(err))) => Err(err.clone()),
                // Every parsed event's account was read before.
                None => Err(ApiError::Internal),
            },
        });
    }
    let tasks: Vec<DeliveryTask> = prepared
        .iter()
        .filter_map(|p| match p {
            Ok(Prepared::Ready(ready)) => Some(ready.tasks.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    // A deployment without a queue answers each ready event with the same logged 500.
    let queue = app.queue();
    let mut queued = match &queue {
        Ok(queue) => queue.enqueue_each(&tasks, first_delay(app)).await.into_iter(),
        Err(_) => Vec::new().into_iter(),
    };
    let mut outcomes = Vec::with_capacity(prepared.len());
    for prepared in prepared {
        outcomes.push(match prepared {
            Ok(Prepared::Ready(_)) if queue.is_err() => Err(ApiError::Internal),
            Ok(Prepared::Ready(ready)) => {
                let refused = queued.by_ref().take(ready.tasks.len()).filter_map(Result::err).last();
                match refused {
                    None => Ok(finish(app, ready.event, ready.chosen_id).await),
                    Some(err) => {
                        tracing::warn!(error = %err, event_id = %ready.event.event_id, "the delivery queue refused a fan-out");
                        Err(ApiError::Unavailable)
                    }
                }
            }
            Ok(Prepared::Done(published)) => Ok(published),
            Err(err) => Err(err),
        });
    }
    outcomes
}

/// An event whose tasks are all that is left to queue.
struct Ready {
    event: Event,
    tasks: Vec<DeliveryTask>,
    chosen_id: bool,
}

enum Prepared {
    /// Accepted before, its fan-out finished: the same answer again.
    Done(Published),
    Ready(Ready),
}

fn first_delay(app: &App) -> Duration {
    Duration::from_secs(u64::from(app.config.retry_schedule.delay_before(1).unwrap_or(0)))
}

/// Everything of one event's publish before its tasks are queued: the event stored when the
/// rule says so, the `subscription_disabled` records written, the tasks made.
async fn prepare(
    app: &App,
    publish: PublishRequest,
    id_if_none: Option<String>,
    routable: &[Subscription],
) -> Result<Prepared, ApiError> {
    let now = app.clock.now();
    // An id the caller chose can come back in a retry, so its fan-out is marked done only
    // once every task is queued. A generated id cannot: nobody holds it until the 202,
    // so the event (when it is stored at all) is stored as fanned out and the closing
    // write is saved.
    let chosen_id = publish.event_id.is_some();
    let ordering_key = publish.ordering_key.clone();
    // Type, channel and content filter (SPEC §4, §11): a subscription whose filter turns the
    // event down gets no task, no record, and is not counted.
    let matching = Matching::new(&publish.event_type, publish.channel_id.as_ref(), &publish.data);
    let wanting: Vec<&Subscription> = routable.iter().filter(|s| matching.wanted_by(s)).collect();
    let deliver: Vec<&Subscription> = wanting.iter().copied().filter(|s| fan_out(s) == FanOut::Deliver).collect();
    let disabled: Vec<&Subscription> =
        wanting.iter().copied().filter(|s| fan_out(s) == FanOut::RecordDisabled).collect();
    let event = Event {
        account_id: publish.account_id,
        event_id: publish.event_id.or(id_if_none).unwrap_or_else(new_event_id),
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
                return Ok(Prepared::Done(Published {
                    event_id: existing.event_id,
                    subscriptions: existing.subscriptions,
                }));
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
        app.usage.add(failure.account_id, Usage { failures: 1, ..Usage::default() });
        hookpost_delivery::worker::failure_recorded(app.operator_events.as_ref(), &failure).await;
    }
    let tasks: Vec<DeliveryTask> = deliver
        .iter()
        .map(|sub| DeliveryTask::first_of(&stored, sub.id).ordered_by(sub.ordering, ordering_key.as_deref()))
        .collect();
    Ok(Prepared::Ready(Ready { event: stored, tasks, chosen_id }))
}

/// Once every task of `event` is queued: it is durable, and the answer is 202 whatever the
/// last write does. Were it refused, a 503 would invite a repeat that sends every delivery
/// again; left undone, only a repeat the caller makes anyway sends them again (same
/// webhook-id).
async fn finish(app: &App, event: Event, chosen_id: bool) -> Published {
    if chosen_id {
        if let Err(err) = app.store.mark_fanned_out(event.account_id, &event.event_id).await {
            tracing::warn!(error = %err, event_id = %event.event_id, "could not mark the event fanned out");
        }
    }
    hookpost_delivery::metrics::published();
    app.usage.add(event.account_id, Usage { events_published: 1, ..Usage::default() });
    Published { event_id: event.event_id, subscriptions: event.subscriptions }
}
