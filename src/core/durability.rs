//! Which Win32 calls, with which arguments, make the archive's writes durable on Windows
//! (`archive`'s module doc says why these): pure, so every argument is tested on every
//! platform; `archive` passes them to std and windows-sys unchanged. The values are Win32's
//! (winbase.h, winnt.h, winerror.h); a Windows build checks them against windows-sys.

/// `MoveFileExW`: replace an existing target.
pub const MOVEFILE_REPLACE_EXISTING: u32 = 0x0000_0001;
/// `MoveFileExW`: return only once the move is on disk.
pub const MOVEFILE_WRITE_THROUGH: u32 = 0x0000_0008;
/// `CreateFileW`: needed to open a directory at all.
pub const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;

const ERROR_INVALID_FUNCTION: i32 = 1;
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_NOT_SUPPORTED: i32 = 50;
const ERROR_INVALID_PARAMETER: i32 = 87;

/// What is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    File,
    Directory,
}

/// How a handle for `FlushFileBuffers` is opened (`std::fs::OpenOptions`, with
/// `custom_flags` from `OpenOptionsExt`). Never created, never truncated: only opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushHandle {
    pub read: bool,
    /// `GENERIC_WRITE`: `FlushFileBuffers` fails with `ERROR_ACCESS_DENIED` without it.
    pub write: bool,
    pub custom_flags: u32,
}

/// The handle that flushes `target`.
pub fn flush_handle(target: Target) -> FlushHandle {
    FlushHandle {
        read: false,
        write: true,
        custom_flags: match target {
            Target::File => 0,
            Target::Directory => FILE_FLAG_BACKUP_SEMANTICS,
        },
    }
}

/// The flags of the `MoveFileExW` that puts a verified temporary file onto its final name.
pub fn rename_flags() -> u32 {
    MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH
}

/// Whether a failed directory flush (its `raw_os_error`) means the filesystem or the account
/// cannot flush that directory (FAT, some SMB servers, a parent the account may only
/// traverse), which is tolerated, rather than that a flush failed, which is an error.
pub fn directory_flush_unsupported(code: Option<i32>) -> bool {
    matches!(
        code,
        Some(ERROR_INVALID_FUNCTION | ERROR_ACCESS_DENIED | ERROR_NOT_SUPPORTED | ERROR_INVALID_PARAMETER)
    )
}

/// A path as the NUL-terminated UTF-16 `MoveFileExW` takes, in the `\\?\` form for an absolute
/// drive or UNC path, so that a long archive path is not cut at `MAX_PATH` (260). The archive
/// passes only absolute paths built by `std::path::absolute` and `PathBuf::push`, which are
/// already in the normalised form `\\?\` requires; any other path is passed as it is.
pub fn wide_path(path: &[u16]) -> Vec<u16> {
    let is = |i: usize, c: char| path.get(i) == Some(&(c as u16));
    let sep = |i: usize| is(i, '\\');
    let drive = path
        .first()
        .is_some_and(|&c| u8::try_from(c).is_ok_and(|b| b.is_ascii_alphabetic()))
        && is(1, ':')
        && sep(2);
    let unc = sep(0) && sep(1) && !is(2, '?') && !is(2, '.');
    let prefix: &[u16] = if drive {
        &[92, 92, 63, 92] // \\?\
    } else if unc {
        &[92, 92, 63, 92, 85, 78, 67] // \\?\UNC, then the path from its second backslash
    } else {
        &[]
    };
    let rest = if unc { &path[1..] } else { path };
    prefix.iter().chain(rest).copied().chain(Some(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_flushed_through_a_write_handle() {
        assert_eq!(
            flush_handle(Target::File),
            FlushHandle {
                read: false,
                write: true,
                custom_flags: 0
            }
        );
        assert_eq!(
            flush_handle(Target::Directory),
            FlushHandle {
                read: false,
                write: true,
                custom_flags: 0x0200_0000
            }
        );
    }

    #[test]
    fn the_rename_replaces_and_writes_through() {
        assert_eq!(rename_flags(), 0x1 | 0x8);
    }

    #[test]
    fn only_an_unsupported_directory_flush_is_tolerated() {
        for (code, tolerated) in [
            (Some(1), true),
            (Some(5), true),
            (Some(50), true),
            (Some(87), true),
            // ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL, ERROR_IO_DEVICE, ERROR_FILE_NOT_FOUND
            (Some(112), false),
            (Some(39), false),
            (Some(1117), false),
            (Some(2), false),
            (None, false),
        ] {
            assert_eq!(directory_flush_unsupported(code), tolerated, "{code:?}");
        }
    }

    #[test]
    fn absolute_paths_take_the_long_form_others_stay() {
        let wide = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        let nul = |s: &str| wide(s).into_iter().chain(Some(0)).collect::<Vec<u16>>();
        for (given, expected) in [
            (r"C:\demo\archive\EP\x.pdf", r"\\?\C:\demo\archive\EP\x.pdf"),
            (
                r"\\server\share\archive\x.pdf",
                r"\\?\UNC\server\share\archive\x.pdf",
            ),
            (r"\\?\C:\already", r"\\?\C:\already"),
            (r"\\.\pipe\x", r"\\.\pipe\x"),
            (r"relative\x.pdf", r"relative\x.pdf"),
            (r"C:relative", r"C:relative"),
            ("", ""),
        ] {
            assert_eq!(wide_path(&wide(given)), nul(expected), "{given}");
        }
    }
}
