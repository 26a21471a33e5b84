//! Header names sent as the subscription wrote them (SPEC §3).
//!
//! hyper writes every header name in lower case unless the request carries its
//! `HeaderCaseMap`, a type it keeps to itself and makes only while parsing a message with
//! `preserve_header_case`. So names written in another case are parsed once by hyper's own
//! HTTP/1 server, from a request head that spells them as written, and the extensions that
//! parse made ride on the outgoing request: hyper's client then writes those names in their
//! original case (and every other name as before).

use std::convert::Infallible;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::http::Extensions;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// The extensions that make hyper write `names` as spelled, or `None` when every name is in
/// lower case already (hyper's own spelling) or hyper would not parse them back.
pub async fn extensions_keeping_case<'a>(names: impl Iterator<Item = &'a str>) -> Option<Extensions> {
    let cased: Vec<&str> = names.filter(|n| n.bytes().any(|b| b.is_ascii_uppercase())).collect();
    if cased.is_empty() {
        return None;
    }
    let mut head = String::from("POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n");
    for name in &cased {
        head.push_str(name);
        head.push_str(": x\r\n");
    }
    head.push_str("\r\n");

    let (mut client, server) = tokio::io::duplex(head.len() + 1024);
    let (parsed, extensions) = oneshot::channel();
    let parsed = Mutex::new(Some(parsed));
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        if let Some(parsed) = parsed.lock().ok().and_then(|mut p| p.take()) {
            let _ = parsed.send(request.extensions().clone());
        }
        async { Ok::<_, Infallible>(hyper::Response::new(Empty::<Bytes>::new())) }
    });
    let serve = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(TokioIo::new(server), service);
    let (_, extensions) = tokio::join!(serve, async move {
        client.write_all(head.as_bytes()).await.ok()?;
        let extensions = extensions.await.ok();
        // Closing our end ends the parse's connection.
        drop(client);
        extensions
    });
    extensions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lower_case_names_need_nothing() {
        assert!(extensions_keeping_case(["x-team", "x-b"].into_iter()).await.is_none());
    }

    #[tokio::test]
    async fn a_mixed_case_name_gets_its_spelling_carried() {
        let extensions = extensions_keeping_case(["X-Tenant", "x-team"].into_iter()).await;
        assert!(extensions.is_some_and(|e| !e.is_empty()));
    }
}
