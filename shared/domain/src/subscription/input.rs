//! What a client may send to create or change a subscription, checked field by field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Authentication, Ordering, Source, Subscription, MAX_EVENTS, MAX_HEADERS, MAX_NAME_LEN};
use crate::address::DestinationPolicy;
use crate::error::ApiError;
use crate::event_type::wildcard_prefix;
use crate::filter::ContentFilter;
use crate::ids::ChannelId;
use crate::input::Fields;
use crate::pacing::{RateLimit, MAX_RATE_LIMIT};
use crate::time::Timestamp;
use crate::url_rules::{url_host, validate_webhook_url};

/// Event types: 1–100 chars of `[a-z0-9_.-]` (SPEC §4).
pub fn is_valid_event_type(s: &str) -> bool {
    !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'))
}

/// Header names hookpost sets itself, or that would change how the request is framed.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
];

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Extra headers, kept with their names as written: HTTP treats `X-Tenant` and `x-tenant`
/// alike, so names are compared without case — two that differ only in case are refused,
/// and hookpost's own names are refused in any case.
fn read_headers(fields: &mut Fields, value: Map<String, Value>) -> BTreeMap<String, String> {
    if value.len() > MAX_HEADERS {
        fields.issue("headers", format!("at most {MAX_HEADERS} headers"));
    }
    let mut out = BTreeMap::new();
    let mut seen: Vec<String> = Vec::with_capacity(value.len());
    for (name, v) in value {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || name.len() > 100 || !name.bytes().all(is_token_char) {
            fields.issue(&field, "is not a valid header name");
        } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
            fields.issue(&field, "is set by hookpost and cannot be overridden");
        } else if seen.contains(&lower) {
            fields.issue(&field, "is given twice (header names are compared without regard to case)");
        } else {
            seen.push(lower);
            match v {
                Value::String(s) if s.len() <= 1024 && s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) => {
                    out.insert(name, s);
                }
                Value::String(_) => fields.issue(&field, "must be at most 1024 visible ASCII characters"),
                _ => fields.issue(&field, "must be a string"),
            }
        }
    }
    out
}

fn read_credential(fields: &mut Fields, auth: &mut Map<String, Value>, name: &str) -> String {
    let field = format!("authentication.{name}");
    match auth.remove(name) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 1024 && !s.chars().any(char::is_control) => s,
        Some(Value::String(_)) => {
            fields.issue(&field, "must be 1 to 1024 characters without control characters");
            String::new()
        }
        Some(_) => {
            fields.issue(&field, "must be a string");
            String::new()
        }
        None => {
            fields.issue(&field, "is required");
            String::new()
        }
    }
}

fn read_authentication(fields: &mut Fields, mut auth: Map<String, Value>) -> Authentication {
    let method = match auth.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => {
            fields.issue("authentication.method", "must be a string");
            return Authentication::None;
        }
        None => {
            fields.issue("authentication.method", "is required");
            return Authentication::None;
        }
    };
    let result = match method.as_str() {
        "none" => Authentication::None,
        "basic" => {
            let username = read_credential(fields, &mut auth, "username");
            if username.contains(':') {
                fields.issue("authentication.username", "must not contain ':'");
            }
            let password = read_credential(fields, &mut auth, "password");
            Authentication::Basic { username, password }
        }
        "bearer" => Authentication::Bearer { token: read_credential(fields, &mut auth, "token") },
        _ => {
            fields.issue("authentication.method", "must be one of none, basic, bearer");
            return Authentication::None;
        }
    };
    for extra in auth.keys() {
        fields.issue(&format!("authentication.{extra}"), "unknown field");
    }
    result
}

/// `rate_limit`: a whole number of deliveries per second, or null for no limit. `None` when
/// the field is absent.
fn read_rate_limit(fields: &mut Fields) -> Option<Option<RateLimit>> {
    let value = fields.take("rate_limit")?;
    match &value {
        Value::Null => Some(None),
        Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()).and_then(RateLimit::new) {
            Some(limit) => Some(Some(limit)),
            None => {
                fields.issue(
                    "rate_limit",
                    format!("must be a whole number from 1 to {MAX_RATE_LIMIT}, or null for no limit"),
                );
                None
            }
        },
        _ => {
            fields.issue(
                "rate_limit",
                format!("must be a whole number from 1 to {MAX_RATE_LIMIT}, or null for no limit"),
            );
            None
        }
    }
}

/// `ordering`: `unordered` or `fifo`. `None` when the field is absent.
fn read_ordering(fields: &mut Fields) -> Option<Ordering> {
    let value = fields.take("ordering")?;
    let ordering = value.as_str().and_then(Ordering::parse);
    if ordering.is_none() {
        fields.issue("ordering", format!("must be one of {}", Ordering::choices()));
    }
    ordering
}

fn read_name(fields: &mut Fields, name: String) -> Option<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        fields.issue("name", "must be 1 to 200 characters without control characters");
        None
    } else {
        Some(trimmed.to_owned())
    }
}

/// A name in a subscription's `events`: an event type, or a trailing wildcard selecting every
/// type under a prefix (`billing.*`, SPEC §4).
pub fn is_valid_event_selector(s: &str) -> bool {
    is_valid_event_type(s) || (s.len() <= 100 && wildcard_prefix(s).is_some_and(is_valid_event_type))
}

fn read_events(fields: &mut Fields, events: Vec<String>) -> Vec<String> {
    if events.len() > MAX_EVENTS {
        fields.issue("events", format!("at most {MAX_EVENTS} event types"));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        if !is_valid_event_selector(&e) {
            fields.issue(
                &format!("events[{i}]"),
                "must be an event type (1 to 100 characters of a-z, 0-9, '_', '.', '-') or a wildcard such as 'billing.*'",
            );
        } else if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// A validated create request. The channel still has to be checked against the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSubscription {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub channel_id: Option<ChannelId>,
    pub source: Source,
    pub zapier_subscription_id: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub authentication: Authentication,
    /// `None` when the request names none: the deployment's default applies
    /// (`HOOKPOST_DEFAULT_RATE_LIMIT`); `Some(None)` for no limit.
    pub rate_limit: Option<Option<RateLimit>>,
    pub ordering: Ordering,
    pub filter: Option<ContentFilter>,
}

/// `filter`: an EventBridge event pattern, or null for none. `None` when the field is absent.
fn read_filter(fields: &mut Fields) -> Option<Option<ContentFilter>> {
    match fields.take("filter")? {
        Value::Null => Some(None),
        pattern => match ContentFilter::new(pattern, "filter") {
            Ok(filter) => Some(Some(filter)),
            Err(issues) => {
                for issue in issues {
                    fields.issue(&issue.field, issue.message);
                }
                None
            }
        },
    }
}

/// Checks a create body: field errors first (`validation_error`), then the URL rules
/// (`invalid_url`), so a client fixes its request shape before its URL.
pub fn parse_new_subscription(body: Value, policy: &DestinationPolicy) -> Result<NewSubscription, ApiError> {
    let mut f = Fields::from_value(body)?;
    f.refuse_null(&["name", "events", "source", "headers", "authentication"]);
    let url = f.required_string("url");
    let name = f.opt_string("name").and_then(|n| read_name(&mut f, n));
    let events = f.opt_string_array("events").map(|e| read_events(&mut f, e)).unwrap_or_default();
    let channel_id = f.opt_string("channel_id");
    let source = match f.opt_string("source") {
        None => Source::Dashboard,
        Some(s) => Source::parse(&s).unwrap_or_else(|| {
            f.issue("source", "must be one of zapier, dashboard");
            Source::Dashboard
        }),
    };
    let zapier_subscription_id = f.opt_string("zapier_subscription_id");
    match (source, &zapier_subscription_id) {
        (Source::Zapier, None) => f.issue("zapier_subscription_id", "is required when source is zapier"),
        (Source::Zapier, Some(z)) if z.is_empty() || z.chars().count() > 200 || z.chars().any(char::is_control) => {
            f.issue("zapier_subscription_id", "must be 1 to 200 characters")
        }
        (Source::Dashboard, Some(_)) => f.issue("zapier_subscription_id", "must be null unless source is zapier"),
        _ => {}
    }
    let headers = f.opt_object("headers").map(|h| read_headers(&mut f, h)).unwrap_or_default();
    let authentication = f.opt_object("authentication").map(|a| read_authentication(&mut f, a)).unwrap_or_default();
    let rate_limit = read_rate_limit(&mut f);
    let ordering = read_ordering(&mut f).unwrap_or(Ordering::Unordered);
    let filter = read_filter(&mut f).flatten();
    f.finish()?;

    let url = validate_webhook_url(&url.unwrap_or_default(), policy).map_err(ApiError::InvalidUrl)?;
    let name = name.unwrap_or_else(|| url_host(&url).unwrap_or_else(|| url.clone()));
    // A malformed channel id cannot be a channel of the account: the same answer as an
    // unknown one, after the shape and URL checks.
    let channel_id = channel_id.map(|c| ChannelId::parse(&c).ok_or(ApiError::InvalidChannelId)).transpose()?;
    Ok(NewSubscription {
        name,
        url,
        events,
        channel_id,
        source,
        zapier_subscription_id,
        headers,
        authentication,
        rate_limit,
        ordering,
        filter,
    })
}

/// A validated PATCH: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub headers: Option<BTreeMap<String, String>>,
    pub authentication: Option<Authentication>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    pub ordering: Option<Ordering>,
    /// `Some(None)` removes the filter.
    pub filter: Option<Option<ContentFilter>>,
}

impl SubscriptionPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn apply(self, sub: &mut Subscription, now: Timestamp) {
        if let Some(name) = self.name {
            sub.name = name;
        }
        if let Some(url) = self.url {
            sub.url = url;
        }
        if let Some(events) = self.events {
            sub.events = events;
        }
        if let Some(headers) = self.headers {
            sub.headers = headers;
        }
        if let Some(auth) = self.authentication {
            sub.authentication = auth;
        }
        if let Some(rate_limit) = self.rate_limit {
            sub.rate_limit = rate_limit;
        }
        if let Some(ordering) = self.ordering {
            sub.ordering = ordering;
        }
        if let Some(filter) = self.filter {
            sub.filter = filter;
        }
        sub.updated_at = now;
    }
}

pub fn parse_subscription_patch(body: Value, policy: &DestinationPolicy) -> Result<SubscriptionPatch, ApiError> {
    let mut f = Fields::from_value(body)?;
    for immutable in ["channel_id", "channel_type", "source", "zapier_subscription_id"] {
        if f.take(immutable).is_some() {
            f.issue(immutable, "cannot be changed after creation");
        }
    }
    for read_only in [
        "id",
        "secret_prefix",
        "is_active",
        "disabled_reason",
        "consecutive_failures",
        "last_delivery_at",
        "last_success_at",
        "last_error",
        "created_at",
        "created_by_user_id",
    ] {
        if f.take(read_only).is_some() {
            f.issue(read_only, "is read-only");
        }
    }
    let mut patch = SubscriptionPatch::default();
    if f.contains("name") {
        match f.opt_string("name") {
            Some(n) => patch.name = read_name(&mut f, n),
            None if !f.has_issues() => f.issue("name", "must be a string"),
            None => {}
        }
    }
    let url = if f.contains("url") { f.required_string("url") } else { None };
    if f.contains("events") {
        match f.take("events") {
            Some(Value::Null) => f.issue("events", "must be an array of strings"),
            Some(v) => {
                let mut tmp = Fields::from_value(serde_json::json!({ "events": v }))?;
                let events = tmp.opt_string_array("events");
                let issues = tmp.finish();
                if let Err(ApiError::Validation(issues)) = issues {
                    for i in issues {
                        f.issue(&i.field, i.message);
                    }
                }
                patch.events = events.map(|e| read_events(&mut f, e));
            }
            None => {}
        }
    }
    if f.contains("headers") {
        patch.headers = Some(f.opt_object("headers").map(|h| read_headers(&mut f, h)).unwrap_or_default());
    }
    if f.contains("authentication") {
        patch.authentication =
            Some(f.opt_object("authentication").map(|a| read_authentication(&mut f, a)).unwrap_or_default());
    }
    patch.rate_limit = read_rate_limit(&mut f);
    patch.ordering = read_ordering(&mut f);
    patch.filter = read_filter(&mut f);
    f.finish()?;
    if let Some(url) = url {
        patch.url = Some(validate_webhook_url(&url, policy).map_err(ApiError::InvalidUrl)?);
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{policy, sample};
    use super::*;
    use crate::account::ChannelType;
    use crate::error::Issue;
    use crate::ids::AccountId;

    fn issues(err: ApiError) -> Vec<Issue> {
        match err {
            ApiError::Validation(i) => i,
            other => panic!("expected validation_error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_create_gets_defaults() {
        let n = parse_new_subscription(json!({"url": "https://hooks.example.com/in"}), &policy()).unwrap();
        assert_eq!(n.name, "hooks.example.com");
        assert_eq!(n.source, Source::Dashboard);
        assert!(n.events.is_empty() && n.headers.is_empty());
        assert_eq!(n.authentication, Authentication::None);
    }

    #[test]
    fn full_create() {
        let n = parse_new_subscription(
            json!({
                "url": "https://example.com/h", "name": " CRM ", "events": ["call.ended", "call.ended", "sms.sent"],
                "channel_id": "dom_1", "source": "zapier", "zapier_subscription_id": "zap_9",
                "headers": {"x-team": "crm"}, "authentication": {"method": "basic", "username": "u", "password": "p"}
            }),
            &policy(),
        )
        .unwrap();
        assert_eq!(n.name, "CRM");
        assert_eq!(n.events, ["call.ended", "sms.sent"]);
        assert_eq!(n.channel_id.as_ref().map(ChannelId::as_str), Some("dom_1"));
        assert_eq!(n.headers.get("x-team").map(String::as_str), Some("crm"));
        assert_eq!(n.authentication, Authentication::Basic { username: "u".into(), password: "p".into() });
        let sub = Subscription::create(
            AccountId::new(),
            n,
            Some(ChannelType::Domain),
            Some("u1".into()),
            Timestamp::from_unix(5),
        );
        assert_eq!(sub.created_by_user_id, None, "zapier rows have no user");
    }

    #[test]
    fn rate_limit_and_ordering_on_create() {
        let n = parse_new_subscription(json!({"url": "https://e.com"}), &policy()).unwrap();
        assert_eq!((n.rate_limit, n.ordering), (None, Ordering::Unordered), "unnamed: the deployment's default");
        let sub = Subscription::create(AccountId::new(), n, None, None, Timestamp::from_unix(5));
        assert_eq!(sub.rate_limit.map(RateLimit::per_second), Some(crate::pacing::DEFAULT_RATE_LIMIT));

        let n =
            parse_new_subscription(json!({"url": "https://e.com", "rate_limit": 20, "ordering": "fifo"}), &policy())
                .unwrap();
        assert_eq!((n.rate_limit, n.ordering), (Some(RateLimit::new(20)), Ordering::Fifo));
        let n = parse_new_subscription(json!({"url": "https://e.com", "rate_limit": null}), &policy()).unwrap();
        let sub = Subscription::create(AccountId::new(), n, None, None, Timestamp::from_unix(5));
        assert_eq!(sub.rate_limit, None, "null: no limit");

        for bad in [json!(0), json!(10_001), json!(2.5), json!(-1), json!("20"), json!(true), json!(4_294_967_296u64)] {
            let e = parse_new_subscription(json!({"url": "https://e.com", "rate_limit": bad}), &policy()).unwrap_err();
            assert_eq!(issues(e)[0].field, "rate_limit", "{bad}");
        }
        for bad in [json!("FIFO"), json!("ordered"), json!(null), json!(1)] {
            let e = parse_new_subscription(json!({"url": "https://e.com", "ordering": bad}), &policy()).unwrap_err();
            assert_eq!(issues(e)[0].field, "ordering", "{bad}");
        }
    }

    #[test]
    fn rate_limit_and_ordering_on_patch() {
        let p = parse_subscription_patch(json!({"name": "n"}), &policy()).unwrap();
        assert_eq!((p.rate_limit, p.ordering), (None, None), "absent: unchanged");
        let p = parse_subscription_patch(json!({"rate_limit": null, "ordering": "fifo"}), &policy()).unwrap();
        assert_eq!((p.rate_limit, p.ordering), (Some(None), Some(Ordering::Fifo)));
        let mut sub = sample();
        p.apply(&mut sub, Timestamp::from_unix(9));
        assert_eq!((sub.rate_limit, sub.ordering), (None, Ordering::Fifo));
        let p = parse_subscription_patch(json!({"rate_limit": 5}), &policy()).unwrap();
        p.apply(&mut sub, Timestamp::from_unix(10));
        assert_eq!((sub.rate_limit, sub.ordering), (RateLimit::new(5), Ordering::Fifo));
        let e = parse_subscription_patch(json!({"rate_limit": 0, "ordering": "lifo"}), &policy()).unwrap_err();
        let fields: Vec<String> = issues(e).into_iter().map(|i| i.field).collect();
        assert_eq!(fields, ["rate_limit", "ordering"]);
    }

    #[test]
    fn every_field_problem_is_reported() {
        let err = parse_new_subscription(
            json!({
                "name": "", "events": ["UPPER"], "source": "email", "headers": {"Content-Type": "x", "X-A": 1, "X-B": "y", "x-b": "z"},
                "authentication": {"method": "bearer"}, "colour": "red"
            }),
            &policy(),
        )
        .unwrap_err();
        let fields: Vec<String> = issues(err).into_iter().map(|i| i.field).collect();
        for f in [
            "url",
            "name",
            "events[0]",
            "source",
            "headers.Content-Type",
            "headers.X-A",
            "headers.x-b",
            "authentication.token",
            "colour",
        ] {
            assert!(fields.contains(&f.to_owned()), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn zapier_id_rules() {
        let e = parse_new_subscription(json!({"url": "https://e.com", "source": "zapier"}), &policy()).unwrap_err();
        assert_eq!(issues(e)[0].field, "zapier_subscription_id");
        let e = parse_new_subscription(json!({"url": "https://e.com", "zapier_subscription_id": "z"}), &policy())
            .unwrap_err();
        assert_eq!(issues(e)[0].field, "zapier_subscription_id");
    }

    #[test]
    fn header_names_keep_their_case_and_collide_without_it() {
        let n = parse_new_subscription(
            json!({"url": "https://e.com", "headers": {"X-Tenant": "acme", "x-team": "crm"}}),
            &policy(),
        )
        .unwrap();
        let names: Vec<&str> = n.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["X-Tenant", "x-team"], "names are kept as written");

        let e = parse_new_subscription(
            json!({"url": "https://e.com", "headers": {"X-Tenant": "a", "x-tenant": "b"}}),
            &policy(),
        )
        .unwrap_err();
        let fields: Vec<String> = issues(e).into_iter().map(|i| i.field).collect();
        assert_eq!(fields, ["headers.x-tenant"], "the second spelling of one name is the fault");

        let p = parse_subscription_patch(json!({"headers": {"X-Request-Source": "hookpost"}}), &policy()).unwrap();
        assert_eq!(p.headers.unwrap().get("X-Request-Source").map(String::as_str), Some("hookpost"));
    }

    #[test]
    fn header_limits() {
        let many: Map<String, Value> = (0..11).map(|i| (format!("x-h{i}"), json!("v"))).collect();
        let e = parse_new_subscription(json!({"url": "https://e.com", "headers": many}), &policy()).unwrap_err();
        assert_eq!(issues(e)[0].field, "headers");
        for name in ["webhook-signature", "Webhook-Id", "Authorization", "Host", "bad name", "Transfer-Encoding"] {
            let e =
                parse_new_subscription(json!({"url": "https://e.com", "headers": {name: "v"}}), &policy()).unwrap_err();
            assert_eq!(issues(e)[0].field, format!("headers.{name}"));
        }
        let e = parse_new_subscription(json!({"url": "https://e.com", "headers": {"x-a": "line\r\nbreak"}}), &policy())
            .unwrap_err();
        assert_eq!(issues(e)[0].field, "headers.x-a");
    }

    #[test]
    fn authentication_shapes() {
        let ok = |a: Value| parse_new_subscription(json!({"url": "https://e.com", "authentication": a}), &policy());
        assert_eq!(ok(json!({"method": "none"})).unwrap().authentication, Authentication::None);
        assert_eq!(
            ok(json!({"method": "bearer", "token": "t"})).unwrap().authentication,
            Authentication::Bearer { token: "t".into() }
        );
        for bad in [
            json!({}),
            json!({"method": "digest"}),
            json!({"method": "basic", "username": "u"}),
            json!({"method": "none", "x": 1}),
            json!({"method": "basic", "username": "a:b", "password": "p"}),
        ] {
            assert!(matches!(ok(bad.clone()), Err(ApiError::Validation(_))), "{bad}");
        }
    }

    #[test]
    fn url_rules_give_invalid_url_after_shape_checks() {
        let e = parse_new_subscription(json!({"url": "http://example.com"}), &policy()).unwrap_err();
        assert_eq!(e.code(), "invalid_url");
        let e = parse_new_subscription(json!({"url": "http://example.com", "bogus": 1}), &policy()).unwrap_err();
        assert_eq!(e.code(), "validation_error");
        let e = parse_new_subscription(json!({"url": 7}), &policy()).unwrap_err();
        assert_eq!(e.code(), "validation_error");
        let e =
            parse_new_subscription(json!({"url": "https://e.com", "channel_id": "bad id!"}), &policy()).unwrap_err();
        assert_eq!(e.code(), "invalid_channel_id");
        let e = parse_new_subscription(json!({"url": "https://e.com", "channel_id": 5}), &policy()).unwrap_err();
        assert_eq!(e.code(), "validation_error");
    }

    #[test]
    fn patch_rules() {
        let p = parse_subscription_patch(json!({"name": "New", "events": [], "headers": null}), &policy()).unwrap();
        assert_eq!(p.name.as_deref(), Some("New"));
        assert_eq!(p.events, Some(vec![]));
        assert_eq!(p.headers, Some(BTreeMap::new()));
        for immutable in ["channel_id", "channel_type", "source"] {
            let e = parse_subscription_patch(json!({ immutable: "x" }), &policy()).unwrap_err();
            assert_eq!(issues(e)[0].field, immutable);
        }
        assert_eq!(
            parse_subscription_patch(json!({"url": "http://x.com"}), &policy()).unwrap_err().code(),
            "invalid_url"
        );
        assert_eq!(parse_subscription_patch(json!({"url": null}), &policy()).unwrap_err().code(), "validation_error");
        assert_eq!(parse_subscription_patch(json!({"name": 3}), &policy()).unwrap_err().code(), "validation_error");
        assert_eq!(parse_subscription_patch(json!({"events": "a"}), &policy()).unwrap_err().code(), "validation_error");
        assert_eq!(
            parse_subscription_patch(json!({"is_active": true}), &policy()).unwrap_err().code(),
            "validation_error"
        );
        assert!(parse_subscription_patch(json!({}), &policy()).unwrap().is_empty());

        let mut sub = sample();
        let p = parse_subscription_patch(
            json!({"url": "https://new.example.com/x", "authentication": {"method": "bearer", "token": "t"}}),
            &policy(),
        )
        .unwrap();
        p.apply(&mut sub, Timestamp::from_unix(2000));
        assert_eq!(sub.url, "https://new.example.com/x");
        assert_eq!(sub.name, "example.com", "name is kept");
        assert_eq!(sub.updated_at.unix(), 2000);
    }

    #[test]
    fn event_types() {
        assert!(is_valid_event_type("call.ended"));
        assert!(is_valid_event_type("a_b-c.9"));
        assert!(!is_valid_event_type(""));
        assert!(!is_valid_event_type("Call.Ended"));
        assert!(!is_valid_event_type(&"a".repeat(101)));
        assert!(is_valid_event_selector("billing.*") && is_valid_event_selector("billing.invoice.*"));
        assert!(is_valid_event_selector(&format!("{}.*", "a".repeat(98))), "100 characters in all");
        assert!(!is_valid_event_type("billing.*"), "a wildcard selects types; it is not one");
        for refused in ["*", ".*", "billing*", "billing.*.paid", "Billing.*", &format!("{}.*", "a".repeat(99))] {
            assert!(!is_valid_event_selector(refused), "{refused}");
        }
    }

    #[test]
    fn filters_are_checked_where_they_are_written() {
        let policy = DestinationPolicy::default();
        let created = parse_new_subscription(
            json!({"url": "https://e.com/h", "events": ["billing.*"], "filter": {"data": {"amount": [{"numeric": [">", 0]}]}}}),
            &policy,
        )
        .expect("valid");
        assert_eq!(created.events, ["billing.*"]);
        assert_eq!(created.filter.expect("a filter").pattern(), &json!({"data": {"amount": [{"numeric": [">", 0]}]}}));
        let none = parse_new_subscription(json!({"url": "https://e.com/h", "filter": null}), &policy).expect("valid");
        assert_eq!(none.filter, None);
        match parse_new_subscription(
            json!({"url": "https://e.com/h", "events": ["*"], "filter": {"data": {"amount": [{"numeric": [">"]}]}}}),
            &policy,
        ) {
            Err(ApiError::Validation(issues)) => {
                let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
                assert_eq!(fields, ["events[0]", "filter/data/amount/0/numeric"], "{issues:?}");
            }
            other => panic!("{other:?}"),
        }
        let patch = parse_subscription_patch(json!({"filter": null}), &policy).expect("valid");
        assert_eq!(patch.filter, Some(None), "null removes the filter");
        let patch = parse_subscription_patch(json!({"filter": {"event": ["a.b"]}}), &policy).expect("valid");
        assert!(matches!(patch.filter, Some(Some(_))));
        assert_eq!(parse_subscription_patch(json!({}), &policy).expect("valid").filter, None);
    }
}
