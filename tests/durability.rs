//! Proven durability, not assumed: the ALICE approach (Pillai et al., "All File Systems Are
//! Not Created Equal", OSDI 2014) applied to one mailbox cycle.
//!
//! `abort()` and SIGKILL keep the page cache, so the crash tests cannot see a missing fsync.
//! Here the real binary runs `sync mailbox` under `strace`, and the order of its syscalls is
//! checked instead. For every communication id in every mark-handled request:
//!
//! 1. each of its documents was fsynced on the temporary file's fd, after the last write to
//!    it, before the rename onto its final name;
//! 2. that rename, and every directory created on the way to it, was then made durable (a
//!    `syncfs` of the filesystem, or an fsync of the directory holding the entry);
//! 3. after that, a write to the `-wal` file naming the id (the row recording it archived),
//!    then the WAL fsync that commits it;
//! 4. and only then the request: the commit is the last WAL fsync before the request starts.
//!
//! "Before" is strict: a syscall counts from the trace line where it started to the one where
//! it returned (strace splits a call interrupted by another thread), and A precedes B only if A
//! returned before B started. Failed calls count for nothing.
//!
//! [`check`] is a pure function over the parsed events; its unit tests below run it on
//! synthetic traces, one per way to get the order wrong, which is how this test shows it can
//! fail.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, stderr, stdout};
use serde_json::json;

/// The syscalls the proof needs: data writes (files, the WAL, sockets), the durability
/// barriers, and the namespace changes they must cover.
const SYSCALLS: &str = "write,pwrite64,writev,pwritev,pwritev2,sendto,fsync,fdatasync,syncfs,\
                        rename,renameat,renameat2,mkdir,mkdirat";

/// One completed, successful syscall: the trace lines (0-based) where it started and returned.
#[derive(Clone, Debug, PartialEq)]
struct Event {
    start: usize,
    end: usize,
    op: Op,
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    /// Bytes written to an fd (`write`, `pwrite64`, `writev`, `sendto`); `fd` is the path
    /// `strace -y` prints for it (`socket:[inode]` for a socket).
    Write {
        fd: String,
        data: Vec<u8>,
    },
    /// `fsync` or `fdatasync` of one file or directory.
    Fsync {
        path: String,
    },
    /// `syncfs`: everything on the filesystem of `path`.
    Syncfs {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Mkdir {
        path: String,
    },
}

/// Parses `strace -f -tt -y` output (`PID TIME call(args) = result`, with `<unfinished ...>`
/// and `<... call resumed>` halves) into the events the proof uses.
fn parse(trace: &str) -> Vec<Event> {
    let mut pending: HashMap<&str, (String, usize)> = HashMap::new();
    let mut events = Vec::new();
    for (n, line) in trace.lines().enumerate() {
        // strace pads the pid column: `6456  07:21:44.300084 call(…`.
        let Some((pid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((_time, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let (text, start) = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let Some((head, start)) = pending.remove(pid) else {
                continue;
            };
            (format!("{head}{tail}"), start)
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (head.to_owned(), n));
            continue;
        } else {
            (rest.to_owned(), n)
        };
        if let Some(op) = parse_call(&text) {
            events.push(Event { start, end: n, op });
        }
    }
    events
}

/// One complete call; `None` for calls the proof does not use and for failed calls.
fn parse_call(text: &str) -> Option<Op> {
    let (name, rest) = text.split_once('(')?;
    let close = rest.rfind(") = ")?;
    let (args, result) = (&rest[..close], &rest[close + 4..]);
    if result.starts_with('-') || result.starts_with('?') {
        return None;
    }
    match name {
        "write" | "pwrite64" | "sendto" => Some(Op::Write {
            fd: fd_path(args)?,
            data: quoted(args).into_iter().next()?.2,
        }),
        "writev" | "pwritev" | "pwritev2" => Some(Op::Write {
            fd: fd_path(args)?,
            data: quoted(args).into_iter().flat_map(|s| s.2).collect(),
        }),
        "fsync" | "fdatasync" => Some(Op::Fsync { path: fd_path(args)? }),
        "syncfs" => Some(Op::Syncfs { path: fd_path(args)? }),
        "rename" | "renameat" | "renameat2" => match paths(args).as_slice() {
            [from, to, ..] => Some(Op::Rename {
                from: from.clone(),
                to: to.clone(),
            }),
            _ => None,
        },
        "mkdir" | "mkdirat" => Some(Op::Mkdir {
            path: paths(args).into_iter().next()?,
        }),
        _ => None,
    }
}

/// The path of the first argument, an fd printed by `-y` as `14</dir/file>`.
fn fd_path(args: &str) -> Option<String> {
    let rest = &args[args.find('<')? + 1..];
    let end = rest
        .find(">, ")
        .or_else(|| rest.strip_suffix('>').map(str::len))?;
    Some(rest[..end].to_owned())
}

/// Every quoted string in `args`: (offset of its opening quote, offset after its closing
/// quote, its bytes with strace's C escapes undone).
fn quoted(args: &str) -> Vec<(usize, usize, Vec<u8>)> {
    let b = args.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let open = i;
        let mut s = Vec::new();
        i += 1;
        while i < b.len() && b[i] != b'"' {
            if b[i] != b'\\' || i + 1 == b.len() {
                s.push(b[i]);
                i += 1;
                continue;
            }
            i += 1;
            let (byte, used) = unescape(&b[i..]);
            s.push(byte);
            i += used;
        }
        i += 1;
        out.push((open, i.min(b.len()), s));
    }
    out
}

/// The byte an escape (the text after its backslash) stands for, and how long it is.
fn unescape(e: &[u8]) -> (u8, usize) {
    let digits = |radix: u32, max: usize, from: usize| {
        let n = e[from..]
            .iter()
            .take(max)
            .take_while(|c| char::from(**c).is_digit(radix))
            .count();
        let text = std::str::from_utf8(&e[from..from + n]).unwrap_or("0");
        (u8::from_str_radix(text, radix).unwrap_or(0), from + n)
    };
    match e[0] {
        b'n' => (b'\n', 1),
        b'r' => (b'\r', 1),
        b't' => (b'\t', 1),
        b'v' => (0x0b, 1),
        b'f' => (0x0c, 1),
        b'x' => digits(16, 2, 1),
        b'0'..=b'7' => digits(8, 3, 0),
        other => (other, 1),
    }
}

/// The path arguments of `rename`/`mkdir` and their `*at` forms, relative ones joined to the
/// directory fd printed before them.
fn paths(args: &str) -> Vec<String> {
    let mut prev_end = 0;
    let mut out = Vec::new();
    for (open, end, bytes) in quoted(args) {
        let name = String::from_utf8_lossy(&bytes).into_owned();
        let before = &args[prev_end..open];
        let dir = before
            .rfind('<')
            .zip(before.rfind('>'))
            .map(|(lt, gt)| &before[lt + 1..gt]);
        out.push(match dir {
            Some(dir) if !name.starts_with('/') => format!("{dir}/{name}"),
            _ => name,
        });
        prev_end = end;
    }
    out
}

/// A mark-handled request found on a socket: where it started and the ids its body carries.
#[derive(Debug)]
struct MarkRequest {
    start: usize,
    ids: Vec<String>,
}

/// The `POST …/communications/handled` requests of the trace. A request is the bytes written
/// to one socket from a write that starts with an HTTP method up to the next such write.
fn mark_requests(events: &[Event], errors: &mut Vec<String>) -> Vec<MarkRequest> {
    const METHODS: [&[u8]; 6] = [b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"PATCH "];
    let mut open: HashMap<&str, (usize, Vec<u8>)> = HashMap::new();
    let mut requests = Vec::new();
    for e in events {
        let Op::Write { fd, data } = &e.op else {
            continue;
        };
        if !fd.starts_with("socket:") {
            continue;
        }
        if METHODS.iter().any(|m| data.starts_with(m)) {
            requests.extend(open.insert(fd.as_str(), (e.start, data.clone())));
        } else if let Some((_, bytes)) = open.get_mut(fd.as_str()) {
            bytes.extend_from_slice(data);
        }
    }
    requests.extend(open.into_values());
    let mut marks: Vec<MarkRequest> = requests
        .into_iter()
        .filter(|(_, bytes)| {
            let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
            line.starts_with(b"POST ") && String::from_utf8_lossy(line).contains("/communications/handled ")
        })
        .filter_map(|(start, bytes)| {
            let body = bytes
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| &bytes[at + 4..]);
            let ids = body
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| {
                    v["communicationIds"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|id| id.as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                });
            if ids.is_none() {
                errors.push(format!(
                    "mark request at line {}: its body is not {{\"communicationIds\":[…]}}",
                    start + 1
                ));
            }
            ids.map(|ids| MarkRequest { start, ids })
        })
        .collect();
    marks.sort_by_key(|m| m.start);
    marks
}

/// What the proof covered.
#[derive(Debug, PartialEq)]
struct Proof {
    requests: usize,
    ids: BTreeSet<String>,
}

/// Checks the order of the numbered list at the top of this file for every id of every mark
/// request. `docs` maps an id to the final paths of its documents; every path under `fs_root`
/// is on one filesystem (so a `syncfs` of any fd under it covers all of them). Returns every
/// violation, each naming the id, the file and the trace lines.
fn check(
    events: &[Event],
    docs: &BTreeMap<String, Vec<String>>,
    fs_root: &str,
) -> Result<Proof, Vec<String>> {
    let mut errors = Vec::new();
    let requests = mark_requests(events, &mut errors);
    let mut ids = BTreeSet::new();
    for req in &requests {
        let commit = events
            .iter()
            .rev()
            .find(|e| matches!(&e.op, Op::Fsync { path } if path.ends_with("-wal")) && e.end < req.start);
        let Some(commit) = commit else {
            errors.push(format!(
                "mark request at line {}: no WAL commit before it",
                req.start + 1
            ));
            continue;
        };
        for id in &req.ids {
            ids.insert(id.clone());
            if let Err(e) = check_id(events, docs, fs_root, id, commit) {
                errors.push(format!("{id} (marked at line {}): {e}", req.start + 1));
            }
        }
    }
    if errors.is_empty() {
        Ok(Proof {
            requests: requests.len(),
            ids,
        })
    } else {
        Err(errors)
    }
}

fn check_id(
    events: &[Event],
    docs: &BTreeMap<String, Vec<String>>,
    fs_root: &str,
    id: &str,
    commit: &Event,
) -> Result<(), String> {
    let paths = docs
        .get(id)
        .filter(|p| !p.is_empty())
        .ok_or("no recorded document")?;
    let line = |e: &Event| e.start + 1;
    let mut synced_until = 0;
    for f in paths {
        let rename = events
            .iter()
            .rev()
            .find(|e| e.end < commit.start && matches!(&e.op, Op::Rename { to, .. } if to == f))
            .ok_or_else(|| {
                format!(
                    "{f} was not renamed into place before the commit at line {}",
                    line(commit)
                )
            })?;
        let Op::Rename { from, .. } = &rename.op else {
            return Err(format!("line {} is not a rename", line(rename)));
        };
        let last_write = events
            .iter()
            .rev()
            .find(|e| e.start < rename.start && matches!(&e.op, Op::Write { fd, .. } if fd == from));
        let fsynced = events.iter().any(|e| {
            matches!(&e.op, Op::Fsync { path } if path == from)
                && e.end < rename.start
                && last_write.is_none_or(|w| w.end < e.start)
        });
        if !fsynced {
            return Err(format!(
                "{from} was not fsynced after its last write and before its rename at line {}",
                line(rename)
            ));
        }
        let cover = covering_sync(events, fs_root, parent(f), rename.end, commit.start).ok_or_else(|| {
            format!(
                "the rename onto {f} (line {}) was not made durable (syncfs, or fsync of {}) \
                     before the commit at line {}",
                line(rename),
                parent(f),
                line(commit)
            )
        })?;
        synced_until = synced_until.max(cover.end);
        let made_dirs = events
            .iter()
            .filter(|e| e.end < commit.start)
            .filter(|e| matches!(&e.op, Op::Mkdir { path } if f.starts_with(&format!("{path}/"))));
        for m in made_dirs {
            let Op::Mkdir { path } = &m.op else {
                continue;
            };
            let cover =
                covering_sync(events, fs_root, parent(path), m.end, commit.start).ok_or_else(|| {
                    format!(
                        "directory {path} (created at line {}) was not made durable (syncfs, or \
                         fsync of {}) before the commit at line {}",
                        line(m),
                        parent(path),
                        line(commit)
                    )
                })?;
            synced_until = synced_until.max(cover.end);
        }
    }
    let recorded = events.iter().any(|e| {
        matches!(&e.op, Op::Write { fd, data } if fd.ends_with("-wal") && contains(data, id.as_bytes()))
            && e.start > synced_until
            && e.end < commit.start
    });
    if recorded {
        Ok(())
    } else {
        Err(format!(
            "no WAL write naming it between its last covering sync (line {}) and the commit at \
             line {}",
            synced_until + 1,
            line(commit)
        ))
    }
}

/// The first sync that starts after `after` and returns before `before` and makes durable an
/// entry of directory `dir`: its own fsync, or a `syncfs` on the same filesystem.
fn covering_sync<'a>(
    events: &'a [Event],
    fs_root: &str,
    dir: &str,
    after: usize,
    before: usize,
) -> Option<&'a Event> {
    let in_fs = |p: &str| p == fs_root || p.starts_with(&format!("{fs_root}/"));
    events.iter().find(|e| {
        e.start > after
            && e.end < before
            && match &e.op {
                Op::Fsync { path } => path == dir,
                Op::Syncfs { path } => in_fs(path) && in_fs(dir),
                _ => false,
            }
    })
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `strace`, where Debian puts it or on `PATH`.
fn strace() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/strace");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("strace"))
        .find(|p| p.is_file())
}

fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    dev(a).is_some() && dev(a) == dev(b)
}

/// 30 communications (10 with two documents), batches of 7: every id mailroom marks handled
/// was fsynced, renamed, synced and committed first, in that order, as the syscalls show.
#[tokio::test(flavor = "multi_thread")]
async fn every_marked_id_was_fsynced_renamed_synced_and_committed_before_its_mark() {
    let Some(strace) = strace() else {
        common::skip_or_fail_on_ci("durability", "strace not installed");
        return;
    };
    let env = Env::empty().await;
    let root = env.dir.path().to_string_lossy().into_owned();
    assert_eq!(
        std::fs::canonicalize(env.dir.path()).expect("canonical tempdir"),
        env.dir.path(),
        "strace prints canonical fd paths; the temporary directory must be canonical too"
    );
    env.post("/_sandbox/myepo/settings", json!({"profile": "nested"}))
        .await;
    let mut ids: BTreeSet<String> = env.create(20, 3_000).await.into_iter().collect();
    let two = env
        .post(
            "/_sandbox/myepo/communications",
            json!({"count": 10, "size": 3_000, "documents": 2}),
        )
        .await;
    ids.extend(
        two["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|i| i.as_str().expect("id").to_owned()),
    );

    let trace = env.dir.path().join("strace.txt");
    let inner = env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__BATCH_SIZE", "7")]);
    let mut cmd = Command::new(&strace);
    cmd.args(["-f", "-qq", "-tt", "-y", "-s", "4096", "-e"])
        .arg(format!("trace={SYSCALLS}"))
        .arg("-o")
        .arg(&trace)
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let started = Instant::now();
    let out = env.run(cmd).await;
    let took = started.elapsed();
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    if !out.status.success() && text.lines().count() < 10 {
        let why = stderr(&out);
        let why = why.lines().last().unwrap_or("no output");
        common::skip_or_fail_on_ci("durability", &format!("strace cannot trace here: {why}"));
        return;
    }
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        same_device(env.dir.path(), &env.data_dir()) && same_device(env.dir.path(), &env.archive_dir()),
        "the archive and the database must share the temporary directory's filesystem"
    );

    let events = parse(&text);
    let mut docs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, path, _, _) in env.db_documents() {
        let full = env.archive_dir().join(path).to_string_lossy().into_owned();
        docs.entry(id).or_default().push(full);
    }
    assert_eq!(
        docs.values().filter(|d| d.len() == 2).count(),
        10,
        "ten communications carry two documents"
    );
    let proof = check(&events, &docs, &root).unwrap_or_else(|errors| {
        panic!(
            "{} ordering violation(s) (lines of the strace output):\n{}",
            errors.len(),
            errors.join("\n")
        )
    });
    assert_eq!(proof.ids, ids, "the proof covers every communication");
    // The same trace without its barriers must fail: the proof depends on them.
    for (barrier, drop) in [
        (
            "the documents' fsyncs",
            (|op: &Op| matches!(op, Op::Fsync { path } if path.ends_with(".part"))) as fn(&Op) -> bool,
        ),
        ("the syncfs calls", |op| matches!(op, Op::Syncfs { .. })),
        (
            "the WAL fsyncs",
            |op| matches!(op, Op::Fsync { path } if path.ends_with("-wal")),
        ),
    ] {
        let fewer: Vec<Event> = events.iter().filter(|e| !drop(&e.op)).cloned().collect();
        assert!(
            check(&fewer, &docs, &root).is_err(),
            "the trace without {barrier} still passes: the check proves nothing"
        );
    }
    assert!(
        proof.requests >= 5,
        "30 communications in batches of 7 take at least 5 mark requests, not {}",
        proof.requests
    );
    assert_eq!(
        env.marked_by_api().await,
        ids,
        "the office's log shows the ids the trace shows"
    );
    assert_eq!(env.assert_all_done().await, ids.len());
    eprintln!(
        "durability: {} events, {} mark requests, {} ids proven; the traced run took {took:?}",
        events.len(),
        proof.requests,
        proof.ids.len()
    );
    assert!(
        took < Duration::from_secs(60),
        "the traced run must stay well under a minute: {took:?}"
    );
}

mod checker {
    use super::*;

    /// One id, one document in a new directory, in the order mailroom must keep: the seen row
    /// committed, the file written and fsynced (the fsync split by another thread's write),
    /// renamed, the filesystem synced, the archived row written and committed, then the mark.
    const GOOD: &str = r#"100  10:00:00.000001 pwrite64(7</d/m.sqlite3-wal>, "seen id-1", 9, 0) = 9
100 10:00:00.000002 fsync(7</d/m.sqlite3-wal>) = 0
100 10:00:00.000003 mkdir("/d/archive/EP", 0777) = 0
100 10:00:00.000004 write(5</d/archive/EP/.a.pdf.1.part>, "%PDF-1.7\n\0\001\377\33", 14) = 14
101 10:00:00.000005 fsync(5</d/archive/EP/.a.pdf.1.part> <unfinished ...>
100 10:00:00.000006 write(2</dev/pts/0>, "log line\n", 9) = 9
101 10:00:00.000007 <... fsync resumed>) = 0
101 10:00:00.000008 rename("/d/archive/EP/.a.pdf.1.part", "/d/archive/EP/a.pdf") = 0
101 10:00:00.000009 syncfs(6</d/archive>) = 0
101 10:00:00.000010 pwrite64(7</d/m.sqlite3-wal>, "\r\0\0\0\0020id-1archived", 20, 4096) = 20
101 10:00:00.000011 fsync(7</d/m.sqlite3-wal>) = 0
100 10:00:00.000012 writev(8<socket:[42]>, [{iov_base="POST /myepo/v1/communications/handled HTTP/1.1\r\ncontent-length: 29\r\n\r\n", iov_len=70}, {iov_base="{\"communicationIds\":[\"id-1\"]}", iov_len=29}], 2) = 99
"#;

    fn docs() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("id-1".to_owned(), vec!["/d/archive/EP/a.pdf".to_owned()])])
    }

    fn run(trace: &str) -> Result<Proof, Vec<String>> {
        check(&parse(trace), &docs(), "/d")
    }

    /// The trace without the lines containing `pat`.
    fn without(pat: &str) -> String {
        edit(GOOD, |lines| lines.retain(|l| !l.contains(pat)))
    }

    /// The trace with the line containing `pat` moved to just after the one containing `after`.
    fn moved(pat: &str, after: &str) -> String {
        edit(GOOD, |lines| {
            let from = lines.iter().position(|l| l.contains(pat)).expect("pattern");
            let line = lines.remove(from);
            let to = lines.iter().position(|l| l.contains(after)).expect("anchor");
            lines.insert(to + 1, line);
        })
    }

    /// The trace with `line` inserted after the one containing `after`.
    fn inserted(line: &'static str, after: &str) -> String {
        edit(GOOD, |lines| {
            let to = lines.iter().position(|l| l.contains(after)).expect("anchor");
            lines.insert(to + 1, line);
        })
    }

    fn replaced(pat: &str, by: &str) -> String {
        GOOD.replace(pat, by)
    }

    fn edit(trace: &str, f: impl FnOnce(&mut Vec<&str>)) -> String {
        let mut lines: Vec<&str> = trace.lines().collect();
        f(&mut lines);
        lines.join("\n")
    }

    #[test]
    fn the_right_order_passes() {
        let proof = run(GOOD).expect("the right order");
        assert_eq!(
            proof,
            Proof {
                requests: 1,
                ids: BTreeSet::from(["id-1".to_owned()])
            }
        );
    }

    #[test]
    fn each_wrong_order_fails_naming_what_is_missing() {
        let table: Vec<(&str, String, &str)> = vec![
            ("no fsync of the file", without("fsync(5"), "was not fsynced"),
            (
                "fsync returns after the rename began",
                moved("fsync resumed", "rename("),
                "was not fsynced",
            ),
            (
                "a write after the fsync",
                inserted(
                    r#"100 10:00:00.000007 write(5</d/archive/EP/.a.pdf.1.part>, "tail", 4) = 4"#,
                    "fsync resumed",
                ),
                "after its last write",
            ),
            (
                "the fsync failed",
                replaced(
                    "<... fsync resumed>) = 0",
                    "<... fsync resumed>) = -1 EIO (Input/output error)",
                ),
                "was not fsynced",
            ),
            (
                "no sync after the rename",
                without("syncfs("),
                "was not made durable",
            ),
            (
                "the sync before the rename",
                moved("syncfs(", "fsync resumed"),
                "was not made durable",
            ),
            (
                "the sync after the commit",
                moved("syncfs(", "10:00:00.000011 "),
                "was not made durable",
            ),
            (
                "a syncfs of another filesystem",
                replaced("syncfs(6</d/archive>)", "syncfs(6</mnt/other>)"),
                "was not made durable",
            ),
            (
                "only the file's directory fsynced, not the new directory's parent",
                replaced("syncfs(6</d/archive>)", "fsync(6</d/archive/EP>)"),
                "directory /d/archive/EP",
            ),
            (
                "the row written before the sync",
                moved("archived\", 20", "rename("),
                "no WAL write naming it",
            ),
            (
                "the mark before the commit",
                moved("writev(8", "archived\", 20"),
                "was not renamed into place before the commit at line 2",
            ),
            (
                "no commit at all before the mark",
                edit(&moved("writev(8", "mkdir("), |l| {
                    l.retain(|l| !l.contains("10:00:00.000002 "))
                }),
                "no WAL commit before it",
            ),
            (
                "the commit failed",
                replaced(
                    "101 10:00:00.000011 fsync(7</d/m.sqlite3-wal>) = 0",
                    "101 10:00:00.000011 fsync(7</d/m.sqlite3-wal>) = -1 EIO (Input/output error)",
                ),
                "was not renamed into place before the commit at line 2",
            ),
            (
                "renamed onto another name than the recorded one",
                replaced("\"/d/archive/EP/a.pdf\")", "\"/d/archive/EP/b.pdf\")"),
                "was not renamed into place",
            ),
            (
                "a mark body that is not the contract's",
                replaced("communicationIds", "ids"),
                "its body is not",
            ),
        ];
        for (what, trace, expected) in table {
            let errors = run(&trace).expect_err(what);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{what}: expected {expected:?} in {errors:?}"
            );
        }
    }

    #[test]
    fn other_right_orders_pass() {
        let table: Vec<(&str, String)> = vec![
            (
                "both directories fsynced instead of a syncfs",
                replaced(
                    "101 10:00:00.000009 syncfs(6</d/archive>) = 0",
                    "101 10:00:00.000009 fsync(6</d/archive/EP>) = 0\n101 10:00:00.000009 fsync(6</d/archive>) = 0",
                ),
            ),
            (
                "fdatasync of the file",
                replaced("fsync(5</d/archive", "fdatasync(5</d/archive"),
            ),
            (
                "the request written in two pieces",
                replaced(
                    r#"[{iov_base="POST /myepo/v1/communications/handled HTTP/1.1\r\ncontent-length: 29\r\n\r\n", iov_len=70}, {iov_base="{\"communicationIds\":[\"id-1\"]}", iov_len=29}], 2) = 99"#,
                    "[{iov_base=\"POST /myepo/v1/communications/handled HTTP/1.1\\r\\ncontent-length: 29\\r\\n\\r\\n\", iov_len=70}], 1) = 70\n100 10:00:00.000013 write(8<socket:[42]>, \"{\\\"communicationIds\\\":[\\\"id-1\\\"]}\", 29) = 29",
                ),
            ),
            (
                "renameat2 with paths relative to a directory fd",
                replaced(
                    r#"rename("/d/archive/EP/.a.pdf.1.part", "/d/archive/EP/a.pdf")"#,
                    r#"renameat2(AT_FDCWD</d/archive>, "EP/.a.pdf.1.part", 9</d/archive/EP>, "a.pdf", RENAME_NOREPLACE)"#,
                ),
            ),
        ];
        for (what, trace) in table {
            let proof = run(&trace).unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!(proof.ids.len(), 1, "{what}");
        }
    }

    #[test]
    fn parse_undoes_escapes_and_joins_split_calls() {
        let events = parse(GOOD);
        assert_eq!(
            events[3].op,
            Op::Write {
                fd: "/d/archive/EP/.a.pdf.1.part".to_owned(),
                data: b"%PDF-1.7\n\0\x01\xff\x1b".to_vec()
            }
        );
        let fsync = events
            .iter()
            .find(|e| matches!(&e.op, Op::Fsync { path } if path.ends_with(".part")))
            .expect("the split fsync");
        assert_eq!((fsync.start, fsync.end), (4, 6));
        assert_eq!(
            parse(r#"7 10:00:00.1 write(3</x>, "\x41\102\"\\", 4) = 4"#)[0].op,
            Op::Write {
                fd: "/x".to_owned(),
                data: b"AB\"\\".to_vec()
            }
        );
        assert!(
            parse("7 10:00:00.1 rename(\"/a\", \"/b\") = -1 ENOENT (No such file or directory)").is_empty(),
            "a failed call is no event"
        );
    }
}
