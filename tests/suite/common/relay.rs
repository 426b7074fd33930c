//! A TCP relay between the application and PostgreSQL that a test can cut and restore, as a
//! database restart or a network failure would: once cut, connections in use are closed and
//! new ones are refused; restored, it listens on the same port again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Relay {
    /// Where it listens, on loopback.
    pub addr: SocketAddr,
    target: SocketAddr,
    /// `true` tells the listener and every relayed connection to stop.
    cut: watch::Sender<bool>,
    listener: Option<JoinHandle<()>>,
}

impl Relay {
    /// Relays a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let (cut, _) = watch::channel(false);
        let mut relay = Self { addr, target, cut, listener: None };
        relay.listen(listener);
        relay
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

    fn listen(&mut self, listener: TcpListener) {
        let (target, mut cut) = (self.target, self.cut.subscribe());
        self.listener = Some(tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted.ok().map(|(inbound, _)| inbound),
                    _ = cut.wait_for(|cut| *cut) => return,
                };
                let Some(inbound) = accepted else {
                    // Out of descriptors, say: wait rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let mut cut = cut.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        }));
    }

    /// Closes every relayed connection and stops listening: connecting is refused.
    pub async fn cut(&mut self) {
        self.cut.send_replace(true);
        if let Some(listener) = self.listener.take() {
            let _ = listener.await;
        }
    }

    /// Listens on the same port again.
    pub async fn restore(&mut self) {
        self.cut.send_replace(false);
        let listener = TcpListener::bind(self.addr).await.expect("listen on the relay's port again");
        self.listen(listener);
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
