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
        let raw = fields.required_string("channel_id");
        let channel_id = fields.parsed("channel_id", raw, ChannelId::parse, ChannelId::EXPECTED);
        let raw = fields.required_string("channel_type");
        let channel_type = fields.parsed(
            "channel_type",
            raw,
            ChannelType::parse,
            format!("must be one of {}", ChannelType::choices()),
        );
        fields.finish()?;
        let (Some(channel_id), Some(channel_type)) = (channel_id, channel_type) else {
            return Err(ApiError::Internal);
        };
        let channel = Channel { account_id: account, channel_id, channel_type, created_at: app.clock.now() };
        match app.store.create_channel(&channel).await {
            Ok(()) => {
                Reply::json(201, &json!({"channel_id": channel.channel_id, "channel_type": channel.channel_type}))
            }
            // Written with the account or not at all (an erasure racing it wins).
            Err(StoreError::NotFound) => Err(ApiError::NotFound("account")),
            Err(StoreError::AlreadyExists) => {
                Err(ApiError::InvalidState(format!("channel {} already exists on this account", channel.channel_id)))
            }
            Err(err) => Err(err.into()),
        }
    })
    .await
}
