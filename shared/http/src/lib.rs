//! lambda_http glue shared by every function: the [`App`] a handler runs against, the
//! request gate of SPEC §1, request parsing and the rendering of replies and errors.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use hookpost_delivery::operator::LogOnly;
use hookpost_delivery::{OperatorEvents, Queue, Sender, SqsQueue, Worker};
use hookpost_domain::error::RateLimitInfo;
use hookpost_domain::rate_limit::{counter_key, decide, window_at};
use hookpost_domain::token::Caller;
use hookpost_domain::{ApiError, Clock, Scope, SystemClock};
use hookpost_store::{ActiveCap, DynamoStore, ErasureStore, Store};
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::Instrument;

pub mod config;
pub mod context;
pub mod parse;
pub mod routes;

pub use config::Config;
pub use context::caller_of;

/// What every handler runs against: the store, the configuration and the clock, built once
/// per process.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// The delivery queue: in-process in hookpost-local, SQS in Lambda (where
    /// `HOOKPOST_QUEUE_URL` names it). `None` for functions that enqueue nothing.
    pub queue: Option<Arc<dyn Queue>>,
    /// The sender, built on first use (it reads the system's root certificates).
    sender: Arc<OnceLock<Arc<Sender>>>,
    /// Erasure, for the functions that erase (see [`App::with_eraser`]).
    eraser: Option<Arc<dyn ErasureStore>>,
    /// In Lambda, the DynamoDB adapter behind `store`.
    dynamo: Option<DynamoStore>,
    /// Where failure records and auto-disables are told: hookpost-local's operator webhook
    /// when configured; otherwise (and in Lambda, for now) their log lines only.
    pub operator_events: Arc<dyn OperatorEvents>,
}

impl App {
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            store,
            config,
            clock: Arc::new(SystemClock),
            queue: None,
            sender: Arc::new(OnceLock::new()),
            operator_events: Arc::new(LogOnly),
            eraser: None,
            dynamo: None,
        }
    }

    /// Lets this app erase (`DELETE /internal/v1/accounts/{id}`, `?purge=true`). Given
    /// only where needed: a function that never erases does not link erasure's code.
    pub fn with_eraser(mut self, eraser: Arc<dyn ErasureStore>) -> Self {
        self.eraser = Some(eraser);
        self
    }

    /// The eraser, or a logged 500 where the wiring forgot to give this function one.
    pub fn eraser(&self) -> Result<Arc<dyn ErasureStore>, ApiError> {
        self.eraser.clone().ok_or_else(|| {
            tracing::error!("this function was not given erasure (App::with_eraser)");
            ApiError::Internal
        })
    }

    /// A Lambda app's DynamoDB store as itself, for wiring that needs more than `Store`.
    pub fn dynamo(&self) -> Option<&DynamoStore> {
        self.dynamo.as_ref()
    }

    pub fn with_operator_events(mut self, events: Arc<dyn OperatorEvents>) -> Self {
        self.operator_events = events;
        self
    }

    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Uses this sender instead of the default one (tests inject resolvers and timeouts).
    pub fn with_sender(self, sender: Arc<Sender>) -> Self {
        let _ = self.sender.set(sender);
        self
    }

    /// A Lambda function's app: configuration from the environment, the DynamoDB table and
    /// (when `HOOKPOST_QUEUE_URL` is set) the SQS queue it names.
    pub async fn from_env() -> Result<Self, String> {
        let config = Config::from_env()?;
        let aws = hookpost_store::aws::lambda_aws_config(config.dynamodb_endpoint.as_deref())?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), config.table.clone());
        // SQS at HOOKPOST_SQS_ENDPOINT when a local run names one, else where DynamoDB is.
        let sqs_aws = match &config.sqs_endpoint {
            Some(endpoint) => hookpost_store::aws::lambda_aws_config(Some(endpoint))?,
            None => aws,
        };
        let queue =
            config.queue_url.clone().map(|url| Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sqs_aws), url)));
        let mut app = Self::new(Arc::new(store.clone()), config);
        app.dynamo = Some(store);
        if let Some(queue) = queue {
            app = app.with_queue(queue);
        }
        Ok(app)
    }

    /// The queue, or a logged 500 where the deployment forgot to give this function one.
    pub fn queue(&self) -> Result<Arc<dyn Queue>, ApiError> {
        self.queue.clone().ok_or_else(|| {
            tracing::error!("this function has no delivery queue (HOOKPOST_QUEUE_URL)");
            ApiError::Internal
        })
    }

    pub fn sender(&self) -> Result<Arc<Sender>, ApiError> {
        if let Some(sender) = self.sender.get() {
            return Ok(Arc::clone(sender));
        }
        let sender = Sender::new(self.config.destinations.clone(), self.config.resolve.clone()).map_err(|e| {
            tracing::error!(error = %e, "cannot build the sender");
            ApiError::Internal
        })?;
        Ok(Arc::clone(self.sender.get_or_init(|| Arc::new(sender))))
    }

    /// The delivery worker over this app's store, queue, sender, schedule and clock.
    pub fn worker(&self) -> Result<Worker, ApiError> {
        Ok(Worker {
            store: Arc::clone(&self.store),
            queue: self.queue()?,
            sender: self.sender()?,
            schedule: self.config.retry_schedule.clone(),
            clock: Arc::clone(&self.clock),
            attempt_retention_days: self.config.attempt_retention_days,
            event_retention_days: self.config.event_retention_days,
            operator_events: Arc::clone(&self.operator_events),
        })
    }

    pub fn active_cap(&self) -> ActiveCap {
        ActiveCap(self.config.max_active_subscriptions)
    }

    /// A subscription of the account that is not deleted: 404 when there is none, 409
    /// `subscription_deleted` when it was deleted.
    pub async fn live_subscription(
        &self,
        account: hookpost_domain::AccountId,
        id: hookpost_domain::SubscriptionId,
    ) -> Result<hookpost_domain::subscription::Subscription, ApiError> {
        let sub = self.store.get_subscription(account, id).await?.ok_or(ApiError::NotFound(parse::SUBSCRIPTION))?;
        if sub.is_deleted() {
            return Err(ApiError::SubscriptionDeleted);
        }
        Ok(sub)
    }

    /// The 409 for a create or reactivation past the cap.
    pub fn limit_reached(&self) -> ApiError {
        ApiError::LimitReached(format!(
            "an account may have at most {} active webhook subscriptions",
            self.config.max_active_subscriptions
        ))
    }
}

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
    // JSON lines carry their own timestamp; Lambda stamps plain text lines itself.
    let fmt = if json { fmt.json().flatten_event(true).boxed() } else { fmt.without_time().boxed() };
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
    serve_events_with(|| {}, handler).await
}

async fn serve_events_with<H, E, R, F, Fut>(after_each: H, handler: F) -> Result<(), lambda_http::Error>
where
    H: Fn() + Clone + Send + Sync + 'static,
    E: serde::de::DeserializeOwned,
    R: Serialize,
    F: Fn(Arc<App>, lambda_http::LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, lambda_http::Error>>,
{
    let app = Arc::new(App::from_env().await?);
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
    serve_events_with(cloudwatch_metrics(), handler).await
}

/// What a route demands of its caller, in SPEC §1's order after authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any valid token on any plan (`GET /api/v1/me`).
    AnyPlan,
    /// A paid plan and this scope.
    Scoped(Scope),
}

/// A customer route: its method and template name the rate-limit counter.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub template: &'static str,
    pub access: Access,
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Option<String>,
}

/// `{"<key>": value}`, serialized straight to text (`json!` would build a `Value` first:
/// an ordered map per object, which is most of a list's serialization cost).
pub struct Keyed<'a, T>(pub &'static str, pub &'a T);

impl<T: Serialize> Serialize for Keyed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// A page of a list: `{"<items>": [...], "<meta>": {"total", "limit", "offset"}}`.
pub struct PageReply<'a, T> {
    pub items_key: &'static str,
    pub items: &'a [T],
    pub meta_key: &'static str,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

impl<T: Serialize> Serialize for PageReply<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct Meta {
            total: u64,
            limit: u32,
            offset: u32,
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.items_key, self.items)?;
        map.serialize_entry(self.meta_key, &Meta { total: self.total, limit: self.limit, offset: self.offset })?;
        map.end()
    }
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_string(value).map_err(|e| {
            tracing::error!(error = %e, "serializing a reply");
            ApiError::Internal
        })?;
        Ok(Self { status: StatusCode::from_u16(status).map_err(|_| ApiError::Internal)?, body: Some(body) })
    }

    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: None }
    }

    fn into_response(self) -> Response<Body> {
        let mut res = Response::new(self.body.map_or(Body::Empty, Body::Text));
        *res.status_mut() = self.status;
        if res.body() != &Body::Empty {
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        res
    }
}

/// Renders an error in the envelope; internal detail was logged where it happened.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut res = Response::new(Body::Text(err.to_json()));
    *res.status_mut() = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match err {
        ApiError::RateLimited(info) => {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(info.reset_secs.max(1)));
        }
        ApiError::Unavailable => {
            let secs = hookpost_domain::error::UNAVAILABLE_RETRY_AFTER_SECS;
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        ApiError::MethodNotAllowed { allow, .. } => {
            if let Ok(allow) = HeaderValue::from_str(allow) {
                res.headers_mut().insert(header::ALLOW, allow);
            }
        }
        _ => {}
    }
    res
}

fn with_rate_headers(mut res: Response<Body>, info: &RateLimitInfo) -> Response<Body> {
    let headers = res.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(info.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(info.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(info.reset_secs));
    res
}

/// A refusal by the rate limiter (or a failure to count), with its headers.
fn limited(err: &ApiError) -> Response<Body> {
    match err {
        ApiError::RateLimited(info) => with_rate_headers(error_response(err), info),
        other => error_response(other),
    }
}

fn finish(result: Result<Reply, ApiError>) -> Response<Body> {
    match result {
        Ok(reply) => reply.into_response(),
        Err(err) => error_response(&err),
    }
}

/// Authentication, plan and scope, in that order (SPEC §1). Pure: no I/O.
pub fn check_access(caller: Option<Caller>, access: Access) -> Result<Caller, ApiError> {
    let caller = caller.ok_or(ApiError::Unauthorized)?;
    if let Access::Scoped(scope) = access {
        if !caller.plan.allows_api() {
            return Err(ApiError::PlanRequired);
        }
        if !caller.has_scope(scope) {
            return Err(ApiError::InsufficientScope(scope.as_str()));
        }
    }
    Ok(caller)
}

impl App {
    /// Counts this request against the caller's per-endpoint limit.
    async fn rate_limit(&self, caller: &Caller, route: &Route) -> Result<RateLimitInfo, ApiError> {
        let now = self.clock.now();
        let window = window_at(now);
        let key = counter_key(route.method, route.template, window);
        // The counter outlives its window a little so a late read still finds it.
        let count = self.store.hit_rate_counter(caller.account_id, &key, window.end.plus_seconds(60)).await?;
        decide(count, self.config.rate_limit_per_minute, now, window).map_err(ApiError::RateLimited)
    }

    /// Runs a customer route: the gate in SPEC §1's order, then `handler`. A GET's handler
    /// runs concurrently with the rate-limit counter (it changes nothing, so a refused GET
    /// loses nothing but its answer); a write runs only once the counter allows it.
    pub async fn respond<F, Fut>(&self, route: &Route, req: &Request, handler: F) -> Response<Body>
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Result<Reply, ApiError>>,
    {
        let caller = match check_access(caller_of(req), route.access) {
            Ok(caller) => caller,
            Err(err) => return error_response(&err),
        };
        let span =
            tracing::info_span!("request", route = route.template, method = route.method, account = %caller.account_id);
        async move {
            // SPEC §1: a free caller never sees 429. Free plans reach only the routes any plan
            // may call (`GET /api/v1/me`), and those are not counted for them.
            if route.access == Access::AnyPlan && !caller.plan.allows_api() {
                return finish(handler(caller).await);
            }
            if route.method == "GET" {
                let (limit, result) = tokio::join!(self.rate_limit(&caller, route), handler(caller.clone()));
                match limit {
                    Ok(info) => with_rate_headers(finish(result), &info),
                    Err(err) => limited(&err),
                }
            } else {
                match self.rate_limit(&caller, route).await {
                    Ok(info) => with_rate_headers(finish(handler(caller).await), &info),
                    Err(err) => limited(&err),
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Runs an operator route (`/internal/...`): IAM (in AWS) or the admin key (locally)
    /// has already let the caller in.
    pub async fn respond_internal<Fut>(&self, handler: Fut) -> Response<Body>
    where
        Fut: Future<Output = Result<Reply, ApiError>>,
    {
        finish(handler.await)
    }
}
