//! `GET /api/v1/event-types` (scope read): the deployment's event-type catalogue as
//! customers read it (SPEC §11) — each type's name, description, schema and example,
//! deprecated ones included and marked — by name, paged by `limit` (1–100, default 100)
//! and `offset`.

use hookpost_http::catalogue::catalogue_page;
use hookpost_http::{routes, App};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::LIST_EVENT_TYPES, req, |_caller| catalogue_page(app, req)).await
}
