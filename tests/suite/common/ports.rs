//! Addresses where nothing answers, that stay so for the whole test: a port picked by binding
//! and releasing it may be taken by a parallel test's server a moment later.

use std::net::SocketAddr;

/// A loopback TCP port held bound but never listening: every connection to it is refused, and
/// no other socket can bind it while this lives (it does not set `SO_REUSEADDR`).
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl RefusingPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.bind("127.0.0.1:0".parse().expect("address")).expect("a free loopback port");
        let addr = socket.local_addr().expect("bound");
        Self { _socket: socket, addr }
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        Self::new()
    }
}
