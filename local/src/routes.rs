//! The route table: every declared route (`hookpost_http::routes`) mounted on the function
//! that answers it in AWS, and API Gateway's way of finding a path's resource.

use std::collections::HashMap;
use std::sync::Arc;

use hookpost_http::routes::{self, Route};
use hookpost_http::App;
use lambda_http::{Body, BoxFuture, Request, Response};

pub type Handler = fn(Arc<App>, Request) -> BoxFuture<'static, Response<Body>>;

/// A route (declared once, in `hookpost_http::routes`) and the function that answers it.
pub struct RouteEntry {
    pub route: Route,
    pub handler: Handler,
}

impl RouteEntry {
    pub fn template(&self) -> &'static str {
        self.route.template
    }
}

macro_rules! mount {
    ($route:ident, $krate:ident) => {
        RouteEntry {
            route: routes::$route,
            handler: |app, req| Box::pin(async move { $krate::handle(&app, req).await }),
        }
    };
}

pub fn table() -> Vec<RouteEntry> {
    vec![
        mount!(GET_ME, get_me),
        mount!(CREATE_WEBHOOK_SUBSCRIPTION, create_webhook_subscription),
        mount!(LIST_WEBHOOK_SUBSCRIPTIONS, list_webhook_subscriptions),
        mount!(GET_WEBHOOK_SUBSCRIPTION, get_webhook_subscription),
        mount!(UPDATE_WEBHOOK_SUBSCRIPTION, update_webhook_subscription),
        mount!(DELETE_WEBHOOK_SUBSCRIPTION, delete_webhook_subscription),
        mount!(REACTIVATE_WEBHOOK_SUBSCRIPTION, reactivate_webhook_subscription),
        mount!(TEST_WEBHOOK_SUBSCRIPTION, test_webhook_subscription),
        mount!(ROTATE_WEBHOOK_SUBSCRIPTION_SECRET, rotate_webhook_subscription_secret),
        mount!(LIST_WEBHOOK_SUBSCRIPTION_ATTEMPTS, list_webhook_subscription_attempts),
        mount!(LIST_WEBHOOK_FAILURES, list_webhook_failures),
        mount!(GET_WEBHOOK_FAILURE, get_webhook_failure),
        mount!(RETRIGGER_WEBHOOK_FAILURE, retrigger_webhook_failure),
        mount!(RECOVER_WEBHOOK_FAILURES, recover_webhook_failures),
        mount!(CREATE_ACCOUNT, create_account),
        mount!(UPDATE_ACCOUNT, update_account),
        mount!(ERASE_ACCOUNT, erase_account),
        mount!(GET_ACCOUNT_USAGE, get_account_usage),
        mount!(CREATE_CHANNEL, create_channel),
        mount!(ISSUE_TOKEN, issue_token),
        mount!(REVOKE_TOKEN, revoke_token),
        mount!(CREATE_PORTAL_SESSION, create_portal_session),
        mount!(PUBLISH_EVENT, publish_event),
        mount!(PUBLISH_EVENTS_BATCH, publish_event),
        mount!(LIST_EVENT_TYPES, list_event_types),
        mount!(TEST_EVENT_FILTER, test_event_filter),
        mount!(LIST_CATALOGUE, event_types),
        mount!(PUT_EVENT_TYPE, event_types),
        mount!(GET_EVENT_TYPE, event_types),
        mount!(DELETE_EVENT_TYPE, event_types),
        mount!(PORTAL_PAGE, portal),
        mount!(PORTAL_FILE, portal),
        mount!(OPEN_PORTAL_LINK, portal),
    ]
}

/// The declared resources, each split into its segments once and ordered by API Gateway's
/// precedence (the most literal segments first), so a request's path is split once and
/// compared without allocating; only the resource found has its parameters decoded.
pub struct Resources(Vec<Resource>);

struct Resource {
    template: &'static str,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(&'static str),
    Variable(&'static str),
}

impl Resource {
    fn parse(template: &'static str) -> Self {
        let segments = template
            .split('/')
            .map(|s| match s.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                Some(name) => Segment::Variable(name),
                None => Segment::Literal(s),
            })
            .collect();
        Self { template, segments }
    }

    fn literals(&self) -> usize {
        self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count()
    }

    /// Literal segments equal, `{name}` segments not empty; a trailing slash is not the same
    /// path, as in API Gateway.
    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self.segments.iter().zip(path).all(|(segment, part)| match segment {
                Segment::Literal(literal) => literal == part,
                Segment::Variable(_) => !part.is_empty(),
            })
    }

    /// The path's `{name}` segments, percent-decoded (`+` stays `+`: a path is not a form).
    fn parameters(&self, path: &[&str]) -> HashMap<String, String> {
        self.segments
            .iter()
            .zip(path)
            .filter_map(|(segment, part)| match segment {
                Segment::Variable(name) => Some((
                    (*name).to_owned(),
                    percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned(),
                )),
                Segment::Literal(_) => None,
            })
            .collect()
    }
}

impl Resources {
    pub fn of(routes: &[RouteEntry]) -> Self {
        let mut resources: Vec<Resource> = Vec::new();
        for entry in routes {
            if !resources.iter().any(|r| r.template == entry.template()) {
                resources.push(Resource::parse(entry.template()));
            }
        }
        resources.sort_by_key(|r| std::cmp::Reverse(r.literals()));
        Self(resources)
    }

    /// The resource `path` names: of the templates it matches, the one with the most literal
    /// segments (API Gateway's precedence), with its path parameters.
    pub fn find(&self, path: &str) -> Option<(&'static str, HashMap<String, String>)> {
        let parts: Vec<&str> = path.split('/').collect();
        let resource = self.0.iter().find(|r| r.matches(&parts))?;
        Some((resource.template, resource.parameters(&parts)))
    }
}

/// Matches a path against one template (see [`Resources::find`]).
#[cfg(test)]
fn match_template(template: &'static str, path: &str) -> Option<HashMap<String, String>> {
    let resource = Resource::parse(template);
    let parts: Vec<&str> = path.split('/').collect();
    resource.matches(&parts).then(|| resource.parameters(&parts))
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
        let p = match_template("/a/{x}/b/{y}", "/a/1%202+3/b/%E2%9C%93").unwrap();
        assert_eq!((p["x"].as_str(), p["y"].as_str()), ("1 2+3", "✓"));
    }

    #[test]
    fn literal_segments_win_over_variables() {
        let resources = Resources::of(&table());
        let (template, params) = resources.find("/api/v4/tasks/webhook_failures/recover").unwrap();
        assert_eq!(template, "/api/v4/tasks/webhook_failures/recover");
        assert!(params.is_empty());
        let (template, params) = resources.find("/api/v4/tasks/webhook_failures/aabbccddeeff001122334455").unwrap();
        assert_eq!(
            (template, params["webhook_failure_id"].as_str()),
            ("/api/v4/tasks/webhook_failures/{webhook_failure_id}", "aabbccddeeff001122334455")
        );
        assert!(resources.find("/api/v4/nothing").is_none());
        assert!(resources.find("/api/v1/webhook-subscriptions/").is_none());
    }

    #[test]
    fn every_route_is_mounted_once() {
        let mounted: Vec<Route> = table().iter().map(|entry| entry.route).collect();
        assert_eq!(mounted, routes::ROUTES, "each declared route has its handler, in the declared order");
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    /// (method, template) of every declared route, sorted.
    fn declared() -> Vec<(String, String)> {
        let mut declared: Vec<(String, String)> =
            routes::ROUTES.iter().map(|r| (r.method.to_owned(), r.template.to_owned())).collect();
        declared.sort();
        declared
    }

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
    fn declared_routes_are_the_templates_routes() {
        let mut deployed: Vec<(String, String)> = template_routes().into_iter().filter(|(m, _)| m != "ANY").collect();
        deployed.sort();
        assert_eq!(declared(), deployed);
    }

    #[test]
    fn every_resource_falls_through_to_the_405_function() {
        let mut resources: Vec<String> = routes::ROUTES.iter().map(|r| r.template.to_owned()).collect();
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
        let mut documented = openapi_routes();
        documented.sort();
        assert_eq!(declared(), documented);
    }
}
