//! In-process handler cost: `GET /api/v1/webhook-subscriptions/{id}` on the memory store,
//! as the Lambda function runs it (the caller already decoded from the authorizer's
//! context), and with the token lookup hookpost-local does per request.
//!
//!     cargo bench -p hookpost-bench --bench handler

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use hookpost_bench::procs::{Api, ADMIN_KEY};
use hookpost_delivery::InProcessQueue;
use hookpost_domain::{Clock, SystemClock};
use hookpost_http::context::encode_caller;
use hookpost_http::{App, Config};
use hookpost_store::MemoryStore;
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

fn request(subscription: &str, context: &ApiGatewayProxyRequestContext) -> Request {
    lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("/api/v1/webhook-subscriptions/{subscription}"))
        .body(Body::Empty)
        .expect("request")
        .with_path_parameters(HashMap::from([("id".to_owned(), subscription.to_owned())]))
        .with_request_context(RequestContext::ApiGatewayV1(context.clone()))
}

fn get_subscription(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app =
        App::new(Arc::new(MemoryStore::new()), Config { rate_limit_per_minute: 1_000_000_000, ..Config::default() });
    let (token, subscription) = runtime.block_on(async {
        let queue = hookpost_local::Delivery::InProcess(Arc::new(InProcessQueue::new(Duration::from_secs(60))));
        let running = hookpost_local::start_with_app(
            "127.0.0.1:0".parse().expect("addr"),
            Some(ADMIN_KEY.to_owned()),
            app.clone(),
            queue,
            0,
        )
        .await
        .expect("hookpost-local");
        let api = Api::new(running.addr);
        let (_, token) = api.customer().await;
        let subscription = api.subscribe(&token, "https://receiver.example.com/hooks").await;
        running.shutdown().await;
        (token, subscription)
    });
    let authorization = format!("Bearer {token}");
    let mut context = ApiGatewayProxyRequestContext::default();
    let caller = runtime
        .block_on(authorizer::authorize(app.store.as_ref(), Some(&authorization), SystemClock.now()))
        .expect("a valid token");
    context.authorizer.fields = encode_caller(&caller);
    context.resource_path = Some("/api/v1/webhook-subscriptions/{id}".to_owned());

    let mut group = c.benchmark_group("GET subscription, memory store");
    group.bench_function("handler (caller from the authorizer context)", |b| {
        b.to_async(&runtime).iter(|| async {
            let res = get_webhook_subscription::handle(&app, request(&subscription, &context)).await;
            assert_eq!(res.status(), 200);
        })
    });
    group.bench_function("token lookup + handler (hookpost-local)", |b| {
        b.to_async(&runtime).iter(|| async {
            let caller = authorizer::authorize(app.store.as_ref(), Some(&authorization), SystemClock.now())
                .await
                .expect("token");
            let mut context = context.clone();
            context.authorizer.fields = encode_caller(&caller);
            let res = get_webhook_subscription::handle(&app, request(&subscription, &context)).await;
            assert_eq!(res.status(), 200);
        })
    });
    group.finish();
}

criterion_group!(benches, get_subscription);
criterion_main!(benches);
