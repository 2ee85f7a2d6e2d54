//! Where is my build? Joins what a cluster reports (each sync's applied revision, health and the
//! images its workloads run) with the history of the repository (the commit that put each image
//! there, and that commit's trailers: CodeBuild build, digest, pipeline execution).
//!
//! Pure functions over plain data; the git walk is [`history`], the cluster side is
//! `shipline_reconcile::running`, the printing `shipline status`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::image::ImageRef;

/// One commit of the repository's history, newest first in a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HistoryCommit {
    /// Full commit id.
    pub id: String,
    /// Commit time, RFC 3339 UTC.
    pub time: String,
    /// First line of the message.
    pub summary: String,
    /// `Key: value` trailers of the message's last paragraph.
    pub trailers: Vec<(String, String)>,
    /// Lines the commit added (against its first parent), trimmed.
    #[serde(skip)]
    pub added: Vec<String>,
}

/// A condition of a sync as its status ConfigMap reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConditionFacts {
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// When the status last changed (RFC 3339).
    pub since: String,
}

/// A container image running in a workload of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningImage {
    /// `Kind namespace/name`.
    pub workload: String,
    /// Container name.
    pub container: String,
    /// The image reference as the workload has it.
    pub image: String,
}

/// What the cluster says about one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncFacts {
    /// The sync's name.
    pub name: String,
    /// Commit last applied successfully (empty: never).
    pub applied_revision: String,
    /// When that revision was first applied (RFC 3339; empty when the status predates the field).
    pub applied_at: String,
    /// `Ready` condition.
    pub ready: Option<ConditionFacts>,
    /// `Healthy` condition.
    pub healthy: Option<ConditionFacts>,
    /// Images of its workloads, live.
    pub images: Vec<RunningImage>,
}

/// One image of a sync, with the commit that put it in git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRow {
    /// Workload, container and image.
    #[serde(flatten)]
    pub running: RunningImage,
    /// The newest commit at or before the applied revision that introduced the image, if any.
    pub commit: Option<HistoryCommit>,
}

/// One sync, as `shipline status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRow {
    /// The sync's name.
    pub sync: String,
    /// Commit last applied.
    pub applied_revision: String,
    /// When it was applied.
    pub applied_at: String,
    /// `Ready` condition.
    pub ready: Option<ConditionFacts>,
    /// `Healthy` condition.
    pub healthy: Option<ConditionFacts>,
    /// Its images and where they came from.
    pub images: Vec<ImageRow>,
}

/// The trailers of a commit message: the `Key: value` lines of its last paragraph, when every
/// line of that paragraph is one (as `git interpret-trailers` reads them). A message of one
/// paragraph (the subject alone) has none.
pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
    let paragraphs: Vec<&str> = message.trim_end().split("\n\n").filter(|p| !p.trim().is_empty()).collect();
    let Some(last) = paragraphs.last().filter(|_| paragraphs.len() > 1) else { return Vec::new() };
    let mut out = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else { return Vec::new() };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Vec::new();
        }
        out.push((key.to_owned(), value.trim().to_owned()));
    }
    out
}

/// Whether an added line puts `image` in an overlay: a line naming `name:tag` (a setter-marked
/// `image:` field) or, for a kustomization `images:` entry that splits the reference, a
/// `newTag: TAG` or `digest: DIGEST` line with the image's own tag or digest.
pub fn introduces(line: &str, image: &ImageRef) -> bool {
    let value = |key: &str| {
        line.trim_start_matches("- ")
            .strip_prefix(key)
            .map(|v| v.split(" #").next().unwrap_or(v).trim().trim_matches(['"', '\'']).to_owned())
    };
    if let Some(tag) = &image.tag
        && (line.contains(&format!("{}:{tag}", image.name)) || value("newTag:").as_deref() == Some(tag.as_str()))
    {
        return true;
    }
    image.digest.as_deref().is_some_and(|d| value("digest:").as_deref() == Some(d) || line.contains(d))
}

/// The newest commit of `history` (newest first) that introduced `image`.
pub fn attribute<'a>(image: &str, history: &'a [HistoryCommit]) -> Option<&'a HistoryCommit> {
    let parsed = ImageRef::parse(image).ok()?;
    history.iter().find(|c| c.added.iter().any(|l| introduces(l, &parsed)))
}

/// Joins each sync with the history walked from its applied revision (`histories`, by revision).
pub fn rows(syncs: &[SyncFacts], histories: &BTreeMap<String, Vec<HistoryCommit>>) -> Vec<SyncRow> {
    let empty = Vec::new();
    syncs
        .iter()
        .map(|s| {
            let history = histories.get(&s.applied_revision).unwrap_or(&empty);
            SyncRow {
                sync: s.name.clone(),
                applied_revision: s.applied_revision.clone(),
                applied_at: s.applied_at.clone(),
                ready: s.ready.clone(),
                healthy: s.healthy.clone(),
                images: s
                    .images
                    .iter()
                    .map(|i| ImageRow { running: i.clone(), commit: attribute(&i.image, history).cloned() })
                    .collect(),
            }
        })
        .collect()
}

/// Where a build runs: the rows whose images are `query` (`REPOSITORY:TAG`, the repository
/// matched as a full name or as its path after the registry host), each sync with only those
/// images. Syncs that do not run it are left out.
pub fn where_runs(rows: &[SyncRow], query: &ImageRef) -> Vec<SyncRow> {
    let matches = |image: &str| {
        let Ok(r) = ImageRef::parse(image) else { return false };
        let name_ok = r.name == query.name || r.name.split_once('/').is_some_and(|(_, path)| path == query.name);
        name_ok
            && query.tag.as_ref().is_none_or(|t| r.tag.as_ref() == Some(t))
            && query.digest.as_ref().is_none_or(|d| r.digest.as_ref() == Some(d))
    };
    rows.iter()
        .filter_map(|row| {
            let images: Vec<ImageRow> = row.images.iter().filter(|i| matches(&i.running.image)).cloned().collect();
            (!images.is_empty()).then(|| SyncRow { images, ..row.clone() })
        })
        .collect()
}

/// Walks first-parent history from `revision` in the repository at `repo` (a checkout or a bare
/// clone), newest first, at most `limit` commits, with the lines each commit added.
pub mod history {
    use super::*;

    /// Why the walk failed: the message names the repository and revision.
    #[derive(Debug, thiserror::Error)]
    #[error("git history of {repo} at {revision}: {message}")]
    pub struct HistoryError {
        /// The repository path.
        pub repo: String,
        /// The revision asked for.
        pub revision: String,
        /// libgit2's reason.
        pub message: String,
    }

    /// See the module documentation.
    pub fn walk(repo: &Path, revision: &str, limit: usize) -> Result<Vec<HistoryCommit>, HistoryError> {
        let err = |e: git2::Error| HistoryError {
            repo: repo.display().to_string(),
            revision: revision.to_owned(),
            message: e.message().to_owned(),
        };
        let git = git2::Repository::open(repo).map_err(err)?;
        let mut commit = git.revparse_single(revision).and_then(|o| o.peel_to_commit()).map_err(err)?;
        let mut out = Vec::new();
        loop {
            let parent = commit.parent(0).ok();
            let old_tree = parent.as_ref().map(|p| p.tree()).transpose().map_err(err)?;
            let diff =
                git.diff_tree_to_tree(old_tree.as_ref(), Some(&commit.tree().map_err(err)?), None).map_err(err)?;
            let mut added = Vec::new();
            diff.print(git2::DiffFormat::Patch, |_, _, line| {
                if line.origin() == '+' {
                    added.push(String::from_utf8_lossy(line.content()).trim().to_owned());
                }
                true
            })
            .map_err(err)?;
            let message = commit.message().unwrap_or_default();
            out.push(HistoryCommit {
                id: commit.id().to_string(),
                time: rfc3339(commit.time().seconds()),
                summary: message.lines().next().unwrap_or_default().to_owned(),
                trailers: parse_trailers(message),
                added,
            });
            match parent {
                Some(p) if out.len() < limit => commit = p,
                _ => break,
            }
        }
        Ok(out)
    }

    /// Seconds since the epoch as RFC 3339 UTC (`2026-11-30T20:15:16Z`).
    pub fn rfc3339(secs: i64) -> String {
        let (y, m, d, h, min, s) = crate::utc::civil(secs);
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
    }
}

#[cfg(test)]
#[path = "provenance_tests.rs"]
mod tests;
