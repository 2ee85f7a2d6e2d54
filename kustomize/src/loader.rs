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

/// Reads a file to a string.
pub fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// Loads the kustomization file of a directory.
pub fn load_kustomization(dir: &Path) -> Result<Kustomization, Error> {
    let found: Vec<PathBuf> = FILE_NAMES.iter().map(|n| dir.join(n)).filter(|p| p.is_file()).collect();
    match found.as_slice() {
        [] => Err(Error::NoKustomization { dir: dir.to_path_buf() }),
        [file] => kustomization::parse(file, &read(file)?),
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
