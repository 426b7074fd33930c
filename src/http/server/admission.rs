//! Which connections the server takes: at most so many in all, so that it refuses new ones
//! before it runs out of file descriptors, and at most so many from one client, so that one
//! client cannot take them all. Trusted proxies carry many clients and are held to the total only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::http::client::{ClientAddr, ClientNetwork, TrustedProxies};

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds as many connections as it may.
    Full,
    /// This client holds as many as one client may.
    ClientFull,
}

/// The connection limits and what is held against them.
pub struct Admission {
    max_total: usize,
    max_per_client: usize,
    proxies: &'static TrustedProxies,
    open: AtomicUsize,
    by_client: Mutex<HashMap<ClientNetwork, usize>>,
    refused_full: AtomicU64,
    refused_client: AtomicU64,
}

impl Admission {
    pub fn new(max_total: usize, max_per_client: usize, proxies: &'static TrustedProxies) -> Self {
        Self {
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            proxies,
            open: AtomicUsize::new(0),
            by_client: Mutex::new(HashMap::new()),
            refused_full: AtomicU64::new(0),
            refused_client: AtomicU64::new(0),
        }
    }

    /// Takes a connection from `peer`, or says why not. The ticket gives its place back when dropped.
    pub fn admit(&'static self, peer: IpAddr) -> Result<Ticket, Refusal> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_full.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Full);
        }
        if self.proxies.contains(peer) {
            return Ok(Ticket { admission: self, client: None });
        }
        let client = ClientAddr::from(peer).network();
        let mut by_client = self.by_client.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let held = by_client.entry(client).or_insert(0);
        if *held >= self.max_per_client {
            drop(by_client);
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_client.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::ClientFull);
        }
        *held += 1;
        Ok(Ticket { admission: self, client: Some(client) })
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused since start: because the server was full, and because the client was.
    pub fn refused(&self) -> (u64, u64) {
        (self.refused_full.load(Ordering::Relaxed), self.refused_client.load(Ordering::Relaxed))
    }

    pub fn max_total(&self) -> usize {
        self.max_total
    }

    pub fn max_per_client(&self) -> usize {
        self.max_per_client
    }
}

/// A connection's place; given back on drop.
pub struct Ticket {
    admission: &'static Admission,
    client: Option<ClientNetwork>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(client) = self.client {
            let mut by_client = self.admission.by_client.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(held) = by_client.get_mut(&client) {
                *held -= 1;
                if *held == 0 {
                    by_client.remove(&client);
                }
            }
        }
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(total: usize, per_client: usize, proxies: &str) -> &'static Admission {
        let proxies: &'static TrustedProxies = Box::leak(Box::new(proxies.parse().unwrap()));
        Box::leak(Box::new(Admission::new(total, per_client, proxies)))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_client_cannot_take_every_place() {
        let admission = admission(10, 3, "");
        let held: Vec<_> = (0..3).map(|_| admission.admit(ip("203.0.113.1")).unwrap()).collect();
        assert_eq!(admission.admit(ip("203.0.113.1")).err(), Some(Refusal::ClientFull));
        assert!(admission.admit(ip("203.0.113.2")).is_ok(), "another client still gets in");
        assert_eq!(admission.refused(), (0, 1));
        drop(held);
        assert!(admission.admit(ip("203.0.113.1")).is_ok(), "places come back when connections close");
        assert_eq!(admission.open(), 0, "every ticket above was dropped");
    }

    #[test]
    fn the_total_holds_whoever_asks_and_places_come_back() {
        let admission = admission(4, 4, "10.0.0.1");
        let held: Vec<_> = (1..=4).map(|n| admission.admit(ip(&format!("198.51.100.{n}"))).unwrap()).collect();
        assert_eq!(admission.open(), 4);
        assert_eq!(admission.admit(ip("198.51.100.9")).err(), Some(Refusal::Full));
        assert_eq!(admission.admit(ip("10.0.0.1")).err(), Some(Refusal::Full), "proxies count toward the total");
        drop(held);
        assert_eq!(admission.open(), 0);
        assert!(admission.by_client.lock().unwrap().is_empty(), "no client is remembered once it has gone");
    }

    #[test]
    fn trusted_proxies_are_not_held_to_one_clients_share() {
        let admission = admission(10, 2, "10.0.0.1");
        let held: Vec<_> = (0..6).map(|_| admission.admit(ip("10.0.0.1")).unwrap()).collect();
        assert_eq!(held.len(), 6);
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let admission = admission(10, 2, "");
        let _a = admission.admit(ip("2001:db8:0:1::1")).unwrap();
        let _b = admission.admit(ip("2001:db8:0:1::2")).unwrap();
        assert_eq!(admission.admit(ip("2001:db8:0:1:ffff::3")).err(), Some(Refusal::ClientFull));
        assert!(admission.admit(ip("2001:db8:0:2::1")).is_ok());
    }
}
