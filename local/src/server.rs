//! Each HTTP request as the Lambda request API Gateway would send: the route found, the
//! gate before the body (admin key, authorizer), the handler called, the answer returned.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookpost_domain::ApiError;
use hookpost_http::parse::MAX_BODY_BYTES;
use hookpost_http::{context::encode_caller, error_response, App, RequestFacts};
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

use hookpost_http::Access;

use crate::routes::{Resources, RouteEntry};
use crate::{parse_errors, Delivery};

pub(crate) struct Server {
    pub(crate) app: Arc<App>,
    pub(crate) admin_key: String,
    pub(crate) routes: Vec<RouteEntry>,
    pub(crate) resources: Resources,
    pub(crate) delivery: Delivery,
}

pub(crate) async fn serve(listener: TcpListener, server: Arc<Server>, mut stopped: watch::Receiver<bool>) {
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

impl Server {
    fn admin_ok(&self, header: Option<&str>) -> bool {
        let presented = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        // In constant time: how much of a guess matched must not show in how long the answer took.
        bool::from(subtle::ConstantTimeEq::ct_eq(presented.trim().as_bytes(), self.admin_key.as_bytes()))
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
        let Some((template, path_params)) = self.resources.find(&path) else {
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
