//! Applying updates to a tree of files: which files to read, editing them all in memory first,
//! and writing them atomically only when every file succeeded.

use std::path::{Path, PathBuf};

use super::edit::{self, EditError, FileEdit, TagGuard, Updates};

/// Why a tree could not be updated. Nothing has been written when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// A file holding markers is not UTF-8.
    #[error("{path}: not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be edited.
    #[error("{path}: {source}")]
    Edit {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: EditError,
    },
}

/// One file that the updates touch (or that had something to report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpdate {
    /// The file.
    pub path: PathBuf,
    /// Its text before.
    pub original: String,
    /// The edit.
    pub edit: FileEdit,
}

impl FileUpdate {
    /// True when the file's text changes.
    pub fn is_changed(&self) -> bool {
        self.original != self.edit.text
    }

    /// A unified diff of the change, with `a/` and `b/` paths relative to `base`.
    pub fn unified_diff(&self, base: &Path) -> String {
        let shown = self.path.strip_prefix(base).unwrap_or(&self.path).display().to_string();
        similar::TextDiff::from_lines(&self.original, &self.edit.text)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{shown}"), &format!("b/{shown}"))
            .to_string()
    }
}

/// Whether a file name is one the updater reads: `*.yaml`, `*.yml`, `Kustomization`.
pub fn is_candidate(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name == "Kustomization" || name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Whether a file is a kustomization (its `images:` entries are edited by name).
pub fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// Every candidate file under `paths` (files are taken as given; directories are walked,
/// skipping hidden entries such as `.git` and not following symbolic links), sorted.
pub fn candidate_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TreeError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| TreeError::Io { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), TreeError> {
    let io = |source| TreeError::Io { path: dir.to_owned(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() && is_candidate(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Edits every candidate file under `paths` in memory, on all cores. Files without the bytes
/// `"$imagepolicy"` are skipped without parsing, unless they are kustomizations and `updates`
/// has images by name. Returns the files with changes, skips or ignored markers.
pub fn plan(
    paths: &[PathBuf],
    updates: &Updates,
    allow: &(dyn Fn(&super::Target, &str, &str) -> bool + Sync),
) -> Result<Vec<FileUpdate>, TreeError> {
    let files = candidate_files(paths)?;
    // Files are independent: spread them over the cores, keep the file order in the result.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = files.len().div_ceil(workers).max(64);
    let results: Vec<Result<Vec<FileUpdate>, TreeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            files.chunks(chunk).map(|part| scope.spawn(move || plan_files(part, updates, allow))).collect();
        handles.into_iter().map(|h| h.join().expect("planning thread panicked")).collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn plan_files(files: &[PathBuf], updates: &Updates, allow: &TagGuard<'_>) -> Result<Vec<FileUpdate>, TreeError> {
    let finder = memchr::memmem::Finder::new(b"\"$imagepolicy\"");
    let mut out = Vec::new();
    for path in files {
        let by_name = !updates.by_image_name.is_empty() && is_kustomization(path);
        let bytes = std::fs::read(path).map_err(|source| TreeError::Io { path: path.clone(), source })?;
        if !by_name && finder.find(&bytes).is_none() {
            continue;
        }
        let text = String::from_utf8(bytes).map_err(|_| TreeError::NotUtf8 { path: path.clone() })?;
        let edit = edit::edit_file(&text, updates, by_name, allow)
            .map_err(|source| TreeError::Edit { path: path.clone(), source })?;
        if !edit.changes.is_empty() || !edit.skipped.is_empty() || !edit.ignored.is_empty() {
            out.push(FileUpdate { path: path.clone(), original: text, edit });
        }
    }
    Ok(out)
}

/// Writes the changed files. Each file is written to a temporary file beside it and renamed
/// over the original, so a reader never sees a half-written file; permissions are kept.
pub fn write(files: &[FileUpdate]) -> Result<(), TreeError> {
    for file in files.iter().filter(|f| f.is_changed()) {
        let io = |source| TreeError::Io { path: file.path.clone(), source };
        let dir = file.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let perms = std::fs::metadata(&file.path).map_err(io)?.permissions();
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, file.edit.text.as_bytes()).map_err(io)?;
        tmp.as_file().set_permissions(perms).map_err(io)?;
        tmp.persist(&file.path).map_err(|e| io(e.error))?;
    }
    Ok(())
}
