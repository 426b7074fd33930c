//! Every request's id, for operators: the one a trusted proxy sent in `X-Request-Id` when it is
//! sane, or one made here. It is returned in the answer's `X-Request-Id`, written into every
//! problem document (`request_id`) and into every log line written while the request is being
//! answered (see [`crate::logging`]).
//!
//! Every request pays for its id, so it is kept cheap. A made id is a number from a counter of
//! the process (one atomic increment); its text, 16 hexadecimal digits of the number mixed with
//! a random offset drawn once per start, is written only when something reads it, into a buffer
//! on the stack. A proxy's id is kept as the header value it came in, and sent back as it is.
//! While the request is polled, the thread knows its id through a pointer in a thread-local
//! (set and restored around each poll) rather than a copy of it or a tracing span: a span per
//! request costs its allocation, the formatting of its fields and an enter and exit per poll
//! even when nothing is logged.

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};

use super::client::Peer;

/// The header that carries the id both ways.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from a proxy; a longer one is replaced.
pub const MAX_LEN: usize = 64;

/// A request id: as text, 1 to [`MAX_LEN`] bytes of `A-Z a-z 0-9 - _ . : + = / @`, so that it
/// can be written into a header, a JSON string and a log line as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// The `n`th id this process made; its text is [`made_text`]'s.
    Made(u64),
    /// A trusted proxy's `X-Request-Id`, checked by [`RequestId::parse`].
    Given(HeaderValue),
}

impl RequestId {
    /// The id of `request`: its `X-Request-Id` when the connection's peer is a trusted proxy
    /// and the value is sane, else a new one.
    pub fn of(request: &Request) -> Self {
        request
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|_| request.extensions().get::<Peer>().is_some_and(Peer::is_trusted_proxy))
            .and_then(Self::given)
            .unwrap_or_else(Self::made)
    }

    /// `value` as an id, when it is one; kept as the value itself.
    fn given(value: &HeaderValue) -> Option<Self> {
        sane(value.as_bytes()).then(|| Self(Repr::Given(value.clone())))
    }

    /// `text` as an id, when it is one.
    pub fn parse(text: &[u8]) -> Option<Self> {
        HeaderValue::from_bytes(text).ok().as_ref().and_then(Self::given)
    }

    /// A new id, different from every other this process makes.
    pub fn made() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self(Repr::Made(NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// The id as text, written into a buffer on the stack.
    pub fn text(&self) -> IdText {
        let mut text = IdText { len: 0, bytes: [0; MAX_LEN] };
        let bytes = match &self.0 {
            Repr::Made(n) => &made_text(*n)[..],
            Repr::Given(value) => value.as_bytes(),
        };
        text.bytes[..bytes.len()].copy_from_slice(bytes);
        text.len = bytes.len() as u8;
        text
    }

    /// The id as a header value: a proxy's is its own value again, a made one's text copied
    /// into a value of its own.
    pub fn header_value(&self) -> HeaderValue {
        match &self.0 {
            Repr::Made(n) => {
                HeaderValue::from_bytes(&made_text(*n)).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
            }
            Repr::Given(value) => value.clone(),
        }
    }

    /// The id of the request being answered on this thread, if any.
    pub fn current() -> Option<Self> {
        let current = CURRENT.with(Cell::get);
        // SAFETY: a pointer in CURRENT is set only by `scope`, from a reference that outlives
        // the call `f` of that scope, and taken out again when `f` returns or unwinds; code that
        // runs on this thread meanwhile (and so this call) is inside `f`.
        unsafe { current.as_ref() }.cloned()
    }

    /// Runs `f` with this id as the current one, restoring the previous one after.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Restore(*const RequestId);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|current| current.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|current| current.replace(self)));
        f()
    }
}

/// An id's text, on the stack.
pub struct IdText {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl Deref for IdText {
    type Target = str;

    fn deref(&self) -> &str {
        // Only ASCII bytes are ever stored (see `sane` and `made_text`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", &*self.text())
    }
}

/// Whether `text` may be an id: 1 to [`MAX_LEN`] bytes that a header, a JSON string or a log
/// line need not escape.
fn sane(text: &[u8]) -> bool {
    !text.is_empty() && text.len() <= MAX_LEN && text.iter().all(|&b| allowed(b))
}

fn allowed(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':' | b'+' | b'=' | b'/' | b'@')
}

/// The text of the `n`th made id: 16 lowercase hexadecimal digits of `n` plus this start's
/// random offset, through splitmix64's finaliser. The finaliser is a bijection, so no two
/// numbers of one process share an id; the offset keeps the ids of different processes (and of
/// one process started again) apart. An id correlates lines: it is no secret.
fn made_text(n: u64) -> [u8; 16] {
    static OFFSET: OnceLock<u64> = OnceLock::new();
    let mut x = OFFSET.get_or_init(rand::random).wrapping_add(n);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let mut text = [0; 16];
    for (pair, byte) in text.chunks_exact_mut(2).zip(x.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    text
}

/// Each byte's two lowercase hexadecimal digits.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    pairs
};

thread_local! {
    /// The id of the request being polled on this thread (see [`RequestId::scope`]); null for none.
    static CURRENT: Cell<*const RequestId> = const { Cell::new(ptr::null()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_anything_else_refused() {
        for good in
            ["abc", "0123456789abcdef0123456789abcdef", "Root=1-5f84c7a5-cafe:x_y.z/w+@", "a".repeat(64).as_str()]
        {
            let id = RequestId::parse(good.as_bytes());
            assert_eq!(id.as_ref().map(|id| id.to_string()).as_deref(), Some(good));
            assert_eq!(id.map(|id| id.header_value()), Some(HeaderValue::from_str(good).unwrap()));
        }
        for bad in
            ["", "a".repeat(65).as_str(), "a b", "a\"b", "a\\b", "a\nb", "a\x1bb", "a\tb", "a;b", "ä", "<script>"]
        {
            assert!(RequestId::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn made_ids_are_sixteen_hex_digits_and_differ() {
        let ids: Vec<String> = (0..10_000).map(|_| RequestId::made().to_string()).collect();
        for id in &ids {
            assert_eq!(id.len(), 16, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let id = RequestId::made();
        assert_eq!(id.header_value(), &*id.text());
        assert_eq!(id.to_string(), id.to_string(), "an id's text does not change");
    }

    #[test]
    fn consecutive_numbers_give_unrelated_ids() {
        // Mixed, not counted: neighbours differ in about half their bits.
        let a = u64::from_str_radix(std::str::from_utf8(&made_text(7)).unwrap(), 16).unwrap();
        let b = u64::from_str_radix(std::str::from_utf8(&made_text(8)).unwrap(), 16).unwrap();
        assert!((a ^ b).count_ones() > 8, "{a:x} {b:x}");
    }

    #[test]
    fn the_current_id_is_set_only_inside_its_scope() {
        let outer = RequestId::made();
        let inner = RequestId::parse(b"from-a-proxy").unwrap();
        assert_eq!(RequestId::current(), None);
        outer.scope(|| {
            assert_eq!(RequestId::current(), Some(outer.clone()));
            inner.scope(|| assert_eq!(RequestId::current(), Some(inner.clone())));
            assert_eq!(RequestId::current(), Some(outer.clone()));
        });
        assert_eq!(RequestId::current(), None);
        let unwound = std::panic::catch_unwind(|| outer.scope(|| panic!("a handler panicked")));
        assert!(unwound.is_err());
        assert_eq!(RequestId::current(), None, "restored when the scope unwinds");
    }
}
