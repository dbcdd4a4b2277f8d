//! The Windows service: `mailroom run` under the Service Control Manager (SCM), and the SCM
//! calls of `mailroom service install|uninstall|start|stop`. The decisions (what a control
//! asks, which status to report, what to register) are `core::service`'s; this module only
//! converts them to and from the windows-service crate.
//!
//! What is different for a program the SCM runs (each shapes the code below or
//! `cli::service`):
//! - **The account**: LocalService by default (`--account` chooses, LocalSystem only if asked
//!   for): no password to store, few rights, network access as an anonymous machine. It has
//!   **no user profile** of its own to speak of and no `%APPDATA%` of the person who installed
//!   it, so everything the service reads or writes is in the configuration, by **absolute
//!   path**: `install` writes the configuration's absolute path into the service's command
//!   line, and the defaults are `%ProgramData%\mailroom\…` (`config::default_config_path`,
//!   `config::default_state_dir`). That directory must be writable by the account.
//! - **The working directory is `%SystemRoot%\System32`**: a relative path in the
//!   configuration would name a place there, which LocalService cannot write.
//! - **No console**: stdout and stderr go nowhere, so the service logs to rolling files,
//!   `[log] dir` or else `%ProgramData%\mailroom\logs` (`logging::for_service`); Ctrl-C and
//!   SIGHUP do not exist (the configuration is read again by restarting the service).
//! - **No desktop**: it runs in session 0, so desktop notifications (`mailroom desktop`)
//!   belong to the person's own session, never to the service.
//! - **Stop and Shutdown** come to the control handler on the SCM's thread, which must
//!   answer at once: it hands them to `signals::Trigger::request`, the function SIGTERM
//!   reaches on Unix, so the stop is the same graceful one (the item in hand finishes, runs
//!   are recorded `interrupted`, exit 0), bounded by `[schedule] stop_timeout_secs`, which is
//!   the StopPending wait hint (plus `core::service::STOP_MARGIN`).
//! - `service_dispatcher::start` must be called from the process's main flow soon after the
//!   SCM starts it, and blocks until the service has stopped; the service itself runs on a
//!   thread the SCM creates. Started by hand, it fails at once
//!   (`ERROR_FAILED_SERVICE_CONTROLLER_CONNECT`).

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode, ServiceInfo,
    ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use crate::core::service::{self as decide, Answer, Control, Exit, Phase, State};
use crate::signals::Stop;

/// The service's name in the SCM (`sc query mailroom`).
pub const NAME: &str = "mailroom";
const DISPLAY_NAME: &str = "mailroom";
const DESCRIPTION: &str =
    "Fetches patent-office mail and case status for a patent firm, and tells people what changed";

/// How long `stop` and `uninstall` wait for the service to report Stopped: the longest stop
/// bound a configuration may set would be too long for a person at a prompt, so this is the
/// default bound (30 s) with room to spare; past it they say so and exit 1.
const STOPPED_WAIT: Duration = Duration::from_secs(60);
/// How often `stop` and `uninstall` ask the SCM for the state while they wait.
const POLL: Duration = Duration::from_millis(250);

/// Why an SCM call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what}: {cause}")]
    Scm { what: &'static str, cause: String },
    #[error("the service did not stop within {0:?}")]
    NotStopped(Duration),
    #[error(
        "not started by the Service Control Manager (`mailroom service run` is what the service \
         runs; in a terminal use `mailroom run`)"
    )]
    NotUnderScm,
    #[error("the service is already running")]
    AlreadyRunning,
}

/// An SCM call's failure: the Win32 error itself ("Service does not exist. (os error 1060)")
/// rather than the crate's wrapper, whose message says only "IO error in winapi call".
fn scm(what: &'static str) -> impl FnOnce(windows_service::Error) -> ServiceError {
    move |e| ServiceError::Scm {
        what,
        cause: match e {
            windows_service::Error::Winapi(io) => io.to_string(),
            other => other.to_string(),
        },
    }
}

/// Tells the SCM how the service is; what the handler and the body share.
pub struct Reporter {
    handle: ServiceStatusHandle,
    state: Mutex<Reported>,
}

struct Reported {
    count: u32,
    stop_bound: Duration,
}

impl Reporter {
    /// Sets the stop bound the StopPending wait hint is made of (`[schedule] stop_timeout_secs`,
    /// known once the configuration is loaded).
    pub fn set_stop_bound(&self, bound: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.stop_bound = bound;
        }
    }

    /// Reports `phase`; a failure is logged (the SCM then decides for itself).
    pub fn report(&self, phase: Phase) {
        let status = {
            let Ok(mut s) = self.state.lock() else { return };
            let status = decide::status(phase, s.stop_bound, s.count);
            s.count = s.count.saturating_add(1);
            status
        };
        let raw = ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: match status.state {
                State::StartPending => ServiceState::StartPending,
                State::Running => ServiceState::Running,
                State::StopPending => ServiceState::StopPending,
                State::Stopped => ServiceState::Stopped,
            },
            controls_accepted: if status.accepts_stop {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: match status.exit {
                Exit::Success => ServiceExitCode::NO_ERROR,
                Exit::Specific(code) => ServiceExitCode::ServiceSpecific(code),
            },
            checkpoint: status.checkpoint,
            wait_hint: status.wait_hint,
            process_id: None,
        };
        if let Err(e) = self.handle.set_service_status(raw) {
            tracing::error!("cannot tell the Service Control Manager the service's state: {e:#}");
        }
    }
}

/// What the service runs once started: given the stop its handler triggers and the reporter
/// (to say Running when ready), it returns mailroom's exit status.
pub type Body = Box<dyn FnOnce(Stop, &Reporter) -> u8 + Send>;

/// The body `dispatch` was given, for `service_main`, which the SCM calls with no context.
static BODY: Mutex<Option<Body>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Runs `body` as the service; returns once it has stopped. Only for a process the SCM
/// started.
pub fn dispatch(body: Body) -> Result<(), ServiceError> {
    if let Ok(mut slot) = BODY.lock() {
        *slot = Some(body);
    }
    service_dispatcher::start(NAME, ffi_service_main).map_err(|e| match e {
        windows_service::Error::Winapi(io)
            if io.raw_os_error()
                == Some(windows_sys::Win32::Foundation::ERROR_FAILED_SERVICE_CONTROLLER_CONNECT as i32) =>
        {
            ServiceError::NotUnderScm
        }
        e => scm("cannot connect to the Service Control Manager")(e),
    })
}

/// The service's main, on the SCM's thread: register the handler, report StartPending, run
/// the body, report Stopped with its exit status.
fn service_main(_arguments: Vec<OsString>) {
    let Some(body) = BODY.lock().ok().and_then(|mut b| b.take()) else {
        tracing::error!("the service started without its body");
        return;
    };
    let (stop, trigger) = Stop::new();
    let reporter = std::sync::Arc::new(std::sync::OnceLock::<Reporter>::new());
    let for_handler = reporter.clone();
    let handler = move |control: ServiceControl| {
        let control = match control {
            ServiceControl::Stop => Control::Stop,
            ServiceControl::Shutdown => Control::Shutdown,
            ServiceControl::Interrogate => Control::Interrogate,
            _ => Control::Other,
        };
        match decide::answer(control) {
            Answer::Stop(signal) => {
                if trigger.request(signal)
                    && let Some(r) = for_handler.get()
                {
                    r.report(Phase::Stopping);
                }
                ServiceControlHandlerResult::NoError
            }
            Answer::Done => ServiceControlHandlerResult::NoError,
            Answer::NotImplemented => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = match service_control_handler::register(NAME, handler) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot register the service's control handler: {e:#}");
            return;
        }
    };
    let reporter = reporter.get_or_init(|| Reporter {
        handle,
        state: Mutex::new(Reported {
            count: 0,
            stop_bound: Duration::ZERO,
        }),
    });
    reporter.report(Phase::Starting);
    let exit = body(stop, reporter);
    reporter.report(Phase::Stopped { exit });
}

/// Registers the service: auto-start, `mailroom.exe service run --config <config>`, as
/// `account`.
pub fn install(exe: &Path, config: &Path, account: &str) -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(scm("cannot connect to the Service Control Manager"))?;
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe.to_path_buf(),
        launch_arguments: decide::launch_arguments(config),
        dependencies: vec![],
        account_name: decide::account_name(account).map(OsString::from),
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(scm("cannot create the service"))?;
    service
        .set_description(DESCRIPTION)
        .map_err(scm("cannot set the service's description"))
}

/// Stops the service (when running) and removes it.
pub fn uninstall() -> Result<(), ServiceError> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?;
    stop_and_wait(&service)?;
    service.delete().map_err(scm("cannot delete the service"))
}

/// Asks the SCM to start the service.
pub fn start() -> Result<(), ServiceError> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::START)?;
    let state = service
        .query_status()
        .map_err(scm("cannot query the service"))?
        .current_state;
    if state != ServiceState::Stopped {
        return Err(ServiceError::AlreadyRunning);
    }
    service
        .start(&[] as &[&OsStr])
        .map_err(scm("cannot start the service"))
}

/// Asks the SCM to stop the service and waits until it has.
pub fn stop() -> Result<(), ServiceError> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)?;
    stop_and_wait(&service)
}

fn open(access: ServiceAccess) -> Result<windows_service::service::Service, ServiceError> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(scm("cannot connect to the Service Control Manager"))?
        .open_service(NAME, access)
        .map_err(scm("cannot open the service"))
}

fn stop_and_wait(service: &windows_service::service::Service) -> Result<(), ServiceError> {
    let state = service
        .query_status()
        .map_err(scm("cannot query the service"))?
        .current_state;
    if state == ServiceState::Stopped {
        return Ok(());
    }
    if state != ServiceState::StopPending {
        service.stop().map_err(scm("cannot stop the service"))?;
    }
    let started = Instant::now();
    while started.elapsed() < STOPPED_WAIT {
        let state = service
            .query_status()
            .map_err(scm("cannot query the service"))?
            .current_state;
        if state == ServiceState::Stopped {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
    Err(ServiceError::NotStopped(STOPPED_WAIT))
}
