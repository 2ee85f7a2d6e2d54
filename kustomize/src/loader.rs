//! Reading files under a kustomization root, with kustomize's load restrictor.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::kustomization::{self, FILE_NAMES, Kustomization};

/// Whether a `resources`-style entry is a remote reference kustomize would fetch.
pub fn is_remote(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    ["http://", "https://", "git::", "git@", "ssh://", "github.com/", "gitlab.com/", "bitbucket.org/"]
        .iter()
        .any(|p| lower.starts_with(p))
        || lower.contains("?ref=")
        || lower.contains(".git//")
}

/// Canonicalizes a path, mapping errors to [`Error::Io`].
pub fn canonical(path: &Path) -> Result<PathBuf, Error> {
    path.canonicalize().map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// The largest file the engine reads. Kubernetes objects are at most 1.5 MiB in etcd; generator
/// sources and multi-document files may be larger, but not by orders of magnitude.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads a file to a string (see [`read_bytes`]).
pub fn read(path: &Path) -> Result<String, Error> {
    utf8(path, read_bytes(path)?)
}

/// The bytes read from `path` as text; an error naming the file when they are not UTF-8.
pub fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|_| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
    })
}

/// Reads a regular file of the tree, at most [`MAX_FILE_BYTES`]. The tree is untrusted: a FIFO
/// is opened without blocking and, like a device or socket, refused; `/dev/zero`-like inputs
/// never grow memory past the bound.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let refuse = |why: &str| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned()));
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(refuse("not a regular file (FIFOs, devices and sockets are not read)"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(refuse(&format!("larger than {} MiB", MAX_FILE_BYTES >> 20)));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refuse(&format!("larger than {} MiB", MAX_FILE_BYTES >> 20)));
    }
    Ok(bytes)
}

/// Loads the kustomization file of a directory. A kustomization file that is a link must stay
/// inside the directory: the tree is untrusted, and a link to a file elsewhere on the machine
/// would read it into the build.
pub fn load_kustomization(dir: &Path) -> Result<Kustomization, Error> {
    let found: Vec<PathBuf> = FILE_NAMES.iter().map(|n| dir.join(n)).filter(|p| p.is_file()).collect();
    match found.as_slice() {
        [] => Err(Error::NoKustomization { dir: dir.to_path_buf() }),
        [file] => {
            if std::fs::symlink_metadata(file).map_err(|source| Error::Io { path: file.clone(), source })?.is_symlink()
                && !canonical(file)?.starts_with(canonical(dir)?)
            {
                return Err(Error::Io {
                    path: file.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "a link to a file outside its directory is not read",
                    ),
                });
            }
            kustomization::parse(file, &read(file)?)
        }
        _ => Err(Error::MultipleKustomizations { dir: dir.to_path_buf() }),
    }
}

/// Resolves a file entry of a kustomization, refusing paths that escape the root.
pub fn restricted_file(k: &Kustomization, root: &Path, field: &str, entry: &str) -> Result<PathBuf, Error> {
    if is_remote(entry) {
        return Err(Error::Unsupported {
            file: k.file.clone(),
            field: format!("{field}: {entry}"),
            reason: "remote resources are not fetched; vendor them into the repository".into(),
        });
    }
    let joined = root.join(entry);
    if !joined.exists() {
        return Err(Error::Missing { file: k.file.clone(), field: field.to_string(), entry: entry.to_string() });
    }
    let path = canonical(&joined)?;
    if !path.starts_with(root) {
        return Err(Error::OutsideRoot {
            file: k.file.clone(),
            field: field.to_string(),
            entry: entry.to_string(),
            root: root.to_path_buf(),
        });
    }
    Ok(path)
}
