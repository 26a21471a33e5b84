//! `hookpost-local`: every function's handler mounted on its route in one process, the same
//! `lambda_http::Request` each Lambda receives — authorizer context included, produced by
//! the authorizer's own code on every request (never cached, so revocation is immediate).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookpost_delivery::operator::SignedWebhook;
use hookpost_delivery::queue::{spawn_workers, TaskHandler};
use hookpost_delivery::sweep::return_lost_retriggers;
use hookpost_delivery::{InProcessQueue, Queue};
use hookpost_domain::ApiError;
use hookpost_http::parse::MAX_BODY_BYTES;
use hookpost_http::{context::encode_caller, error_response, App, Config, RequestFacts};
use hookpost_store::{DynamoStore, ErasureStore, MemoryStore, Store};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub mod durable;
pub mod parse_errors;
pub mod routes;

use durable::SqsQueues;
use hookpost_http::Access;
use routes::RouteEntry;

/// Everything `hookpost-local` is started with.
#[derive(Clone, Debug)]
pub struct Options {
    pub addr: SocketAddr,
    /// The bearer key for `/internal/...`; generated when `None`.
    pub admin_key: Option<String>,
    pub config: Config,
    /// `HOOKPOST_WORKERS`: concurrent delivery workers (default 32).
    pub workers: usize,
    /// `HOOKPOST_SHUTDOWN_GRACE_SECONDS`: how long a SIGTERM waits for requests and
    /// deliveries in flight (default 20).
    pub shutdown_grace: Duration,
    /// `HOOKPOST_OPERATOR_WEBHOOK_URL` and `HOOKPOST_OPERATOR_WEBHOOK_SECRET`: where failure
    /// records and auto-disables are POSTed, signed.
    pub operator_webhook: Option<(String, String)>,
}

pub const DEFAULT_WORKERS: usize = 32;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How long a leased task may take before it is handed out again: past the sender's
/// 15 s total plus the store's writes.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);

impl Options {
    /// `HOOKPOST_ADDR`, `HOOKPOST_ADMIN_KEY` and the shared configuration variables; the
    /// `--dynamodb-endpoint` and `--sqs-endpoint` arguments override
    /// `HOOKPOST_DYNAMODB_ENDPOINT` and `HOOKPOST_SQS_ENDPOINT`.
    pub fn from_env_and_args(args: &[String]) -> Result<Self, String> {
        let mut config = Config::from_env()?;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--dynamodb-endpoint" => {
                    config.dynamodb_endpoint = Some(args.next().ok_or("--dynamodb-endpoint needs a URL")?.clone());
                }
                other if other.starts_with("--dynamodb-endpoint=") => {
                    config.dynamodb_endpoint = Some(other["--dynamodb-endpoint=".len()..].to_owned());
                }
                "--sqs-endpoint" => {
                    config.sqs_endpoint = Some(args.next().ok_or("--sqs-endpoint needs a URL")?.clone());
                }
                other if other.starts_with("--sqs-endpoint=") => {
                    config.sqs_endpoint = Some(other["--sqs-endpoint=".len()..].to_owned());
                }
                other => return Err(format!("unknown argument `{other}` (try --help)")),
            }
        }
        let addr = std::env::var("HOOKPOST_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let addr = addr.parse().map_err(|_| format!("HOOKPOST_ADDR must be host:port, got `{addr}`"))?;
        let admin_key = std::env::var("HOOKPOST_ADMIN_KEY").ok().filter(|k| !k.trim().is_empty());
        let workers = match std::env::var("HOOKPOST_WORKERS") {
            Ok(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| format!("HOOKPOST_WORKERS must be 1 to 1024, got `{v}`"))?,
            Err(_) => DEFAULT_WORKERS,
        };
        let shutdown_grace = match std::env::var("HOOKPOST_SHUTDOWN_GRACE_SECONDS") {
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= 3600)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("HOOKPOST_SHUTDOWN_GRACE_SECONDS must be 0 to 3600, got `{v}`"))?,
            Err(_) => DEFAULT_SHUTDOWN_GRACE,
        };
        let operator_webhook = match std::env::var("HOOKPOST_OPERATOR_WEBHOOK_URL").ok().filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => {
                let secret = std::env::var("HOOKPOST_OPERATOR_WEBHOOK_SECRET").map_err(|_| {
                    "HOOKPOST_OPERATOR_WEBHOOK_URL needs HOOKPOST_OPERATOR_WEBHOOK_SECRET (a whsec_ secret) to sign with"
                })?;
                Some((url, secret))
            }
        };
        Ok(Self { addr, admin_key, config, workers, shutdown_grace, operator_webhook })
    }
}

pub fn generate_admin_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("hp_admin_{}", hex::encode(bytes))
}

/// An app on the store the options ask for — DynamoDB (creating the table if missing) or
/// in-memory — with erasure.
pub async fn open_app(config: &Config) -> Result<App, String> {
    fn app<S: Store + ErasureStore + 'static>(store: S, config: &Config) -> App {
        let store = Arc::new(store);
        App::new(Arc::clone(&store) as Arc<dyn Store>, config.clone()).with_eraser(store)
    }
    match &config.dynamodb_endpoint {
        Some(endpoint) => {
            let client = hookpost_store::dynamo::connect(Some(endpoint)).await;
            let store = DynamoStore::new(client, config.table.clone());
            // A throttled or briefly unreachable endpoint is waited out, as any call would be.
            let mut pauses = [1, 2, 4, 8].into_iter().map(Duration::from_secs);
            loop {
                match store.ensure_table().await {
                    Ok(()) => return Ok(app(store, config)),
                    Err(hookpost_store::StoreError::Unavailable(why)) if let Some(pause) = pauses.next() => {
                        tracing::warn!(error = %why, "DynamoDB at {endpoint} is unavailable; trying again");
                        tokio::time::sleep(pause).await;
                    }
                    Err(err) => return Err(format!("DynamoDB at {endpoint}: {err}")),
                }
            }
        }
        None => Ok(app(MemoryStore::new(), config)),
    }
}

/// Where hookpost-local's delivery tasks wait: in memory with the memory store (a restart
/// forgets them with everything else), on SQS whenever the state is kept in DynamoDB, so
/// that a task outlives a crash as the account and the subscription do.
#[derive(Clone)]
pub enum Delivery {
    InProcess(Arc<InProcessQueue>),
    Sqs(Arc<SqsQueues>),
}

impl Delivery {
    /// The queue the handlers send tasks to.
    pub fn queue(&self) -> Arc<dyn Queue> {
        match self {
            Self::InProcess(queue) => Arc::clone(queue) as Arc<dyn Queue>,
            Self::Sqs(queues) => queues.queue(),
        }
    }

    /// Whether delivery tasks survive a crash of the process.
    pub fn is_durable(&self) -> bool {
        matches!(self, Self::Sqs(_))
    }
}

/// Whether `endpoint` is AWS's own DynamoDB (then SQS is AWS's too, at its default address).
fn is_aws_dynamodb(endpoint: &str) -> bool {
    url::Url::parse(endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).is_some_and(|host| {
        host.starts_with("dynamodb.") && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
    })
}

/// The delivery queues the configuration asks for: SQS when the state is in DynamoDB (at
/// `HOOKPOST_SQS_ENDPOINT`, else at the DynamoDB endpoint), in-process otherwise.
pub async fn open_delivery(config: &Config) -> Result<Delivery, String> {
    let Some(dynamodb) = &config.dynamodb_endpoint else {
        return Ok(Delivery::InProcess(Arc::new(InProcessQueue::with_capacity(
            VISIBILITY_TIMEOUT,
            config.queue_capacity,
        ))));
    };
    let endpoint = config.sqs_endpoint.clone().or_else(|| (!is_aws_dynamodb(dynamodb)).then(|| dynamodb.clone()));
    let aws = hookpost_store::aws::aws_config(endpoint.as_deref()).await;
    let visibility = Duration::from_secs(u64::from(config.queue_visibility_secs));
    let queues = SqsQueues::open(aws_sdk_sqs::Client::new(&aws), &config.table, visibility).await.map_err(|e| {
        let at = endpoint.as_deref().unwrap_or("AWS");
        format!(
            "the delivery queue at {at}: {e}. With its state in DynamoDB, hookpost-local keeps its delivery queue on \
             SQS so that no accepted event is lost in a crash; point --sqs-endpoint (HOOKPOST_SQS_ENDPOINT) at an \
             SQS-compatible server (moto serves both)"
        )
    })?;
    Ok(Delivery::Sqs(Arc::new(queues)))
}

struct Server {
    app: Arc<App>,
    admin_key: String,
    routes: Vec<RouteEntry>,
    delivery: Delivery,
}

/// A started server: where it listens, its admin key, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_key: String,
    pub app: Arc<App>,
    pub delivery: Delivery,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    workers: JoinSet<()>,
    drain: watch::Sender<bool>,
}

/// What a graceful shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Whether every delivery worker finished within the grace period.
    pub finished: bool,
    /// Delivery tasks left in the in-process queue (forgotten: the memory mode keeps
    /// nothing); always 0 with the durable queue, which keeps them.
    pub forgotten: usize,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 10 s), stops the workers
    /// at once, and returns.
    pub async fn shutdown(self) {
        self.shutdown_gracefully(Duration::ZERO).await;
    }

    /// SIGTERM's shutdown: stops accepting, lets requests in flight finish (up to 10 s),
    /// then lets every delivery worker finish the task it holds, taking no other, for up to
    /// `grace`. What is cut after that goes back to the durable queue (after its visibility
    /// timeout); in memory it is lost, and said so.
    pub async fn shutdown_gracefully(mut self, grace: Duration) -> Drained {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.drain.send(true);
        let workers = &mut self.workers;
        let finished = !grace.is_zero()
            && tokio::time::timeout(grace, async { while workers.join_next().await.is_some() {} }).await.is_ok();
        if !finished && !grace.is_zero() {
            let busy = self.workers.len();
            if self.delivery.is_durable() {
                tracing::warn!(busy, grace_secs = grace.as_secs(), "deliveries still running after the grace period were cut; their tasks return to the queue after its visibility timeout");
            } else {
                tracing::warn!(
                    busy,
                    grace_secs = grace.as_secs(),
                    "deliveries still running after the grace period were cut and are lost (memory store)"
                );
            }
        }
        self.workers.shutdown().await;
        let forgotten = match &self.delivery {
            Delivery::InProcess(queue) => queue.len(),
            Delivery::Sqs(_) => 0,
        };
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                "delivery tasks still queued in memory are forgotten (keep state in DynamoDB to keep them)"
            );
        }
        if finished {
            tracing::info!("every delivery in flight finished");
        }
        Drained { finished, forgotten }
    }

    /// Stops the delivery workers only (tests use it to kill a worker mid-attempt).
    pub async fn stop_workers(&mut self) {
        self.workers.shutdown().await;
    }

    /// Starts `n` delivery workers on the queue.
    pub fn start_workers(&mut self, n: usize) {
        let (drain, draining) = watch::channel(false);
        self.drain = drain;
        self.workers = spawn_delivery(&self.app, &self.delivery, n, &draining);
    }
}

/// Runs `workers` delivery workers over the queue, and the sweeper, until `drain` turns true.
pub fn spawn_delivery(
    app: &Arc<App>,
    delivery: &Delivery,
    workers: usize,
    drain: &watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut set = match delivery {
        Delivery::InProcess(queue) => {
            let for_workers = Arc::clone(app);
            let handler: TaskHandler = Arc::new(move |task| {
                let app = Arc::clone(&for_workers);
                Box::pin(async move {
                    let worker = app.worker().map_err(|_| ())?;
                    worker.process(&task).await.map_err(|err| {
                        tracing::warn!(error = %err, event_id = %task.event_id, "delivery task will be retried");
                    })
                })
            });
            spawn_workers(Arc::clone(queue), workers, handler, drain.clone())
        }
        Delivery::Sqs(queues) => queues.spawn(app, workers, drain),
    };
    let app = Arc::clone(app);
    let mut drain = drain.clone();
    set.spawn(async move {
        loop {
            tokio::select! {
                _ = drain.wait_for(|draining| *draining) => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            match return_lost_retriggers(app.store.as_ref(), app.clock.now()).await {
                Ok(0) => {}
                Ok(returned) => tracing::info!(log = "sweep", returned, "swept lost retriggers"),
                Err(err) => tracing::warn!(error = %err, "sweeping lost retriggers failed"),
            }
        }
    });
    set
}

/// How often hookpost-local looks for retriggers lost for 15 minutes.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Binds and serves in the background, with the delivery workers.
pub async fn start(options: Options) -> Result<Running, String> {
    let mut app = open_app(&options.config).await?;
    let delivery = open_delivery(&options.config).await?;
    if let Some((url, secret)) = &options.operator_webhook {
        let webhook = SignedWebhook::new(url, secret, Arc::clone(&app.clock))?;
        app = app.with_operator_events(Arc::new(Arc::new(webhook)));
        tracing::info!("operator events go to {url}");
    }
    start_with_app(options.addr, options.admin_key, app, delivery, options.workers).await
}

/// Serves `app` with `delivery`'s queue and `workers` delivery workers on it.
pub async fn start_with_app(
    addr: SocketAddr,
    admin_key: Option<String>,
    app: App,
    delivery: Delivery,
    workers: usize,
) -> Result<Running, String> {
    // Tasks are sent to the app's queue: `delivery`'s, unless the caller gave the app one of
    // its own in front of it (tests put a fault injector there).
    let app = Arc::new(if app.queue.is_some() { app } else { app.with_queue(delivery.queue()) });
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let admin_key = admin_key.unwrap_or_else(generate_admin_key);
    let server = Arc::new(Server {
        app: Arc::clone(&app),
        admin_key: admin_key.clone(),
        routes: routes::table(),
        delivery: delivery.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, server, stopped));
    prometheus();
    let (drain, draining) = watch::channel(false);
    let workers = spawn_delivery(&app, &delivery, workers, &draining);
    Ok(Running { addr, admin_key, app, delivery, stop, task, workers, drain })
}

async fn serve(listener: TcpListener, server: Arc<Server>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let server = Arc::clone(&server);
                let mut stop = stopped.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let server = Arc::clone(&server);
                        async move { Ok::<_, Infallible>(server.handle(req).await) }
                    });
                    let stream = parse_errors::EnvelopedParseErrors::new(stream);
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain).await.is_err() {
        tracing::warn!("connections still open after 10 s; closing them");
    }
}

fn to_hyper(res: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        #[allow(unreachable_patterns)]
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

fn refuse(err: ApiError) -> hyper::Response<Full<Bytes>> {
    to_hyper(error_response(&err))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Server {
    fn admin_ok(&self, header: Option<&str>) -> bool {
        let presented = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        constant_time_eq(presented.trim().as_bytes(), self.admin_key.as_bytes())
    }

    /// `/healthz`: the process answers. `/readyz`: the store and the delivery queue answer
    /// too, else 503 `unavailable` (the cause is logged, not returned).
    async fn probe(&self, path: &str) -> hyper::Response<Full<Bytes>> {
        let ok = || {
            let mut res = hyper::Response::new(Full::new(Bytes::from_static(b"{\"status\":\"ok\"}")));
            res.headers_mut()
                .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
            res
        };
        if path == "/healthz" {
            return ok();
        }
        if let Err(err) = self.app.store.get_account(hookpost_domain::AccountId::new()).await {
            tracing::warn!(error = %err, "readyz: the store does not answer");
            return refuse(ApiError::Unavailable);
        }
        if let Delivery::Sqs(queues) = &self.delivery {
            if let Err(err) = queues.reachable().await {
                tracing::warn!(error = %err, "readyz: the delivery queue does not answer");
                return refuse(ApiError::Unavailable);
            }
        }
        ok()
    }

    /// Serves one request and writes its access-log line (as `hookpost_http::serve` does
    /// for each Lambda).
    async fn handle(&self, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let started = std::time::Instant::now();
        let mut facts = RequestFacts { method: req.method().to_string(), ..RequestFacts::default() };
        let res = self.answer(req, &mut facts).await;
        if !matches!(facts.route.as_str(), "/healthz" | "/readyz" | "/metrics") {
            facts.log(res.status().as_u16(), started.elapsed());
        }
        res
    }

    async fn answer(&self, req: hyper::Request<Incoming>, facts: &mut RequestFacts) -> hyper::Response<Full<Bytes>> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        facts.request_id = Some(uuid_like());
        // hookpost-local's own probes, outside the API (a load balancer or an orchestrator
        // asks them; in AWS, Lambda and API Gateway are the ones that know).
        if method == "GET" && (path == "/healthz" || path == "/readyz") {
            facts.route.clone_from(&path);
            return self.probe(&path).await;
        }
        if method == "GET" && path == "/metrics" {
            facts.route.clone_from(&path);
            if let Delivery::InProcess(queue) = &self.delivery {
                hookpost_delivery::metrics::queued_tasks(queue.len(), queue.capacity());
            }
            let mut res = hyper::Response::new(Full::new(Bytes::from(prometheus().render())));
            res.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return res;
        }
        // The resource first, as API Gateway finds it (literal segments before `{variables}`:
        // `.../webhook_failures/recover` is not a failure id), then the method on it.
        let Some((template, path_params)) = routes::resource(&self.routes, &path) else {
            return refuse(ApiError::NotFound("route"));
        };
        template.clone_into(&mut facts.route);
        let Some(entry) = self.routes.iter().find(|r| r.route.template == template && r.route.method == method) else {
            return refuse(hookpost_http::routes::method_not_allowed(&method, template));
        };
        let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let gzip_ok = accepts_gzip(req.headers().get(hyper::header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()));

        // The gate before the body, as in API Gateway: an anonymous caller learns nothing.
        let mut context = ApiGatewayProxyRequestContext::default();
        match entry.route.access {
            Access::Operator => {
                if !self.admin_ok(authorization.as_deref()) {
                    return refuse(ApiError::Unauthorized);
                }
            }
            Access::Public => {}
            Access::AnyPlan | Access::Scoped(_) => {
                match authorizer::authorize(self.app.store.as_ref(), authorization.as_deref(), self.app.clock.now())
                    .await
                {
                    Ok(caller) => {
                        facts.account_id = Some(caller.account_id.to_string());
                        context.authorizer.fields = encode_caller(&caller);
                    }
                    Err(err) => return refuse(err),
                }
            }
        }

        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return refuse(ApiError::PayloadTooLarge)
            }
            Err(_) => return refuse(ApiError::InvalidJson("the body could not be read".to_owned())),
        };
        let body = if bytes.is_empty() {
            Body::Empty
        } else {
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) => Body::Text(text),
                Err(e) => Body::Binary(e.into_bytes()),
            }
        };

        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()) {
            query.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        context.http_method = parts.method.clone();
        context.resource_path = Some(entry.route.template.to_owned());
        context.path = Some(path.clone());
        context.stage = Some("local".to_owned());
        context.request_id.clone_from(&facts.request_id);

        let lambda_req = lambda_http::http::Request::from_parts(parts, body)
            .with_path_parameters(path_params)
            .with_query_string_parameters(QueryMap::from(query))
            .with_request_context(RequestContext::ApiGatewayV1(context));
        let res = (entry.handler)(Arc::clone(&self.app), lambda_req).await;
        // The portal's files are compressed here, as API Gateway compresses them in AWS
        // (`MinimumCompressionSize`); API answers stay as the handlers wrote them.
        to_hyper(if entry.route.access == Access::Public && gzip_ok { gzip(res) } else { res })
    }
}

/// The process's Prometheus recorder (installed once, on first use), whose text `/metrics`
/// serves: the names of `hookpost_delivery::metrics`.
pub fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 60.0, 600.0, 3600.0])
            .expect("static buckets");
        // Should another recorder be in place already (a test harness), /metrics still
        // answers, from a recorder of its own.
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Whether an `Accept-Encoding` value takes gzip (named, and not with `q=0`).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.unwrap_or_default().split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"));
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// The answer gzip-compressed, when it is worth it (1 KiB or more, as API Gateway's
/// threshold is set).
fn gzip(res: lambda_http::Response<Body>) -> lambda_http::Response<Body> {
    use std::io::Write;
    let bytes: &[u8] = match res.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return res,
    };
    if bytes.len() < 1024 || res.headers().contains_key(hyper::header::CONTENT_ENCODING) {
        return res;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let Ok(compressed) = encoder.write_all(bytes).and_then(|()| encoder.finish()) else {
        return res;
    };
    let (mut parts, _) = res.into_parts();
    parts.headers.insert(hyper::header::CONTENT_ENCODING, hyper::header::HeaderValue::from_static("gzip"));
    parts.headers.insert(hyper::header::VARY, hyper::header::HeaderValue::from_static("accept-encoding"));
    lambda_http::Response::from_parts(parts, Body::Binary(compressed))
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
