//! Publishing: the single and batch publish routes (`publish-event`) and the ingest queue's
//! consumer (`ingest-events`) share it, built from the app's ports the way [`Worker`] is
//! (`App::publisher`).
//!
//! An event is stored once per `event_id` (a repeat returns the same answer and creates no
//! deliveries), then fanned out: one delivery task per active subscription that wants it, and
//! a `subscription_disabled` failure record for each auto-disabled one, so nothing is
//! silently dropped. An event is durable — answered as published — only once every task is
//! on the queue and every record written; when the queue or the store cannot take it, the
//! answer is `unavailable`, and a repeat with the same `event_id` finishes what was started
//! without duplicating a record (their ids derive from the event).
//!
//! [`Worker`]: crate::Worker

use std::sync::Arc;
use std::time::Duration;

use hookpost_domain::delivery::{is_carried, DeliveryTask};
use hookpost_domain::event::{
    fan_out, new_event_id, parse_publish_checked, stored_at_publish, Event, FanOut, Matching, PublishRequest,
    MAX_EVENT_BYTES,
};
use hookpost_domain::event_type::Catalogue;
use hookpost_domain::failure::Failure;
use hookpost_domain::subscription::Subscription;
use hookpost_domain::usage::Usage;
use hookpost_domain::{AccountId, ApiError, Clock};
use hookpost_store::Store;
use serde::Serialize;
use serde_json::Value;

use crate::operator::OperatorEvents;
use crate::queue::Queue;
use crate::usage::UsageTally;

/// What publishing needs: the store, the delivery queue (`None` where the wiring gave none:
/// each event that would queue tasks is then a logged 500), the clock, the first attempt's
/// delay, the events' retention, the usage tally and where failure records are told.
pub struct Publisher {
    pub store: Arc<dyn Store>,
    pub queue: Option<Arc<dyn Queue>>,
    pub clock: Arc<dyn Clock>,
    pub first_delay: Duration,
    pub event_retention_days: u32,
    pub usage: Arc<UsageTally>,
    pub operator_events: Arc<dyn OperatorEvents>,
}

/// One event to publish, as read, and the id to give it when its publisher chose none.
pub struct Incoming {
    pub publish: Result<PublishRequest, ApiError>,
    /// Instead of a new id: a queue message's own (a redelivered message keeps it, so its
    /// deliveries go out again under the same `webhook-id`). The event is still treated as
    /// one whose id nobody chose: not stored for idempotency.
    pub id_if_none: Option<String>,
}

/// What publishing one event answers.
#[derive(Debug, Serialize)]
pub struct Published {
    pub event_id: String,
    pub subscriptions: u32,
}

/// One event of a batch or of the ingest queue, held to the single publish's rules, its
/// size and its type's schema included.
pub fn parse_event(event: Value, catalogue: &Catalogue) -> Result<PublishRequest, ApiError> {
    if event.to_string().len() > MAX_EVENT_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    parse_publish_checked(event, catalogue)
}

/// Each account's routable subscriptions (or why there are none to read).
type Routables = Vec<(AccountId, Result<Vec<Subscription>, ApiError>)>;

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

impl Publisher {
    /// Publishes one event: its account's routable subscriptions read, its tasks queued
    /// together.
    pub async fn publish_one(&self, publish: PublishRequest) -> Result<Published, ApiError> {
        let routable = self.routable(publish.account_id).await?;
        match self.prepare(publish, None, &routable).await? {
            Prepared::Done(published) => Ok(published),
            Prepared::Ready(ready) => {
                self.queue()?.enqueue_all(&ready.tasks, self.first_delay).await.map_err(|e| {
                    tracing::warn!(error = %e, event_id = %ready.event.event_id, "the delivery queue refused a fan-out");
                    ApiError::Unavailable
                })?;
                Ok(self.finish(ready.event, ready.chosen_id).await)
            }
        }
    }

    /// Publishes `incoming` events, each by the single publish's rules and on its own, and
    /// answers each in order: what a batch publish answers, and what the ingest queue's
    /// consumer acts on. An account's routable subscriptions are read once.
    pub async fn publish_many(&self, incoming: Vec<Incoming>) -> Vec<Result<Published, ApiError>> {
        let mut accounts: Vec<AccountId> =
            incoming.iter().filter_map(|i| i.publish.as_ref().ok().map(|p| p.account_id)).collect();
        accounts.sort_unstable();
        accounts.dedup();
        // A batch rarely spans many accounts: one read each, in turn (and a list, not a map:
        // each publish function's zip stays within its budget).
        let mut routables: Routables = Vec::with_capacity(accounts.len());
        for account in accounts {
            routables.push((account, self.routable(account).await));
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
        let firsts = self.publish_together(firsts.into_iter().map(|(i, _)| i).collect(), &routables).await;
        let later = self.publish_together(later.into_iter().map(|(i, _)| i).collect(), &routables).await;
        let (mut firsts, mut later) = (firsts.into_iter(), later.into_iter());
        repeats.iter().filter_map(|repeat| if *repeat { later.next() } else { firsts.next() }).collect()
    }

    fn queue(&self) -> Result<&Arc<dyn Queue>, ApiError> {
        self.queue.as_ref().ok_or_else(|| {
            tracing::error!("this function has no delivery queue (HOOKPOST_QUEUE_URL)");
            ApiError::Internal
        })
    }

    /// The account's routable subscriptions; 404 for an unknown account. Subscriptions exist
    /// only under an existing account: the account is read only when there are none, to tell
    /// an unknown account from one with nobody listening.
    async fn routable(&self, account: AccountId) -> Result<Vec<Subscription>, ApiError> {
        let routable = self.store.routable_subscriptions(account).await?;
        if routable.is_empty() && self.store.get_account(account).await?.is_none() {
            return Err(ApiError::NotFound("account"));
        }
        Ok(routable)
    }

    /// Events of a batch, published together: each prepared on its own (in turn: most need
    /// no I/O there, only a chosen id, a large event or a `subscription_disabled` record
    /// writes, and joining them concurrently would push the zip past its budget), then every
    /// task of every ready event queued in as few requests as the queue allows (ten to an SQS
    /// batch, across events), then each event answered by its own tasks: durable when all of
    /// them are queued, `unavailable` otherwise.
    async fn publish_together(
        &self,
        incoming: Vec<Incoming>,
        routables: &Routables,
    ) -> Vec<Result<Published, ApiError>> {
        let mut prepared = Vec::with_capacity(incoming.len());
        for Incoming { publish, id_if_none } in incoming {
            prepared.push(match publish {
                Err(err) => Err(err),
                Ok(publish) => match routables.iter().find(|(account, _)| *account == publish.account_id) {
                    Some((_, Ok(routable))) => self.prepare(publish, id_if_none, routable).await,
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
        let queue = self.queue();
        let mut queued = match &queue {
            Ok(queue) => queue.enqueue_each(&tasks, self.first_delay).await.into_iter(),
            Err(_) => Vec::new().into_iter(),
        };
        let mut outcomes = Vec::with_capacity(prepared.len());
        for prepared in prepared {
            outcomes.push(match prepared {
                Ok(Prepared::Ready(_)) if queue.is_err() => Err(ApiError::Internal),
                Ok(Prepared::Ready(ready)) => {
                    let refused = queued.by_ref().take(ready.tasks.len()).filter_map(Result::err).last();
                    match refused {
                        None => Ok(self.finish(ready.event, ready.chosen_id).await),
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

    /// Everything of one event's publish before its tasks are queued: the event stored when
    /// the rule says so, the `subscription_disabled` records written, the tasks made.
    async fn prepare(
        &self,
        publish: PublishRequest,
        id_if_none: Option<String>,
        routable: &[Subscription],
    ) -> Result<Prepared, ApiError> {
        let now = self.clock.now();
        // An id the caller chose can come back in a retry, so its fan-out is marked done only
        // once every task is queued. A generated id cannot: nobody holds it until the 202,
        // so the event (when it is stored at all) is stored as fanned out and the closing
        // write is saved.
        let chosen_id = publish.event_id.is_some();
        let ordering_key = publish.ordering_key.clone();
        // Type, channel and content filter (SPEC §4, §11): a subscription whose filter turns
        // the event down gets no task, no record, and is not counted.
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
            match self.store.put_event(&event, event.expires_at(self.event_retention_days)).await? {
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
            self.store.put_failure(&failure).await?;
            self.usage.add(failure.account_id, Usage { failures: 1, ..Usage::default() });
            crate::worker::failure_recorded(self.operator_events.as_ref(), &failure).await;
        }
        let tasks: Vec<DeliveryTask> = deliver
            .iter()
            .map(|sub| DeliveryTask::first_of(&stored, sub.id).ordered_by(sub.ordering, ordering_key.as_deref()))
            .collect();
        Ok(Prepared::Ready(Ready { event: stored, tasks, chosen_id }))
    }

    /// Once every task of `event` is queued: it is durable, and the answer is 202 whatever
    /// the last write does. Were it refused, a 503 would invite a repeat that sends every
    /// delivery again; left undone, only a repeat the caller makes anyway sends them again
    /// (same webhook-id).
    async fn finish(&self, event: Event, chosen_id: bool) -> Published {
        if chosen_id {
            if let Err(err) = self.store.mark_fanned_out(event.account_id, &event.event_id).await {
                tracing::warn!(error = %err, event_id = %event.event_id, "could not mark the event fanned out");
            }
        }
        crate::metrics::published();
        self.usage.add(event.account_id, Usage { events_published: 1, ..Usage::default() });
        Published { event_id: event.event_id, subscriptions: event.subscriptions }
    }
}
