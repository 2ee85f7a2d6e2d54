//! Whether one commit contains another, read from a shallow clone of a branch: the CodePipeline
//! closed loop's question "the cluster applied D; does D include the commit C we pushed?" (a
//! later push often lands before the reconciler runs, and the cluster then applies only D).

use std::path::Path;

use git2::Oid;

use super::{GitAuth, GitError, Remote};

/// Whether `tip` is `commit` or has it among its ancestors, looking at the newest `depth`
/// commits of `branch` on the remote at `url` (cloned into a temporary directory, bare, and
/// removed). `None`: `tip` or `commit` is not among them, so the answer is unknown.
pub fn contains(
    url: &str,
    auth: &GitAuth,
    branch: &str,
    tip: &str,
    commit: &str,
    depth: u32,
) -> Result<Option<bool>, GitError> {
    let (Ok(tip), Ok(commit)) = (Oid::from_str(tip), Oid::from_str(commit)) else { return Ok(None) };
    if tip == commit {
        return Ok(Some(true));
    }
    let dir = tempfile::tempdir().map_err(|source| GitError::Io { path: "a temporary directory".into(), source })?;
    let repo = Remote::new(url, auth).clone_branch(branch, &dir.path().join("clone"), Some(depth))?;
    Ok(descends(&repo, tip, commit))
}

/// The answer within one repository: `None` when either commit is missing from it.
fn descends(repo: &git2::Repository, tip: Oid, commit: Oid) -> Option<bool> {
    if repo.find_commit(tip).is_err() || repo.find_commit(commit).is_err() {
        return None;
    }
    repo.graph_descendant_of(tip, commit).ok()
}

/// [`descends`] for a local repository at `path` (tests, and callers that hold a clone).
pub fn contains_in(path: &Path, tip: &str, commit: &str) -> Result<Option<bool>, GitError> {
    let repo =
        git2::Repository::open(path).map_err(|source| GitError::Open { path: path.display().to_string(), source })?;
    let (Ok(tip), Ok(commit)) = (Oid::from_str(tip), Oid::from_str(commit)) else { return Ok(None) };
    Ok(if tip == commit { Some(true) } else { descends(&repo, tip, commit) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_in_a_small_history() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
        let tree = repo.find_tree(repo.index().unwrap().write_tree().unwrap()).unwrap();
        let a = repo.commit(Some("HEAD"), &sig, &sig, "a", &tree, &[]).unwrap();
        let b = repo.commit(Some("HEAD"), &sig, &sig, "b", &tree, &[&repo.find_commit(a).unwrap()]).unwrap();
        let side = repo.commit(None, &sig, &sig, "side", &tree, &[&repo.find_commit(a).unwrap()]).unwrap();
        let path = dir.path();
        let (a, b, side) = (a.to_string(), b.to_string(), side.to_string());
        assert_eq!(contains_in(path, &b, &a).unwrap(), Some(true), "b descends from a");
        assert_eq!(contains_in(path, &a, &b).unwrap(), Some(false), "a does not contain b");
        assert_eq!(contains_in(path, &b, &side).unwrap(), Some(false), "a side branch is not contained");
        assert_eq!(contains_in(path, &b, &b).unwrap(), Some(true));
        assert_eq!(contains_in(path, &b, &"0".repeat(40)).unwrap(), None, "unknown commit");
        assert_eq!(contains_in(path, &b, "not-hex").unwrap(), None);
    }
}
