//! `POST /api/v1/event-filters/test` (scope read): `{"filter", "event"}` → `{"matches"}`,
//! the matcher publishing uses (SPEC §11), so a customer can try a filter before saving it.
//! `event` is what a filter sees of an event: `{"event", "channel_id", "data"}` (any JSON
//! object is matched as given). A faulty filter is a 400 with the path of the fault.

use hookpost_domain::filter::ContentFilter;
use hookpost_domain::input::Fields;
use hookpost_domain::ApiError;
use hookpost_http::parse::json_body;
use hookpost_http::{routes, App, Keyed, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::TEST_EVENT_FILTER, req, |_caller| async move {
        let mut fields = Fields::from_value(json_body(req)?)?;
        let filter = match fields.take("filter") {
            None | Some(Value::Null) => {
                fields.issue("filter", "is required: an EventBridge event pattern");
                None
            }
            Some(pattern) => match ContentFilter::new(pattern, "filter") {
                Ok(filter) => Some(filter),
                Err(issues) => {
                    for issue in issues {
                        fields.issue(&issue.field, issue.message);
                    }
                    None
                }
            },
        };
        let event = match fields.take("event") {
            Some(event @ Value::Object(_)) => Some(event),
            Some(_) => {
                fields.issue("event", "must be an object: {\"event\", \"channel_id\", \"data\"}");
                None
            }
            None => {
                fields.issue("event", "is required: {\"event\", \"channel_id\", \"data\"}");
                None
            }
        };
        fields.finish()?;
        let (Some(filter), Some(event)) = (filter, event) else { return Err(ApiError::Internal) };
        Reply::json(200, &Keyed("matches", &filter.matches(&event)))
    })
    .await
}
