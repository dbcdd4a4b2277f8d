//! The seed data in `sandbox/data/` is a verbatim copy of the project's `shared/` recordings.
//!
//! When a `shared/` folder sits beside the repository (the developers' and CI's checkouts),
//! every file of `shared/ops-samples/` and `shared/jpo-samples/` must be in `sandbox/data/` with
//! the same bytes, and the copy must hold nothing else. Without `shared/` (a fresh clone of the
//! repository alone) there is nothing to compare with: the test says so on stderr, outside the
//! test harness's capture, so the run's log shows it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const FOLDERS: [&str; 2] = ["ops-samples", "jpo-samples"];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// File name → bytes of every file in `dir` (no subfolders exist there).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, bytes)
        })
        .collect()
}

#[test]
fn the_repository_copy_is_identical_to_shared() {
    let shared = shared_dir();
    if !shared.join(FOLDERS[0]).is_dir() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_repository_copy_is_identical_to_shared: no shared/ beside the repository \
             ({}); the sandbox serves its own copy in sandbox/data/",
            shared.display()
        );
        return;
    }
    for folder in FOLDERS {
        let (theirs, ours) = (files(&shared.join(folder)), files(&data_dir().join(folder)));
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&ours),
            names(&theirs),
            "sandbox/data/{folder} and shared/{folder} hold different files"
        );
        for (name, bytes) in &theirs {
            assert!(
                ours[name] == *bytes,
                "sandbox/data/{folder}/{name} differs from shared/{folder}/{name}: copy it again"
            );
        }
    }
}

#[test]
fn every_compiled_in_sample_is_in_the_repository() {
    // The build itself proves the paths exist; this proves the folders are not empty stubs.
    for folder in FOLDERS {
        let found = files(&data_dir().join(folder));
        assert!(
            found.len() > 5 && found.contains_key("README.md"),
            "sandbox/data/{folder} holds {} files",
            found.len()
        );
    }
}
