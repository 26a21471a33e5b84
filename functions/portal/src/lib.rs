//! `GET /portal` and `GET /portal/{file}`: the customer portal, static files compiled into
//! the binary from `portal/` (plain HTML, CSS and JavaScript modules: nothing to build), and
//! `branding.json` from the operator's configuration. No credential is needed for any of
//! them; every API call the page makes carries the portal session.
//!
//! `POST /portal/sessions` `{"link": "hp_pl_…"}` → 201 `{session, scopes, user_id,
//! expires_at}`: the page trades the magic link's single-use secret for the session it
//! keeps in the tab. The link is gone with the trade, so a link found later in an inbox, a
//! chat or a browser's history opens nothing; every refusal is the same 401.
//!
//! Every answer carries the portal's Content-Security-Policy (its own scripts, styles and
//! API only; framed only by `HOOKPOST_PORTAL_FRAME_ANCESTORS`), `nosniff`, no Referer, and
//! an ETag to revalidate with (`no-cache`: a new deployment is seen at once, an unchanged
//! file costs a 304). Compression is the server's: API Gateway's `MinimumCompressionSize`,
//! hookpost-local's gzip.

use std::sync::OnceLock;

use hookpost_domain::input::Fields;
use hookpost_domain::token::{generate, hash_pat, TokenKind};
use hookpost_domain::ApiError;
use hookpost_http::parse::json_body;
use hookpost_http::{error_response, routes, App, Reply};
use hookpost_store::StoreError;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A file of the portal: its name under `/portal/`, its media type, its bytes.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, bytes: include_bytes!(concat!("../../../portal/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file in `portal/` (a test holds this list equal to the directory).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("portal.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("view-endpoints.js", JS),
    asset!("view-endpoint.js", JS),
    asset!("view-failures.js", JS),
    asset!("view-expired.js", JS),
];

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..20])
}

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.bytes)).collect())
}

/// `branding.json`: what the page shows of the operator's configuration.
pub fn branding(app: &App) -> String {
    let portal = &app.config.portal;
    json!({
        "product_name": portal.product_name,
        "logo_url": portal.logo_url.as_ref().map(|u| u.as_str()),
        "accent_color": portal.accent_color,
    })
    .to_string()
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if req.method() == Method::POST && is_open_link(&req) {
        return open_link(app, req).await;
    }
    let file = req.path_parameters_ref().and_then(|p| p.first("file")).unwrap_or("index.html").to_owned();
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return error_response(&ApiError::MethodNotAllowed { method: req.method().to_string(), allow: "GET".into() });
    }
    let (content_type, bytes, tag): (&str, Vec<u8>, String) = if file == "branding.json" {
        let body = branding(app).into_bytes();
        let tag = etag(&body);
        ("application/json", body, tag)
    } else if let Some(i) = ASSETS.iter().position(|a| a.name == file) {
        (ASSETS[i].content_type, ASSETS[i].bytes.to_vec(), etags()[i].clone())
    } else {
        return with_policy(app, error_response(&ApiError::NotFound("portal file")));
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut res = if fresh {
        let mut res = Response::new(Body::Empty);
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let body = if head {
            Body::Empty
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => Body::Text(text),
                Err(e) => Body::Binary(e.into_bytes()),
            }
        };
        let mut res = Response::new(body);
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        res
    };
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, tag);
    }
    with_policy(app, res)
}

/// Whether the request came to `POST /portal/sessions` (API Gateway's resource, or the
/// path when there is none, as for a direct invoke).
fn is_open_link(req: &Request) -> bool {
    hookpost_http::context::resource_path(req)
        .as_deref()
        .unwrap_or(req.uri().path())
        .ends_with(routes::OPEN_PORTAL_LINK.template)
}

async fn open_link(app: &App, req: Request) -> Response<Body> {
    let mut res = app
        .respond_internal(&routes::OPEN_PORTAL_LINK, &req, async {
            let mut fields = Fields::from_value(json_body(&req)?)?;
            let link = fields.required_string("link");
            fields.finish()?;
            let link = link.unwrap_or_default();
            // Malformed, unknown, opened before, revoked, expired, its account erased: one
            // answer, which says none of these.
            if TokenKind::of(&link) != Some(TokenKind::PortalLink) {
                return Err(ApiError::Unauthorized);
            }
            let now = app.clock.now();
            let stored = app.store.get_token_by_hash(&hash_pat(&link)).await?.ok_or(ApiError::Unauthorized)?;
            let plaintext = generate(TokenKind::PortalSession);
            let session = stored.redeem_link(hash_pat(&plaintext), now).ok_or(ApiError::Unauthorized)?;
            match app.store.redeem_portal_link(&stored.token_hash, &session, now).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => return Err(ApiError::Unauthorized),
                Err(other) => return Err(other.into()),
            }
            tracing::info!(account = %session.account_id, token = %session.id, "portal link opened");
            Reply::json(
                201,
                &json!({
                    "session": plaintext,
                    "scopes": session.scopes,
                    "user_id": session.user_id,
                    "expires_at": session.expires_at,
                }),
            )
        })
        .await;
    // It carries a credential: no cache keeps it.
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn with_policy(app: &App, mut res: Response<Body>) -> Response<Body> {
    let headers = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&app.config.portal.content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_portal_directory_is_served_and_nothing_else() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../portal");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "LICENSE" && name != "README.md")
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        served.sort();
        assert_eq!(served, on_disk);
    }

    /// An event-handler attribute: ` on` + letters + `=` (`onclick=`, `onerror=`).
    fn has_handler_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            letters > 0 && rest[letters..].trim_start().starts_with('=')
        })
    }

    #[test]
    fn no_page_has_inline_script_or_style() {
        assert!(has_handler_attribute("<img src=x onerror=alert(1)>"));
        assert!(!has_handler_attribute("<p>Turn on notifications</p>"));
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".html")) {
            let html = std::str::from_utf8(asset.bytes).unwrap().to_ascii_lowercase();
            for forbidden in ["<script>", "style=", "<style", "javascript:"] {
                assert!(!html.contains(forbidden), "{} has {forbidden:?}", asset.name);
            }
            assert!(!has_handler_attribute(&html), "{} has an event-handler attribute", asset.name);
        }
    }
}
