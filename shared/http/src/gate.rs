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

    /// Runs a customer route: the gate in SPEC §1's order, then `handler` — only once the
    /// rate-limit counter allows it, a read as much as a write.
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
            // The counter first, for reads too: a request over the limit costs one write, not
            // the reads its handler would make (a client polling in a loop, a portal left open).
            match self.rate_limit(&caller, route).await {
                Ok(info) => with_rate_headers(finish(handler(caller).await), &info),
                Err(err) => limited(&err),
            }
        }
        .instrument(span)
        .await
    }

    /// Runs an operator route (`/internal/...`): IAM (in AWS) or the admin key (locally)
    /// has already let the caller in. A public route (the portal's) runs the same way: it
    /// needs no caller.
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use hookpost_domain::{AccountId, Plan, Scope, TokenId};
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;

    use super::*;
    use crate::{routes, Config};

    #[tokio::test]
    async fn a_read_over_the_limit_does_not_run_its_handler() {
        let app = App::new(
            Arc::new(hookpost_store::MemoryStore::new()),
            Config { rate_limit_per_minute: 2, ..Config::default() },
        );
        let caller = Caller {
            account_id: AccountId::new(),
            plan: Plan::Pro,
            scopes: vec![Scope::WebhooksRead],
            user_id: None,
            token_id: TokenId::new(),
        };
        let mut context = ApiGatewayProxyRequestContext::default();
        context.authorizer.fields = context::encode_caller(&caller);
        let req = Request::default().with_request_context(RequestContext::ApiGatewayV1(context));
        let runs = AtomicUsize::new(0);
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let res = app
                .respond(&routes::LIST_WEBHOOK_SUBSCRIPTIONS, &req, |_| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok(Reply::no_content())
                })
                .await;
            statuses.push(res.status().as_u16());
        }
        assert_eq!(statuses, [204, 204, 429, 429]);
        assert_eq!(runs.load(Ordering::SeqCst), 2, "the refused reads ran nothing");
    }
}
