//! Every route of the API by method and resource template (the path API Gateway knows).
//! A request to a known template with a method it does not take is a 405 whose `Allow` is
//! read here — in hookpost-local, and in AWS by the `method-not-allowed` function that every
//! resource's `ANY` method falls through to. Tests hold this list equal to hookpost-local's
//! route table, `template.yaml` and `docs/openapi.yaml`.

use hookpost_domain::ApiError;

pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/webhook-subscriptions"),
    ("GET", "/api/v1/webhook-subscriptions"),
    ("GET", "/api/v1/webhook-subscriptions/{id}"),
    ("PATCH", "/api/v1/webhook-subscriptions/{id}"),
    ("DELETE", "/api/v1/webhook-subscriptions/{id}"),
    ("POST", "/api/v1/webhook-subscriptions/{id}/reactivate"),
    ("POST", "/api/v1/webhook-subscriptions/{id}/test"),
    ("POST", "/api/v1/webhook-subscriptions/{id}/rotate-secret"),
    ("GET", "/api/v1/webhook-subscriptions/{id}/attempts"),
    ("GET", "/api/v4/tasks/webhook_failures"),
    ("GET", "/api/v4/tasks/webhook_failures/{webhook_failure_id}"),
    ("POST", "/api/v4/tasks/webhook_failures/{webhook_failure_id}/retrigger"),
    ("POST", "/api/v4/tasks/webhook_failures/recover"),
    ("POST", "/internal/v1/accounts"),
    ("PATCH", "/internal/v1/accounts/{id}"),
    ("DELETE", "/internal/v1/accounts/{id}"),
    ("POST", "/internal/v1/accounts/{id}/channels"),
    ("POST", "/internal/v1/accounts/{id}/tokens"),
    ("DELETE", "/internal/v1/accounts/{id}/tokens/{token_id}"),
    ("POST", "/internal/v1/accounts/{id}/portal-sessions"),
    ("POST", "/internal/v1/events"),
    ("GET", "/portal"),
    ("GET", "/portal/{file}"),
];

/// The methods `template` takes, for `Allow`: e.g. `DELETE, GET, PATCH`.
pub fn allow(template: &str) -> Option<String> {
    let mut methods: Vec<&str> = ROUTES.iter().filter(|(_, t)| *t == template).map(|(m, _)| *m).collect();
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
}
