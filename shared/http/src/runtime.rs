//! A Lambda function's `main`: tracing as Lambda configures it, the app built once, the
//! access log line per request, and the metrics flush for the functions that measure.

use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::{context, App};

/// Lambda's logging controls: `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, as one level; else
/// `info`) and `AWS_LAMBDA_LOG_FORMAT=JSON`. A plain level filter, not `EnvFilter`: its
/// regex engine would be most of a function's logging code, for per-target filters nobody
/// sets in Lambda.
fn init_tracing() {
    use tracing_subscriber::filter::{filter_fn, LevelFilter};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .and_then(|level| level.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Errors are logged once, where they happen, with their cause: the runtime's own line for
    // every error a handler returns repeats one of ours without the cause (and calls the
    // authorizer's "Unauthorized", a refused token, an ERROR). Panics it would log there too
    // are logged by the hook below instead.
    let not_repeated = filter_fn(|meta| meta.target() != "lambda_runtime::layers::panic");
    let fmt = tracing_subscriber::fmt::layer().with_ansi(false);
    // JSON lines carry their own timestamp; Lambda stamps plain text lines itself. The
    // current span (the invocation's request and trace ids) is kept, the list of spans
    // around it — the same span again — is not: CloudWatch Logs bills each line's bytes.
    let fmt =
        if json { fmt.json().flatten_event(true).with_span_list(false).boxed() } else { fmt.without_time().boxed() };
    let _ = tracing_subscriber::registry().with(fmt.with_filter(level).with_filter(not_repeated)).try_init();
    std::panic::set_hook(Box::new(|panic| tracing::error!(panic = %panic, "the handler panicked")));
}

/// For the functions that record metrics (`hookpost_delivery::metrics`): installs the
/// CloudWatch embedded-metric-format recorder (namespace `hookpost`) and returns what to
/// run after each invocation: one metric document on stdout, which CloudWatch turns into
/// metrics (no API call, no latency). A function that records none leaves it out, and its
/// binary stays without the recorder's code.
pub fn cloudwatch_metrics() -> impl Fn() + Clone + Send + Sync + 'static {
    let collector = match metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace("hookpost").init() {
        Ok(collector) => Some(collector),
        Err(err) => {
            tracing::warn!(error = %err, "metrics are off: the recorder could not be installed");
            None
        }
    };
    move || {
        if let Some(collector) = collector {
            if let Err(err) = collector.flush(std::io::stdout()) {
                tracing::warn!(error = %err, "writing the metrics failed");
            }
        }
    }
}

/// What the access log says of a request, read before its handler takes it.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    pub method: String,
    /// The route template (`/api/v1/webhook-subscriptions/{id}`), never the path: ids are
    /// fields of their own and a path may carry anything a client sent.
    pub route: String,
    /// API Gateway's request id (hookpost-local makes one up).
    pub request_id: Option<String>,
    /// Lambda's request id, and the X-Ray trace id when tracing is on.
    pub lambda_request_id: Option<String>,
    pub trace_id: Option<String>,
    /// The caller's account, when the authorizer established one.
    pub account_id: Option<String>,
}

impl RequestFacts {
    pub fn of(req: &Request) -> Self {
        use lambda_http::RequestExt;
        let mut facts = Self { method: req.method().to_string(), ..Self::default() };
        if let Some(lambda_http::request::RequestContext::ApiGatewayV1(ctx)) = req.request_context_ref() {
            facts.route = ctx.resource_path.clone().unwrap_or_default();
            facts.request_id = ctx.request_id.clone();
        }
        if let Some(lambda) = req.lambda_context_ref() {
            facts.lambda_request_id = Some(lambda.request_id.clone()).filter(|id| !id.is_empty());
            facts.trace_id = lambda.xray_trace_id.clone().filter(|id| !id.is_empty());
        }
        facts.account_id = context::caller_of(req).map(|caller| caller.account_id.to_string());
        facts
    }

    /// The access log's one line for this request.
    pub fn log(&self, status: u16, elapsed: std::time::Duration) {
        tracing::info!(
            log = "request",
            method = %self.method,
            route = %self.route,
            status,
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            account_id = self.account_id.as_deref(),
            request_id = self.request_id.as_deref(),
            lambda_request_id = self.lambda_request_id.as_deref(),
            trace_id = self.trace_id.as_deref(),
            "{} {} {status}",
            self.method,
            self.route
        );
    }
}

/// A Lambda function's whole `main`: tracing (honouring `AWS_LAMBDA_LOG_LEVEL` and the JSON
/// log format), configuration and the DynamoDB client once, then `handler` per request.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    serve_with(|app| app, || {}, handler).await
}

/// [`serve`] for a function that erases: its app gets the DynamoDB adapter's erasure.
pub async fn serve_erasing<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    let erasing = |app: App| match app.dynamo().cloned() {
        Some(dynamo) => app.with_eraser(Arc::new(dynamo)),
        None => app,
    };
    serve_with(erasing, || {}, handler).await
}

/// [`serve`] for a function that delivers (a test delivery): its app gets the DynamoDB
/// adapter's rate limiters and FIFO heads.
pub async fn serve_delivering<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    serve_with(pacing, || {}, handler).await
}

/// [`serve`] for a function that reads the event-type catalogue (subscribing, managing it).
pub async fn serve_cataloguing<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    serve_with(cataloguing, || {}, handler).await
}

/// [`serve_measured`] for a function that publishes: checked against the catalogue.
pub async fn serve_measured_cataloguing<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    serve_with(cataloguing, cloudwatch_metrics(), handler).await
}

/// [`serve_events_measured`] for the ingest queue's consumer: checked against the catalogue.
pub async fn serve_events_measured_cataloguing<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned,
    R: Serialize,
    F: Fn(Arc<App>, lambda_http::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    init_tracing();
    serve_events_with(cataloguing, cloudwatch_metrics(), handler).await
}

/// An app given the DynamoDB adapter's catalogue.
fn cataloguing(app: App) -> App {
    match app.dynamo().cloned() {
        Some(dynamo) => app.with_catalogue(Arc::new(dynamo)),
        None => app,
    }
}

/// An app given the DynamoDB adapter's delivery control.
fn pacing(app: App) -> App {
    match app.dynamo().cloned() {
        Some(dynamo) => app.with_delivery_control(Arc::new(dynamo)),
        None => app,
    }
}

/// An app given the DynamoDB adapter's delivery control, and (where the FIFO queue is
/// configured) the FIFO queue's consumer side: the delivery worker's.
fn delivering(app: App) -> App {
    let holder = match (app.sqs(), &app.config.fifo_queue_url) {
        (Some(sqs), Some(fifo)) => Some(Arc::new(
            hookpost_delivery::SqsQueue::new(sqs.clone(), app.config.queue_url.clone().unwrap_or_default())
                .with_fifo(Some(fifo.clone())),
        )),
        _ => None,
    };
    pacing(match holder {
        Some(holder) => app.with_holder(holder),
        None => app,
    })
}

/// [`serve`], with `configure` applied to the app once, and `after_each` run once each
/// request is answered (the metrics' flush). Tracing is set up first by the public entry
/// points.
async fn serve_with<C, H, F, Fut>(configure: C, after_each: H, handler: F) -> Result<(), lambda_http::Error>
where
    C: FnOnce(App) -> App,
    H: Fn() + Clone + Send + Sync + 'static,
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let app = Arc::new(configure(App::from_env().await?));
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let facts = RequestFacts::of(&req);
        let started = std::time::Instant::now();
        let response = handler(Arc::clone(&app), req);
        let after_each = after_each.clone();
        async move {
            let response = response.await;
            facts.log(response.status().as_u16(), started.elapsed());
            after_each();
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

/// The whole `main` of a function fed by something other than API Gateway's proxy events
/// (the authorizer, SQS, a schedule): tracing, configuration and clients once, then
/// `handler` per event.
pub async fn serve_events<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned,
    R: Serialize,
    F: Fn(Arc<App>, lambda_http::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    init_tracing();
    serve_events_with(|app| app, || {}, handler).await
}

async fn serve_events_with<C, H, E, R, F, Fut>(
    configure: C,
    after_each: H,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    C: FnOnce(App) -> App,
    H: Fn() + Clone + Send + Sync + 'static,
    E: serde::de::DeserializeOwned,
    R: Serialize,
    F: Fn(Arc<App>, lambda_http::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    let app = Arc::new(configure(App::from_env().await?));
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event: lambda_http::LambdaEvent<E>| {
        let handled = handler(Arc::clone(&app), event);
        let after_each = after_each.clone();
        async move {
            let result = handled.await;
            after_each();
            result
        }
    }))
    .await
}

/// [`serve`] for a function that records metrics: CloudWatch embedded metric format,
/// flushed after each request.
pub async fn serve_measured<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    serve_with(|app| app, cloudwatch_metrics(), handler).await
}

/// [`serve_events`] for a function that records metrics.
pub async fn serve_events_measured<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned,
    R: Serialize,
    F: Fn(Arc<App>, lambda_http::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    init_tracing();
    serve_events_with(|app| app, cloudwatch_metrics(), handler).await
}

/// [`serve_events_measured`] for the delivery worker: its app gets the DynamoDB adapter's
/// rate limiters and FIFO heads.
pub async fn serve_events_delivering<E, R, F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned,
    R: Serialize,
    F: Fn(Arc<App>, lambda_http::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    init_tracing();
    serve_events_with(delivering, cloudwatch_metrics(), handler).await
}
