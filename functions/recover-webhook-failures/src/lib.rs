//! `POST /api/v4/tasks/webhook_failures/recover`: retrigger every inactive failure of the
//! account created in a range (optionally of one subscription), at most 10,000 per call —
//! for the customer who fixed an endpoint after an outage. 202 `{"retriggered": N}`.
//! Failures of deleted subscriptions are left as they are. When the store or the queue
//! will not take every record now, 503: the same request again retriggers the rest (those
//! already retriggered are pending, so none is sent twice).

use std::collections::HashSet;

use futures::StreamExt;
use hookpost_delivery::retrigger::start_retrigger;
use hookpost_domain::failure::{FailureQuery, FailureStatus, RECOVER_LIMIT};
use hookpost_domain::input::Fields;
use hookpost_domain::{ApiError, SubscriptionId};
use hookpost_http::parse::json_body_or_empty;
use hookpost_http::{routes, App, Reply};
use hookpost_store::StoreError;
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// Conditional writes and sends in flight at once.
const CONCURRENCY: usize = 32;

/// The range and subscription to recover; an empty body means every inactive failure.
pub fn parse_body(req: &Request) -> Result<FailureQuery, ApiError> {
    let mut fields = Fields::from_value(json_body_or_empty(req)?)?;
    fields.refuse_null(&["created_at[gte]", "created_at[lt]", "webhook_id"]);
    let created_gte = fields.opt_timestamp("created_at[gte]");
    let created_lt = fields.opt_timestamp("created_at[lt]");
    let raw = fields.opt_string("webhook_id");
    let subscription = fields.parsed("webhook_id", raw, SubscriptionId::parse, "must be a webhook subscription id");
    fields.finish()?;
    Ok(FailureQuery {
        created_gte,
        created_lt,
        statuses: vec![FailureStatus::Inactive],
        subscription,
        limit: u32::try_from(RECOVER_LIMIT).unwrap_or(u32::MAX),
        offset: 0,
    })
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::RECOVER_WEBHOOK_FAILURES, req, |caller| async move {
        let query = parse_body(req)?;
        let queue = app.queue()?;
        if query.selects_nothing() {
            return Reply::json(202, &json!({"retriggered": 0}));
        }
        let candidates = app.store.query_failures(caller.account_id, &query).await?.items;
        // One read of the subscriptions that take events: a failure of any other one (deleted,
        // or gone) is not retriggered.
        let live: HashSet<SubscriptionId> =
            app.store.routable_subscriptions(caller.account_id).await?.iter().map(|s| s.id).collect();
        let now = app.clock.now();
        let account = caller.account_id;
        let ids: Vec<hookpost_domain::FailureId> =
            candidates.iter().filter(|f| live.contains(&f.subscription_id)).map(|f| f.id).collect();
        let store = std::sync::Arc::clone(&app.store);
        let outcomes: Vec<Result<bool, ApiError>> = futures::stream::iter(ids)
            .map(move |id| {
                let (store, queue) = (std::sync::Arc::clone(&store), std::sync::Arc::clone(&queue));
                async move {
                    // The same conditional write as one retrigger: a record retriggered
                    // meanwhile (or gone) is skipped, never sent twice.
                    let pending = match store.retrigger_failure(account, id, now).await {
                        Ok(pending) => pending,
                        Err(StoreError::Conflict) => return Ok(false),
                        Err(err) => return Err(ApiError::from(err)),
                    };
                    start_retrigger(store.as_ref(), queue.as_ref(), &pending, now)
                        .await
                        .map(|()| true)
                        .map_err(|_| ApiError::Unavailable)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let retriggered = outcomes.iter().filter(|o| matches!(o, Ok(true))).count();
        // Some could not be retriggered now: the caller sends the same request again, and
        // the records retriggered by this one are pending, so they are not sent twice.
        if let Some(Err(err)) = outcomes.into_iter().find(Result::is_err) {
            tracing::warn!(retriggered, "recover stopped short: the store or the queue would not take every record");
            return Err(err);
        }
        Reply::json(202, &json!({"retriggered": retriggered}))
    })
    .await
}
