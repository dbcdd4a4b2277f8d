//! One writer at a time: an advisory lock on the state directory.
//!
//! Every command that writes (`sync mailbox`, `sync status`, `cases add|remove|import`,
//! `communications retry`, `demo`) holds an exclusive lock on `mailroom.lock` in the directory
//! of the database before it opens the database, so two writers never race a migration, a
//! listing or a download. The lock is `flock(2)` on Unix and `LockFileEx` on Windows (through
//! `fs4`): the operating system releases it when the process ends, however it ends, so a
//! crashed writer never leaves a stale lock behind. The file holds the holder's pid, as text,
//! only for the message a second writer prints: written right after locking, emptied when the
//! lock is let go, so a writer that finds it empty knows the holder is about to write it and
//! reads again (briefly, bounded). The file is never removed: removing a lock file while
//! another process waits on it would let a third one lock a new file of the same name.
//!
//! Read-only commands take no lock: SQLite's WAL lets them read while a writer works.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name in the state directory.
pub const FILE_NAME: &str = "mailroom.lock";

/// How often a waiting writer tries again.
const POLL: Duration = Duration::from_millis(100);

/// How long a refused writer waits for the holder to write its pid.
const PID_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another mailroom (pid {pid}) is working on {}", dir.display())]
    Busy { pid: String, dir: PathBuf },
    #[error("cannot create the state directory {}: {source}", dir.display())]
    Dir { dir: PathBuf, source: std::io::Error },
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// The held lock; dropping it empties the pid and releases it.
#[derive(Debug)]
pub struct StateLock {
    file: File,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Best effort: a pid left behind (this fails, or the process is killed) only names a
        // process that no longer holds the lock, and the next holder overwrites it.
        let _ = self.file.set_len(0);
    }
}

/// The directory a database lives in: the one the lock covers.
pub fn state_dir(database: &Path) -> PathBuf {
    match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Takes the lock on `dir` (created if missing), trying again every 100 ms for up to `wait`.
pub async fn acquire(dir: &Path, wait: Duration) -> Result<StateLock, LockError> {
    std::fs::create_dir_all(dir).map_err(|source| LockError::Dir {
        dir: dir.to_owned(),
        source,
    })?;
    let path = dir.join(FILE_NAME);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    // Not truncated on open: until the lock is ours, the pid in it is the holder's.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let deadline = Instant::now() + wait;
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => break,
            Err(fs4::TryLockError::WouldBlock) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(LockError::Busy {
                        pid: holder(&mut file).await,
                        dir: dir.to_owned(),
                    });
                }
                tokio::time::sleep(left.min(POLL)).await;
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .and_then(|()| file.flush())
        .map_err(io)?;
    Ok(StateLock { file })
}

/// The pid the holder wrote; read again for up to [`PID_WAIT`] while it has not written it
/// yet, then `unknown`.
async fn holder(file: &mut File) -> String {
    let deadline = Instant::now() + PID_WAIT;
    loop {
        let mut text = String::new();
        let read = file.rewind().and_then(|()| file.read_to_string(&mut text));
        if let Some(pid) = read.ok().and_then(|_| text.trim().parse::<u32>().ok()) {
            return pid.to_string();
        }
        if Instant::now() >= deadline {
            return "unknown".into();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = acquire(&state, Duration::ZERO).await.unwrap();
        let text = std::fs::read_to_string(state.join(FILE_NAME)).unwrap();
        assert_eq!(text, std::process::id().to_string());
        let e = acquire(&state, Duration::from_millis(250)).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "another mailroom (pid {}) is working on {}",
                std::process::id(),
                state.display()
            )
        );
        drop(first);
        assert_eq!(
            std::fs::read_to_string(state.join(FILE_NAME)).unwrap(),
            "",
            "pid emptied"
        );
        acquire(&state, Duration::ZERO).await.expect("free again");
    }

    #[test]
    fn the_state_dir_is_the_database_directory() {
        for (db, dir) in [
            ("/var/lib/mailroom/m.sqlite3", "/var/lib/mailroom"),
            ("m.sqlite3", "."),
            ("a/m.sqlite3", "a"),
        ] {
            assert_eq!(state_dir(Path::new(db)), PathBuf::from(dir), "{db}");
        }
    }
}
