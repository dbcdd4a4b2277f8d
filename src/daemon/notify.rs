//! systemd's notification protocol (sd_notify(3)), without libsystemd: one datagram per
//! message to the Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace). Without the variable (not started by systemd with `Type=notify`) every message
//! is dropped, so the daemon runs the same under a terminal, a test, or Windows.
//!
//! `READY=1` once the database is open and the configuration valid; `STATUS=…` after each
//! job; `WATCHDOG=1` from the scheduler loop at half the `$WATCHDOG_USEC` interval (so a hung
//! loop is restarted); `EXTEND_TIMEOUT_USEC=…` while the item in hand finishes at a stop;
//! `STOPPING=1` when it stops.

use std::time::Duration;

/// Where notifications go, if anywhere.
pub struct Notifier {
    #[cfg(unix)]
    socket: Option<(std::os::unix::net::UnixDatagram, String)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a socket that cannot be used is logged once and ignored.
    pub fn from_env() -> Notifier {
        #[cfg(unix)]
        {
            let socket = std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty())
                .and_then(|target| match std::os::unix::net::UnixDatagram::unbound() {
                    // Non-blocking: a service manager that stops reading must not stop the
                    // scheduler loop (this runs on the async thread); a message that cannot
                    // be sent at once is dropped, and the next one says the same again.
                    Ok(s) if s.set_nonblocking(true).is_ok() => Some((s, target)),
                    Ok(_) => {
                        tracing::warn!("cannot make the systemd notification socket non-blocking");
                        None
                    }
                    Err(e) => {
                        tracing::warn!("cannot create the socket to tell systemd how mailroom is: {e}");
                        None
                    }
                });
            Notifier { socket }
        }
        #[cfg(not(unix))]
        Notifier {}
    }

    /// Sends one message (`KEY=value` lines); failures are logged, never fatal.
    pub fn send(&self, message: &str) {
        #[cfg(unix)]
        if let Some((socket, target)) = &self.socket {
            let sent = match target.strip_prefix('@') {
                #[cfg(target_os = "linux")]
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt;
                    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                        .and_then(|addr| socket.send_to_addr(message.as_bytes(), &addr))
                }
                #[cfg(not(target_os = "linux"))]
                Some(_) => Err(std::io::Error::other("abstract sockets exist only on Linux")),
                None => socket.send_to(message.as_bytes(), target),
            };
            if let Err(e) = sent {
                tracing::debug!("sd_notify to {target}: {e}");
            }
        }
        #[cfg(not(unix))]
        let _ = message;
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Asks for `more` time to finish stopping.
    pub fn extend_timeout(&self, more: Duration) {
        self.send(&format!("EXTEND_TIMEOUT_USEC={}", more.as_micros()));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }
}

/// A status must be one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC` when `$WATCHDOG_PID` is unset or
/// ours (sd_watchdog_enabled(3)); `None` when there is no watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    let pid_ok = std::env::var("WATCHDOG_PID")
        .ok()
        .is_none_or(|p| p.trim().parse::<u32>().ok() == Some(std::process::id()));
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (pid_ok && usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_status_is_one_line() {
        assert_eq!(super::one_line("a\nb\r\nc"), "a b  c");
    }

    #[cfg(unix)]
    #[test]
    fn messages_reach_the_socket_named_by_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let n = super::Notifier {
            socket: Some((
                std::os::unix::net::UnixDatagram::unbound().unwrap(),
                path.to_string_lossy().into_owned(),
            )),
        };
        n.ready("up\nand running");
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up and running");
    }
}
