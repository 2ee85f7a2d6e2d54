//! Reading files that someone else controls (a cloned repository, a local tree of overlays):
//! only regular files, never through a symbolic link, never a FIFO or a device, never more than a
//! bound. Repository content must never reach outside its tree: a committed symlink to `/etc` or
//! to a host file would otherwise be read, edited, committed and pushed.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// The largest file read from an untrusted tree (64 MiB): a manifest is kilobytes; anything
/// bigger is a mistake or an attack, and `/dev/zero`-like inputs must end.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a path was refused or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path, or a directory on the way to it, is a symbolic link.
    #[error("{path}: is a symbolic link; links are never followed in a repository or overlay tree")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The path is a FIFO, socket or device, not a regular file.
    #[error("{path}: not a regular file ({kind}); refused")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The path leaves the tree it must stay in (`..`, absolute).
    #[error("{path}: outside {root}")]
    Outside {
        /// The path.
        path: PathBuf,
        /// The tree.
        root: PathBuf,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: larger than {limit} bytes; refused")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Any other I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
}

/// What a file type is called in messages.
pub fn kind_name(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else if file_type.is_dir() {
        "directory"
    } else {
        "regular file"
    }
}

/// Reads a regular file without following a symbolic link in its last component and without
/// blocking on a FIFO (opened non-blocking, then checked with `fstat` on the open descriptor,
/// so a swap between check and read is caught). At most [`MAX_FILE_BYTES`].
pub fn read_regular(path: &Path) -> Result<Vec<u8>, FsError> {
    let io = |source: std::io::Error| match source.raw_os_error() {
        Some(libc::ELOOP) => FsError::Symlink { path: path.to_owned() },
        _ => FsError::Io { path: path.to_owned(), source },
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular { path: path.to_owned(), kind: kind_name(meta.file_type()) });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path: path.to_owned(), limit: MAX_FILE_BYTES });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The bound holds even if the file grows while it is read.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path: path.to_owned(), limit: MAX_FILE_BYTES });
    }
    Ok(bytes)
}

/// Opens a file a user named on the command line (a link is followed: the path is theirs),
/// refusing FIFOs, sockets and devices without blocking on them: `/dev/zero` or a FIFO given
/// as an archive would otherwise hang or grow without end.
pub fn open_input(path: &Path) -> Result<std::fs::File, FsError> {
    let io = |source: std::io::Error| FsError::Io { path: path.to_owned(), source };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular { path: path.to_owned(), kind: kind_name(meta.file_type()) });
    }
    Ok(file)
}

/// Reads a file a user named ([`open_input`]), at most [`MAX_FILE_BYTES`].
pub fn read_input(path: &Path) -> Result<Vec<u8>, FsError> {
    let file = open_input(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| FsError::Io { path: path.to_owned(), source })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path: path.to_owned(), limit: MAX_FILE_BYTES });
    }
    Ok(bytes)
}

/// Reads a regular file as UTF-8 text ([`read_regular`]); `None` when it is not UTF-8.
pub fn read_regular_text(path: &Path) -> Result<Option<String>, FsError> {
    Ok(String::from_utf8(read_regular(path)?).ok())
}

/// Checks that `path` lies inside `root` with no symbolic link on the way: every existing
/// component below `root` is looked at with `lstat`. `root` itself is trusted (a scratch clone,
/// or what the user named). Components that do not exist yet are accepted.
pub fn check_inside(root: &Path, path: &Path) -> Result<(), FsError> {
    let rel = path.strip_prefix(root).map_err(|_| FsError::Outside { path: path.to_owned(), root: root.to_owned() })?;
    let mut current = root.to_path_buf();
    for component in rel.components() {
        match component {
            Component::Normal(part) => current.push(part),
            Component::CurDir => continue,
            _ => return Err(FsError::Outside { path: path.to_owned(), root: root.to_owned() }),
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(FsError::Symlink { path: current }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(FsError::Io { path: current, source }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_links_fifos_devices() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        assert_eq!(read_regular(&file).unwrap(), b"a: 1\n");
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(read_regular(&link), Err(FsError::Symlink { .. })), "a file link is refused");
        let fifo = dir.path().join("fifo.yaml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_regular(&fifo), Err(FsError::NotRegular { kind: "FIFO", .. })), "no hang on a FIFO");
        assert!(matches!(read_regular(Path::new("/dev/zero")), Err(FsError::NotRegular { kind: "device", .. })));
        assert_eq!(read_input(&link).unwrap(), b"a: 1\n", "a named input may be a link");
        assert!(matches!(read_input(&fifo), Err(FsError::NotRegular { kind: "FIFO", .. })));
        assert!(matches!(open_input(Path::new("/dev/zero")), Err(FsError::NotRegular { kind: "device", .. })));
    }

    #[test]
    fn check_inside_refuses_links_on_the_way_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("deploy/dev")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("deploy/etc")).unwrap();
        assert!(check_inside(root, &root.join("deploy/dev/x.yaml")).is_ok());
        assert!(check_inside(root, &root.join("deploy/new/x.yaml")).is_ok(), "missing parts are fine");
        assert!(matches!(check_inside(root, &root.join("deploy/etc/passwd")), Err(FsError::Symlink { .. })));
        assert!(matches!(check_inside(root, &root.join("deploy/../../x")), Err(FsError::Outside { .. })));
        assert!(matches!(check_inside(root, Path::new("/etc/passwd")), Err(FsError::Outside { .. })));
    }
}
