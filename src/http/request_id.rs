//! Every request's id, for operators: the one a trusted proxy sent in `X-Request-Id` when it is
//! sane, or a short random one. It is returned in the answer's `X-Request-Id`, written into
//! every problem document (`request_id`) and into every log line written while the request is
//! being answered (see [`crate::logging`]).
//!
//! The id is carried by a thread-local that [`super::outer_layer`] sets around each poll of the
//! request, rather than by a tracing span: a span per request costs its allocation, the
//! formatting of its fields and an enter and exit per poll even when nothing is logged, on every
//! lookup; the thread-local costs two small copies per poll.

use std::cell::Cell;
use std::fmt;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};

use super::client::Peer;

/// The header that carries the id both ways.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from a proxy; a longer one is replaced.
pub const MAX_LEN: usize = 64;

/// A request id: 1 to [`MAX_LEN`] bytes of `A-Z a-z 0-9 - _ . : + = / @`, so that it can be
/// written into a header, a JSON string and a log line as it is. Copied by value: it is small
/// and is set into a thread-local on every poll.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl RequestId {
    /// The id of `request`: its `X-Request-Id` when the connection's peer is a trusted proxy
    /// and the value is sane, else a new one.
    pub fn of(request: &Request) -> Self {
        request
            .extensions()
            .get::<Peer>()
            .filter(|peer| peer.is_trusted_proxy())
            .and_then(|_| request.headers().get(&X_REQUEST_ID))
            .and_then(|value| Self::parse(value.as_bytes()))
            .unwrap_or_else(Self::random)
    }

    /// `text` as an id, when it is one.
    pub fn parse(text: &[u8]) -> Option<Self> {
        if text.is_empty() || text.len() > MAX_LEN || !text.iter().all(|&b| allowed(b)) {
            return None;
        }
        let mut bytes = [0; MAX_LEN];
        bytes[..text.len()].copy_from_slice(text);
        Some(Self { len: text.len() as u8, bytes })
    }

    /// A new id: 64 random bits as 16 lowercase hexadecimal digits.
    pub fn random() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut value = next_random();
        let mut bytes = [0; MAX_LEN];
        for byte in bytes[..16].iter_mut().rev() {
            *byte = HEX[(value & 0xf) as usize];
            value >>= 4;
        }
        Self { len: 16, bytes }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (see `allowed`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.bytes[..usize::from(self.len)]).unwrap_or(HeaderValue::from_static("invalid"))
    }

    /// The id of the request being answered on this thread, if any.
    pub fn current() -> Option<Self> {
        CURRENT.with(Cell::get)
    }

    /// Runs `f` with this id as the current one, restoring the previous one after.
    pub fn scope<T>(self, f: impl FnOnce() -> T) -> T {
        struct Restore(Option<RequestId>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|current| current.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|current| current.replace(Some(self))));
        f()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// The bytes an id may hold: none that a header, a JSON string or a log line would need to escape.
fn allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':' | b'+' | b'=' | b'/' | b'@')
}

thread_local! {
    static CURRENT: Cell<Option<RequestId>> = const { Cell::new(None) };
    /// wyrand's state, seeded from the operating system's randomness once per thread.
    static STATE: Cell<u64> = Cell::new(rand::random());
}

/// 64 random bits from wyrand: an id correlates lines, it is no secret, so a generator of a
/// few instructions does (rand's thread generator costs several times as much per call).
fn next_random() -> u64 {
    STATE.with(|state| {
        let x = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(x);
        let product = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        (product >> 64) as u64 ^ product as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_anything_else_refused() {
        for good in
            ["abc", "0123456789abcdef0123456789abcdef", "Root=1-5f84c7a5-cafe:x_y.z/w+@", "a".repeat(64).as_str()]
        {
            assert_eq!(RequestId::parse(good.as_bytes()).map(|id| id.to_string()).as_deref(), Some(good));
        }
        for bad in
            ["", "a".repeat(65).as_str(), "a b", "a\"b", "a\\b", "a\nb", "a\x1bb", "a\tb", "a;b", "ä", "<script>"]
        {
            assert_eq!(RequestId::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn made_ids_are_sixteen_hex_digits_and_differ() {
        let a = RequestId::random();
        let b = RequestId::random();
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.header_value(), a.as_str());
    }

    #[test]
    fn the_current_id_is_set_only_inside_its_scope() {
        let outer = RequestId::random();
        let inner = RequestId::random();
        assert_eq!(RequestId::current(), None);
        outer.scope(|| {
            assert_eq!(RequestId::current(), Some(outer));
            inner.scope(|| assert_eq!(RequestId::current(), Some(inner)));
            assert_eq!(RequestId::current(), Some(outer));
        });
        assert_eq!(RequestId::current(), None);
    }
}
