//! What a handler answers: a JSON reply, or an error in the SPEC's envelope, with the rate
//! limiter's headers where the gate counted the request.

use hookpost_domain::error::RateLimitInfo;
use hookpost_domain::ApiError;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Option<String>,
}

/// `{"<key>": value}`, serialized straight to text (`json!` would build a `Value` first:
/// an ordered map per object, which is most of a list's serialization cost).
pub struct Keyed<'a, T>(pub &'static str, pub &'a T);

impl<T: Serialize> Serialize for Keyed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// A page of a list: `{"<items>": [...], "<meta>": {"total", "limit", "offset"}}`.
pub struct PageReply<'a, T> {
    pub items_key: &'static str,
    pub items: &'a [T],
    pub meta_key: &'static str,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

impl<T: Serialize> Serialize for PageReply<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct Meta {
            total: u64,
            limit: u32,
            offset: u32,
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.items_key, self.items)?;
        map.serialize_entry(self.meta_key, &Meta { total: self.total, limit: self.limit, offset: self.offset })?;
        map.end()
    }
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_string(value).map_err(|e| {
            tracing::error!(error = %e, "serializing a reply");
            ApiError::Internal
        })?;
        Ok(Self { status: StatusCode::from_u16(status).map_err(|_| ApiError::Internal)?, body: Some(body) })
    }

    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: None }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let mut res = Response::new(self.body.map_or(Body::Empty, Body::Text));
        *res.status_mut() = self.status;
        if res.body() != &Body::Empty {
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        res
    }
}

/// Renders an error in the envelope; internal detail was logged where it happened.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut res = Response::new(Body::Text(err.to_json()));
    *res.status_mut() = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match err {
        ApiError::RateLimited(info) => {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(info.reset_secs.max(1)));
        }
        ApiError::EndpointBusy(secs) => {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((*secs).max(1)));
        }
        ApiError::Unavailable => {
            let secs = hookpost_domain::error::UNAVAILABLE_RETRY_AFTER_SECS;
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        ApiError::MethodNotAllowed { allow, .. } => {
            if let Ok(allow) = HeaderValue::from_str(allow) {
                res.headers_mut().insert(header::ALLOW, allow);
            }
        }
        _ => {}
    }
    res
}

pub(crate) fn with_rate_headers(mut res: Response<Body>, info: &RateLimitInfo) -> Response<Body> {
    let headers = res.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(info.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(info.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(info.reset_secs));
    res
}

/// A refusal by the rate limiter (or a failure to count), with its headers.
pub(crate) fn limited(err: &ApiError) -> Response<Body> {
    match err {
        ApiError::RateLimited(info) => with_rate_headers(error_response(err), info),
        other => error_response(other),
    }
}

pub(crate) fn finish(result: Result<Reply, ApiError>) -> Response<Body> {
    match result {
        Ok(reply) => reply.into_response(),
        Err(err) => error_response(&err),
    }
}
