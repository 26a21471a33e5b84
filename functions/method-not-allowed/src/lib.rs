//! Every resource's `ANY` method in AWS: API Gateway picks a resource's own methods first,
//! so this answers only the methods a route does not take — 405 `method_not_allowed` with
//! `Allow`, as hookpost-local does — instead of API Gateway's "missing authentication
//! token". It needs no credential: it tells nothing the API's documentation does not.

use hookpost_http::{context, error_response, routes, App};
use lambda_http::{Body, Request, Response};

pub async fn handle(_app: &App, req: Request) -> Response<Body> {
    let template = context::resource_path(&req).unwrap_or_else(|| req.uri().path().to_owned());
    error_response(&routes::method_not_allowed(req.method().as_str(), &template))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hookpost_http::Config;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;

    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;

    use super::*;

    fn request(method: &str, resource: &str) -> Request {
        let mut context = ApiGatewayProxyRequestContext::default();
        context.resource_path = Some(resource.to_owned());
        lambda_http::http::Request::builder()
            .method(method)
            .uri("/api/v1/webhook-subscriptions/123")
            .body(Body::Empty)
            .unwrap()
            .with_request_context(RequestContext::ApiGatewayV1(context))
    }

    #[tokio::test]
    async fn answers_405_with_the_resources_methods() {
        let app = App::new(Arc::new(hookpost_store::MemoryStore::new()), Config::default());
        let res = handle(&app, request("PUT", "/api/v1/webhook-subscriptions/{id}")).await;
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()["allow"], "DELETE, GET, PATCH");
        let body: serde_json::Value = match res.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(body["error"], "method_not_allowed");
    }
}
