//! The request gate of SPEC §1: authentication, plan, scope, then the per-account rate
//! limit, around every customer handler; a span per request for customer and operator
//! routes alike.

use std::future::Future;

use hookpost_domain::error::RateLimitInfo;
use hookpost_domain::rate_limit::{counter_key, decide, window_at};
use hookpost_domain::token::Caller;
use hookpost_domain::ApiError;
use lambda_http::{Body, Request, Response};
use tracing::Instrument;

use crate::reply::{error_response, finish, limited, with_rate_headers, Reply};
use crate::routes::{Access, Route};
use crate::{caller_of, context, App};

/// Authentication, plan and scope, in that order (SPEC §1), for a customer route. Pure: no
/// I/O.
pub fn check_access(caller: Option<Caller>, access: Access) -> Result<Caller, ApiError> {
    if !access.is_customer() {
        tracing::error!(?access, "a customer handler was given a route that is not a customer's");
        return Err(ApiError::Internal);
    }
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
        let span = tracing::info_span!(
            "request",
            route = route.template,
            method = route.method,
            request_id = context::request_id(req).as_deref(),
            account = %caller.account_id
        );
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
    pub async fn respond_internal<Fut>(&self, route: &Route, req: &Request, handler: Fut) -> Response<Body>
    where
        Fut: Future<Output = Result<Reply, ApiError>>,
    {
        let span = tracing::info_span!(
            "request",
            route = route.template,
            method = route.method,
            request_id = context::request_id(req).as_deref()
        );
        finish(handler.instrument(span).await)
    }
}
