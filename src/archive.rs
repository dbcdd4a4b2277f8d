//! The archive: durable, verified writes of downloaded documents below one root directory.
//!
//! A document is streamed into a temporary file in the archive's spool directory `.tmp` at
//! its root ([`Archive::begin`], [`PendingFile::write`]); [`PendingFile::commit`] verifies
//! what the bytes received show and hands the rest to the blocking pool (write, fsync, size
//! check, rename onto the final name) while the next download goes on; [`Archive::sync`]
//! waits for those and makes the names durable. Only a successful `commit` followed by a
//! successful `sync` may lead to a communication being marked handled at the office.
//!
//! Invariants:
//! - Nothing is written outside the root: every path below it is built from components that
//!   [`sanitize_component`] produced or [`Archive::begin`] validated, and existing directories
//!   on the way are never followed through symlinks.
//! - A final name only ever holds a complete, fsynced, verified file: it is replaced by one
//!   atomic rename, never written in place. A crash leaves at most a temporary file
//!   (`.tmp/.<final name>.<16 hex digits>.part`), which [`Archive::open`] removes. The spool
//!   is on the archive's filesystem (the archive is one filesystem: `syncfs` relies on that
//!   too), so the rename stays atomic; a directory mounted inside the archive makes the
//!   rename fail (`EXDEV`), never silently copy.
//! - On any error before the rename, the temporary file is removed and the final name is
//!   untouched.
//!
//! **Windows.** The same steps, with the calls Windows has for them (their arguments are
//! `core::durability`'s, tested on every platform; the Unix path is unchanged):
//! - A file is flushed by `FlushFileBuffers` (std's `sync_all`), which needs a handle with
//!   `GENERIC_WRITE` access: a document is flushed through the handle it was written with, a
//!   sidecar through one opened for writing (never truncated).
//! - The rename is `MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)` rather
//!   than std's `rename`, which passes no write-through flag: it replaces the final name
//!   atomically on one volume, and returns once the move is on disk.
//! - A directory is flushed like a file, through a handle opened with write access and
//!   `FILE_FLAG_BACKUP_SEMANTICS` (without it `CreateFileW` cannot open a directory).
//!   `NtFlushBuffersFileEx`, under `FlushFileBuffers`, takes directory handles, writes the
//!   pending metadata of what the handle names (a directory's entries, where a new name
//!   lives) and then has the device flush its cache. NTFS journals metadata but writes the
//!   journal lazily, so without a flush a recorded communication could lose its file's name
//!   at a power cut. Where the
//!   directory cannot be flushed (FAT and some SMB servers refuse, `ERROR_INVALID_FUNCTION`;
//!   an account that may only traverse the archive root's parent gets
//!   `ERROR_ACCESS_DENIED`), that is logged once and the name rests on the write-through
//!   rename, as PostgreSQL's `fsync_fname` also tolerates a directory that cannot be synced;
//!   any other failure is an error, as on Unix. Sources: Microsoft's documentation of
//!   `FlushFileBuffers` (GENERIC_WRITE), `CreateFileW` (directories need
//!   FILE_FLAG_BACKUP_SEMANTICS), `MoveFileExW` (MOVEFILE_WRITE_THROUGH) and
//!   `NtFlushBuffersFileEx` (flags valid "with volume or directory handles").
//! - Paths go to `MoveFileExW` in the `\\?\` form, so a long archive path is not cut at
//!   `MAX_PATH`, as std does for its own calls.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

#[cfg(windows)]
use crate::core::durability;
use crate::failpoint;

/// Longest component produced by [`sanitize_component`], in bytes.
const MAX_COMPONENT: usize = 80;
/// Longest file stem [`Archive::relative_path`] produces, in bytes. With the extension and the
/// temporary-file decoration (`.` + `.` + 16 hex + `.part`) a name stays far below the
/// 255-byte limit of common filesystems.
const MAX_STEM: usize = 200;
/// Length of the random part of a temporary file name, in hex digits.
const UNIQUE_LEN: usize = 16;
/// Longest archive path component [`Archive::begin`] accepts, in bytes.
const MAX_NAME: usize = MAX_STEM + 8;
/// How many commits may be under way in the background at once: their fsyncs overlap the
/// next downloads (and each other, so the filesystem can share journal commits), and each
/// holds at most one buffer.
const MAX_IN_FLIGHT: usize = 8;
/// How many fresh temporary names `begin` tries before giving up.
const TEMP_ATTEMPTS: usize = 8;
/// Bytes gathered before one write to the temporary file: a typical communication (tens to
/// hundreds of KB) is written whole by `commit`, in the same trip to the blocking pool as its
/// fsync and rename. Larger buffers (1 MiB) raised peak memory for a 1 GiB download from 12
/// to 46 MiB (bench/mailbox.sh) for no measurable speed.
const WRITE_BUFFER: usize = 256 << 10;
/// The spool directory below the root that holds every temporary file. Hidden, so no
/// archive path ([`Archive::begin`] refuses components starting with a dot) can collide.
const SPOOL: &str = ".tmp";
/// Every PDF starts with this.
const PDF_MAGIC: &[u8] = b"%PDF-";
/// How many leading bytes are kept for [`ArchiveError::NotPdf`] (enough for [`SHOWN_CHARS`]).
const HEAD_LEN: usize = 64;
/// How many characters of a text body a [`ArchiveError::NotPdf`] shows.
const SHOWN_CHARS: usize = 60;
const PDF: &str = "application/pdf";
const ZIP: &str = "application/zip";

/// Why an archive operation failed. Each message is one line naming the file and the cause.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A filesystem call failed (other than for lack of space).
    #[error("{op} {path}: {cause}")]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    /// The filesystem is full or the quota is exhausted (ENOSPC, EDQUOT), on write, fsync or close.
    #[error(
        "disk full: no space left on the filesystem holding {path} (or its quota is exhausted); \
         free space there, the document stays unhandled until it is stored"
    )]
    DiskFull { path: PathBuf },
    /// The number of bytes stored differs from what the server announced.
    #[error("{path}: size mismatch: {what} {expected} bytes, stored {got} bytes")]
    SizeMismatch {
        path: PathBuf,
        what: &'static str,
        expected: u64,
        got: u64,
    },
    /// A document expected to be a PDF does not start with `%PDF-`. `starts_with` is what it
    /// starts with as people can read it ([`show_head`]): quoted text for a text body (an HTML
    /// maintenance page), hex for a binary one.
    #[error("{path}: not a PDF: it starts with {starts_with} instead of %PDF-")]
    NotPdf { path: PathBuf, starts_with: String },
    /// A non-PDF media type was declared and the response's Content-Type disagrees with it.
    #[error("{path}: declared as {declared} but the response Content-Type is {got}")]
    ContentTypeMismatch {
        path: PathBuf,
        declared: String,
        got: String,
    },
    /// A path would leave the archive, hide a file, or pass through something that is not a
    /// plain directory.
    #[error("{path}: unsafe archive path: {reason}")]
    UnsafePath { path: PathBuf, reason: &'static str },
    /// A blocking filesystem task was cancelled because the runtime is shutting down.
    #[error("{path}: archive operation cancelled: the runtime is shutting down")]
    Cancelled { path: PathBuf },
}

/// Maps an I/O error to [`ArchiveError::DiskFull`] when the filesystem is out of space, and to
/// [`ArchiveError::Io`] otherwise.
fn io_fail(op: &'static str, path: &Path, source: io::Error) -> ArchiveError {
    match source.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ArchiveError::DiskFull {
            path: path.to_path_buf(),
        },
        _ => ArchiveError::Io {
            op,
            path: path.to_path_buf(),
            cause: source,
        },
    }
}

fn unsafe_path(path: impl Into<PathBuf>, reason: &'static str) -> ArchiveError {
    ArchiveError::UnsafePath {
        path: path.into(),
        reason,
    }
}

/// Runs a sequence of synchronous filesystem calls on the blocking pool. A panic inside is
/// re-raised here; `path` names the file if the task is cancelled.
async fn blocking<T, F>(path: &Path, f: F) -> Result<T, ArchiveError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ArchiveError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ArchiveError::Cancelled {
            path: path.to_path_buf(),
        }),
    }
}

/// Makes one safe path component out of a server-provided string.
///
/// ASCII letters, digits, `.`, `-` and `_` are kept; every other character (`/`, `\`, `:`,
/// NUL, control characters, non-ASCII) becomes `_`. Runs of `_` and runs of `.` collapse to
/// one, so the result never contains `..`. Leading dots and underscores are stripped (no
/// hidden files, no `.` or `..`, and a hostile `../` prefix vanishes instead of leaving
/// `_.._`). The result is capped at 80 bytes; an empty result becomes `unknown`; a Windows
/// reserved device name (CON, PRN, AUX, NUL, COM1–9, LPT1–9, in any case, also with an
/// extension) gets a `_` prefix. The function is idempotent.
pub fn sanitize_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_COMPONENT));
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        };
        if (c == '_' || c == '.') && out.ends_with(c) {
            continue;
        }
        if out.is_empty() && (c == '_' || c == '.') {
            continue;
        }
        out.push(c);
    }
    out.truncate(MAX_COMPONENT);
    if out.is_empty() {
        return "unknown".to_owned();
    }
    if is_windows_reserved(&out) {
        out.truncate(MAX_COMPONENT - 1);
        out.insert(0, '_');
    }
    out
}

/// True for the device names Windows reserves, with or without an extension.
fn is_windows_reserved(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    match base.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" => true,
        _ => {
            let (prefix, digit) = base.split_at(base.len().min(3));
            matches!(prefix, "COM" | "LPT") && digit.len() == 1 && matches!(digit.as_bytes()[0], b'1'..=b'9')
        }
    }
}

/// True for a component that [`Archive::begin`] accepts: only the characters
/// [`sanitize_component`] keeps, not starting with a dot, not empty, not overlong.
fn is_safe_component(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The essence of a media type: lower case, parameters (`; charset=…`) removed; `None` if empty.
fn media_essence(media_type: Option<&str>) -> Option<String> {
    let essence = media_type?.split(';').next()?.trim().to_ascii_lowercase();
    (!essence.is_empty()).then_some(essence)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// True for a file name of the form `.<final name>.<16 lowercase hex digits>.part`, which is
/// what [`Archive::begin`] creates. No final name matches: final names never start with a dot.
fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".part")) else {
        return false;
    };
    let Some((final_name, unique)) = inner.rsplit_once('.') else {
        return false;
    };
    !final_name.is_empty()
        && unique.len() == UNIQUE_LEN
        && unique
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh value for the random part of a temporary name: time, process id and a counter,
/// mixed. `begin` also creates the file exclusively, so a collision is retried, never shared.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = nanos ^ (u64::from(std::process::id()) << 40) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}")
}

/// See [`Archive::sync`].
#[cfg(target_os = "linux")]
fn sync_everything(root: &Path, _pending: &Unsynced) -> Result<(), ArchiveError> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(root).map_err(|e| io_fail("cannot open", root, e))?;
    // SAFETY: the descriptor is valid for the duration of the call, borrowed from `dir`;
    // syncfs touches no memory of ours.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(io_fail(
            "cannot sync the filesystem holding",
            root,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn sync_everything(_root: &Path, pending: &Unsynced) -> Result<(), ArchiveError> {
    for file in &pending.files {
        open_to_flush(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_fail("cannot fsync", file, e))?;
    }
    pending.dirs.iter().try_for_each(|dir| fsync_dir(dir))
}

/// A handle to an existing file that `sync_all` can flush: fsync(2) needs no more than
/// read access.
#[cfg(all(unix, not(target_os = "linux")))]
fn open_to_flush(file: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(file)
}

/// A handle to an existing file that `sync_all` can flush: `FlushFileBuffers` needs write
/// access (the file is opened, never truncated).
#[cfg(windows)]
fn open_to_flush(file: &Path) -> io::Result<std::fs::File> {
    windows::open(file, durability::Target::File)
}

/// Fsyncs a directory, so that the entries created, renamed or removed in it are durable.
#[cfg(unix)]
fn fsync_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_fail("cannot fsync directory", dir, e))
}

/// Flushes a directory (see the module doc, "Windows"): a filesystem or account that cannot
/// is tolerated, once logged; any other failure is an error.
#[cfg(windows)]
fn fsync_dir(dir: &Path) -> Result<(), ArchiveError> {
    match windows::open(dir, durability::Target::Directory).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        Err(e) if durability::directory_flush_unsupported(e.raw_os_error()) => {
            windows::unsupported_directory_flush(dir, &e);
            Ok(())
        }
        Err(e) => Err(io_fail("cannot fsync directory", dir, e)),
    }
}

/// Puts `from` onto the name `to`, replacing what was there, in one atomic rename.
#[cfg(unix)]
fn replace(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)
}

/// Puts `from` onto the name `to`, replacing what was there, in one atomic rename that
/// returns once it is on disk (`MoveFileExW`, see the module doc, "Windows").
#[cfg(windows)]
fn replace(from: &Path, to: &Path) -> io::Result<()> {
    windows::move_file(from, to)
}

/// The Win32 side of the archive's durability; the arguments come from `core::durability`.
#[cfg(windows)]
mod windows {
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    use windows_sys::Win32::Storage::FileSystem as fs;

    use crate::core::durability::{self, Target};

    const _: () = assert!(durability::MOVEFILE_REPLACE_EXISTING == fs::MOVEFILE_REPLACE_EXISTING);
    const _: () = assert!(durability::MOVEFILE_WRITE_THROUGH == fs::MOVEFILE_WRITE_THROUGH);
    const _: () = assert!(durability::FILE_FLAG_BACKUP_SEMANTICS == fs::FILE_FLAG_BACKUP_SEMANTICS);

    /// Opens an existing `path` to flush it, as `core::durability::flush_handle` says.
    pub(super) fn open(path: &Path, target: Target) -> io::Result<std::fs::File> {
        let how = durability::flush_handle(target);
        std::fs::OpenOptions::new()
            .read(how.read)
            .write(how.write)
            .custom_flags(how.custom_flags)
            .open(path)
    }

    pub(super) fn move_file(from: &Path, to: &Path) -> io::Result<()> {
        let wide = |p: &Path| durability::wide_path(&p.as_os_str().encode_wide().collect::<Vec<u16>>());
        let (from, to) = (wide(from), wide(to));
        // SAFETY: both are NUL-terminated UTF-16 strings that outlive the call, which only
        // reads them.
        if unsafe { fs::MoveFileExW(from.as_ptr(), to.as_ptr(), durability::rename_flags()) } != 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Logs, once per process, that a directory could not be flushed and what the new names
    /// in it rest on instead.
    pub(super) fn unsupported_directory_flush(dir: &Path, cause: &io::Error) {
        static LOGGED: AtomicBool = AtomicBool::new(false);
        if !LOGGED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                dir = %dir.display(),
                "this filesystem (or account) cannot flush a directory ({cause}); new names there rest on \
                 MoveFileExW's write-through and the filesystem's own journal"
            );
        }
    }
}

/// Closes a file and reports the error `close` returns, which some filesystems (NFS) use to
/// report a failed write-back, where dropping the file would ignore it.
#[cfg(unix)]
fn close_checked(file: std::fs::File) -> io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = file.into_raw_fd();
    // SAFETY: `into_raw_fd` gave us sole ownership of `fd`; it is closed exactly once, here.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn close_checked(file: std::fs::File) -> io::Result<()> {
    drop(file);
    Ok(())
}

/// Creates the directories of `rel_dir` below `root` one by one, refusing to pass through
/// anything that is not a plain directory (a symlink could lead out of the archive).
fn create_dirs_below(root: &Path, rel_dir: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let mut created = Vec::new();
    let mut dir = root.to_path_buf();
    for component in rel_dir.components() {
        dir.push(component);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                return Err(unsafe_path(
                    dir,
                    "exists and is not a directory (symlinks are not followed)",
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_fail("cannot inspect", &dir, e)),
        }
        match std::fs::create_dir(&dir) {
            Ok(()) => created.push(dir.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = std::fs::symlink_metadata(&dir).map_err(|e| io_fail("cannot inspect", &dir, e))?;
                if !meta.is_dir() {
                    return Err(unsafe_path(
                        dir,
                        "exists and is not a directory (symlinks are not followed)",
                    ));
                }
            }
            Err(e) => return Err(io_fail("cannot create directory", &dir, e)),
        }
    }
    Ok(created)
}

/// Removes every regular file in the spool directory whose name follows the temporary
/// pattern; nothing else, and nothing below it. Returns how many it removed.
fn remove_stale_temps(spool: &Path) -> Result<usize, ArchiveError> {
    let mut removed = 0;
    let entries = std::fs::read_dir(spool).map_err(|e| io_fail("cannot list", spool, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_fail("cannot list", spool, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| io_fail("cannot inspect", &path, e))?;
        if kind.is_file() && entry.file_name().to_str().is_some_and(is_temp_name) {
            std::fs::remove_file(&path)
                .map_err(|e| io_fail("cannot remove stale temporary file", &path, e))?;
            tracing::info!(path = %path.display(), "removed a stale temporary file");
            removed += 1;
        }
    }
    Ok(removed)
}

/// Opens the spool directory, creating it if needed, and removes its stale temporary files.
/// Its own entry in the root need not be durable: if a crash loses it, it held nothing that
/// was not named elsewhere before a batch was recorded, and `open` creates it again.
fn open_spool(spool: &Path) -> Result<usize, ArchiveError> {
    if ensure_spool(spool)? {
        remove_stale_temps(spool)
    } else {
        Ok(0)
    }
}

/// Makes sure the spool is a directory (never through a symlink), creating it if missing;
/// answers whether it was there already.
fn ensure_spool(spool: &Path) -> Result<bool, ArchiveError> {
    match std::fs::symlink_metadata(spool) {
        Ok(meta) if meta.is_dir() => Ok(true),
        Ok(_) => Err(unsafe_path(
            spool,
            "exists and is not a directory (symlinks are not followed)",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(spool) {
            Ok(()) => Ok(false),
            Err(e) => Err(io_fail("cannot create directory", spool, e)),
        },
        Err(e) => Err(io_fail("cannot inspect", spool, e)),
    }
}

/// Makes sure the archive root is a directory, creating it (and making its entry durable)
/// if missing; answers whether it was created.
fn ensure_root(root: &Path) -> Result<bool, ArchiveError> {
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(_) => Err(unsafe_path(root, "the archive root is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(root).map_err(|e| io_fail("cannot create directory", root, e))?;
            if let Some(parent) = root.parent() {
                fsync_dir(parent)?;
            }
            Ok(true)
        }
        Err(e) => Err(io_fail("cannot inspect", root, e)),
    }
}

/// Creates a new temporary file for the final name `name` in `spool`, exclusively: a name
/// already taken is retried with a fresh suffix. The returned guard removes it unless disarmed.
fn create_temp(spool: &Path, name: &str) -> Result<(std::fs::File, TempGuard), ArchiveError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let path = spool.join(format!(".{name}.{}.part", unique_suffix()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((file, TempGuard { path, armed: true })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => continue,
            Err(e) => return Err(io_fail("cannot create temporary file", &path, e)),
        }
    }
}

/// A temporary file being written and the guard that removes it.
#[derive(Debug)]
struct Temp {
    file: std::fs::File,
    guard: TempGuard,
}

/// Appends `buffer` to the temporary file, creating the file first when there is none yet.
/// On error the file is removed at once (the guard is dropped with it).
fn write_temp(temp: Option<Temp>, spool: &Path, name: &str, buffer: &[u8]) -> Result<Temp, ArchiveError> {
    let mut temp = match temp {
        Some(t) => t,
        None => {
            let (file, guard) = create_temp(spool, name)?;
            Temp { file, guard }
        }
    };
    temp.file
        .write_all(buffer)
        .map_err(|e| io_fail("cannot write", &temp.guard.path, e))?;
    Ok(temp)
}

/// One background commit: the final path and the task.
type Commit = (PathBuf, tokio::task::JoinHandle<Result<(), ArchiveError>>);

/// Commits under way in the background ([`PendingFile::commit`]), each with its final path
/// (to name it if the task is cancelled), and the permits that bound their number. Only
/// [`Archive::sync`] (and `write_sidecars`) take tasks out to await them, so a sync waits for
/// every commit started before it.
#[derive(Debug)]
struct InFlight {
    tasks: Mutex<Vec<Commit>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            tasks: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }
}

impl InFlight {
    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<Commit>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Waits for one background commit.
async fn join(
    path: PathBuf,
    task: tokio::task::JoinHandle<Result<(), ArchiveError>>,
) -> Result<(), ArchiveError> {
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ArchiveError::Cancelled { path }),
    }
}

/// What [`Archive::probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The absolute archive root.
    pub root: PathBuf,
    /// The root did not exist and was created.
    pub created: bool,
    /// Bytes available to an unprivileged writer on the archive's filesystem.
    pub available: u64,
}

/// The archive root and the operations that write below it.
#[derive(Debug, Clone)]
pub struct Archive {
    root: PathBuf,
    /// `<root>/.tmp`: every temporary file, so that finding a crash's leftovers never walks
    /// the archive (which grows with the history: the walk made every cycle slower).
    spool: PathBuf,
    stale_removed: usize,
    unsynced: Arc<Mutex<Unsynced>>,
    in_flight: Arc<InFlight>,
    /// Write buffers of finished commits, for the next documents: a fresh 256 KiB buffer per
    /// document cost an allocation and its first-touch page faults every time.
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// What was committed since the last [`Archive::sync`]: names in directories, sidecar data.
#[derive(Debug, Default)]
struct Unsynced {
    dirs: BTreeSet<PathBuf>,
    files: BTreeSet<PathBuf>,
}

impl Unsynced {
    fn add(cell: &Mutex<Unsynced>, dirs: Vec<PathBuf>, file: Option<PathBuf>) {
        let mut u = cell.lock().unwrap_or_else(|p| p.into_inner());
        u.dirs.extend(dirs);
        u.files.extend(file);
    }
}

impl Archive {
    /// Opens the archive at `root`, creating it (`create_dir_all`, then an fsync of its parent so
    /// the new root survives a power cut) if needed, creates its spool directory `.tmp` if
    /// needed, and removes the stale temporary files (`.<name>.<16 hex>.part`, regular files
    /// only) a crash left in the spool; nothing else is touched, and the archive is not walked.
    /// [`Archive::stale_temp_files_removed`] tells how many were removed, and each removal is
    /// logged. (Versions before the spool put temporary files next to their final names; such
    /// a leftover is hidden, never taken for a document, and can be deleted by hand.)
    ///
    /// A relative `root` is made absolute against the current directory now, so later
    /// changes of directory do not move the archive. Only one process may use an archive at
    /// a time: another one's temporary files would be removed here.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Archive, ArchiveError> {
        let given = root.into();
        if given.as_os_str().is_empty() {
            return Err(unsafe_path(given, "the archive root is empty"));
        }
        let root = std::path::absolute(&given).map_err(|e| io_fail("cannot resolve", &given, e))?;
        let task_root = root.clone();
        let spool = root.join(SPOOL);
        let task_spool = spool.clone();
        let stale_removed = blocking(&root, move || {
            ensure_root(&task_root)?;
            open_spool(&task_spool)
        })
        .await?;
        if stale_removed > 0 {
            tracing::info!(root = %root.display(), count = stale_removed, "removed stale temporary files");
        }
        Ok(Archive {
            root,
            spool,
            stale_removed,
            unsynced: Arc::default(),
            in_flight: Arc::default(),
            spare: Arc::default(),
        })
    }

    /// Proves that documents can be archived below `root` without opening the archive
    /// (`mailroom check`, which holds no lock: [`Archive::open`] would remove the temporary
    /// files of a writer at work). Creates the root and the spool as `open` would when they
    /// are missing, creates, writes and removes one file in the spool (a name no temporary
    /// file has), and measures the space available there. Removes nothing else.
    pub async fn probe(root: impl Into<PathBuf>) -> Result<Probe, ArchiveError> {
        let given = root.into();
        if given.as_os_str().is_empty() {
            return Err(unsafe_path(given, "the archive root is empty"));
        }
        let root = std::path::absolute(&given).map_err(|e| io_fail("cannot resolve", &given, e))?;
        let task_root = root.clone();
        blocking(&root, move || {
            let root = task_root;
            let created = ensure_root(&root)?;
            let spool = root.join(SPOOL);
            ensure_spool(&spool)?;
            let probe = spool.join(format!(".mailroom-check-{}.probe", std::process::id()));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .and_then(|mut f| f.write_all(b"mailroom check").and_then(|()| f.sync_all()));
            let removed = std::fs::remove_file(&probe);
            written.map_err(|e| io_fail("cannot write a file in", &spool, e))?;
            removed.map_err(|e| io_fail("cannot remove", &probe, e))?;
            let available = fs4::available_space(&spool)
                .map_err(|e| io_fail("cannot measure the free space of", &spool, e))?;
            Ok(Probe {
                root,
                created,
                available,
            })
        })
        .await
    }

    /// The absolute archive root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many stale temporary files [`Archive::open`] removed.
    pub fn stale_temp_files_removed(&self) -> usize {
        self.stale_removed
    }

    /// PURE: the archive-relative path of one document,
    /// `<office>/<application number>/<dispatch date>_<document code>_<communication id>.<ext>`,
    /// with `_<doc_suffix>` after the communication id when given (a communication with
    /// several documents). The extension comes from the media type: `pdf` for
    /// `application/pdf` or no media type, `zip` for `application/zip`, `bin` otherwise.
    ///
    /// Every field goes through [`sanitize_component`], so the result is made of `Normal`
    /// components only and `root.join(relative_path(key))` always stays below the root. A file
    /// stem longer than 200 bytes is cut and ends in `_` plus 16 hex digits of the SHA-256 of
    /// the whole stem, so distinct long stems stay distinct.
    pub fn relative_path(key: &DocumentKey<'_>) -> PathBuf {
        let mut stem = [key.dispatch_date, key.document_code, key.communication_id]
            .into_iter()
            .chain(key.doc_suffix)
            .map(sanitize_component)
            .collect::<Vec<_>>()
            .join("_");
        if stem.len() > MAX_STEM {
            let digest = to_hex(&Sha256::digest(stem.as_bytes()));
            stem.truncate(MAX_STEM - UNIQUE_LEN - 1);
            stem.push('_');
            stem.push_str(&digest[..UNIQUE_LEN]);
        }
        let ext = match media_essence(key.media_type).as_deref() {
            None | Some(PDF) => "pdf",
            Some(ZIP) => "zip",
            Some(_) => "bin",
        };
        let mut path = PathBuf::from(sanitize_component(key.office));
        path.push(sanitize_component(key.application_number));
        path.push(format!("{stem}.{ext}"));
        path
    }

    /// Checks that `rel` is a safe archive-relative file path (only `Normal` components made
    /// of the characters [`sanitize_component`] keeps, none starting with a dot) and returns
    /// the final absolute path.
    fn final_path(&self, rel: &Path) -> Result<PathBuf, ArchiveError> {
        let mut count = 0;
        for component in rel.components() {
            match component {
                Component::Normal(name) if name.to_str().is_some_and(is_safe_component) => count += 1,
                Component::Normal(_) => {
                    return Err(unsafe_path(
                        rel,
                        "a component is empty, hidden, overlong or has unsafe characters",
                    ));
                }
                _ => return Err(unsafe_path(rel, "the path is absolute or contains `.` or `..`")),
            }
        }
        if count == 0 {
            return Err(unsafe_path(rel, "the path is empty"));
        }
        Ok(self.root.join(rel))
    }

    /// Starts writing the file `rel` (archive-relative, as made by [`Archive::relative_path`]).
    /// Checks the path only: the temporary file `.tmp/.<final name>.<16 hex>.part` is created
    /// when the first [`WRITE_BUFFER`] bytes are written or by [`PendingFile::commit`], and the
    /// directories by `commit` (refusing to pass through symlinks or non-directories), so a
    /// document of a typical size costs one trip to the blocking pool. The final name is not
    /// touched.
    pub async fn begin(&self, rel: &Path) -> Result<PendingFile, ArchiveError> {
        let final_path = self.final_path(rel)?;
        let Some(name) = final_path.file_name() else {
            return Err(unsafe_path(rel, "the path has no file name"));
        };
        Ok(PendingFile {
            temp: None,
            buffer: self
                .spare
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default(),
            name: name.to_string_lossy().into_owned(),
            spool: self.spool.clone(),
            root: self.root.clone(),
            final_path,
            rel: rel.to_path_buf(),
            unsynced: self.unsynced.clone(),
            in_flight: self.in_flight.clone(),
            spare: self.spare.clone(),
            hasher: Sha256::new(),
            written: 0,
            head: Vec::with_capacity(HEAD_LEN),
        })
    }

    /// Waits for every commit under way, then makes everything committed since the last call
    /// durable: the new names in their directories, directories `commit` created, and sidecar
    /// contents (documents were fsynced by their commit). Call it before recording a batch as
    /// archived. The first failure of any commit since the last call is returned (after all
    /// have finished), and then nothing of the batch may be recorded: the failures a commit
    /// leaves for here (I/O, a full disk, a directory that is a symlink) are the archive's,
    /// not one document's.
    ///
    /// On Linux this is one `syncfs` of the archive's filesystem — one journal commit for a
    /// whole batch instead of one per file and directory; it also flushes whatever else is
    /// dirty on that filesystem, and reports write-back errors (Linux ≥ 5.8). Elsewhere each
    /// sidecar and each touched directory is fsynced. Fires the `after_dir_fsync` failpoint.
    pub async fn sync(&self) -> Result<(), ArchiveError> {
        self.wait_in_flight().await?;
        let pending = std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.dirs.is_empty() && pending.files.is_empty() {
            return Ok(());
        }
        let root = self.root.clone();
        blocking(&self.root, move || sync_everything(&root, &pending)).await?;
        failpoint::hit("after_dir_fsync");
        Ok(())
    }

    /// Waits for every commit under way; returns the first failure among them, after all have
    /// finished.
    async fn wait_in_flight(&self) -> Result<(), ArchiveError> {
        let tasks = std::mem::take(&mut *self.in_flight.tasks());
        let mut failed = None;
        for (path, task) in tasks {
            if let Err(e) = join(path, task).await {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Writes the JSON sidecars of documents, each `<same stem>.json` next to its document, in
    /// one trip to the blocking pool: temporary file → write → checked close → rename. It
    /// first waits for the commits under way (their failure is returned, as by `sync`). They
    /// become durable with the next [`Archive::sync`] (call it before relying on them). Returns
    /// the sidecars' archive-relative paths. Refuses a document path that itself ends in
    /// `.json`, as its sidecar would replace it. Fires no failpoints: those mark document steps.
    pub async fn write_sidecars(
        &self,
        sidecars: Vec<(PathBuf, Vec<u8>)>,
    ) -> Result<Vec<PathBuf>, ArchiveError> {
        let mut jobs = Vec::with_capacity(sidecars.len());
        for (rel_doc, json) in sidecars {
            if rel_doc.extension().is_some_and(|ext| ext == "json") {
                return Err(unsafe_path(
                    rel_doc,
                    "a sidecar would replace the document itself",
                ));
            }
            let rel = rel_doc.with_extension("json");
            let target = self.final_path(&rel)?;
            jobs.push((rel, target, json));
        }
        // The documents first: their directories exist once their commits are done.
        self.wait_in_flight().await?;
        let (unsynced, spool) = (self.unsynced.clone(), self.spool.clone());
        blocking(&self.root, move || {
            let mut written = Vec::with_capacity(jobs.len());
            for (rel, target, json) in jobs {
                let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
                    return Err(unsafe_path(rel, "the path has no file name"));
                };
                let (mut file, mut guard) = create_temp(&spool, &name.to_string_lossy())?;
                file.write_all(&json)
                    .map_err(|e| io_fail("cannot write", &guard.path, e))?;
                close_checked(file).map_err(|e| io_fail("cannot close", &guard.path, e))?;
                replace(&guard.path, &target)
                    .map_err(|e| io_fail("cannot rename the temporary file onto", &target, e))?;
                guard.armed = false;
                Unsynced::add(&unsynced, vec![dir.to_path_buf()], Some(target));
                written.push(rel);
            }
            Ok(written)
        })
        .await
    }
}

/// The fields that name one document. Values are as the server sent them; they are
/// sanitised by [`Archive::relative_path`].
#[derive(Debug, Clone, Copy)]
pub struct DocumentKey<'a> {
    pub office: &'a str,
    pub application_number: &'a str,
    pub dispatch_date: &'a str,
    pub document_code: &'a str,
    pub communication_id: &'a str,
    /// Distinguishes the documents of a communication that has several.
    pub doc_suffix: Option<&'a str>,
    /// The media type the server's metadata declares; chooses the file extension.
    pub media_type: Option<&'a str>,
}

/// What the server announced about a document, checked by [`PendingFile::commit`].
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// The response's Content-Length header.
    pub content_length: Option<u64>,
    /// The size in the document metadata (`fileSize`).
    pub declared_size: Option<u64>,
    /// The media type declared by the server metadata.
    pub media_type: Option<String>,
    /// The response's Content-Type header.
    pub content_type: Option<String>,
}

/// A committed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Archive-relative path.
    pub rel_path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes received (see [`PendingFile::commit`]).
    pub sha256: String,
}

/// Removes the temporary file when dropped, unless disarmed after the rename: a pending file
/// that is dropped (an early `?`, a cancelled task) leaves nothing behind.
#[derive(Debug)]
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove temporary file");
        }
    }
}

/// A file being written: a temporary file in the spool, the running SHA-256 of the bytes
/// written, their count and their first bytes. Consume it with [`PendingFile::commit`] or
/// [`PendingFile::abandon`]; dropping it also removes the temporary file.
#[derive(Debug)]
pub struct PendingFile {
    /// Created when the buffer first fills, or by `commit`.
    temp: Option<Temp>,
    /// Bytes received and not yet written: the only copy of a chunk this side of the kernel.
    buffer: Vec<u8>,
    /// The final file name, which the temporary name embeds.
    name: String,
    spool: PathBuf,
    root: PathBuf,
    final_path: PathBuf,
    rel: PathBuf,
    unsynced: Arc<Mutex<Unsynced>>,
    in_flight: Arc<InFlight>,
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    hasher: Sha256,
    written: u64,
    /// The first [`HEAD_LEN`] bytes, for the type check.
    head: Vec<u8>,
}

impl PendingFile {
    /// Appends a chunk to the running hash and to the buffer, which is written to the
    /// temporary file whenever it holds [`WRITE_BUFFER`] bytes. After an error, abandon the
    /// file (committed anyway, the size check against the file's metadata would refuse it).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ArchiveError> {
        self.hasher.update(chunk);
        let want = HEAD_LEN.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..want]);
        self.written += chunk.len() as u64;
        if self.buffer.capacity() == 0 {
            self.buffer.reserve(WRITE_BUFFER.max(chunk.len()));
        }
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() < WRITE_BUFFER {
            return Ok(());
        }
        let (temp, buffer) = (self.temp.take(), std::mem::take(&mut self.buffer));
        let (spool, name) = (self.spool.clone(), self.name.clone());
        let (temp, mut buffer) = blocking(&self.final_path, move || {
            write_temp(temp, &spool, &name, &buffer).map(|t| (t, buffer))
        })
        .await?;
        buffer.clear();
        self.temp = Some(temp);
        self.buffer = buffer;
        Ok(())
    }

    /// Removes the temporary file, if one was created. The final name is untouched.
    pub async fn abandon(self) {
        if let Some(temp) = self.temp {
            let path = temp.guard.path.clone();
            // Dropping the guard removes the file (and logs if it cannot).
            let _ = blocking(&path, move || {
                drop(temp);
                Ok(())
            })
            .await;
        }
    }

    /// Verifies the file and has it made durable under its final name. At once: (1) bytes
    /// received == Content-Length, when given; (2) with a PDF media type declared, or none, the
    /// file starts with `%PDF-`; with another media type declared, the response Content-Type
    /// must agree with it (media type essences compared, parameters ignored); (3) == the
    /// declared size, when given. A failure there is this document's: it is returned, and the
    /// temporary file removed.
    ///
    /// Then, in one task on the blocking pool while the caller goes on (at most
    /// [`MAX_IN_FLIGHT`] at once: `commit` waits for a place), with the failpoints in
    /// parentheses: write what is buffered, fsync, (4) the size the file's metadata reports
    /// after the fsync == bytes received, close checking the result (`after_fsync`,
    /// `after_verify`) → create the directories → rename onto the final name
    /// (`after_rename`). [`Archive::sync`] waits for these tasks and reports their failures,
    /// then makes the new names durable (`after_dir_fsync`): call it before recording the file
    /// as archived.
    ///
    /// **The SHA-256 is computed once, while streaming: it is the hash of the bytes received**,
    /// which is what the office sent and what the database and sidecar record. The file is not
    /// read back to hash it again: after a successful write and fsync, a re-read through the
    /// page cache returns the bytes just written (it cannot see a device error, which the
    /// fsync reports), so it doubled the hashing and memory traffic of every download for a
    /// check that could not fail. What it could catch — a write lost or cut short on our side
    /// — the size check (4) against the file's metadata catches.
    ///
    /// On ANY error before the rename, the temporary file is removed and the final name is
    /// untouched. Committing to an existing final name replaces it atomically (an idempotent
    /// re-download).
    pub async fn commit(self, expect: &Expectation) -> Result<StoredFile, ArchiveError> {
        let PendingFile {
            temp,
            buffer,
            name,
            spool,
            root,
            final_path,
            rel,
            unsynced,
            in_flight,
            spare,
            hasher,
            written,
            head,
        } = self;
        // Order matters for the message a person reads: a body cut short is a Content-Length
        // mismatch; a whole body of the wrong kind (an HTML error page) is "not a PDF", not
        // merely "the wrong size".
        let checked = size_matches(&final_path, "Content-Length", expect.content_length, written)
            .and_then(|()| check_type(&final_path, expect, &head))
            .and_then(|()| {
                size_matches(
                    &final_path,
                    "declared size (fileSize)",
                    expect.declared_size,
                    written,
                )
            });
        if let Err(e) = checked {
            if let Some(temp) = temp {
                let path = temp.guard.path.clone();
                // Dropping the guard removes the file.
                blocking(&path, move || {
                    drop(temp);
                    Ok(())
                })
                .await?;
            }
            return Err(e);
        }
        let permit =
            in_flight
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ArchiveError::Cancelled {
                    path: final_path.clone(),
                })?;
        let (target, rel_dir) = (
            final_path.clone(),
            rel.parent().map(Path::to_path_buf).unwrap_or_default(),
        );
        let task = tokio::task::spawn_blocking(move || {
            let Temp { file, mut guard } = write_temp(temp, &spool, &name, &buffer)?;
            let mut buffer = buffer;
            buffer.clear();
            let mut spare = spare.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() <= MAX_IN_FLIGHT {
                spare.push(buffer);
            }
            drop(spare);
            file.sync_all()
                .map_err(|e| io_fail("cannot fsync", &guard.path, e))?;
            let on_disk = file
                .metadata()
                .map_err(|e| io_fail("cannot inspect", &guard.path, e))?
                .len();
            close_checked(file).map_err(|e| io_fail("cannot close", &guard.path, e))?;
            failpoint::hit("after_fsync");
            size_matches(&target, "received", Some(written), on_disk)?;
            failpoint::hit("after_verify");

            let new_dirs = create_dirs_below(&root, &rel_dir)?;
            replace(&guard.path, &target)
                .map_err(|e| io_fail("cannot rename the verified temporary file onto", &target, e))?;
            guard.armed = false;
            failpoint::hit("after_rename");
            // The file's directory holds the new name; a directory created here is itself a
            // new name in its parent.
            let mut dirs: Vec<PathBuf> = target.parent().map(Path::to_path_buf).into_iter().collect();
            dirs.extend(new_dirs.iter().filter_map(|d| d.parent().map(Path::to_path_buf)));
            Unsynced::add(&unsynced, dirs, None);
            drop(permit);
            Ok(())
        });
        in_flight.tasks().push((final_path, task));
        Ok(StoredFile {
            rel_path: rel,
            size: written,
            sha256: to_hex(&hasher.finalize()),
        })
    }
}

/// Verification step (3): the content type.
/// `got` must equal `expected` when one is known.
fn size_matches(
    path: &Path,
    what: &'static str,
    expected: Option<u64>,
    got: u64,
) -> Result<(), ArchiveError> {
    match expected {
        Some(expected) if expected != got => Err(ArchiveError::SizeMismatch {
            path: path.to_owned(),
            what,
            expected,
            got,
        }),
        _ => Ok(()),
    }
}

fn check_type(path: &Path, expect: &Expectation, head: &[u8]) -> Result<(), ArchiveError> {
    match media_essence(expect.media_type.as_deref()) {
        Some(declared) if declared != PDF => {
            let got = media_essence(expect.content_type.as_deref());
            if got.as_deref() == Some(declared.as_str()) {
                Ok(())
            } else {
                let got = got.unwrap_or_else(|| "missing".to_owned());
                Err(ArchiveError::ContentTypeMismatch {
                    path: path.to_path_buf(),
                    declared,
                    got,
                })
            }
        }
        _ if head.starts_with(PDF_MAGIC) => Ok(()),
        _ => Err(ArchiveError::NotPdf {
            path: path.to_path_buf(),
            starts_with: show_head(head),
        }),
    }
}

/// The first bytes of a body for an error message: up to [`SHOWN_CHARS`] characters, quoted
/// and escaped, when they are text (UTF-8 without control characters other than whitespace; a
/// character cut at the end of `head` is dropped), else hex. `…` marks that more may follow.
fn show_head(head: &[u8]) -> String {
    if head.is_empty() {
        return "nothing (the body is empty)".to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
    .filter(|t| {
        !t.is_empty()
            && t.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    });
    let more = if head.len() >= HEAD_LEN { "…" } else { "" };
    match text {
        Some(t) => {
            let shown: String = t.chars().take(SHOWN_CHARS).collect();
            let more = if shown.len() < t.len() { "…" } else { more };
            format!("\"{}\"{more} (text)", shown.escape_debug())
        }
        None => format!("{}{more} (hex)", to_hex(head)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF_BODY: &[u8] = b"%PDF-1.7\nhello\n%%EOF\n";
    /// `sha256sum` of [`PDF_BODY`].
    const PDF_SHA256: &str = "a163ac728a978f637d463ca3afd3a9a96925f547568f0125b15eec7115f8b111";

    fn key<'a>() -> DocumentKey<'a> {
        DocumentKey {
            office: "EP",
            application_number: "EP23184567.2",
            dispatch_date: "2024-03-14",
            document_code: "EPOFORM2001",
            communication_id: "c0ffee42",
            doc_suffix: None,
            media_type: Some("application/pdf"),
        }
    }

    fn pdf_expectation() -> Expectation {
        Expectation {
            content_length: Some(PDF_BODY.len() as u64),
            declared_size: Some(PDF_BODY.len() as u64),
            media_type: Some(PDF.to_owned()),
            content_type: Some("application/pdf".to_owned()),
        }
    }

    /// Every file (not directory) below `root`, relative to it, sorted.
    fn files_under(root: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        for _ in 0..10_000 {
            let Some(dir) = pending.pop() else { break };
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    pending.push(entry.path());
                } else {
                    files.push(entry.path().strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        assert!(pending.is_empty(), "directory walk did not finish");
        files.sort();
        files
    }

    impl PendingFile {
        /// `commit`, then the archive's `sync`: the document named and durable, or the error.
        async fn commit_synced(
            self,
            archive: &Archive,
            expect: &Expectation,
        ) -> Result<StoredFile, ArchiveError> {
            let stored = self.commit(expect).await?;
            archive.sync().await?;
            Ok(stored)
        }
    }

    async fn fresh() -> (tempfile::TempDir, Archive) {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path().join("archive")).await.unwrap();
        (dir, archive)
    }

    async fn write_all(archive: &Archive, rel: &Path, body: &[u8]) -> PendingFile {
        let mut pending = archive.begin(rel).await.unwrap();
        for chunk in body.chunks(7) {
            pending.write(chunk).await.unwrap();
        }
        pending
    }

    /// Commits `body` with `expect`, expects an error, and checks that no file at all is left.
    async fn commit_fails(body: &[u8], expect: &Expectation) -> ArchiveError {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&key());
        let err = write_all(&archive, &rel, body)
            .await
            .commit_synced(&archive, expect)
            .await
            .unwrap_err();
        assert_eq!(files_under(archive.root()), Vec::<PathBuf>::new(), "after {err}");
        err
    }

    #[test]
    fn sanitize_table() {
        let long = "a".repeat(200);
        let cases: &[(&str, &str)] = &[
            ("PCT/EP2024/012345", "PCT_EP2024_012345"),
            ("../../etc/passwd", "etc_passwd"),
            ("EP23184567.2", "EP23184567.2"),
            ("2024-03-14", "2024-03-14"),
            ("..", "unknown"),
            (".", "unknown"),
            ("", "unknown"),
            ("___", "unknown"),
            ("CON", "_CON"),
            ("con", "_con"),
            ("Con.pdf", "_Con.pdf"),
            ("nul.tar.gz", "_nul.tar.gz"),
            ("COM1", "_COM1"),
            ("lpt9.txt", "_lpt9.txt"),
            ("COM0", "COM0"),
            ("COM10", "COM10"),
            ("CONSOLE", "CONSOLE"),
            (".hidden", "hidden"),
            ("...x", "x"),
            ("a..b", "a.b"),
            ("a\\b", "a_b"),
            ("C:\\Windows\\system32", "C_Windows_system32"),
            ("a\0b", "a_b"),
            ("tab\there\nnewline", "tab_here_newline"),
            ("a   b", "a_b"),
            ("a__b", "a_b"),
            ("Zürich", "Z_rich"),
            ("日本国特許庁", "unknown"),
            ("特願2024-123456", "2024-123456"),
            ("x/../../y", "x_._._y"),
            ("EP 1 234 567 A1", "EP_1_234_567_A1"),
            (&long, &long[..MAX_COMPONENT]),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_component(raw), *want, "input {raw:?}");
        }
    }

    #[test]
    fn sanitize_output_is_a_safe_idempotent_component() {
        let hostile = [
            "../../etc/passwd",
            "..",
            "/",
            "\\\\server\\share",
            "C:",
            "\u{202e}fdp.exe",
            "a/../..",
            "CON.",
            "./-rf",
            &"é".repeat(100),
            &format!("CON.{}", "x".repeat(100)),
        ];
        for raw in hostile {
            let out = sanitize_component(raw);
            assert!(is_safe_component(&out), "{raw:?} -> {out:?}");
            assert!(out.len() <= MAX_COMPONENT, "{raw:?} -> {out:?}");
            assert!(!out.contains(".."), "{raw:?} -> {out:?}");
            assert!(!is_windows_reserved(&out), "{raw:?} -> {out:?}");
            assert_eq!(sanitize_component(&out), out, "not idempotent on {raw:?}");
            let components: Vec<_> = Path::new(&out).components().collect();
            assert!(
                matches!(components[..], [Component::Normal(_)]),
                "{raw:?} -> {out:?}"
            );
        }
    }

    #[test]
    fn temp_name_pattern() {
        let cases = [
            (".a.pdf.0123456789abcdef.part", true),
            (".2024-03-14_X_Y.json.ffffffffffffffff.part", true),
            ("a.pdf.0123456789abcdef.part", false),
            (".a.pdf.0123456789ABCDEF.part", false),
            (".a.pdf.0123456789abcde.part", false),
            (".a.pdf.0123456789abcdefg.part", false),
            ("..0123456789abcdef.part", false),
            (".0123456789abcdef.part", false),
            (".a.pdf.part", false),
            ("notes.part", false),
            (".a.pdf.0123456789abcdef.partial", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_temp_name(name), want, "{name}");
        }
        assert!(is_temp_name(&format!(".x.pdf.{}.part", unique_suffix())));
    }

    #[test]
    fn relative_path_layout() {
        let k = key();
        assert_eq!(
            Archive::relative_path(&k),
            Path::new("EP/EP23184567.2/2024-03-14_EPOFORM2001_c0ffee42.pdf")
        );
        let several = DocumentKey {
            doc_suffix: Some("2"),
            ..k
        };
        assert_eq!(
            Archive::relative_path(&several),
            Path::new("EP/EP23184567.2/2024-03-14_EPOFORM2001_c0ffee42_2.pdf")
        );
        let extensions = [
            (None, "pdf"),
            (Some("application/pdf"), "pdf"),
            (Some("Application/PDF; charset=binary"), "pdf"),
            (Some(""), "pdf"),
            (Some("application/zip"), "zip"),
            (Some("application/xml"), "bin"),
            (Some("text/html"), "bin"),
        ];
        for (media_type, ext) in extensions {
            let path = Archive::relative_path(&DocumentKey {
                doc_suffix: Some("annex"),
                media_type,
                ..k
            });
            let want = format!("EP/EP23184567.2/2024-03-14_EPOFORM2001_c0ffee42_annex.{ext}");
            assert_eq!(path, Path::new(&want), "{media_type:?}");
        }
        let pct = DocumentKey {
            office: "WO",
            application_number: "PCT/EP2024/012345",
            ..k
        };
        assert_eq!(
            Archive::relative_path(&pct),
            Path::new("WO/PCT_EP2024_012345/2024-03-14_EPOFORM2001_c0ffee42.pdf")
        );
    }

    #[test]
    fn relative_path_of_hostile_keys_stays_below_root() {
        let root = Path::new("/srv/archive");
        let hostile = [
            "..",
            "../..",
            "/",
            "/etc",
            "C:\\",
            "\\\\?\\C:\\",
            ".",
            "",
            "\0",
            "~",
            "CON",
            "..\\..",
            "a/b/c",
        ];
        for raw in hostile {
            let keys = [
                DocumentKey { office: raw, ..key() },
                DocumentKey {
                    application_number: raw,
                    ..key()
                },
                DocumentKey {
                    dispatch_date: raw,
                    document_code: raw,
                    communication_id: raw,
                    ..key()
                },
                DocumentKey {
                    doc_suffix: Some(raw),
                    media_type: Some(raw),
                    ..key()
                },
                DocumentKey {
                    office: raw,
                    application_number: raw,
                    dispatch_date: raw,
                    document_code: raw,
                    communication_id: raw,
                    doc_suffix: Some(raw),
                    media_type: Some(raw),
                },
            ];
            for k in keys {
                let rel = Archive::relative_path(&k);
                let components: Vec<_> = rel.components().collect();
                assert_eq!(components.len(), 3, "{k:?} -> {rel:?}");
                for c in &components {
                    let Component::Normal(name) = c else {
                        panic!("{k:?} -> {rel:?}: {c:?}")
                    };
                    assert!(is_safe_component(name.to_str().unwrap()), "{k:?} -> {rel:?}");
                }
                let full = root.join(&rel);
                assert!(full.starts_with(root), "{k:?} -> {full:?}");
                assert_eq!(
                    full.components().count(),
                    root.components().count() + 3,
                    "{full:?}"
                );
            }
        }
    }

    #[test]
    fn long_stems_are_capped_and_stay_distinct() {
        let long = "a".repeat(300);
        let long_key = |suffix| DocumentKey {
            dispatch_date: &long,
            document_code: &long,
            communication_id: &long,
            doc_suffix: Some(suffix),
            ..key()
        };
        let (first, second) = (
            Archive::relative_path(&long_key("1")),
            Archive::relative_path(&long_key("2")),
        );
        assert_ne!(
            first, second,
            "stems that differ only after the cut must stay distinct"
        );
        for path in [&first, &second] {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(name.len(), MAX_STEM + ".pdf".len(), "{name}");
            assert!(name.starts_with(&"a".repeat(MAX_COMPONENT)), "{name}");
            assert!(is_safe_component(name), "{name}");
            let temp = format!(".{name}.{}.part", unique_suffix());
            assert!(temp.len() < 255 && is_temp_name(&temp), "{temp}");
        }
        assert_eq!(Archive::relative_path(&long_key("1")), first, "pure");
    }

    #[tokio::test]
    async fn commit_stores_content_hash_and_size() {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&key());
        let stored = write_all(&archive, &rel, PDF_BODY)
            .await
            .commit_synced(&archive, &pdf_expectation())
            .await
            .unwrap();
        assert_eq!(
            stored,
            StoredFile {
                rel_path: rel.clone(),
                size: PDF_BODY.len() as u64,
                sha256: PDF_SHA256.to_owned()
            }
        );
        assert_eq!(std::fs::read(archive.root().join(&rel)).unwrap(), PDF_BODY);
        assert_eq!(files_under(archive.root()), vec![rel]);
    }

    #[tokio::test]
    async fn commit_with_nothing_declared_checks_for_a_pdf() {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&DocumentKey {
            media_type: None,
            ..key()
        });
        let stored = write_all(&archive, &rel, PDF_BODY)
            .await
            .commit_synced(&archive, &Expectation::default())
            .await
            .unwrap();
        assert_eq!(stored.sha256, PDF_SHA256);
        let err = commit_fails(b"<html>Service unavailable</html>", &Expectation::default()).await;
        assert!(matches!(err, ArchiveError::NotPdf { .. }), "{err}");
    }

    #[tokio::test]
    async fn short_body_against_content_length_is_refused() {
        let expect = Expectation {
            content_length: Some(PDF_BODY.len() as u64 + 1),
            ..pdf_expectation()
        };
        let err = commit_fails(PDF_BODY, &expect).await;
        let ArchiveError::SizeMismatch {
            what, expected, got, ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(
            (what, expected, got),
            ("Content-Length", PDF_BODY.len() as u64 + 1, PDF_BODY.len() as u64)
        );
    }

    #[tokio::test]
    async fn declared_size_mismatch_is_refused() {
        let expect = Expectation {
            declared_size: Some(4096),
            ..pdf_expectation()
        };
        let err = commit_fails(PDF_BODY, &expect).await;
        let ArchiveError::SizeMismatch { what, expected, .. } = err else {
            panic!("{err}")
        };
        assert_eq!((what, expected), ("declared size (fileSize)", 4096));
    }

    #[tokio::test]
    async fn non_pdf_body_for_a_pdf_is_refused() {
        let body = b"<!DOCTYPE html><title>Maintenance</title>";
        let expect = Expectation {
            content_length: Some(body.len() as u64),
            declared_size: None,
            media_type: Some("application/pdf".to_owned()),
            content_type: Some("text/html".to_owned()),
        };
        let err = commit_fails(body, &expect).await;
        assert!(
            err.to_string()
                .ends_with(r#"not a PDF: it starts with "<!DOCTYPE html><title>Maintenance</title>" (text) instead of %PDF-"#),
            "{err}"
        );
        let only_header = Expectation {
            media_type: None,
            content_type: Some("application/pdf".to_owned()),
            ..expect
        };
        let err = commit_fails(body, &only_header).await;
        assert!(matches!(err, ArchiveError::NotPdf { .. }), "{err}");
        let err = commit_fails(b"", &Expectation::default()).await;
        assert!(matches!(err, ArchiveError::NotPdf { .. }), "{err}");
    }

    #[tokio::test]
    async fn declared_zip_is_accepted_when_the_content_type_agrees() {
        let (_dir, archive) = fresh().await;
        let body = b"PK\x03\x04 not a pdf";
        let k = DocumentKey {
            doc_suffix: Some("1"),
            media_type: Some("application/zip"),
            ..key()
        };
        let rel = Archive::relative_path(&k);
        let expect = Expectation {
            content_length: Some(body.len() as u64),
            declared_size: Some(body.len() as u64),
            media_type: Some("application/zip".to_owned()),
            content_type: Some("Application/Zip; name=x.zip".to_owned()),
        };
        let stored = write_all(&archive, &rel, body)
            .await
            .commit_synced(&archive, &expect)
            .await
            .unwrap();
        assert_eq!(stored.rel_path.extension().unwrap(), "zip");
        assert_eq!(std::fs::read(archive.root().join(&rel)).unwrap(), body);

        for content_type in [Some("text/html"), Some("application/pdf"), None] {
            let expect = Expectation {
                content_type: content_type.map(str::to_owned),
                ..expect.clone()
            };
            let err = commit_fails(body, &expect).await;
            let ArchiveError::ContentTypeMismatch { declared, .. } = &err else {
                panic!("{err}")
            };
            assert_eq!(declared, "application/zip");
        }
    }

    /// A body of more than one buffer: its temporary file exists before `commit`.
    fn big_pdf() -> Vec<u8> {
        let mut body = PDF_BODY.to_vec();
        body.resize(WRITE_BUFFER + 1000, b'x');
        body
    }

    fn temp_path(pending: &PendingFile) -> PathBuf {
        pending
            .temp
            .as_ref()
            .expect("temporary file created")
            .guard
            .path
            .clone()
    }

    #[tokio::test]
    async fn bytes_lost_on_disk_fail_the_size_check() {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&key());
        // Exactly one buffer: all of it is in the file before `commit`.
        let mut body = big_pdf();
        body.truncate(WRITE_BUFFER);
        let pending = write_all(&archive, &rel, &body).await;
        // Bytes the writer believes written are not in the file (a write lost on our side).
        std::fs::File::options()
            .write(true)
            .open(temp_path(&pending))
            .unwrap()
            .set_len(100)
            .unwrap();
        let err = pending
            .commit_synced(&archive, &Expectation::default())
            .await
            .unwrap_err();
        let ArchiveError::SizeMismatch {
            what, expected, got, ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*what, *expected, *got), ("received", body.len() as u64, 100));
        assert_eq!(files_under(archive.root()), Vec::<PathBuf>::new());
    }

    #[tokio::test]
    async fn the_hash_is_of_the_bytes_received_in_any_chunking() {
        let body = big_pdf();
        let want = to_hex(&Sha256::digest(&body));
        for chunk in [
            1,
            7,
            4096,
            WRITE_BUFFER - 1,
            WRITE_BUFFER,
            WRITE_BUFFER + 1,
            body.len(),
        ] {
            let (_dir, archive) = fresh().await;
            let rel = Archive::relative_path(&key());
            let mut pending = archive.begin(&rel).await.unwrap();
            for part in body.chunks(chunk) {
                pending.write(part).await.unwrap();
            }
            let stored = pending
                .commit_synced(&archive, &Expectation::default())
                .await
                .unwrap();
            assert_eq!(
                (stored.size, &stored.sha256),
                (body.len() as u64, &want),
                "{chunk}"
            );
            assert_eq!(std::fs::read(archive.root().join(&rel)).unwrap(), body, "{chunk}");
        }
    }

    #[tokio::test]
    async fn abandon_and_drop_remove_the_temporary_file() {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&key());
        let small = write_all(&archive, &rel, PDF_BODY).await;
        assert!(small.temp.is_none(), "a small body waits in memory for commit");
        small.abandon().await;
        let pending = write_all(&archive, &rel, &big_pdf()).await;
        let temp = temp_path(&pending);
        let temp_name = temp.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(is_temp_name(&temp_name), "{temp_name}");
        assert_eq!(temp.parent(), Some(archive.root().join(SPOOL).as_path()));
        assert_eq!(files_under(archive.root()).len(), 1);
        pending.abandon().await;
        assert_eq!(files_under(archive.root()), Vec::<PathBuf>::new());

        let pending = write_all(&archive, &rel, &big_pdf()).await;
        assert_eq!(files_under(archive.root()).len(), 1);
        drop(pending);
        assert_eq!(files_under(archive.root()), Vec::<PathBuf>::new());
    }

    #[tokio::test]
    async fn open_removes_stale_temporary_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        // Outside the spool nothing is looked at, not even names of the temporary pattern.
        let keep = [
            "EP/EP1/2024-03-14_A_B.pdf",
            "EP/EP1/2024-03-14_A_B.json",
            "EP/EP1/.2024-03-14_A_B.pdf.fedcba9876543210.part",
            ".tmp/notes.part",
            ".tmp/.hidden.part",
            ".tmp/.x.pdf.0123456789ABCDEF.part",
            ".tmp/.x.pdf.0123.part",
            ".tmp/EP/.x.pdf.0123456789abcdef.part",
            "README",
        ];
        let stale = [
            ".tmp/.2024-03-14_A_B.pdf.0123456789abcdef.part",
            ".tmp/.2024-03-14_A_B.json.fedcba9876543210.part",
        ];
        for rel in keep.iter().chain(&stale) {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
        }
        let dir_like_temp = root.join(".tmp/.d.pdf.0123456789abcdef.part");
        std::fs::create_dir_all(&dir_like_temp).unwrap();

        let archive = Archive::open(&root).await.unwrap();
        assert_eq!(archive.stale_temp_files_removed(), 2);
        let mut want: Vec<PathBuf> = keep.iter().map(PathBuf::from).collect();
        want.sort();
        assert_eq!(files_under(&root), want);
        assert!(dir_like_temp.is_dir());

        let again = Archive::open(&root).await.unwrap();
        assert_eq!(again.stale_temp_files_removed(), 0);
    }

    #[tokio::test]
    async fn open_creates_the_root_and_refuses_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b/archive");
        let archive = Archive::open(&root).await.unwrap();
        assert!(root.is_dir());
        assert_eq!(archive.root(), root);
        assert_eq!(archive.stale_temp_files_removed(), 0);

        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = Archive::open(&file).await.unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
        let err = Archive::open("").await.unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
    }

    #[tokio::test]
    async fn recommit_replaces_the_file_atomically() {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&key());
        write_all(&archive, &rel, PDF_BODY)
            .await
            .commit_synced(&archive, &pdf_expectation())
            .await
            .unwrap();
        let second = b"%PDF-1.7\nsecond download\n";
        let expect = Expectation {
            content_length: Some(second.len() as u64),
            declared_size: Some(second.len() as u64),
            ..pdf_expectation()
        };
        let pending = write_all(&archive, &rel, second).await;
        assert_eq!(
            std::fs::read(archive.root().join(&rel)).unwrap(),
            PDF_BODY,
            "final name untouched by begin"
        );
        let stored = pending.commit_synced(&archive, &expect).await.unwrap();
        assert_eq!(stored.size, second.len() as u64);
        assert_eq!(std::fs::read(archive.root().join(&rel)).unwrap(), second);
        assert_eq!(files_under(archive.root()), vec![rel.clone()]);

        let err = write_all(&archive, &rel, b"garbage")
            .await
            .commit_synced(&archive, &Expectation::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ArchiveError::NotPdf { .. }), "{err}");
        assert_eq!(
            std::fs::read(archive.root().join(&rel)).unwrap(),
            second,
            "failed commit left the file"
        );
        assert_eq!(files_under(archive.root()), vec![rel]);
    }

    async fn one_sidecar(archive: &Archive, rel: &Path, json: &[u8]) -> Result<PathBuf, ArchiveError> {
        let mut written = archive
            .write_sidecars(vec![(rel.to_path_buf(), json.to_vec())])
            .await?;
        Ok(written.remove(0))
    }

    #[tokio::test]
    async fn a_batch_of_sidecars_is_written_then_synced() {
        let (_dir, archive) = fresh().await;
        let docs = [PathBuf::from("EP/A/x.pdf"), PathBuf::from("EP/B/y.pdf")];
        for d in &docs {
            write_all(&archive, d, PDF_BODY)
                .await
                .commit_synced(&archive, &pdf_expectation())
                .await
                .unwrap();
        }
        let written = archive
            .write_sidecars(docs.iter().map(|d| (d.clone(), b"{}".to_vec())).collect())
            .await
            .unwrap();
        assert_eq!(
            written,
            vec![PathBuf::from("EP/A/x.json"), PathBuf::from("EP/B/y.json")]
        );
        archive.sync().await.unwrap();
        assert!(
            archive.unsynced.lock().unwrap().dirs.is_empty(),
            "sync drains what it made durable"
        );
        archive
            .sync()
            .await
            .expect("a sync with nothing pending is a no-op");
        assert_eq!(files_under(archive.root()).len(), 4);
    }

    #[tokio::test]
    async fn sidecar_is_written_next_to_the_document() {
        let (_dir, archive) = fresh().await;
        let rel = Archive::relative_path(&key());
        write_all(&archive, &rel, PDF_BODY)
            .await
            .commit_synced(&archive, &pdf_expectation())
            .await
            .unwrap();
        let json = br#"{"communicationId":"c0ffee42"}"#;
        let sidecar = one_sidecar(&archive, &rel, json).await.unwrap();
        assert_eq!(
            sidecar,
            Path::new("EP/EP23184567.2/2024-03-14_EPOFORM2001_c0ffee42.json")
        );
        assert_eq!(std::fs::read(archive.root().join(&sidecar)).unwrap(), json);
        let replaced = one_sidecar(&archive, &rel, b"{}").await.unwrap();
        assert_eq!(replaced, sidecar);
        assert_eq!(std::fs::read(archive.root().join(&sidecar)).unwrap(), b"{}");
        assert_eq!(files_under(archive.root()), vec![sidecar.clone(), rel]);

        let err = one_sidecar(&archive, &sidecar, b"{}").await.unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
    }

    #[tokio::test]
    async fn begin_refuses_paths_that_could_leave_the_root() {
        let (dir, archive) = fresh().await;
        let bad = [
            "",
            "../x.pdf",
            "EP/../../x.pdf",
            "/etc/x.pdf",
            "./x.pdf",
            "EP/.hidden.pdf",
            ".x.pdf.0123456789abcdef.part",
            "EP/a b.pdf",
            "EP\\..\\x.pdf",
        ];
        for rel in bad {
            let err = archive.begin(Path::new(rel)).await.unwrap_err();
            assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{rel}: {err}");
            let err = one_sidecar(&archive, Path::new(rel), b"{}").await.unwrap_err();
            assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{rel}: {err}");
        }
        let long = "x".repeat(MAX_NAME + 1);
        let err = archive.begin(Path::new(&long)).await.unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
        assert_eq!(files_under(dir.path()), Vec::<PathBuf>::new());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn commit_does_not_follow_symlinks_out_of_the_root() {
        let (dir, archive) = fresh().await;
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, archive.root().join("EP")).unwrap();
        std::fs::write(archive.root().join("JP"), b"a file where a directory belongs").unwrap();
        for rel in ["EP/EP1/x.pdf", "EP/x.pdf", "JP/x.pdf"] {
            let err = write_all(&archive, Path::new(rel), PDF_BODY)
                .await
                .commit_synced(&archive, &pdf_expectation())
                .await
                .unwrap_err();
            assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{rel}: {err}");
        }
        assert_eq!(files_under(&outside), Vec::<PathBuf>::new());
        assert!(!outside.join("EP1").exists());
        assert_eq!(files_under(&archive.root().join(SPOOL)), Vec::<PathBuf>::new());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn open_refuses_a_spool_that_is_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join(SPOOL)).unwrap();
        let err = Archive::open(&root).await.unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
    }

    #[test]
    fn a_non_pdf_start_shows_as_text_or_hex() {
        let page = b"<!DOCTYPE html>\n<html><head><title>Service unavailable - down for maintenance</title>";
        let table: [(&[u8], String); 6] = [
            (b"", "nothing (the body is empty)".to_owned()),
            (b"<html>", r#""<html>" (text)"#.to_owned()),
            (
                &page[..HEAD_LEN],
                format!(
                    r#""{}"… (text)"#,
                    "<!DOCTYPE html>\\n<html><head><title>Service unavailable - dow"
                ),
            ),
            (b"caf\xc3", r#""caf" (text)"#.to_owned()),
            (b"\x89PNG\r\n\x1a\n", "89504e470d0a1a0a (hex)".to_owned()),
            (b"PK\x03\x04", "504b0304 (hex)".to_owned()),
        ];
        for (head, expected) in table {
            assert_eq!(show_head(head), expected, "{head:?}");
        }
    }

    #[test]
    fn errors_display_on_one_line_naming_the_file() {
        let path = PathBuf::from("/srv/archive/EP/x.pdf");
        let errors = [
            io_fail("cannot write", &path, io::Error::other("boom")),
            io_fail("cannot fsync", &path, io::Error::from(io::ErrorKind::StorageFull)),
            io_fail(
                "cannot close",
                &path,
                io::Error::from(io::ErrorKind::QuotaExceeded),
            ),
            ArchiveError::SizeMismatch {
                path: path.clone(),
                what: "Content-Length",
                expected: 2,
                got: 1,
            },
            ArchiveError::NotPdf {
                path: path.clone(),
                starts_with: show_head(b"<h"),
            },
            ArchiveError::ContentTypeMismatch {
                path: path.clone(),
                declared: ZIP.to_owned(),
                got: "x".to_owned(),
            },
            unsafe_path(&path, "because"),
            ArchiveError::Cancelled { path: path.clone() },
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("/srv/archive/EP/x.pdf"), "{text}");
        }
        assert!(matches!(errors[1], ArchiveError::DiskFull { .. }));
        assert!(matches!(errors[2], ArchiveError::DiskFull { .. }));
        assert!(errors[1].to_string().starts_with("disk full: no space left"));
    }

    /// Unmounts the tmpfs when dropped, whatever the test did.
    #[cfg(unix)]
    struct Unmount(PathBuf);

    #[cfg(unix)]
    impl Drop for Unmount {
        fn drop(&mut self) {
            match std::process::Command::new("umount").arg(&self.0).status() {
                Ok(status) if status.success() => {}
                other => eprintln!("umount {}: {other:?}", self.0.display()),
            }
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn disk_full_is_reported_and_leaves_no_file() {
        // A skip shows in the log (straight to stderr: the harness captures eprintln of a
        // passing test) and fails on CI, which runs as root.
        let skip = |why: String| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED archive::tests::disk_full_is_reported_and_leaves_no_file: {why}"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "must run on CI: {why}"
            );
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return skip("mounting a small tmpfs needs root".into());
        }
        let dir = tempfile::tempdir().unwrap();
        let mount = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output();
        match mount {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return skip(format!(
                    "mount failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Err(e) => return skip(format!("cannot run mount: {e}")),
        }
        let _unmount = Unmount(dir.path().to_path_buf());

        let archive = Archive::open(dir.path()).await.unwrap();
        let rel = Archive::relative_path(&key());
        // 32 small chunks fail on the write of a later full buffer; one 1.5 MiB chunk at once.
        for (chunk_len, chunks) in [(64 * 1024, 32), (3 * 512 * 1024, 1)] {
            let mut pending = archive.begin(&rel).await.unwrap();
            let chunk = vec![b'x'; chunk_len];
            pending.write(b"%PDF-").await.unwrap();
            let mut write_error = None;
            for _ in 0..chunks {
                if let Err(e) = pending.write(&chunk).await {
                    write_error = Some(e);
                    break;
                }
            }
            let err = match write_error {
                Some(e) => {
                    pending.abandon().await;
                    e
                }
                None => pending
                    .commit_synced(&archive, &Expectation::default())
                    .await
                    .unwrap_err(),
            };
            assert!(matches!(err, ArchiveError::DiskFull { .. }), "{err}");
            assert!(err.to_string().contains(".part"), "{err}");
            assert_eq!(files_under(archive.root()), Vec::<PathBuf>::new(), "{chunk_len}");
        }
    }
}
