//! Who is asking: the client's address as per-client limits see it.
//!
//! The TCP peer is the client unless it is one of the operator's reverse proxies
//! (`STARMARK_TRUSTED_PROXIES`). Behind such a proxy the client is the nearest address, walking
//! the `Forwarded` (RFC 7239) or `X-Forwarded-For` chain from the right, that is not itself a
//! trusted proxy: every entry to the left of it was written by the client and proves nothing.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};

/// At most this many hops of a forwarding chain are read, from the right: a chain longer than
/// any real deployment's is the client's own writing.
const MAX_HOPS: usize = 32;

/// A network in CIDR form, such as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    base: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Whether `ip` lies in this network. An IPv4 address seen as IPv4-mapped IPv6 (as a dual-stack
    /// listener reports it) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => prefix_bits(u32::from(base), u32::from(ip), self.prefix, 32),
            (IpAddr::V6(base), IpAddr::V6(ip)) => prefix_bits(u128::from(base), u128::from(ip), self.prefix, 128),
            _ => false,
        }
    }
}

fn prefix_bits<T>(base: T, ip: T, prefix: u8, width: u8) -> bool
where
    T: Copy + std::ops::BitXor<Output = T> + std::ops::Shr<u32, Output = T> + PartialEq + From<u8>,
{
    if prefix == 0 {
        return true;
    }
    ((base ^ ip) >> u32::from(width - prefix)) == T::from(0)
}

impl FromStr for IpNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let base: IpAddr = address.parse().map_err(|_| format!("'{text}' is not an IP address or network"))?;
        let width = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(bits) if bits <= width => bits,
                _ => return Err(format!("'{text}': the prefix length must be 0 to {width}")),
            },
        };
        Ok(Self { base, prefix })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The reverse proxies whose forwarding headers are believed (`STARMARK_TRUSTED_PROXIES`: IP
/// addresses or networks, separated by commas or spaces). Empty by default: a server reached
/// directly must not let a client name its own address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNetwork>,
}

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let networks = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }
}

/// The client a request comes from (see the module documentation), as an IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    /// The client behind `peer`: `peer` itself unless it is a trusted proxy.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Self {
        let peer = canonical(peer);
        if trusted.is_empty() || !trusted.contains(peer) {
            return Self(peer);
        }
        // Right to left: the first hop that is not a trusted proxy is the client. A hop that does
        // not name an address (`unknown`, an obfuscated name, garbage) ends the walk at the last
        // proxy that could be believed.
        let mut client = peer;
        for hop in hops_from_the_right(headers).take(MAX_HOPS) {
            match hop {
                Some(ip) if trusted.contains(ip) => client = ip,
                Some(ip) => return Self(ip),
                None => return Self(client),
            }
        }
        Self(client)
    }

    pub fn ip(&self) -> IpAddr {
        self.0
    }

    /// What one subscriber controls, for limits: an IPv4 address, or the /64 of an IPv6 one
    /// (a home or phone commonly gets a whole /64 and can pick any address in it).
    pub fn network(&self) -> ClientNetwork {
        match self.0 {
            IpAddr::V4(v4) => ClientNetwork(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => ClientNetwork(u128::from(v6) & !u128::from(u64::MAX)),
        }
    }
}

impl From<IpAddr> for ClientAddr {
    /// A client seen directly, with no proxy in between.
    fn from(ip: IpAddr) -> Self {
        Self(canonical(ip))
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The network a client's limits are kept for (see [`ClientAddr::network`]), as one number so
/// that it hashes and compares cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientNetwork(u128);

impl ClientNetwork {
    /// The network's bits: an IPv4 address as IPv4-mapped IPv6, an IPv6 /64 with its host half zero.
    pub fn bits(&self) -> u128 {
        self.0
    }
}

impl fmt::Display for ClientNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => v4.fmt(f),
            None => write!(f, "{v6}/64"),
        }
    }
}

/// What the server records of the connection a request came on, in the request's extensions:
/// the TCP peer and the proxies whose headers may be believed.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub proxies: &'static TrustedProxies,
}

impl Peer {
    /// Whether the connection comes from one of the trusted proxies, whose headers (forwarding,
    /// `X-Request-Id`) may be believed.
    pub fn is_trusted_proxy(&self) -> bool {
        !self.proxies.is_empty() && self.proxies.contains(canonical(self.addr.ip()))
    }
}

impl ClientAddr {
    /// The client of a request the server received; `None` for one it did not (no [`Peer`]).
    pub fn of(extensions: &Extensions, headers: &HeaderMap) -> Option<Self> {
        let peer = extensions.get::<Peer>()?;
        Some(Self::resolve(peer.addr.ip(), headers, peer.proxies))
    }
}

/// The request's client, for handlers that keep per-client limits. A request without a peer
/// (one the server did not receive) is refused rather than counted against an invented client.
impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = super::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::of(&parts.extensions, &parts.headers)
            .ok_or_else(|| super::error::ApiError::internal("a request reached a handler without its peer address"))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

static FORWARDED: HeaderName = HeaderName::from_static("forwarded");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The addresses the proxies recorded, nearest (rightmost) first; `None` for a hop that names no
/// address. `Forwarded` wins when present, as RFC 7239 asks. Read in place, without collecting
/// the chain: every request behind a proxy walks it (for the rate limits), so it must not allocate.
fn hops_from_the_right(headers: &HeaderMap) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    let forwarded = headers.contains_key(&FORWARDED);
    let name = if forwarded { &FORWARDED } else { &X_FORWARDED_FOR };
    headers.get_all(name).iter().rev().flat_map(move |value| {
        // A value that is not text is one hop that names no address.
        let (text, garbage) = match value.to_str() {
            Ok(text) => (text, false),
            Err(_) => ("", true),
        };
        let unreadable = std::iter::once(None).filter(move |_| garbage);
        let hops = text.rsplit(',').filter(move |_| !garbage);
        unreadable.chain(hops.map(move |hop| if forwarded { forwarded_for(hop) } else { hop_address(hop) }))
    })
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.1;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| hop_address(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn hop_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    let bracketed = text.strip_prefix('[')?.split(']').next()?;
    bracketed.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.7 2001:db8::/32".parse().unwrap();
        assert!(proxies.contains(ip("10.200.3.4")));
        assert!(proxies.contains(ip("192.168.1.7")));
        assert!(!proxies.contains(ip("192.168.1.8")));
        assert!(proxies.contains(ip("2001:db8:ffff::1")));
        assert!(!proxies.contains(ip("2001:db9::1")));
        assert!(proxies.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped addresses are their IPv4 address");
        assert!("0.0.0.0/0".parse::<IpNetwork>().unwrap().contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "2001:db8::/129", "example.com", "10.0.0.0/x", "10.0.0/8"] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad} must be refused");
        }
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }

    #[test]
    fn a_direct_client_cannot_name_its_own_address() {
        let trusted: TrustedProxies = "10.0.0.1".parse().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=198.51.100.2")]);
        assert_eq!(ClientAddr::resolve(ip("203.0.113.5"), &spoofed, &trusted).ip(), ip("203.0.113.5"));
        assert_eq!(
            ClientAddr::resolve(ip("203.0.113.5"), &spoofed, &TrustedProxies::default()).ip(),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // The client wrote a fake first hop; the proxies appended the real address and each other.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.2")]);
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &chain, &trusted).ip(), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        let split = headers(&[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "203.0.113.8:5120")]);
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &split, &trusted).ip(), ip("203.0.113.8"));
        // Forwarded wins over X-Forwarded-For, quoted IPv6 with a port included.
        let forwarded = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", r#"for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.3"#),
        ]);
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &forwarded, &trusted).ip(), ip("2001:db8:cafe::17"));
        // A hop that names no address stops the walk at the last believable proxy.
        let unknown = headers(&[("forwarded", "for=203.0.113.9, for=unknown, for=10.0.0.4")]);
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &unknown, &trusted).ip(), ip("10.0.0.4"));
        // A value that is not text is a hop that names no address.
        let mut garbage = headers(&[("x-forwarded-for", "203.0.113.7")]);
        garbage.append(&X_FORWARDED_FOR, HeaderValue::from_bytes(b"\xff10.0.0.5").unwrap());
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &garbage, &trusted).ip(), ip("10.0.0.1"));
        // No header at all: the proxy itself is all that is known.
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &HeaderMap::new(), &trusted).ip(), ip("10.0.0.1"));
        // Every hop trusted: the farthest one.
        let internal = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.2")]);
        assert_eq!(ClientAddr::resolve(ip("10.0.0.1"), &internal, &trusted).ip(), ip("10.9.9.9"));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1")).network();
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::9")).network();
        let c = ClientAddr(ip("2001:db8:1:3::1")).network();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(ClientAddr(ip("203.0.113.4")).network().to_string(), "203.0.113.4");
        assert_ne!(ClientAddr(ip("203.0.113.4")).network(), ClientAddr(ip("203.0.113.5")).network());
    }
}
