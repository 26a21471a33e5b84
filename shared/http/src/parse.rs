//! Reading path, query and body, with every refusal in the SPEC §2 envelope.

use hookpost_domain::{ApiError, Issue};
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

/// The largest body any route accepts (events are at most 256 KiB of `data`).
pub const MAX_BODY_BYTES: usize = 512 * 1024;

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        #[allow(unreachable_patterns)]
        _ => &[],
    }
}

fn is_json_content_type(req: &Request) -> bool {
    req.headers()
        .get(http_header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

mod http_header {
    pub use lambda_http::http::header::CONTENT_TYPE;
}

/// A JSON body: `application/json` (else 415), parseable (else `invalid_json`).
pub fn json_body(req: &Request) -> Result<Value, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if !is_json_content_type(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson("the body is empty".to_owned()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// Whether the request has no body worth reading (none, or only whitespace).
pub fn body_is_empty(req: &Request) -> bool {
    body_bytes(req).iter().all(u8::is_ascii_whitespace)
}

/// A JSON body that may be left out: `{}` when there is none, else as [`json_body`].
pub fn json_body_or_empty(req: &Request) -> Result<Value, ApiError> {
    if body_is_empty(req) {
        Ok(Value::Object(serde_json::Map::new()))
    } else {
        json_body(req)
    }
}

/// For POSTs that take no body: empty, or `{}`, with any or no content type.
pub fn no_body(req: &Request) -> Result<(), ApiError> {
    if body_is_empty(req) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body_bytes(req)) {
        Ok(Value::Object(map)) if map.is_empty() => Ok(()),
        Ok(_) => Err(ApiError::invalid_field("body", "this endpoint takes no body (send nothing or {})")),
        Err(e) => Err(ApiError::InvalidJson(e.to_string())),
    }
}

/// A path parameter; routing guarantees it is there, but a missing one is a 404, not a panic.
pub fn path_param<'a>(req: &'a Request, name: &str) -> Result<&'a str, ApiError> {
    req.path_parameters_ref().and_then(|p| p.first(name)).ok_or(ApiError::NotFound("resource"))
}

/// The query string, checked against the names a route knows: an unknown or repeated
/// parameter is a `validation_error`, so typos do not silently change a listing.
pub struct Query<'a> {
    req: &'a Request,
    issues: Vec<Issue>,
}

impl<'a> Query<'a> {
    pub fn new(req: &'a Request, known: &[&str]) -> Self {
        let mut issues = Vec::new();
        if let Some(params) = req.query_string_parameters_ref() {
            let mut names: Vec<&str> = params.iter().map(|(k, _)| k).collect();
            names.sort_unstable();
            names.dedup();
            for name in names {
                if !known.contains(&name) {
                    issues.push(Issue::new(name, "unknown query parameter"));
                } else if params.all(name).is_some_and(|v| v.len() > 1) {
                    issues.push(Issue::new(name, "given more than once"));
                }
            }
        }
        Self { req, issues }
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.req.query_string_parameters_ref().and_then(|p| p.first(name))
    }

    pub fn issue(&mut self, name: &str, message: impl Into<String>) {
        self.issues.push(Issue::new(name, message));
    }

    /// An integer parameter within `[min, max]`, or `default` when absent. Plain digits
    /// only: `+5`, ` 5` and `5.0` are refused, not read as 5.
    pub fn int(&mut self, name: &str, min: u32, max: u32, default: u32) -> u32 {
        match self.get(name) {
            None => default,
            Some(raw) => {
                match raw.parse::<u32>().ok().filter(|_| !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit())) {
                    Some(n) if (min..=max).contains(&n) => n,
                    _ => {
                        self.issue(name, format!("must be an integer from {min} to {max}"));
                        default
                    }
                }
            }
        }
    }

    /// `limit` and `offset` as every list takes them (`hookpost_domain::paging`), with this
    /// list's default `limit`.
    pub fn page(&mut self, default_limit: u32) -> (u32, u32) {
        use hookpost_domain::paging::{MAX_LIMIT, MAX_OFFSET};
        (self.int("limit", 1, MAX_LIMIT, default_limit), self.int("offset", 0, MAX_OFFSET, 0))
    }

    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.get(name)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.issue(name, "must be true or false");
                None
            }
        }
    }

    /// A parameter that must be one of the spellings `parse` accepts.
    pub fn choice<T>(&mut self, name: &str, parse: impl Fn(&str) -> Option<T>, choices: &str) -> Option<T> {
        self.parsed(name, parse, format!("must be one of {choices}"))
    }

    /// An RFC 3339 timestamp.
    pub fn timestamp(&mut self, name: &str) -> Option<hookpost_domain::Timestamp> {
        use hookpost_domain::Timestamp;
        self.parsed(name, Timestamp::parse_rfc3339, Timestamp::RFC3339_EXPECTED)
    }

    /// A parameter through `parse`, with an issue saying what it `must` be when that fails.
    fn parsed<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Option<T>, must: impl Into<String>) -> Option<T> {
        let parsed = parse(self.get(name)?);
        if parsed.is_none() {
            self.issue(name, must);
        }
        parsed
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.issues))
        }
    }
}

/// The `{id}` of a subscription route; a malformed id is a 404 like an unknown one.
pub fn subscription_id(req: &Request) -> Result<hookpost_domain::SubscriptionId, ApiError> {
    hookpost_domain::SubscriptionId::parse(path_param(req, "id")?).ok_or(ApiError::NotFound(SUBSCRIPTION))
}

/// The `{id}` of an operator account route.
pub fn account_id(req: &Request) -> Result<hookpost_domain::AccountId, ApiError> {
    hookpost_domain::AccountId::parse(path_param(req, "id")?).ok_or(ApiError::NotFound("account"))
}

/// What a 404 for a subscription calls it.
pub const SUBSCRIPTION: &str = "webhook subscription";

/// What a 404 for a failure record calls it.
pub const FAILURE: &str = "webhook failure";

/// The `{webhook_failure_id}` of a failures route; a malformed id is a 404 like an unknown one.
pub fn failure_id(req: &Request) -> Result<hookpost_domain::FailureId, ApiError> {
    hookpost_domain::FailureId::parse(path_param(req, "webhook_failure_id")?).ok_or(ApiError::NotFound(FAILURE))
}
