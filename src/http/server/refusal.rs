//! The answer to a connection the server will not take: a problem document saying to come back
//! shortly, written without reading the request, then the connection is closed. Refusing takes
//! a descriptor for a moment, so only so many refusals run at once; beyond that a connection is
//! closed without a word.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::admission::Refusal;

/// Refusals written at the same time, at most.
const MAX_REFUSING: usize = 64;
/// How long a refusal may take to write and to let the client's request drain: a client that
/// does not take it by then is cut off.
const REFUSAL_TIME: Duration = Duration::from_millis(500);

static REFUSING: AtomicUsize = AtomicUsize::new(0);

fn answer(refusal: Refusal) -> Vec<u8> {
    let detail = match refusal {
        Refusal::Full => "the server holds as many connections as it may; try again shortly",
        Refusal::ClientFull => {
            "this client holds as many connections as one client may; close some or try again shortly"
        }
    };
    let body = serde_json::json!({
        "type": "urn:starmark:problem:too-many-connections",
        "title": "Too many connections",
        "status": 503,
        "detail": detail,
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers `stream` with the refusal and closes it, in the background.
pub fn refuse(mut stream: TcpStream, refusal: Refusal) {
    if REFUSING.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
        REFUSING.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            stream.write_all(&answer(refusal)).await?;
            stream.shutdown().await?;
            // Closing with the request unread would reset the connection and could destroy the
            // answer before the client reads it: take what the client sent first.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
        REFUSING.fetch_sub(1, Ordering::AcqRel);
    });
}
