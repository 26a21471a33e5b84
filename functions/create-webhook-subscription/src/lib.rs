//! `POST /api/v1/webhook-subscriptions`: validates (its `events` against the event-type
//! catalogue, once it has types), checks the channel belongs to the account, and inserts under the active cap in one transaction. The plaintext secret is in
//! this answer and in no other.

use hookpost_domain::subscription::{parse_new_subscription, Subscription};
use hookpost_domain::ApiError;
use hookpost_http::parse::json_body;
use hookpost_http::{routes, App, Reply};
use hookpost_store::StoreError;
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::CREATE_WEBHOOK_SUBSCRIPTION, req, |caller| async move {
        let mut input = parse_new_subscription(json_body(req)?, &app.config.destinations)?;
        // Names the catalogue does not know (a typo such as `invoice.payed`) would select
        // nothing, silently (SPEC §11).
        if !input.events.is_empty() {
            app.catalogue()?.current().await?.check_subscribed(&input.events)?;
        }
        // A request that names no rate limit gets the deployment's default.
        input.rate_limit.get_or_insert(app.config.default_rate_limit);
        let channel_type = match &input.channel_id {
            None => None,
            Some(channel_id) => {
                let channel = app.store.get_channel(caller.account_id, channel_id).await?;
                Some(channel.ok_or(ApiError::InvalidChannelId)?.channel_type)
            }
        };
        let sub = Subscription::create(caller.account_id, input, channel_type, caller.user_id, app.clock.now());
        match app.store.create_subscription(&sub, app.active_cap()).await {
            Ok(()) => Reply::json(201, &sub.view_with_secret()),
            Err(StoreError::LimitReached) => Err(app.limit_reached()),
            Err(err) => Err(err.into()),
        }
    })
    .await
}
