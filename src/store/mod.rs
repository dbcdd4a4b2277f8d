//! SQLite: the one place mailroom's state lives.
//!
//! Opened in WAL mode with `synchronous=FULL`, so a committed transaction survives a power
//! cut. Schema changes are numbered migrations applied in order inside transactions, tracked
//! by `PRAGMA user_version`; a database from a newer mailroom is refused rather than guessed at.
//! The schema is documented in `ARCHITECTURE.md`.
//!
//! The functions of the submodules take a `&Connection` / `&Transaction` and are synchronous
//! (testable without a runtime); async code reaches them through [`Store::call`], which runs
//! them on tokio's blocking pool.

pub mod cases;
pub mod communications;
pub mod deadlines;
pub mod family;
pub mod jpo_usage;
pub mod outbox;
pub mod runs;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {cause}")]
    Open { path: PathBuf, cause: rusqlite::Error },
    #[error(
        "no database at {path} yet: nothing has been synced or added (run `mailroom sync mailbox` or `mailroom cases add` first)"
    )]
    Missing { path: PathBuf },
    #[error("cannot create the database directory {path}: {cause}")]
    Dir { path: PathBuf, cause: std::io::Error },
    #[error(
        "the database {path} has schema version {found}, newer than this mailroom knows ({known}); use a newer mailroom"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database holds an unexpected value: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(String),
}

/// By hand rather than `#[from]`: the message embeds the cause, so it is not also a `source`.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// The migrations, in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_mailbox.sql"),
    include_str!("migrations/0002_cases.sql"),
    include_str!("migrations/0003_runs.sql"),
    include_str!("migrations/0004_cases.sql"),
    include_str!("migrations/0005_outbox.sql"),
    include_str!("migrations/0006_counterparts.sql"),
    include_str!("migrations/0007_deadlines.sql"),
];

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Who is told what: the routing [`outbox::enqueue`] applies when a job records a fact.
    /// Empty (no deliveries, events only) unless the opener sets it ([`Store::with_routing`]).
    routing: Arc<crate::core::notify::Routing>,
    /// How deadlines are proposed, checked and reminded inside the same transactions
    /// ([`deadlines`]). The default (no rules table, no closing days) unless the opener sets
    /// it ([`Store::with_deadlines`]).
    deadlines: Arc<crate::core::deadline::Policy>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_owned(),
                cause: source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            cause: source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        migrate(&mut conn, path)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
            routing: Arc::default(),
            deadlines: Arc::default(),
        })
    }

    /// Opens the database for a command that only reads: one that does not exist yet is
    /// [`StoreError::Missing`], never created (a listing must not leave a database and its
    /// directory behind, e.g. `/var/lib/mailroom` before anything is configured).
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        Store::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store, writing notification deliveries by `routing` (`config::Notify::routing`).
    pub fn with_routing(mut self, routing: crate::core::notify::Routing) -> Store {
        self.routing = Arc::new(routing);
        self
    }

    /// The routing a job passes to [`outbox::enqueue`] inside its transactions.
    pub fn routing(&self) -> Arc<crate::core::notify::Routing> {
        self.routing.clone()
    }

    /// The store, proposing deadlines by `policy` (`config::Config::deadlines`).
    pub fn with_deadlines(mut self, policy: crate::core::deadline::Policy) -> Store {
        self.deadlines = Arc::new(policy);
        self
    }

    /// The deadline policy a job passes to [`deadlines`] inside its transactions.
    pub fn deadlines(&self) -> Arc<crate::core::deadline::Policy> {
        self.deadlines.clone()
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

impl Store {
    /// Runs `f` in one transaction on the blocking pool and commits it; an error rolls back.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        self.call(move |c| {
            let tx = c.transaction()?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }
}

/// The schema version this mailroom writes (the number of its migrations).
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Reads the schema version of the database at `path` and proves that it takes a write (a
/// table created in a transaction that is rolled back), without creating, migrating or
/// changing anything (`mailroom check`, which holds no lock). A database that does not exist
/// is [`StoreError::Missing`].
pub fn probe(path: &Path) -> Result<i64, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.to_owned(),
        });
    }
    let open_err = |cause| StoreError::Open {
        path: path.to_owned(),
        cause,
    };
    let mut conn =
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE mailroom_check_probe (x); INSERT INTO mailroom_check_probe VALUES (1);")?;
    tx.rollback()?;
    Ok(found)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    // Foreign keys are off while migrating (a no-op inside a transaction, so set around it):
    // a table rebuild (0006) drops a table others refer to. Each migration checks them before
    // it commits, and they are on again afterwards whatever happened.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = apply(conn, found);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    result
}

fn apply(conn: &mut Connection, found: i64) -> Result<(), StoreError> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        // IMMEDIATE takes the write lock first and the version is read again under it: a
        // reader (which takes no state lock) opening a fresh database beside a writer then
        // waits for the writer's migration instead of applying it a second time.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if broken > 0 {
            return Err(StoreError::Corrupt(format!(
                "migration {} would leave {broken} row(s) pointing at nothing",
                i + 1
            )));
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Now, as stored: RFC 3339 UTC with seconds, e.g. `2026-11-23T08:46:16Z`.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/m.sqlite3");
        let store = Store::open(&path).unwrap();
        let conn = store.conn.lock().unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        drop(conn);
        drop(store);
        Store::open(&path).expect("reopening an up-to-date database is a no-op");
    }

    #[test]
    fn a_probe_reads_the_version_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite3");
        assert!(matches!(probe(&path), Err(StoreError::Missing { .. })));
        assert!(!path.exists(), "a probe creates nothing");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
        }
        assert_eq!(probe(&path).unwrap(), 2, "not migrated");
        let c = Connection::open(&path).unwrap();
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the probe's table was rolled back");
        let current = dir.path().join("n.sqlite3");
        drop(Store::open(&current).unwrap());
        assert_eq!(probe(&current).unwrap(), schema_version());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let e = Store::open(&path).err().expect("refused");
        assert!(
            e.to_string()
                .contains("schema version 99, newer than this mailroom knows"),
            "{e}"
        );
    }
}
