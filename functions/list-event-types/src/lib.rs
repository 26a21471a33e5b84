//! `GET /api/v1/event-types` (scope read): the deployment's event-type catalogue as
//! customers read it (SPEC §11) — each type's name, description, schema and example,
//! deprecated ones included and marked — by name, paged by `limit` (1–100, default 100)
//! and `offset`.

use hookpost_http::parse::Query;
use hookpost_http::{routes, App, PageReply, Reply};
use lambda_http::{Body, Request, Response};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_OFFSET: u32 = 1_000_000;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::LIST_EVENT_TYPES, req, |_caller| async move {
        let mut query = Query::new(req, &["limit", "offset"]);
        let limit = query.int("limit", 1, 100, DEFAULT_LIMIT);
        let offset = query.int("offset", 0, MAX_OFFSET, 0);
        query.finish()?;
        let types = app.catalogue()?.store().list_event_types().await?;
        let total = types.len() as u64;
        let page: Vec<serde_json::Value> =
            types.iter().skip(offset as usize).take(limit as usize).map(|t| t.to_json()).collect();
        Reply::json(
            200,
            &PageReply { items_key: "event_types", items: &page, meta_key: "pagination", total, limit, offset },
        )
    })
    .await
}
