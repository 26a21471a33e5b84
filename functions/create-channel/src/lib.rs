//! `POST /internal/v1/accounts/{id}/channels` (operator): `{channel_id, channel_type}` →
//! 201; 409 `invalid_state` when the account has that channel already.

use hookpost_domain::input::Fields;
use hookpost_domain::{ApiError, Channel, ChannelId, ChannelType};
use hookpost_http::parse::{account_id, json_body};
use hookpost_http::{routes, App, Reply};
use hookpost_store::StoreError;
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::CREATE_CHANNEL, &req, async {
        let account = account_id(&req)?;
        let mut fields = Fields::from_value(json_body(&req)?)?;
        let channel_id = fields.required_string("channel_id").and_then(|c| {
            let parsed = ChannelId::parse(&c);
            if parsed.is_none() {
                fields.issue("channel_id", "must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'");
            }
            parsed
        });
        let channel_type = fields.required_string("channel_type").and_then(|t| {
            let parsed = ChannelType::parse(&t);
            if parsed.is_none() {
                fields.issue("channel_type", format!("must be one of {}", ChannelType::choices()));
            }
            parsed
        });
        fields.finish()?;
        let (Some(channel_id), Some(channel_type)) = (channel_id, channel_type) else {
            return Err(ApiError::Internal);
        };
        if app.store.get_account(account).await?.is_none() {
            return Err(ApiError::NotFound("account"));
        }
        let channel = Channel { account_id: account, channel_id, channel_type, created_at: app.clock.now() };
        match app.store.create_channel(&channel).await {
            Ok(()) => {
                Reply::json(201, &json!({"channel_id": channel.channel_id, "channel_type": channel.channel_type}))
            }
            Err(StoreError::AlreadyExists) => {
                Err(ApiError::InvalidState(format!("channel {} already exists on this account", channel.channel_id)))
            }
            Err(err) => Err(err.into()),
        }
    })
    .await
}
