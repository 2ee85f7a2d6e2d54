//! Applying updates to a tree of files: which files to read, editing them all in memory first,
//! and writing them atomically only when every file succeeded.

use std::path::{Path, PathBuf};

use super::edit::{self, EditError, FileEdit, TagGuard, Updates};

fn restored_message(unrestored: &[PathBuf]) -> String {
    if unrestored.is_empty() {
        "every file was left as it was".to_owned()
    } else {
        let list: Vec<String> = unrestored.iter().map(|p| p.display().to_string()).collect();
        format!("could not restore {}", list.join(", "))
    }
}

/// Why a tree could not be updated. Nothing has been written when this is returned (except as
/// [`TreeError::Commit`] reports).
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
    /// A path was refused (a symbolic link, a FIFO or device, too large) or could not be read.
    #[error(transparent)]
    Fs(#[from] crate::safe_fs::FsError),
    /// A file changed on disk after it was read: it is not overwritten.
    #[error("{path}: changed on disk since it was read; nothing written, run the update again")]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// Renaming the staged files into place failed part-way; the files already replaced were
    /// put back (`unrestored` lists any that could not be).
    #[error("{path}: {source}; {}", restored_message(unrestored))]
    Commit {
        /// The file whose rename failed.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
        /// Files that could not be put back (empty when the tree is as it was).
        unrestored: Vec<PathBuf>,
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

/// Every candidate file under `paths`, sorted. A path given is taken as is when it is a regular
/// file or a directory; a symbolic link, FIFO or device given is refused (a link is never
/// replaced by a regular file, nor followed out of the tree). Directories are walked, skipping
/// hidden entries such as `.git`; links, FIFOs and devices met on the walk are skipped with a
/// warning, as Flux's setters do.
pub fn candidate_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TreeError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::symlink_metadata(path).map_err(|source| TreeError::Io { path: path.clone(), source })?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(path, &mut out)?;
        } else if kind.is_file() {
            out.push(path.clone());
        } else if kind.is_symlink() {
            return Err(crate::safe_fs::FsError::Symlink { path: path.clone() }.into());
        } else {
            return Err(crate::safe_fs::FsError::NotRegular {
                path: path.clone(),
                kind: crate::safe_fs::kind_name(kind),
            }
            .into());
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
        } else if kind.is_file() {
            if is_candidate(&path) {
                out.push(path);
            }
        } else {
            tracing::warn!(
                "{}: skipped, a {} is never followed or edited",
                crate::show::escape_controls(&path.display().to_string()),
                crate::safe_fs::kind_name(kind)
            );
        }
    }
    Ok(())
}

/// Edits every candidate file under `paths` in memory, on all cores. Files without the bytes
/// `$imagepolicy` (quoted or not: a malformed marker must still be reported) are skipped without parsing, unless they are kustomizations and `updates`
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
    let finder = memchr::memmem::Finder::new(b"$imagepolicy");
    let mut out = Vec::new();
    for path in files {
        let by_name = !updates.by_image_name.is_empty() && is_kustomization(path);
        let bytes = crate::safe_fs::read_regular(path)?;
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

/// Writes the changed files, all or nothing: every new text is staged in a temporary file beside
/// its original (with its permissions), together with a copy of the original; then every file is
/// checked to still hold what was read (someone else's change is never overwritten); then the
/// staged files are renamed into place. If a rename fails, the files already replaced are put
/// back from their copies. A reader never sees a half-written file.
pub fn write(files: &[FileUpdate]) -> Result<(), TreeError> {
    let replacements: Vec<(&Path, &str, &str)> = files
        .iter()
        .filter(|f| f.is_changed())
        .map(|f| (f.path.as_path(), f.original.as_str(), f.edit.text.as_str()))
        .collect();
    replace_all(&replacements)
}

/// Puts back the text files held before [`write`] (after a validation failed), with the same
/// all-or-nothing steps: a file that no longer holds the edited text is left alone and reported.
pub fn restore(files: &[FileUpdate]) -> Result<(), TreeError> {
    let replacements: Vec<(&Path, &str, &str)> = files
        .iter()
        .filter(|f| f.is_changed())
        .map(|f| (f.path.as_path(), f.edit.text.as_str(), f.original.as_str()))
        .collect();
    replace_all(&replacements)
}

/// Replaces each `(path, expected, new)`: `path` must hold `expected` when the renames start.
fn replace_all(replacements: &[(&Path, &str, &str)]) -> Result<(), TreeError> {
    struct Staged {
        new: tempfile::NamedTempFile,
        backup: tempfile::NamedTempFile,
    }
    let mut staged = Vec::with_capacity(replacements.len());
    for (path, expected, new) in replacements {
        let io = |source| TreeError::Io { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let perms = std::fs::symlink_metadata(path).map_err(io)?.permissions();
        let stage = |text: &str| -> Result<tempfile::NamedTempFile, TreeError> {
            let mut tmp = tempfile::Builder::new().prefix(".shipline-").tempfile_in(dir).map_err(io)?;
            std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
            tmp.as_file().sync_all().map_err(io)?;
            tmp.as_file().set_permissions(perms.clone()).map_err(io)?;
            Ok(tmp)
        };
        staged.push(Staged { new: stage(new)?, backup: stage(expected)? });
    }
    for (path, expected, _) in replacements {
        if crate::safe_fs::read_regular(path)? != expected.as_bytes() {
            return Err(TreeError::Changed { path: path.to_path_buf() });
        }
    }
    let mut backups = Vec::with_capacity(staged.len());
    for ((path, _, _), Staged { new, backup }) in replacements.iter().zip(staged) {
        if let Err(e) = new.persist(path) {
            let mut unrestored = Vec::new();
            for (done, backup) in replacements.iter().map(|r| r.0).zip(backups) {
                let backup: tempfile::NamedTempFile = backup;
                if backup.persist(done).is_err() {
                    unrestored.push(done.to_path_buf());
                }
            }
            return Err(TreeError::Commit { path: path.to_path_buf(), source: e.error, unrestored });
        }
        backups.push(backup);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageRef;
    use crate::update::overlay::PolicyRef;

    const MARKED: &str = "image: reg/app:v1 # {\"$imagepolicy\": \"ns:app\"}\n";

    #[test]
    fn a_file_changed_after_planning_is_not_overwritten_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        std::fs::write(&a, MARKED).unwrap();
        std::fs::write(&b, MARKED).unwrap();
        let mut updates = Updates::default();
        updates.by_policy.insert(PolicyRef::parse("ns:app").unwrap(), ImageRef::parse("reg/app:v2").unwrap());
        let allow = |_: &super::super::Target, _: &str, _: &str| true;
        let files = plan(&[dir.path().to_path_buf()], &updates, &allow).unwrap();
        assert_eq!(files.iter().filter(|f| f.is_changed()).count(), 2);
        // Someone else edits b.yaml between the read and the write.
        std::fs::write(&b, "image: theirs\n").unwrap();
        let err = write(&files).unwrap_err();
        assert!(matches!(&err, TreeError::Changed { path } if path == &b), "{err}");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), MARKED, "a.yaml not written either");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "image: theirs\n");
        // Positive control: unchanged files are written, and restore puts them back.
        std::fs::write(&b, MARKED).unwrap();
        write(&files).unwrap();
        assert!(std::fs::read_to_string(&a).unwrap().contains("reg/app:v2"));
        restore(&files).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), MARKED);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).collect();
        assert_eq!(leftovers.len(), 2, "no staged temporary files left behind");
    }
}
