//! `mailroom service install|uninstall|start|stop`: mailroom as a Windows service, and the
//! hidden `mailroom service run` the Service Control Manager starts (the quirks of a service
//! are in `daemon::windows_service`'s module doc). The command exists on every platform, so
//! `--help` is the same everywhere; elsewhere it says it is Windows-only and exits 2 (on
//! Linux, systemd runs `mailroom run`: `systemd/mailroom.service`).

use std::time::Duration;

use crate::config::ConfigSource;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Register the auto-start service `mailroom` running `mailroom.exe service run --config
    /// <the configuration's absolute path>` (Windows only)
    Install(InstallArgs),
    /// Stop the service if it runs, and remove it (Windows only)
    Uninstall,
    /// Start the service (Windows only)
    Start,
    /// Stop the service, as SIGTERM stops `mailroom run`, and wait until it has (Windows only)
    Stop,
    /// What the Service Control Manager runs: `mailroom run` as a service
    #[command(hide = true)]
    Run,
}

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// The account the service runs as: LocalService, NetworkService, LocalSystem, or an
    /// account that needs no password (a virtual account such as `NT SERVICE\mailroom`)
    #[arg(long, value_name = "NAME", default_value = crate::core::service::DEFAULT_ACCOUNT)]
    // Parsed everywhere, so that `--help` is the same; read only where services exist.
    #[cfg_attr(not(windows), allow(dead_code))]
    account: String,
}

#[cfg(not(windows))]
pub async fn run(cmd: Command, _source: &ConfigSource, _wait: Duration) -> Result<(), super::Failure> {
    Err(super::Failure::with_code(
        2,
        anyhow::anyhow!(
            "`mailroom service {}` manages a Windows service and works on Windows only; here run \
             `mailroom run` under the system's service manager (systemd: systemd/mailroom.service)",
            cmd.name()
        ),
    ))
}

#[cfg(not(windows))]
impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Install(_) => "install",
            Command::Uninstall => "uninstall",
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Run => "run",
        }
    }
}

#[cfg(windows)]
pub async fn run(cmd: Command, source: &ConfigSource, wait: Duration) -> Result<(), super::Failure> {
    use anyhow::Context;

    use crate::daemon::windows_service as service;

    let blocking = |f: Box<dyn FnOnce() -> Result<(), service::ServiceError> + Send>| async {
        tokio::task::spawn_blocking(f)
            .await
            .context("the service call's thread")?
            .map_err(anyhow::Error::new)
    };
    match cmd {
        Command::Install(args) => {
            let exe = std::env::current_exe().context("cannot find mailroom.exe's own path")?;
            let config = std::path::absolute(source.path())
                .with_context(|| format!("cannot resolve {}", source.path().display()))?;
            if !config.is_file() {
                return Err(anyhow::anyhow!(
                    "the configuration {} does not exist: write it first (the service reads it at every start)",
                    config.display()
                )
                .into());
            }
            let account = args.account.clone();
            let shown = config.display().to_string();
            blocking(Box::new(move || service::install(&exe, &config, &account))).await?;
            super::print_stdout(&format!(
                "installed the service {} (auto-start, as {}), reading {shown}; start it with `mailroom service start`\n",
                service::NAME,
                args.account
            ))?;
        }
        Command::Uninstall => {
            blocking(Box::new(service::uninstall)).await?;
            super::print_stdout(&format!("removed the service {}\n", service::NAME))?;
        }
        Command::Start => {
            blocking(Box::new(service::start)).await?;
            super::print_stdout(&format!("started the service {}\n", service::NAME))?;
        }
        Command::Stop => {
            blocking(Box::new(service::stop)).await?;
            super::print_stdout(&format!("stopped the service {}\n", service::NAME))?;
        }
        Command::Run => {
            let source = source.clone();
            let body: service::Body = Box::new(move |stop, reporter| serve(&source, wait, stop, reporter));
            blocking(Box::new(move || service::dispatch(body))).await?;
        }
    }
    Ok(())
}

/// The service's body, on the SCM's thread: `mailroom run`'s loop on a runtime of its own, with
/// the service's log files; returns the exit status a terminal would have shown.
#[cfg(windows)]
fn serve(
    source: &ConfigSource,
    wait: Duration,
    stop: crate::signals::Stop,
    reporter: &crate::daemon::windows_service::Reporter,
) -> u8 {
    use crate::core::service::Phase;

    let run = async {
        let mut cfg = crate::config::Config::load_for_write(source).map_err(anyhow::Error::new)?;
        cfg.log = crate::logging::for_service(&cfg.log, &crate::config::default_state_dir());
        crate::logging::add_files(&cfg.log).map_err(anyhow::Error::new)?;
        for notice in &cfg.notices {
            tracing::warn!("{notice}");
        }
        reporter.set_stop_bound(cfg.schedule.stop_timeout);
        let lock = super::writer(&cfg, wait).await?;
        super::run::serve(source, cfg, lock, stop, || reporter.report(Phase::Running)).await
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| super::Failure::from(anyhow::Error::new(e).context("cannot start the async runtime")))
        .and_then(|runtime| runtime.block_on(run));
    match result {
        Ok(()) => 0,
        Err(f) => {
            crate::logging::report_error(&format!("{:#}", f.error));
            f.code
        }
    }
}
