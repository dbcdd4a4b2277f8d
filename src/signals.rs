//! Signals: shutdown as a future (the sandbox server), and [`Stop`] for the jobs and the daemon.
//!
//! A job told to stop by SIGINT (Ctrl-C) or SIGTERM (systemd, `kill`) takes no new work,
//! leaves what it holds consistent, records its run as `interrupted`, prints its summary and
//! exits 128 + the signal number (130, 143), as a shell reports a process killed by it. A
//! second signal ends the process at once with the same status: every step is crash-safe
//! (stale temporary files are removed by the next `Archive::open`), so a person who presses
//! Ctrl-C twice gets their terminal back without waiting for a slow download.
//!
//! Every stop request goes through one function, [`Trigger::request`]: the signal listener of
//! [`Stop::listen`] calls it, and so does the Windows service's control handler
//! (`daemon::windows_service`) when the Service Control Manager sends Stop or Shutdown, so a
//! service stop is the very shutdown SIGTERM gives `mailroom run` under systemd.

use std::sync::Arc;

use tokio::sync::watch;

/// The signal that asked the process to stop, or the Windows Service Control Manager's control
/// that did (Windows' counterpart of systemd's SIGTERM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    /// `SERVICE_CONTROL_STOP`: `mailroom service stop`, `sc stop`, the Services console.
    ServiceStop,
    /// `SERVICE_CONTROL_SHUTDOWN`: the system is shutting down.
    ServiceShutdown,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::ServiceStop => "SERVICE_CONTROL_STOP",
            Signal::ServiceShutdown => "SERVICE_CONTROL_SHUTDOWN",
        }
    }

    /// 128 + the signal number, the status a shell shows for a process the signal ended. The
    /// service controls only ever stop `mailroom run`, which exits 0 when stopped; they count
    /// as SIGTERM, the stop they stand for.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate | Signal::ServiceStop | Signal::ServiceShutdown => 143,
        }
    }
}

/// The sending side of a [`Stop`]: whoever may ask the process to stop holds one.
#[derive(Clone, Debug)]
pub struct Trigger {
    tx: Arc<watch::Sender<Option<Signal>>>,
}

impl Trigger {
    /// Asks the process to stop because of `signal`, with the one log line every stop gets.
    /// The first request is the answer [`Stop::requested`] gives; a later one changes nothing.
    /// Returns whether this request was the first.
    pub fn request(&self, signal: Signal) -> bool {
        // Sent even when every receiver is gone (the job ended): the signal is still the answer.
        let first = self.tx.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(signal);
            }
            first
        });
        if first {
            tracing::warn!(
                "{} received: stopping after the communication or case in hand",
                signal.name()
            );
        }
        first
    }
}

/// Whether, and by which signal, the process was asked to stop. Cheap to clone and to check.
#[derive(Clone, Debug)]
pub struct Stop {
    rx: watch::Receiver<Option<Signal>>,
}

impl Stop {
    /// Installs the handlers now (so a signal arriving from here on is never the default
    /// "terminate at once") and records the first signal. Needs a tokio runtime.
    pub fn listen() -> std::io::Result<Stop> {
        let (stop, trigger) = Stop::new();
        let mut signals = Signals::install()?;
        tokio::spawn(async move {
            let first = signals.next().await;
            trigger.request(first);
            let second = signals.next().await;
            eprintln!("mailroom: {} received again: exiting now", second.name());
            std::process::exit(i32::from(first.exit_code()));
        });
        Ok(stop)
    }

    /// A `Stop` that fires when its [`Trigger`] is asked to: the Windows service's, whose stop
    /// comes from the Service Control Manager rather than a signal, and tests'.
    pub fn new() -> (Stop, Trigger) {
        let (tx, rx) = watch::channel(None);
        (Stop { rx }, Trigger { tx: Arc::new(tx) })
    }

    /// A `Stop` that never fires (the demo, tests).
    pub fn never() -> Stop {
        let (_tx, rx) = watch::channel(None);
        Stop { rx }
    }

    /// The signal received, if any.
    pub fn requested(&self) -> Option<Signal> {
        *self.rx.borrow()
    }

    /// Resolves when a signal arrives (never, for [`Stop::never`]).
    pub async fn wait(&self) -> Signal {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(s) => s.unwrap_or(Signal::Interrupt),
            Err(_) => std::future::pending().await,
        }
    }
}

/// SIGHUP: "read the configuration again" (`mailroom run`). Windows has no such signal: a
/// service there is restarted to pick up a new configuration.
pub struct Reload {
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Reload {
    /// Installs the handler now. Needs a tokio runtime.
    pub fn listen() -> std::io::Result<Reload> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Reload {
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Reload {})
    }

    /// Resolves at the next SIGHUP (never on Windows).
    pub async fn next(&mut self) {
        #[cfg(unix)]
        {
            self.hup.recv().await;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

/// SIGINT and SIGTERM streams, registered when created.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::Interrupt,
            _ = self.term.recv() => Signal::Terminate,
        }
    }
}

/// Ctrl-C (and Ctrl-Break) on Windows, registered when created.
#[cfg(not(unix))]
struct Signals {
    c: tokio::signal::windows::CtrlC,
    brk: tokio::signal::windows::CtrlBreak,
}

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            c: tokio::signal::windows::ctrl_c()?,
            brk: tokio::signal::windows::ctrl_break()?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.c.recv() => Signal::Interrupt,
            _ = self.brk.recv() => Signal::Terminate,
        }
    }
}

/// Shutdown as a future: resolves on Ctrl-C, and on SIGTERM where there is one (systemd).
pub async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal_number() {
        for (s, code, name) in [
            (Signal::Interrupt, 130, "SIGINT"),
            (Signal::Terminate, 143, "SIGTERM"),
            (Signal::ServiceStop, 143, "SERVICE_CONTROL_STOP"),
            (Signal::ServiceShutdown, 143, "SERVICE_CONTROL_SHUTDOWN"),
        ] {
            assert_eq!((s.exit_code(), s.name()), (code, name));
        }
    }

    #[tokio::test]
    async fn the_first_request_is_the_answer_and_wakes_a_waiter() {
        let (stop, trigger) = Stop::new();
        assert_eq!(stop.requested(), None);
        let requests = async {
            tokio::task::yield_now().await;
            (
                trigger.request(Signal::ServiceStop),
                trigger.clone().request(Signal::Interrupt),
            )
        };
        let waited = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            tokio::join!(stop.wait(), requests)
        })
        .await;
        let (woken_by, (first, later)) = waited.expect("the waiter is woken");
        assert!(first, "the first request");
        assert!(!later, "a later one changes nothing");
        assert_eq!(woken_by, Signal::ServiceStop);
        assert_eq!(stop.requested(), Some(Signal::ServiceStop));
    }

    #[tokio::test]
    async fn never_stays_unrequested() {
        let stop = Stop::never();
        assert_eq!(stop.requested(), None);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), stop.wait()).await;
        assert!(waited.is_err(), "never resolves");
    }
}
