//! The Windows service's decisions, as pure functions: what each control of the Service
//! Control Manager (SCM) asks of mailroom, which status it is told in each phase, and what
//! `mailroom service install` registers. The SCM adapter (`daemon::windows_service`) only
//! converts these to and from the windows-service crate's types, so they are tested on every
//! platform.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::signals::Signal;

/// How long the SCM is told to wait for the start (the state lock, the configuration, the
/// database's migrations) before it may take the service for hung.
pub const START_WAIT: Duration = Duration::from_secs(30);

/// What a stop takes beyond `[schedule] stop_timeout_secs` (the bound on the job in hand):
/// recording unfinished runs as interrupted, closing the database, flushing the log files.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);

/// The account a service runs as when `--account` is not given.
pub const DEFAULT_ACCOUNT: &str = "LocalService";

/// A control the SCM sends to the service's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Stop,
    Shutdown,
    /// "Report your status now."
    Interrogate,
    /// Any other control (pause, parameter change, power events…): none is accepted.
    Other,
}

/// What the handler does with a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Stop the way SIGTERM stops `mailroom run` (`signals::Trigger::request` with this
    /// cause), and tell the SCM the stop is pending.
    Stop(Signal),
    /// Nothing to do; the SCM takes the last status reported.
    Done,
    /// Not a control mailroom handles.
    NotImplemented,
}

/// The answer to a control.
pub fn answer(control: Control) -> Answer {
    match control {
        Control::Stop => Answer::Stop(Signal::ServiceStop),
        Control::Shutdown => Answer::Stop(Signal::ServiceShutdown),
        Control::Interrogate => Answer::Done,
        Control::Other => Answer::NotImplemented,
    }
}

/// Where the service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From the SCM's start to `mailroom run`'s "ready".
    Starting,
    Running,
    /// A stop was asked for; the job in hand is finishing.
    Stopping,
    /// Ended, with mailroom's exit status.
    Stopped {
        exit: u8,
    },
}

/// The SCM's service states mailroom reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    StartPending,
    Running,
    StopPending,
    Stopped,
}

/// How the service ended, as `SERVICE_STATUS` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `dwWin32ExitCode` 0.
    Success,
    /// `ERROR_SERVICE_SPECIFIC_ERROR` with mailroom's exit status as the service-specific code
    /// (78 a configuration it cannot use, 75 another mailroom holds the state directory…), so
    /// `sc query` and the event log show the same number a terminal would.
    Specific(u32),
}

/// One status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// Whether the SCM may send Stop and Shutdown: only while running. During the start the
    /// SCM waits for it (a stop then would race the start's own failure path); while stopping
    /// or stopped there is nothing more to stop.
    pub accepts_stop: bool,
    pub exit: Exit,
    /// Increases with every report of a pending state, so the SCM sees progress.
    pub checkpoint: u32,
    /// How long the SCM should wait for the next report of a pending state.
    pub wait_hint: Duration,
}

/// The status to report in `phase`: `stop_bound` is `[schedule] stop_timeout_secs`, and
/// `reported` how many reports were made before this one.
pub fn status(phase: Phase, stop_bound: Duration, reported: u32) -> Status {
    let pending = |state, wait_hint| Status {
        state,
        accepts_stop: false,
        exit: Exit::Success,
        checkpoint: reported.saturating_add(1),
        wait_hint,
    };
    match phase {
        Phase::Starting => pending(State::StartPending, START_WAIT),
        Phase::Stopping => pending(State::StopPending, stop_bound.saturating_add(STOP_MARGIN)),
        Phase::Running => Status {
            state: State::Running,
            accepts_stop: true,
            exit: Exit::Success,
            checkpoint: 0,
            wait_hint: Duration::ZERO,
        },
        Phase::Stopped { exit } => Status {
            state: State::Stopped,
            accepts_stop: false,
            exit: if exit == 0 {
                Exit::Success
            } else {
                Exit::Specific(u32::from(exit))
            },
            checkpoint: 0,
            wait_hint: Duration::ZERO,
        },
    }
}

/// The account name the SCM is given for `--account`: the built-in service accounts by their
/// short names, `None` for LocalSystem (the SCM's own default), any other name as it is (a
/// virtual account such as `NT SERVICE\mailroom` needs no password).
pub fn account_name(account: &str) -> Option<String> {
    match account.to_ascii_lowercase().as_str() {
        "localsystem" => None,
        "localservice" => Some(r"NT AUTHORITY\LocalService".to_owned()),
        "networkservice" => Some(r"NT AUTHORITY\NetworkService".to_owned()),
        _ => Some(account.to_owned()),
    }
}

/// The arguments the SCM starts `mailroom.exe` with: the hidden entry point and the absolute
/// configuration path (a service's working directory is System32, so a relative one would
/// name a file there).
pub fn launch_arguments(config: &Path) -> Vec<OsString> {
    vec![
        "service".into(),
        "run".into(),
        "--config".into(),
        config.as_os_str().to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_shutdown_stop_gracefully_nothing_else_does() {
        let table = [
            (Control::Stop, Answer::Stop(Signal::ServiceStop)),
            (Control::Shutdown, Answer::Stop(Signal::ServiceShutdown)),
            (Control::Interrogate, Answer::Done),
            (Control::Other, Answer::NotImplemented),
        ];
        for (control, expected) in table {
            assert_eq!(answer(control), expected, "{control:?}");
        }
    }

    #[test]
    fn a_life_reports_pending_states_with_progress_and_the_stop_bound() {
        let bound = Duration::from_secs(30);
        let life = [
            Phase::Starting,
            Phase::Running,
            Phase::Stopping,
            Phase::Stopped { exit: 0 },
        ];
        let reports: Vec<Status> = life
            .iter()
            .enumerate()
            .map(|(i, phase)| status(*phase, bound, u32::try_from(i).unwrap()))
            .collect();
        let expected = [
            (State::StartPending, false, 1, START_WAIT),
            (State::Running, true, 0, Duration::ZERO),
            (State::StopPending, false, 3, Duration::from_secs(40)),
            (State::Stopped, false, 0, Duration::ZERO),
        ];
        for (got, (state, accepts_stop, checkpoint, wait_hint)) in reports.iter().zip(expected) {
            assert_eq!(
                (
                    got.state,
                    got.accepts_stop,
                    got.checkpoint,
                    got.wait_hint,
                    got.exit
                ),
                (state, accepts_stop, checkpoint, wait_hint, Exit::Success),
            );
        }
    }

    #[test]
    fn a_failed_run_ends_with_its_exit_status_as_the_service_specific_code() {
        for (exit, expected) in [
            (0, Exit::Success),
            (1, Exit::Specific(1)),
            (75, Exit::Specific(75)),
            (78, Exit::Specific(78)),
        ] {
            let s = status(Phase::Stopped { exit }, Duration::from_secs(30), 7);
            assert_eq!((s.state, s.exit), (State::Stopped, expected), "exit {exit}");
        }
    }

    #[test]
    fn accounts_by_short_name_and_as_given() {
        let table = [
            ("LocalService", Some(r"NT AUTHORITY\LocalService")),
            ("localservice", Some(r"NT AUTHORITY\LocalService")),
            ("NetworkService", Some(r"NT AUTHORITY\NetworkService")),
            ("LocalSystem", None),
            (r"NT SERVICE\mailroom", Some(r"NT SERVICE\mailroom")),
        ];
        for (given, expected) in table {
            assert_eq!(account_name(given).as_deref(), expected, "{given}");
        }
        assert_eq!(
            account_name(DEFAULT_ACCOUNT).as_deref(),
            Some(r"NT AUTHORITY\LocalService")
        );
    }

    #[test]
    fn the_service_runs_the_hidden_entry_point_with_the_configuration() {
        let config = Path::new(r"C:\ProgramData\mailroom\config.toml");
        assert_eq!(
            launch_arguments(config),
            [
                "service",
                "run",
                "--config",
                r"C:\ProgramData\mailroom\config.toml"
            ]
            .map(OsString::from)
            .to_vec()
        );
    }
}
