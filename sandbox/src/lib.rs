//! # mailroom-sandbox
//!
//! A faithful local simulator of the three office APIs mailroom talks to, served from one
//! listener:
//!
//! | prefix | office | contract |
//! |---|---|---|
//! | `/myepo/…` | EPO MyEPO Mailbox | the default contract of `shared/api/myepo-mailbox.md` §4, with the §5 variants as profiles |
//! | `/ops/3.2/…` | EPO Open Patent Services 3.2 | `shared/api/epo-ops.md`, served from the real recorded bodies |
//! | `/jpo/…` | JPO Patent Information Retrieval APIs | `shared/api/jpo.md`, served from the real recorded bodies |
//! | `/_sandbox/…` | the scenario API | inject communications, advance cases, faults, throttle state, clock, stats |
//!
//! The sandbox implements each contract **independently** of mailroom's clients (it does not
//! import them), so a misreading on either side shows up as a failing test.
//!
//! ## Time
//! Rate windows and the JPO day run on a virtual [clock](clock::Clock) that can run faster
//! than real time (`time_scale`) and be moved forward (`POST /_sandbox/clock`). Token
//! lifetimes run on real time.
//!
//! ## State
//! With a `state_dir`, the mailbox, case advances and quota counters are written to
//! `<state_dir>/sandbox-state.json` (atomically, shortly after each change and at shutdown)
//! and read back at start, so a restarted sandbox remembers what was handled.
//!
//! ## Examples (sandbox on 127.0.0.1:8080)
//! ```text
//! # MyEPO: token, list, download, mark handled
//! curl -s -u sandbox-client:sandbox-secret -d grant_type=client_credentials -d scope=mailbox \
//!      http://127.0.0.1:8080/myepo/oauth2/sandbox/v1/token
//! curl -s -H "Authorization: Bearer $T" 'http://127.0.0.1:8080/myepo/v1/communications?handled=false'
//! curl -s -H "Authorization: Bearer $T" -o c.pdf 'http://127.0.0.1:8080/myepo/v1/communications/ID/file?setHandled=false'
//! curl -s -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
//!      -d '{"communicationIds":["ID"]}' http://127.0.0.1:8080/myepo/v1/communications/handled
//! # OPS: token, register retrieval
//! curl -s -u sandbox-key:sandbox-secret -d grant_type=client_credentials http://127.0.0.1:8080/ops/3.2/auth/accesstoken
//! curl -s -i -H "Authorization: Bearer $T" \
//!      http://127.0.0.1:8080/ops/3.2/rest-services/register/application/epodoc/EP10167109/biblio,events,procedural-steps
//! # JPO: token, app_progress
//! curl -s -d grant_type=password -d username=sandbox-user -d password=sandbox-pass http://127.0.0.1:8080/jpo/auth/token
//! curl -s -H "Authorization: Bearer $T" http://127.0.0.1:8080/jpo/api/patent/v1/app_progress/2020123456
//! # Scenario
//! curl -s -H 'Content-Type: application/json' -d '{"count":3,"size":200000}' http://127.0.0.1:8080/_sandbox/myepo/communications
//! curl -s -X POST http://127.0.0.1:8080/_sandbox/cases/ep/EP2400812/advance
//! curl -s -H 'Content-Type: application/json' -d '{"office":"ops","kind":"status","status":503,"count":3}' http://127.0.0.1:8080/_sandbox/faults
//! curl -s http://127.0.0.1:8080/_sandbox/stats
//! ```

pub mod clock;
mod faults;
mod jpo;
mod myepo;
mod ops;
mod scenario;
pub mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use tokio::net::TcpListener;

pub use faults::{FaultKind, FaultSpec, Office};
pub use jpo::JpoCaps;
pub use myepo::Profile as MyepoProfile;
pub use myepo::render_pdf as myepo_pdf;
pub use ops::PrefixEra as OpsPrefixEra;

use clock::Clock;
use faults::{FaultLayerState, Faults};
use stats::Stats;

/// The credentials every sandbox accepts.
pub mod credentials {
    pub const MYEPO_CLIENT_ID: &str = "sandbox-client";
    pub const MYEPO_CLIENT_SECRET: &str = "sandbox-secret";
    /// The scope the sandbox's token endpoint accepts (an empty scope is accepted too).
    pub const MYEPO_SCOPE: &str = "mailbox";
    pub const OPS_CONSUMER_KEY: &str = "sandbox-key";
    pub const OPS_CONSUMER_SECRET: &str = "sandbox-secret";
    pub const JPO_USERNAME: &str = "sandbox-user";
    pub const JPO_PASSWORD: &str = "sandbox-pass";
}

/// The URLs a client needs for a sandbox served at `base` (e.g. `http://127.0.0.1:8080`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    pub myepo_token: String,
    pub myepo_api_base: String,
    pub ops_base: String,
    pub jpo_token: String,
    pub jpo_api_base: String,
}

impl Urls {
    pub fn for_base(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Urls {
            myepo_token: format!("{base}/myepo/oauth2/sandbox/v1/token"),
            myepo_api_base: format!("{base}/myepo"),
            ops_base: format!("{base}/ops/3.2"),
            jpo_token: format!("{base}/jpo/auth/token"),
            jpo_api_base: format!("{base}/jpo/api"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Seeds the generated mailbox (ids, PDF bytes). The same seed gives the same bytes.
    pub seed: u64,
    /// How many times faster than real time the rate windows and the JPO day run.
    pub time_scale: f64,
    /// Where the sandbox keeps its state across restarts; `None` = in memory only.
    pub state_dir: Option<PathBuf>,
    /// How many communications the default mailbox holds at first start.
    pub seed_communications: usize,
    pub myepo_profile: MyepoProfile,
    pub ops_prefix_era: OpsPrefixEra,
    pub jpo_caps: JpoCaps,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            seed: 1,
            time_scale: 1.0,
            state_dir: None,
            seed_communications: 12,
            myepo_profile: MyepoProfile::default(),
            ops_prefix_era: OpsPrefixEra::default(),
            jpo_caps: JpoCaps::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot read sandbox state {path}: {cause}")]
    StateRead { path: PathBuf, cause: std::io::Error },
    #[error("sandbox state {path} is not usable: {reason}")]
    StateParse { path: PathBuf, reason: String },
    #[error("cannot bind {addr}: {cause}")]
    Bind { addr: SocketAddr, cause: std::io::Error },
    #[error("the sandbox server failed: {0}")]
    Serve(std::io::Error),
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub clock: Clock,
    pub faults: Faults,
    pub stats: Arc<Stats>,
    pub persist: Persist,
    pub myepo: myepo::State,
    pub ops: ops::State,
    pub jpo: jpo::State,
}

pub(crate) struct Persist {
    path: Option<PathBuf>,
    dirty: AtomicBool,
}

impl Persist {
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }
}

const STATE_FILE: &str = "sandbox-state.json";

pub struct Sandbox {
    shared: Arc<Shared>,
}

impl Sandbox {
    pub fn new(opts: SandboxOptions) -> Result<Self, SandboxError> {
        let clock = Clock::new(opts.time_scale);
        let shared = Shared {
            myepo: myepo::State::new(&opts, &clock),
            ops: ops::State::new(&opts),
            jpo: jpo::State::new(&opts),
            clock,
            faults: Faults::default(),
            stats: Arc::new(Stats::default()),
            persist: Persist {
                path: opts.state_dir.as_ref().map(|d| d.join(STATE_FILE)),
                dirty: AtomicBool::new(false),
            },
        };
        if let Some(path) = &shared.persist.path {
            restore(&shared, path)?;
        }
        Ok(Sandbox {
            shared: Arc::new(shared),
        })
    }

    pub fn router(&self) -> Router {
        let sh = &self.shared;
        let office = |router: Router<Arc<Shared>>, office, render, token_marker| {
            router.layer(from_fn_with_state(
                FaultLayerState {
                    shared: sh.clone(),
                    office,
                    render,
                    token_marker,
                },
                faults::apply,
            ))
        };
        Router::new()
            .merge(office(
                myepo::routes(),
                Office::Myepo,
                myepo::fault_response,
                "/oauth2/",
            ))
            .merge(office(
                ops::routes(),
                Office::Ops,
                ops::fault_response,
                "/auth/accesstoken",
            ))
            .merge(office(
                jpo::routes(),
                Office::Jpo,
                jpo::fault_response,
                "/auth/token",
            ))
            .merge(scenario::routes())
            .merge(myepo::scenario_routes())
            .merge(ops::scenario_routes())
            .merge(jpo::scenario_routes())
            .fallback(|| async { (StatusCode::NOT_FOUND, "no such sandbox endpoint\n").into_response() })
            .route_layer(from_fn_with_state(sh.stats.clone(), stats::count))
            .with_state(sh.clone())
    }

    /// Serves until `shutdown` completes, then writes the state one last time.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<(), SandboxError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_flushing, stopped) = tokio::sync::watch::channel(false);
        let flusher = tokio::spawn(flush_loop(self.shared.clone(), stopped));
        let app = self.router();
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        // Stop the loop between writes (never mid-write), then write what is left.
        let _ = stop_flushing.send(true);
        let _ = flusher.await;
        flush(&self.shared).await;
        served.map_err(SandboxError::Serve)
    }
}

fn restore(sh: &Shared, path: &Path) -> Result<(), SandboxError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SandboxError::StateRead {
                path: path.to_owned(),
                cause: source,
            });
        }
    };
    let parse = |reason: String| SandboxError::StateParse {
        path: path.to_owned(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
    let part = |k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
    sh.myepo
        .restore(part("myepo"))
        .map_err(|e| parse(format!("myepo: {e}")))?;
    sh.ops
        .restore(part("ops"))
        .map_err(|e| parse(format!("ops: {e}")))?;
    sh.jpo
        .restore(part("jpo"))
        .map_err(|e| parse(format!("jpo: {e}")))?;
    Ok(())
}

async fn flush_loop(sh: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => flush(&sh).await,
            _ = stop.changed() => return,
        }
    }
}

async fn flush(sh: &Arc<Shared>) {
    let Some(path) = sh.persist.path.clone() else {
        return;
    };
    if !sh.persist.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let doc = serde_json::json!({
        "myepo": sh.myepo.snapshot(),
        "ops": sh.ops.snapshot(),
        "jpo": sh.jpo.snapshot(),
    });
    let written = tokio::task::spawn_blocking(move || write_atomically(&path, &doc)).await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::warn!(?written, "could not write the sandbox state; will retry");
        sh.persist.mark_dirty();
    }
}

fn write_atomically(path: &Path, doc: &serde_json::Value) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer(&mut w, doc).map_err(std::io::Error::other)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A sandbox running on a background task, for tests and `mailroom demo`.
pub struct RunningSandbox {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), SandboxError>>,
}

impl RunningSandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn urls(&self) -> Urls {
        Urls::for_base(&self.base_url())
    }

    /// Stops serving and waits for the final state write.
    pub async fn stop(mut self) -> Result<(), SandboxError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(SandboxError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Binds `addr` (use port 0 for an OS-assigned port) and serves on a background task.
pub async fn spawn(opts: SandboxOptions, addr: SocketAddr) -> Result<RunningSandbox, SandboxError> {
    let sandbox = Sandbox::new(opts)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, cause: source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr, cause: source })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sandbox.serve(listener, async {
        let _ = rx.await;
    }));
    Ok(RunningSandbox {
        addr,
        stop: Some(tx),
        task,
    })
}

/// Binds 127.0.0.1 on an OS-assigned port.
pub async fn spawn_local(opts: SandboxOptions) -> Result<RunningSandbox, SandboxError> {
    spawn(opts, SocketAddr::from(([127, 0, 0, 1], 0))).await
}
