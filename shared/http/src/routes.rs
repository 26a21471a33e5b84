//! Every route of the API, declared once: its method, its resource template (the path API
//! Gateway knows, and the rate-limit counter's name) and who may call it. The functions
//! answer under these constants, hookpost-local's table mounts them, and tests hold this
//! list equal to `template.yaml` and `docs/openapi.yaml`. A request to a known template
//! with a method it does not take is a 405 whose `Allow` is read here — in hookpost-local,
//! and in AWS by the `method-not-allowed` function every resource's `ANY` method falls
//! through to.

use hookpost_domain::{ApiError, Scope};

/// Who may call a route, in SPEC §1's order after authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A customer with any valid token on any plan (`GET /api/v1/me`).
    AnyPlan,
    /// A customer on a paid plan with this scope.
    Scoped(Scope),
    /// The operator: IAM in AWS, the admin key in hookpost-local.
    Operator,
    /// Anyone: the portal's page and files (its API calls carry the session), and the
    /// exchange of a magic link's single-use secret for that session.
    Public,
}

impl Access {
    /// Whether the authorizer runs first and the route is rate-limited per account.
    pub fn is_customer(self) -> bool {
        matches!(self, Self::AnyPlan | Self::Scoped(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub template: &'static str,
    pub access: Access,
}

const fn route(method: &'static str, template: &'static str, access: Access) -> Route {
    Route { method, template, access }
}

use Access::{AnyPlan, Operator, Public, Scoped};
use Scope::{WebhooksManage, WebhooksRead};

pub const GET_ME: Route = route("GET", "/api/v1/me", AnyPlan);
pub const CREATE_WEBHOOK_SUBSCRIPTION: Route = route("POST", "/api/v1/webhook-subscriptions", Scoped(WebhooksManage));
pub const LIST_WEBHOOK_SUBSCRIPTIONS: Route = route("GET", "/api/v1/webhook-subscriptions", Scoped(WebhooksRead));
pub const GET_WEBHOOK_SUBSCRIPTION: Route = route("GET", "/api/v1/webhook-subscriptions/{id}", Scoped(WebhooksRead));
pub const UPDATE_WEBHOOK_SUBSCRIPTION: Route =
    route("PATCH", "/api/v1/webhook-subscriptions/{id}", Scoped(WebhooksManage));
pub const DELETE_WEBHOOK_SUBSCRIPTION: Route =
    route("DELETE", "/api/v1/webhook-subscriptions/{id}", Scoped(WebhooksManage));
pub const REACTIVATE_WEBHOOK_SUBSCRIPTION: Route =
    route("POST", "/api/v1/webhook-subscriptions/{id}/reactivate", Scoped(WebhooksManage));
pub const TEST_WEBHOOK_SUBSCRIPTION: Route =
    route("POST", "/api/v1/webhook-subscriptions/{id}/test", Scoped(WebhooksManage));
pub const ROTATE_WEBHOOK_SUBSCRIPTION_SECRET: Route =
    route("POST", "/api/v1/webhook-subscriptions/{id}/rotate-secret", Scoped(WebhooksManage));
pub const LIST_WEBHOOK_SUBSCRIPTION_ATTEMPTS: Route =
    route("GET", "/api/v1/webhook-subscriptions/{id}/attempts", Scoped(WebhooksRead));
pub const LIST_WEBHOOK_FAILURES: Route = route("GET", "/api/v4/tasks/webhook_failures", Scoped(WebhooksRead));
pub const GET_WEBHOOK_FAILURE: Route =
    route("GET", "/api/v4/tasks/webhook_failures/{webhook_failure_id}", Scoped(WebhooksRead));
pub const RETRIGGER_WEBHOOK_FAILURE: Route =
    route("POST", "/api/v4/tasks/webhook_failures/{webhook_failure_id}/retrigger", Scoped(WebhooksManage));
pub const RECOVER_WEBHOOK_FAILURES: Route =
    route("POST", "/api/v4/tasks/webhook_failures/recover", Scoped(WebhooksManage));
pub const CREATE_ACCOUNT: Route = route("POST", "/internal/v1/accounts", Operator);
pub const UPDATE_ACCOUNT: Route = route("PATCH", "/internal/v1/accounts/{id}", Operator);
pub const ERASE_ACCOUNT: Route = route("DELETE", "/internal/v1/accounts/{id}", Operator);
pub const GET_ACCOUNT_USAGE: Route = route("GET", "/internal/v1/accounts/{id}/usage", Operator);
pub const CREATE_CHANNEL: Route = route("POST", "/internal/v1/accounts/{id}/channels", Operator);
pub const ISSUE_TOKEN: Route = route("POST", "/internal/v1/accounts/{id}/tokens", Operator);
pub const REVOKE_TOKEN: Route = route("DELETE", "/internal/v1/accounts/{id}/tokens/{token_id}", Operator);
pub const CREATE_PORTAL_SESSION: Route = route("POST", "/internal/v1/accounts/{id}/portal-sessions", Operator);
pub const PUBLISH_EVENT: Route = route("POST", "/internal/v1/events", Operator);
pub const PUBLISH_EVENTS_BATCH: Route = route("POST", "/internal/v1/events/batch", Operator);
pub const LIST_EVENT_TYPES: Route = route("GET", "/api/v1/event-types", Scoped(WebhooksRead));
pub const TEST_EVENT_FILTER: Route = route("POST", "/api/v1/event-filters/test", Scoped(WebhooksRead));
pub const LIST_CATALOGUE: Route = route("GET", "/internal/v1/event-types", Operator);
pub const PUT_EVENT_TYPE: Route = route("PUT", "/internal/v1/event-types/{name}", Operator);
pub const GET_EVENT_TYPE: Route = route("GET", "/internal/v1/event-types/{name}", Operator);
pub const DELETE_EVENT_TYPE: Route = route("DELETE", "/internal/v1/event-types/{name}", Operator);
pub const PORTAL_PAGE: Route = route("GET", "/portal", Public);
pub const PORTAL_FILE: Route = route("GET", "/portal/{file}", Public);
pub const OPEN_PORTAL_LINK: Route = route("POST", "/portal/sessions", Public);

pub const ROUTES: &[Route] = &[
    GET_ME,
    CREATE_WEBHOOK_SUBSCRIPTION,
    LIST_WEBHOOK_SUBSCRIPTIONS,
    GET_WEBHOOK_SUBSCRIPTION,
    UPDATE_WEBHOOK_SUBSCRIPTION,
    DELETE_WEBHOOK_SUBSCRIPTION,
    REACTIVATE_WEBHOOK_SUBSCRIPTION,
    TEST_WEBHOOK_SUBSCRIPTION,
    ROTATE_WEBHOOK_SUBSCRIPTION_SECRET,
    LIST_WEBHOOK_SUBSCRIPTION_ATTEMPTS,
    LIST_WEBHOOK_FAILURES,
    GET_WEBHOOK_FAILURE,
    RETRIGGER_WEBHOOK_FAILURE,
    RECOVER_WEBHOOK_FAILURES,
    CREATE_ACCOUNT,
    UPDATE_ACCOUNT,
    ERASE_ACCOUNT,
    GET_ACCOUNT_USAGE,
    CREATE_CHANNEL,
    ISSUE_TOKEN,
    REVOKE_TOKEN,
    CREATE_PORTAL_SESSION,
    PUBLISH_EVENT,
    PUBLISH_EVENTS_BATCH,
    LIST_EVENT_TYPES,
    TEST_EVENT_FILTER,
    LIST_CATALOGUE,
    PUT_EVENT_TYPE,
    GET_EVENT_TYPE,
    DELETE_EVENT_TYPE,
    PORTAL_PAGE,
    PORTAL_FILE,
    OPEN_PORTAL_LINK,
];

/// The methods `template` takes, for `Allow`: e.g. `DELETE, GET, PATCH`.
pub fn allow(template: &str) -> Option<String> {
    let mut methods: Vec<&str> = ROUTES.iter().filter(|r| r.template == template).map(|r| r.method).collect();
    methods.sort_unstable();
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// The 405 for `method` on `template`, or a 404 when no route has that template.
pub fn method_not_allowed(method: &str, template: &str) -> ApiError {
    match allow(template) {
        Some(allow) => ApiError::MethodNotAllowed { method: method.to_owned(), allow },
        None => ApiError::NotFound("route"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_a_templates_methods_in_order() {
        assert_eq!(allow("/api/v1/webhook-subscriptions/{id}").as_deref(), Some("DELETE, GET, PATCH"));
        assert_eq!(allow("/api/v1/me").as_deref(), Some("GET"));
        assert_eq!(allow("/nowhere"), None);
        assert_eq!(method_not_allowed("PUT", "/api/v1/me").status(), 405);
        assert_eq!(method_not_allowed("PUT", "/nowhere").status(), 404);
    }

    #[test]
    fn every_route_is_declared_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(!ROUTES[i + 1..].iter().any(|b| (a.method, a.template) == (b.method, b.template)), "{a:?}");
        }
        for r in ROUTES {
            let operator = r.template.starts_with("/internal/");
            let public = r.template.starts_with("/portal");
            assert_eq!(r.access == Operator, operator, "{r:?}: /internal/ routes are the operator's, only they");
            assert_eq!(r.access == Public, public, "{r:?}: only the portal's files are public");
        }
    }
}
