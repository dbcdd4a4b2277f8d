//! The real SMTP server of the notification tests: `tests/support/smtpd.py` (aiosmtpd) on
//! Debian's `/usr/bin/python3`, which the `python3-aiosmtpd` package serves, not the `python3`
//! on PATH. It prints its port when it listens and exits when its stdin closes, so a test that
//! dies leaves no server behind.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const PYTHON: &str = "/usr/bin/python3";
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtpd.py");

/// Why the server cannot run on this machine, if it cannot (the test then skips, or fails on CI).
pub fn missing() -> Option<String> {
    let importable = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    (!importable.is_ok_and(|s| s.success()))
        .then(|| format!("{PYTHON} cannot import aiosmtpd (Debian package python3-aiosmtpd)"))
}

/// A running `smtpd.py`; stopped (bounded) when dropped.
pub struct Smtpd {
    child: Option<Child>,
    pub port: u16,
}

impl Smtpd {
    /// Starts `smtpd.py ARGS…` with its stderr going to `stderr`, and waits (up to 30 s) for
    /// the port it prints. `Err` says what it printed instead.
    pub fn spawn<I, S>(args: I, stderr: Stdio) -> Result<Smtpd, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(PYTHON)
            .arg(SCRIPT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {SCRIPT}: {e}"))?;
        let out = child.stdout.take().ok_or("smtpd.py has no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Smtpd {
            child: Some(child),
            port: 0,
        };
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        match line.trim().parse() {
            Ok(port) => {
                server.port = port;
                Ok(server)
            }
            Err(_) => {
                server.stop();
                Err(format!(
                    "smtpd.py did not say its port within 30 s (it said {line:?})"
                ))
            }
        }
    }

    /// Closes its stdin, which makes it stop listening and exit; killed if it has not within
    /// 10 s. Returns when the process is gone, so the port is free.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        self.stop();
    }
}
