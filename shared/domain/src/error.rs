//! The one error type. Every refusal a client can see is a variant; each renders the SPEC §2
//! envelope `{"error", "message", "issues"?}`. Internal detail is never part of it.

use serde::Serialize;

/// One problem with one field of a request, for `validation_error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub field: String,
    pub message: String,
}

impl Issue {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// What the rate limiter tells a refused client (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets; at least 1.
    pub reset_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("missing, malformed, unknown, expired or revoked token")]
    Unauthorized,
    #[error("this API requires a paid plan")]
    PlanRequired,
    #[error("the token lacks the scope {0}")]
    InsufficientScope(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the request is invalid")]
    Validation(Vec<Issue>),
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidUrl(String),
    #[error("channel_id is not a channel of this account")]
    InvalidChannelId,
    /// `HOOKPOST_EVENT_TYPES=strict` and the type is not in the catalogue (SPEC §11).
    #[error("the event type {0} is not in the event-type catalogue")]
    UnknownEventType(String),
    #[error("{0}")]
    LimitReached(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("the webhook subscription was deleted")]
    SubscriptionDeleted,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The route exists, not with this method; carries the methods it has (`Allow`).
    #[error("this route does not take {method}; it takes {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("the request's header block is too large")]
    HeadersTooLarge,
    #[error("the request's URI is too long")]
    UriTooLong,
    /// A request that could not be read as HTTP at all (a byte a header may not hold, say).
    #[error("the request could not be read: {0}")]
    MalformedRequest(&'static str),
    #[error("too many requests")]
    RateLimited(RateLimitInfo),
    /// A test delivery found its endpoint's delivery rate limit (SPEC §10) taken for longer
    /// than a test waits.
    #[error("this endpoint's delivery rate limit is taken for the next {0} s; try the test again then")]
    EndpointBusy(u64),
    #[error("internal error")]
    Internal,
    /// The store or the queue cannot take the request now; nothing of it was kept that a
    /// repeat would not complete.
    #[error("hookpost cannot take this request right now; try again in a few seconds")]
    Unavailable,
}

/// The `Retry-After` of a 503 `unavailable`, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issues: Option<&'a [Issue]>,
}

impl ApiError {
    /// A single-field validation error.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![Issue::new(field, message)])
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::PlanRequired | Self::InsufficientScope(_) => 403,
            Self::NotFound(_) => 404,
            Self::Validation(_)
            | Self::InvalidJson(_)
            | Self::InvalidUrl(_)
            | Self::InvalidChannelId
            | Self::UnknownEventType(_)
            | Self::MalformedRequest(_) => 400,
            Self::MethodNotAllowed { .. } => 405,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge => 431,
            Self::LimitReached(_) | Self::InvalidState(_) | Self::SubscriptionDeleted => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited(_) | Self::EndpointBusy(_) => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::PlanRequired => "plan_required",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::Validation(_) | Self::MalformedRequest(_) => "validation_error",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidUrl(_) => "invalid_url",
            Self::InvalidChannelId => "invalid_channel_id",
            Self::UnknownEventType(_) => "unknown_event_type",
            Self::LimitReached(_) => "limit_reached",
            Self::InvalidState(_) => "invalid_state",
            Self::SubscriptionDeleted => "subscription_deleted",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited(_) | Self::EndpointBusy(_) => "rate_limited",
            Self::Internal => "internal_error",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: self.code(),
            message: self.to_string(),
            issues: match self {
                Self::Validation(issues) => Some(issues),
                _ => None,
            },
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing a struct of strings cannot fail; the fallback keeps the envelope anyway.
        serde_json::to_string(&self.body())
            .unwrap_or_else(|_| r#"{"error":"internal_error","message":"internal error"}"#.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let err = ApiError::NotFound("webhook subscription");
        assert_eq!(err.status(), 404);
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"error": "not_found", "message": "webhook subscription not found"}));
    }

    #[test]
    fn validation_lists_issues() {
        let err = ApiError::invalid_field("url", "is required");
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(v["error"], "validation_error");
        assert_eq!(v["issues"], serde_json::json!([{"field": "url", "message": "is required"}]));
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn every_code_has_its_status() {
        let rl = RateLimitInfo { limit: 60, remaining: 0, reset_secs: 3 };
        let cases = [
            (ApiError::Unauthorized, 401, "unauthorized"),
            (ApiError::PlanRequired, 403, "plan_required"),
            (ApiError::InsufficientScope("tasks.webhooks.read"), 403, "insufficient_scope"),
            (ApiError::NotFound("x"), 404, "not_found"),
            (ApiError::Validation(vec![]), 400, "validation_error"),
            (ApiError::InvalidJson("eof".into()), 400, "invalid_json"),
            (ApiError::InvalidUrl("bad".into()), 400, "invalid_url"),
            (ApiError::InvalidChannelId, 400, "invalid_channel_id"),
            (ApiError::LimitReached("cap".into()), 409, "limit_reached"),
            (ApiError::InvalidState("no".into()), 409, "invalid_state"),
            (ApiError::SubscriptionDeleted, 409, "subscription_deleted"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::UnsupportedMediaType, 415, "unsupported_media_type"),
            (ApiError::RateLimited(rl), 429, "rate_limited"),
            (ApiError::EndpointBusy(10), 429, "rate_limited"),
            (ApiError::Internal, 500, "internal_error"),
            (ApiError::Unavailable, 503, "unavailable"),
            (
                ApiError::MethodNotAllowed { method: "PUT".into(), allow: "GET, PATCH".into() },
                405,
                "method_not_allowed",
            ),
            (ApiError::UriTooLong, 414, "uri_too_long"),
            (ApiError::HeadersTooLarge, 431, "headers_too_large"),
            (ApiError::MalformedRequest("a NUL byte"), 400, "validation_error"),
        ];
        for (err, status, code) in cases {
            assert_eq!((err.status(), err.code()), (status, code));
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn internal_error_says_nothing_more() {
        assert_eq!(ApiError::Internal.to_json(), r#"{"error":"internal_error","message":"internal error"}"#);
    }
}
