//! `POST /api/v4/tasks/webhook_failures/{webhook_failure_id}/retrigger`: only an inactive
//! record, as one conditional write (of concurrent retriggers exactly one gets 200, the
//! others 409 `invalid_state`); 409 `subscription_deleted` when its subscription is gone.
//! One attempt is enqueued at once; its outcome resolves the record or returns it to
//! inactive with the new reason.

use hookpost_delivery::retrigger::start_retrigger;
use hookpost_domain::failure::{FailureStatus, RetriggerOutcome};
use hookpost_domain::{ApiError, Reason};
use hookpost_http::parse::{failure_id, no_body, FAILURE};
use hookpost_http::{routes, App, Found, Keyed, Reply};
use hookpost_store::StoreError;
use lambda_http::{Body, Request, Response};

fn not_retriggerable(status: FailureStatus) -> ApiError {
    ApiError::InvalidState(format!("the webhook failure is {status}; only an inactive failure can be retriggered"))
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::RETRIGGER_WEBHOOK_FAILURE, req, |caller| async move {
        let id = failure_id(req)?;
        no_body(req)?;
        let queue = app.queue()?;
        let now = app.clock.now();
        // The conditional write decides first (no read before it): a DynamoDB call fewer on
        // every retrigger. Only a refusal reads the record: is it there, and in which state?
        let pending = match app.store.retrigger_failure(caller.account_id, id, now).await {
            Ok(pending) => pending,
            Err(StoreError::Conflict) => {
                let failure = app.store.get_failure(caller.account_id, id).await.found(FAILURE)?;
                return Err(not_retriggerable(failure.status));
            }
            Err(err) => return Err(err.into()),
        };
        // A subscription gone altogether is as deleted as a soft-deleted one: the record goes
        // back to inactive with that reason, as a retrigger's attempt would have left it.
        match app.live_subscription(caller.account_id, pending.subscription_id).await {
            Err(ApiError::NotFound(_)) => {
                let deleted = RetriggerOutcome::Failed(Reason::SubscriptionDeleted);
                app.store.settle_failure(caller.account_id, id, &deleted, now).await?;
                return Err(ApiError::SubscriptionDeleted);
            }
            other => other?,
        };
        if start_retrigger(app.store.as_ref(), queue.as_ref(), &pending, now).await.is_err() {
            return Err(ApiError::Unavailable);
        }
        Reply::json(200, &Keyed("webhook_failure", &pending.view()))
    })
    .await
}
