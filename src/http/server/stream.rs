//! The connection as the HTTP stack sees it: the TCP stream with two guards on what is written.
//!
//! - A client that stops reading is cut off: a write that makes no progress for the send
//!   timeout fails the connection, so a slow reader cannot hold a connection (and the answer
//!   behind it) for ever. The timer exists only while a write is blocked.
//! - hyper answers a request it cannot parse (a target over 64 KiB: 414, a head too large: 431,
//!   malformed: 400) itself, with an empty body, before any route sees it. Such an answer, the
//!   only kind this server writes without a `content-type`, is rewritten into a problem document
//!   like every other error.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// A TCP connection with the guards of the module documentation.
pub struct GuardedStream {
    inner: TcpStream,
    send_timeout: Duration,
    /// Running while a write is blocked.
    stall: Option<Pin<Box<Sleep>>>,
    /// A problem document being written in place of hyper's empty error answer: its bytes, how
    /// many are written, and how many bytes of hyper's answer to report written once it is.
    replacement: Option<(Vec<u8>, usize, usize)>,
}

impl GuardedStream {
    pub fn new(inner: TcpStream, send_timeout: Duration) -> Self {
        Self { inner, send_timeout, stall: None, replacement: None }
    }

    /// A write returned `Pending`: whether the client has kept us waiting too long.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.send_timeout;
        let timer = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))
    }

    fn progressed<T>(&mut self, result: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(result) => {
                self.stall = None;
                Poll::Ready(result)
            }
            Poll::Pending => match self.poll_stall(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// Writes the pending replacement; ready with the length of hyper's answer once all is written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            let Some((bytes, written, reported)) = &mut self.replacement else {
                return Poll::Ready(Ok(0));
            };
            if *written == bytes.len() {
                let reported = *reported;
                self.replacement = None;
                return Poll::Ready(Ok(reported));
            }
            let result = Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]);
            match ready!(self.progressed(result, cx)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    if let Some((_, written, _)) = &mut self.replacement {
                        *written += n;
                    }
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// Starts replacing `head` if it is one of hyper's own error answers.
    fn replace_if_bare_error(&mut self, head: &[u8]) -> bool {
        match problem_for_bare_error(head) {
            Some(bytes) => {
                self.replacement = Some((bytes, 0, head.len()));
                true
            }
            None => false,
        }
    }
}

/// A problem document with the same status for an answer hyper wrote itself: a head alone with
/// status 400, 414 or 431 and no `content-type`.
fn problem_for_bare_error(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let (status, slug, title, detail) = match rest.get(..4)? {
        b"400 " => (400, "bad-request", "Bad request", "the request is not well-formed HTTP/1.1"),
        b"414 " => {
            (414, "uri-too-long", "URI too long", "the request target is longer than the server accepts (64 KiB)")
        }
        b"431 " => (
            431,
            "headers-too-large",
            "Request header fields too large",
            "the request's head is larger than the server accepts (128 KiB)",
        ),
        _ => return None,
    };
    let end = head.windows(4).position(|window| window == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let lower = head[..end].to_ascii_lowercase();
    if lower.windows(14).any(|window| window == b"\r\ncontent-type") {
        return None;
    }
    let status_line = &head[..head.windows(2).position(|window| window == b"\r\n")?];
    let body = serde_json::json!({
        "type": format!("urn:starmark:problem:{slug}"),
        "title": title,
        "status": status,
        "detail": detail,
    })
    .to_string();
    let mut bytes = status_line.to_vec();
    bytes.extend_from_slice(
        format!(
            "\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    Some(bytes)
}

impl AsyncRead for GuardedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_some() || this.replace_if_bare_error(buf) {
            return this.poll_replacement(cx);
        }
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progressed(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|buf| !buf.is_empty());
        let lone_head = bufs.iter().filter(|buf| !buf.is_empty()).count() == 1;
        if this.replacement.is_some() || (lone_head && first.is_some_and(|head| this.replace_if_bare_error(head))) {
            return this.poll_replacement(cx);
        }
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.progressed(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_errors_become_problem_documents() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 04:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(problem_for_bare_error(bare).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["type"], "urn:starmark:problem:uri-too-long");
        assert_eq!(problem["status"], 414);
    }

    #[test]
    fn answers_the_routes_wrote_are_left_alone() {
        let typed = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert!(problem_for_bare_error(typed).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(problem_for_bare_error(ok).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\nhi";
        assert!(problem_for_bare_error(with_body).is_none(), "only a head alone is hyper's own answer");
        assert!(problem_for_bare_error(b"HTTP/1.1 414 partial head").is_none());
    }
}
