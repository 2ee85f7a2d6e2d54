//! `shipline update PATH...` on a local tree, checked like a git update: every changed file must
//! parse for a strict YAML reader, and every kustomization that built before the edit must build
//! after it; otherwise every file is put back as it was.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::overlay::{FileUpdate, TreeError, tree};

/// Why a local update was not kept.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Writing (or putting back) failed; see [`TreeError`] for what is on disk.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A changed file or kustomization no longer reads; nothing is left changed.
    #[error("{path}: {message}; every file was left as it was")]
    Invalid {
        /// The file or kustomization directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The kustomization directories an edit may affect: those under the given paths (a base edit
/// shows in the overlays that use it) and those above each changed file, up to a given path.
pub fn affected_kustomizations(paths: &[PathBuf], files: &[FileUpdate]) -> Vec<PathBuf> {
    let roots: Vec<&Path> =
        paths.iter().map(|p| if p.is_dir() { p.as_path() } else { p.parent().unwrap_or(Path::new(".")) }).collect();
    let mut dirs = BTreeSet::new();
    if let Ok(found) = tree::candidate_files(paths) {
        dirs.extend(
            found.iter().filter(|f| tree::is_kustomization(f)).filter_map(|f| f.parent().map(Path::to_path_buf)),
        );
    }
    for file in files.iter().filter(|f| f.is_changed()) {
        for dir in file.path.ancestors().skip(1).take_while(|d| roots.iter().any(|r| d.starts_with(r))) {
            if ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|k| dir.join(k).is_file()) {
                dirs.insert(dir.to_path_buf());
            }
        }
    }
    dirs.into_iter().collect()
}

/// Every changed file must still parse as YAML documents for a strict reader.
pub fn check_yaml(files: &[FileUpdate]) -> Result<(), LocalError> {
    for file in files.iter().filter(|f| f.is_changed()) {
        crate::update::yaml::parse_documents(&file.edit.text)
            .map_err(|message| LocalError::Invalid { path: file.path.clone(), message })?;
    }
    Ok(())
}

/// Writes `files` (planned under `paths`) all or nothing, then builds the kustomizations that
/// built before; if one fails, every file is put back and the failure is returned.
pub fn write_checked(paths: &[PathBuf], files: &[FileUpdate]) -> Result<(), LocalError> {
    if !files.iter().any(FileUpdate::is_changed) {
        return Ok(());
    }
    check_yaml(files)?;
    let dirs = affected_kustomizations(paths, files);
    let built_before: Vec<bool> = dirs.iter().map(|d| crate::kustomize::build(d).is_ok()).collect();
    tree::write(files)?;
    for (dir, _) in dirs.iter().zip(&built_before).filter(|(_, ok)| **ok) {
        if let Err(e) = crate::kustomize::build(dir) {
            tree::restore(files)?;
            return Err(LocalError::Invalid {
                path: dir.clone(),
                message: format!("kustomize build fails after the edit: {e}"),
            });
        }
    }
    Ok(())
}
