//! Header names sent as the subscription wrote them (SPEC §3).
//!
//! hyper writes every header name in lower case unless the request carries its
//! `HeaderCaseMap`, a type it keeps to itself and makes only while parsing a message with
//! `preserve_header_case`. So names written in another case are parsed once by hyper's own
//! HTTP/1 client — the code every sender links already, unlike its server — from a response
//! head that spells them as written, played on an in-memory pipe, and the extensions that
//! parse made ride on the outgoing request: hyper's client then writes those names in their
//! original case (and every other name as before).

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::Extensions;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The extensions that make hyper write `names` as spelled, or `None` when every name is in
/// lower case already (hyper's own spelling) or hyper would not parse them back.
pub async fn extensions_keeping_case<'a>(names: impl Iterator<Item = &'a str>) -> Option<Extensions> {
    let cased: Vec<&str> = names.filter(|n| n.bytes().any(|b| b.is_ascii_uppercase())).collect();
    if cased.is_empty() {
        return None;
    }
    let mut head = String::from("HTTP/1.1 204 No Content\r\n");
    for name in &cased {
        head.push_str(name);
        head.push_str(": x\r\n");
    }
    head.push_str("\r\n");

    let (ours, mut theirs) = tokio::io::duplex(head.len() + 4096);
    // The sender's own transport and body types: hyper's client is not built a second time.
    let ours: Box<dyn crate::sender::Stream> = Box::new(ours);
    let (mut send, connection) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .handshake(TokioIo::new(ours))
        .await
        .ok()?;
    let request = hyper::Request::builder().uri("/").body(Full::new(Bytes::new())).ok()?;
    // The other end of the pipe: reads the request's head, answers with the names.
    let answer = async move {
        let mut read = Vec::new();
        let mut buf = [0u8; 1024];
        while !read.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = theirs.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            read.extend_from_slice(&buf[..n]);
        }
        theirs.write_all(head.as_bytes()).await.ok()?;
        Some(theirs)
    };
    let exchange = async move {
        let (response, other_end) = tokio::join!(send.send_request(request), answer);
        // Closing both ends ends the connection's driver.
        drop((send, other_end));
        response.ok().map(|r| r.extensions().clone())
    };
    let (_, extensions) = tokio::join!(connection, exchange);
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
