//! A TCP relay between the application and PostgreSQL that a test can cut and restore, as a
//! database restart or a network failure would: once cut, connections in use are closed and
//! new ones are reset as soon as they are accepted; restored, it relays again. Its port stays
//! bound throughout, so no parallel test can take it while it is cut.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Relay {
    /// Where it listens, on loopback.
    pub addr: SocketAddr,
    /// `true` while cut; every change closes the connections relayed before it.
    cut: watch::Sender<bool>,
    listener: JoinHandle<()>,
}

impl Relay {
    /// Relays a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let (cut, watching) = watch::channel(false);
        let listener = tokio::spawn(relay(listener, target, watching));
        Self { addr, cut, listener }
    }

    /// The relay in front of the PostgreSQL server that `url` names.
    pub async fn in_front_of(url: &str) -> Self {
        let (_, host_port) = authority(url);
        let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:5432") };
        let target = tokio::net::lookup_host(host_port).await.expect("resolve").next().expect("an address");
        Self::start(target).await
    }

    /// `url` (a postgres:// URL) with its host and port replaced by the relay's.
    pub fn url(&self, url: &str) -> String {
        let (user, host_port) = authority(url);
        url.replacen(&format!("{user}{host_port}"), &format!("{user}{}", self.addr), 1)
    }

    /// Closes every relayed connection; from now on each new one is reset at once.
    pub async fn cut(&mut self) {
        self.cut.send_replace(true);
        // Let the relayed connections see it before the test goes on.
        tokio::task::yield_now().await;
    }

    /// Relays new connections again, on the same port.
    pub async fn restore(&mut self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Accepts on `listener` for ever: relays each connection to `target` until `cut` next changes,
/// or resets it at once while cut.
async fn relay(listener: TcpListener, target: SocketAddr, cut: watch::Receiver<bool>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let mut connection = cut.clone();
        if *connection.borrow_and_update() {
            // Reset rather than closed, as near to a refusal as a bound port can answer.
            let _ = inbound.set_zero_linger();
            drop(inbound);
            continue;
        }
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else { return };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                // Only a cut can follow a state in which connections are relayed.
                _ = connection.changed() => {}
            }
        });
    }
}

/// The user part (with its `@`, or empty) and the `host:port` of a postgres:// URL.
fn authority(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").expect("a postgres:// URL").1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    }
}
