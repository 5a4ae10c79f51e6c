//! `sd_notify`: tells systemd (Type=notify) that exportd is ready or stopping, by sending a
//! datagram to `$NOTIFY_SOCKET`. Outside systemd the variable is unset and this does nothing.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends a state line such as `READY=1`. Failures are logged, never fatal: a service that
/// cannot notify still works, and systemd reports the missing notification itself.
pub(crate) fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = (|| {
        let bytes = path.as_encoded_bytes();
        // `@name` is a Linux abstract socket.
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => abstract_addr(name)?,
            None => SocketAddr::from_pathname(&path)?,
        };
        UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)
    })();
    if let Err(e) = result {
        log::warn!("could not notify systemd ({state}): {e}");
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::other(
        "abstract sockets exist only on Linux",
    ))
}
