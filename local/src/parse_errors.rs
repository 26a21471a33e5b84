//! hyper answers a request it cannot parse by itself — 400 (a byte a header may not hold, a
//! bad method), 414 (a URI past its limit), 431 (too many or too large headers) — with an
//! empty body, then closes the connection. SPEC §2 wants every error in one envelope, so the
//! connection is wrapped: when hyper writes one of those bodiless answers, the envelope
//! answer is written in its place. hookpost's own handlers never answer these statuses
//! without a body, so nothing else is touched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hookpost_domain::ApiError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct EnvelopedParseErrors<S> {
    inner: S,
    /// A replacement answer not yet fully written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> EnvelopedParseErrors<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, pending: None }
    }
}

/// The error a bodiless automatic answer stands for, if `buf` is exactly one.
fn automatic_answer(buf: &[u8]) -> Option<ApiError> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_end != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?.to_ascii_lowercase();
    let status = head.strip_prefix("http/1.1 ")?.get(..3)?;
    if !head.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    match status {
        "400" => Some(ApiError::MalformedRequest("it is not well-formed HTTP/1.1 (a header holds a byte it may not?)")),
        "414" => Some(ApiError::UriTooLong),
        "431" => Some(ApiError::HeadersTooLarge),
        _ => None,
    }
}

fn envelope_answer(err: &ApiError) -> Vec<u8> {
    let body = err.to_json();
    let reason = match err.status() {
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        err.status(),
        body.len()
    )
    .into_bytes()
}

impl<S: AsyncWrite + Unpin> EnvelopedParseErrors<S> {
    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EnvelopedParseErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EnvelopedParseErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        if let Some(err) = automatic_answer(buf) {
            this.pending = Some((envelope_answer(&err), 0));
            // hyper's bytes count as written; ours go out now or on the next poll.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_automatic_answers_are_replaced() {
        let auto = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 20:00:00 GMT\r\n\r\n";
        assert_eq!(automatic_answer(auto), Some(ApiError::HeadersTooLarge));
        assert_eq!(
            automatic_answer(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n"),
            Some(ApiError::UriTooLong)
        );
        assert!(matches!(
            automatic_answer(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(ApiError::MalformedRequest(_))
        ));
        // hookpost's own answers carry a body.
        let own =
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"a\":\"b\"}";
        assert_eq!(automatic_answer(own), None);
        assert_eq!(automatic_answer(b"HTTP/1.1 204 No Content\r\n\r\n"), None);
        assert_eq!(automatic_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"), None);
        let answer = String::from_utf8(envelope_answer(&ApiError::HeadersTooLarge)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "));
        assert!(
            answer.ends_with(r#"{"error":"headers_too_large","message":"the request's header block is too large"}"#)
        );
    }
}
