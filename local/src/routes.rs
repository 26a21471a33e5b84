//! The route table: every function's handler on the path API Gateway gives it in
//! `template.yaml`.

use std::collections::HashMap;
use std::sync::Arc;

use hookpost_http::App;
use lambda_http::{Body, BoxFuture, Request, Response};

pub type Handler = fn(Arc<App>, Request) -> BoxFuture<'static, Response<Body>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// A customer route: the authorizer runs first.
    Customer,
    /// An operator route: IAM in AWS, the admin key here.
    Internal,
    /// The portal's page and files: no credential (its API calls carry the session).
    Public,
}

pub struct RouteEntry {
    pub method: &'static str,
    pub template: &'static str,
    pub guard: Guard,
    pub handler: Handler,
}

macro_rules! route {
    ($method:literal, $template:literal, $guard:ident, $krate:ident) => {
        RouteEntry {
            method: $method,
            template: $template,
            guard: Guard::$guard,
            handler: |app, req| Box::pin(async move { $krate::handle(&app, req).await }),
        }
    };
}

pub fn table() -> Vec<RouteEntry> {
    vec![
        route!("GET", "/api/v1/me", Customer, get_me),
        route!("POST", "/api/v1/webhook-subscriptions", Customer, create_webhook_subscription),
        route!("GET", "/api/v1/webhook-subscriptions", Customer, list_webhook_subscriptions),
        route!("GET", "/api/v1/webhook-subscriptions/{id}", Customer, get_webhook_subscription),
        route!("PATCH", "/api/v1/webhook-subscriptions/{id}", Customer, update_webhook_subscription),
        route!("DELETE", "/api/v1/webhook-subscriptions/{id}", Customer, delete_webhook_subscription),
        route!("POST", "/api/v1/webhook-subscriptions/{id}/reactivate", Customer, reactivate_webhook_subscription),
        route!("POST", "/api/v1/webhook-subscriptions/{id}/test", Customer, test_webhook_subscription),
        route!(
            "POST",
            "/api/v1/webhook-subscriptions/{id}/rotate-secret",
            Customer,
            rotate_webhook_subscription_secret
        ),
        route!("GET", "/api/v1/webhook-subscriptions/{id}/attempts", Customer, list_webhook_subscription_attempts),
        route!("GET", "/api/v4/tasks/webhook_failures", Customer, list_webhook_failures),
        route!("GET", "/api/v4/tasks/webhook_failures/{webhook_failure_id}", Customer, get_webhook_failure),
        route!(
            "POST",
            "/api/v4/tasks/webhook_failures/{webhook_failure_id}/retrigger",
            Customer,
            retrigger_webhook_failure
        ),
        route!("POST", "/api/v4/tasks/webhook_failures/recover", Customer, recover_webhook_failures),
        route!("POST", "/internal/v1/accounts", Internal, create_account),
        route!("PATCH", "/internal/v1/accounts/{id}", Internal, update_account),
        route!("DELETE", "/internal/v1/accounts/{id}", Internal, erase_account),
        route!("POST", "/internal/v1/accounts/{id}/channels", Internal, create_channel),
        route!("POST", "/internal/v1/accounts/{id}/tokens", Internal, issue_token),
        route!("DELETE", "/internal/v1/accounts/{id}/tokens/{token_id}", Internal, revoke_token),
        route!("POST", "/internal/v1/accounts/{id}/portal-sessions", Internal, create_portal_session),
        route!("POST", "/internal/v1/events", Internal, publish_event),
        route!("GET", "/portal", Public, portal),
        route!("GET", "/portal/{file}", Public, portal),
    ]
}

/// The resource `path` names: of the templates it matches, the one with the most literal
/// segments (API Gateway's precedence), with its path parameters.
pub fn resource(routes: &[RouteEntry], path: &str) -> Option<(&'static str, HashMap<String, String>)> {
    routes
        .iter()
        .filter_map(|r| match_template(r.template, path).map(|params| (r.template, params)))
        .max_by_key(|(template, _)| template.split('/').filter(|s| !s.starts_with('{')).count())
}

/// Matches a path against a template: literal segments equal, `{name}` segments captured
/// (percent-decoded). A trailing slash is not the same path, as in API Gateway.
pub fn match_template(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    let decoded = url::form_urlencoded::parse(format!("v={}", ps.replace('+', "%2B")).as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    params.insert(name.to_owned(), decoded);
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segment_by_segment() {
        let p = match_template("/api/v1/webhook-subscriptions/{id}", "/api/v1/webhook-subscriptions/abc").unwrap();
        assert_eq!(p["id"], "abc");
        assert!(match_template("/api/v1/webhook-subscriptions/{id}", "/api/v1/webhook-subscriptions/").is_none());
        assert!(match_template("/api/v1/webhook-subscriptions/{id}", "/api/v1/webhook-subscriptions/a/b").is_none());
        assert!(match_template("/api/v1/me", "/api/v1/me").unwrap().is_empty());
        assert!(match_template("/api/v1/me", "/api/v1/me/").is_none());
        let p = match_template("/a/{x}/b/{y}", "/a/1%202/b/%E2%9C%93").unwrap();
        assert_eq!((p["x"].as_str(), p["y"].as_str()), ("1 2", "✓"));
    }

    #[test]
    fn literal_segments_win_over_variables() {
        let routes = table();
        let (template, params) = resource(&routes, "/api/v4/tasks/webhook_failures/recover").unwrap();
        assert_eq!(template, "/api/v4/tasks/webhook_failures/recover");
        assert!(params.is_empty());
        let (template, params) = resource(&routes, "/api/v4/tasks/webhook_failures/aabbccddeeff001122334455").unwrap();
        assert_eq!(
            (template, params["webhook_failure_id"].as_str()),
            ("/api/v4/tasks/webhook_failures/{webhook_failure_id}", "aabbccddeeff001122334455")
        );
        assert!(resource(&routes, "/api/v4/nothing").is_none());
    }

    #[test]
    fn every_route_is_unique() {
        let routes = table();
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                assert!(!(a.method == b.method && a.template == b.template), "{} {}", a.method, a.template);
            }
        }
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    /// (method, path) of every `Type: Api` event in template.yaml.
    fn template_routes() -> Vec<(String, String)> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
        let mut routes = Vec::new();
        let mut path = None;
        for line in text.lines().map(str::trim) {
            if let Some(p) = line.strip_prefix("Path: ") {
                path = Some(p.to_owned());
            } else if let Some(m) = line.strip_prefix("Method: ") {
                routes.push((m.to_owned(), path.take().expect("Path before Method")));
            }
        }
        routes
    }

    #[test]
    fn local_routes_are_the_templates_routes() {
        let mut local: Vec<(String, String)> =
            table().iter().map(|r| (r.method.to_owned(), r.template.to_owned())).collect();
        let mut deployed: Vec<(String, String)> = template_routes().into_iter().filter(|(m, _)| m != "ANY").collect();
        local.sort();
        deployed.sort();
        assert_eq!(local, deployed);
        let mut catalogue: Vec<(String, String)> =
            hookpost_http::routes::ROUTES.iter().map(|(m, t)| (m.to_string(), t.to_string())).collect();
        catalogue.sort();
        assert_eq!(local, catalogue, "hookpost_http::routes::ROUTES lists every route");
    }

    #[test]
    fn every_resource_falls_through_to_the_405_function() {
        let mut resources: Vec<String> = table().iter().map(|r| r.template.to_owned()).collect();
        resources.sort();
        resources.dedup();
        let mut any: Vec<String> = template_routes().into_iter().filter(|(m, _)| m == "ANY").map(|(_, p)| p).collect();
        any.sort();
        assert_eq!(any, resources, "an ANY method on every resource, for the 405");
    }

    /// (method, path) of every operation in docs/openapi.yaml.
    fn openapi_routes() -> Vec<(String, String)> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).unwrap();
        let mut routes = Vec::new();
        let mut path = None;
        for line in text.lines() {
            if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
                path = Some(format!("/{p}"));
            } else if !line.starts_with(' ') {
                // A top-level key (`webhooks:`, `components:`): no more paths.
                path = None;
            } else if let (Some(p), Some(method)) =
                (&path, ["get", "post", "patch", "delete", "put"].iter().find(|m| line == format!("    {m}:")))
            {
                routes.push((method.to_ascii_uppercase(), p.clone()));
            }
        }
        routes
    }

    #[test]
    fn openapi_documents_every_route() {
        let mut local: Vec<(String, String)> =
            table().iter().map(|r| (r.method.to_owned(), r.template.to_owned())).collect();
        let mut documented = openapi_routes();
        local.sort();
        documented.sort();
        assert_eq!(local, documented);
    }
}
