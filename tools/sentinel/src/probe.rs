//! The probe: can the instance reach the Region over the service link?

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Whether a TCP connection to any of `addrs` opens within `timeout` (tried one after the
/// other). The connection is closed at once: only reaching the target matters.
pub fn reachable(addrs: &[SocketAddr], timeout: Duration) -> bool {
    addrs
        .iter()
        .any(|addr| TcpStream::connect_timeout(addr, timeout).is_ok())
}
