//! The operator's event-type catalogue (SPEC §11): `PUT /internal/v1/event-types/{name}`
//! declares a type or replaces its declaration (201 created, 200 replaced), `GET` one or
//! all of them (by name, paged), `DELETE` one (204; its events are no longer checked).
//! A schema that is not a valid JSON Schema, or an example it refuses, is a 400 pointing
//! at the fault.

use hookpost_domain::event_type::{parse_event_type, parse_name};
use hookpost_http::catalogue::catalogue_page;
use hookpost_http::parse::{json_body, path_param};
use hookpost_http::{routes, App, Found, OrNotFound, Reply};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// What a 404 calls a type.
const EVENT_TYPE: &str = "event type";

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let named = path_param(&req, "name").is_ok();
    match (req.method().clone(), named) {
        (Method::PUT, _) => put(app, req).await,
        (Method::DELETE, _) => delete(app, req).await,
        (_, true) => get(app, req).await,
        (_, false) => list(app, req).await,
    }
}

async fn put(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::PUT_EVENT_TYPE, &req, async {
        let name = parse_name(path_param(&req, "name")?)?;
        let input = parse_event_type(json_body(&req)?)?;
        let catalogue = app.catalogue()?;
        let (stored, created) = catalogue.store().put_event_type(name, &input, app.clock.now()).await?;
        catalogue.forget();
        Reply::json(if created { 201 } else { 200 }, &stored.to_json())
    })
    .await
}

async fn get(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::GET_EVENT_TYPE, &req, async {
        let name = path_param(&req, "name")?;
        let found = app.catalogue()?.store().get_event_type(name).await.found(EVENT_TYPE)?;
        Reply::json(200, &found.to_json())
    })
    .await
}

async fn delete(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::DELETE_EVENT_TYPE, &req, async {
        let name = path_param(&req, "name")?;
        let catalogue = app.catalogue()?;
        catalogue.store().delete_event_type(name).await.or_not_found(EVENT_TYPE)?;
        catalogue.forget();
        Ok(Reply::no_content())
    })
    .await
}

async fn list(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::LIST_CATALOGUE, &req, catalogue_page(app, &req)).await
}
