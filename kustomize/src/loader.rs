//! Reading files under a kustomization root, with kustomize's load restrictor.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::kustomization::{self, FILE_NAMES, Kustomization};
use crate::resource::Resource;
use crate::yaml::{Value, parse_documents};

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

/// What an entry of a kustomization names, once resolved: its canonical path and whether it
/// is a directory (after following links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical path.
    pub path: PathBuf,
    /// Whether the path is a directory.
    pub is_dir: bool,
}

/// Resolves `entry` relative to the canonical directory `dir`: `None` when nothing exists
/// there (a dangling link included), as `Path::exists` says.
///
/// Equal to `exists()`, `canonicalize()` and `is_dir()` of `dir.join(entry)`, with one `lstat`
/// per component of `entry` instead of a `readlink` per component of the whole path and two
/// more `stat`s: a tree of a thousand kustomizations resolves tens of thousands of entries,
/// and those calls were a quarter of its build time. A canonical `dir` has no links, so `..`
/// is its parent; anything less plain (a link, a component that is not a directory before
/// the last, an absolute entry) takes the system's way.
pub fn resolve(dir: &Path, entry: &str) -> Result<Option<Resolved>, Error> {
    resolve_with(dir, entry, &mut lstat)
}

/// [`resolve`], asking `lstat` what each plain component is (a build remembers the answers:
/// overlays of one tree name the same directories over and over).
pub fn resolve_with(
    dir: &Path,
    entry: &str,
    lstat: &mut dyn FnMut(&Path) -> PathKind,
) -> Result<Option<Resolved>, Error> {
    let joined = dir.join(entry);
    if let Some(resolved) = resolve_plain(dir, Path::new(entry), lstat) {
        return Ok(resolved);
    }
    if !joined.exists() {
        return Ok(None);
    }
    let path = canonical(&joined)?;
    let is_dir = path.is_dir();
    Ok(Some(Resolved { path, is_dir }))
}

/// What `lstat` says of a path, as far as [`resolve`] needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A directory.
    Dir,
    /// A link (resolved the system's way).
    Link,
    /// Anything else that exists.
    Other,
    /// Nothing there.
    Missing,
    /// `lstat` failed otherwise (the system's way reports it).
    Unknown,
}

/// `lstat` of `path`.
pub fn lstat(path: &Path) -> PathKind {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => PathKind::Link,
        Ok(meta) if meta.is_dir() => PathKind::Dir,
        Ok(_) => PathKind::Other,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PathKind::Missing,
        Err(_) => PathKind::Unknown,
    }
}

/// [`resolve`] without following links: `None` when the system's way is needed.
fn resolve_plain(dir: &Path, entry: &Path, lstat: &mut dyn FnMut(&Path) -> PathKind) -> Option<Option<Resolved>> {
    use std::path::Component;
    if !dir.is_absolute() {
        return None;
    }
    let mut path = dir.to_path_buf();
    // The kind of `path` as last checked: a canonical `dir` is a directory.
    let mut is_dir = true;
    for component in entry.components() {
        match component {
            Component::CurDir => continue,
            Component::ParentDir => {
                if !is_dir {
                    return None;
                }
                path.pop();
                continue;
            }
            Component::Normal(name) => {
                if !is_dir {
                    return None;
                }
                path.push(name);
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
        match lstat(&path) {
            PathKind::Dir => is_dir = true,
            PathKind::Other => is_dir = false,
            PathKind::Missing => return Some(None),
            PathKind::Link | PathKind::Unknown => return None,
        }
    }
    Some(Some(Resolved { path, is_dir }))
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
    // One `lstat` per name tells a regular file and a link apart; only a link is followed.
    let found: Vec<(PathBuf, bool)> = FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter_map(|p| match std::fs::symlink_metadata(&p) {
            Ok(meta) if meta.is_file() => Some((p, false)),
            Ok(meta) if meta.file_type().is_symlink() && p.is_file() => Some((p, true)),
            _ => None,
        })
        .collect();
    match found.as_slice() {
        [] => Err(Error::NoKustomization { dir: dir.to_path_buf() }),
        [(file, is_link)] => {
            if *is_link && !canonical(file)?.starts_with(canonical(dir)?) {
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
    let Some(Resolved { path, .. }) = resolve(root, entry)? else {
        return Err(Error::Missing { file: k.file.clone(), field: field.to_string(), entry: entry.to_string() });
    };
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

/// Reads the objects of a resource file (`kind: List` items are unpacked).
pub fn load_resources(path: &Path) -> Result<Vec<Resource>, Error> {
    let docs = parse_documents(&read(path)?).map_err(|e| Error::Yaml { path: path.to_path_buf(), message: e.0 })?;
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null | Value::Blank => {}
            Value::Map(m) => {
                let is_list = m.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"));
                match (is_list, m.get("items")) {
                    (true, Some(Value::Seq(items))) => {
                        for item in items {
                            match item {
                                Value::Map(im) => out.push(Resource::new(im.clone(), path.to_path_buf())?),
                                other => {
                                    return Err(Error::InvalidResource {
                                        file: path.to_path_buf(),
                                        message: format!("list item is a {}, not an object", other.type_name()),
                                    });
                                }
                            }
                        }
                    }
                    // A kind ending in `List` without `items` is an ordinary resource (measured).
                    (true, Some(Value::Null | Value::Blank)) => {}
                    _ => out.push(Resource::new(m, path.to_path_buf())?),
                }
            }
            other => {
                return Err(Error::InvalidResource {
                    file: path.to_path_buf(),
                    message: format!("document is a {}, not an object", other.type_name()),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    /// `resolve` against the system's `exists`/`canonicalize`/`is_dir` on entries of every
    /// shape: plain, `..`, `.`, links (to directories, files, outside, dangling), a file used
    /// as a directory, missing components, absolute paths.
    #[test]
    fn resolve_agrees_with_the_system() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().canonicalize().unwrap();
        let root = top.join("repo");
        for d in ["repo/base/sub", "repo/overlays/dev", "outside"] {
            fs::create_dir_all(top.join(d)).unwrap();
        }
        for f in ["repo/base/a.yaml", "repo/base/sub/b.yaml", "outside/c.yaml"] {
            fs::write(top.join(f), "x: 1\n").unwrap();
        }
        symlink(root.join("base"), root.join("overlays/dev/base-link")).unwrap();
        symlink("../base/a.yaml", root.join("overlays/dev/a-link.yaml")).unwrap();
        symlink(top.join("outside"), root.join("overlays/out")).unwrap();
        symlink("nowhere", root.join("overlays/dangling")).unwrap();
        let dev = root.join("overlays/dev");
        let entries = [
            "../../base",
            "../../base/",
            "../../base/a.yaml",
            "./../../base/./sub/b.yaml",
            "../../base/sub/../a.yaml",
            "../../base/a.yaml/..",
            "../../base/a.yaml/x",
            "base-link",
            "base-link/../..",
            "base-link/sub/b.yaml",
            "a-link.yaml",
            "../out/c.yaml",
            "../out/..",
            "../dangling",
            "missing",
            "missing/..",
            "../../../../../../../..",
            "",
            ".",
            "/",
        ];
        for entry in entries {
            let joined = dev.join(entry);
            let expected = joined.exists().then(|| {
                let path = joined.canonicalize().unwrap();
                let is_dir = path.is_dir();
                Resolved { path, is_dir }
            });
            assert_eq!(resolve(&dev, entry).unwrap(), expected, "entry {entry:?}");
        }
    }

    /// Only plain components are resolved without the system: a link makes `resolve_plain`
    /// give up, so the link's target decides (as `canonicalize` does).
    #[test]
    fn links_take_the_system_way() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        fs::create_dir(dir.join("real")).unwrap();
        symlink(dir.join("real"), dir.join("link")).unwrap();
        assert_eq!(resolve_plain(&dir, Path::new("link"), &mut lstat), None);
        let real = Some(Some(Resolved { path: dir.join("real"), is_dir: true }));
        assert_eq!(resolve_plain(&dir, Path::new("real"), &mut lstat), real);
        assert_eq!(resolve_plain(&dir, Path::new("none/.."), &mut lstat), Some(None));
    }
}
