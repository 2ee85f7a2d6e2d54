//! The git side of a sync: credentials, and a fetch that reuses the clone from the previous
//! reconcile (shallow for branches and tags) and checks the revision out.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::api::Api;
use shipline_core::git::{GitAuth, Remote};
use shipline_core::secret::Secret;

use crate::config::{SyncAuth, SyncSpec};
use crate::error::ReconcileError;

/// A checked-out revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Full commit id.
    pub commit: String,
    /// The work tree, with the commit checked out.
    pub root: PathBuf,
}

/// Resolves a sync's credentials. Secret keys follow Flux's GitRepository secrets (`username`,
/// `password`, `identity`, `known_hosts`); SSH material is written under `auth_dir` (mode 0600)
/// because libgit2 reads keys from files.
pub async fn resolve_auth(
    spec: &SyncSpec,
    secrets: &Api<KubeSecret>,
    sdk: impl AsyncFnOnce() -> aws_config::SdkConfig,
    auth_dir: &Path,
) -> Result<GitAuth, ReconcileError> {
    let err = |message: String| ReconcileError::Auth { sync: spec.name.clone(), message };
    match &spec.auth {
        SyncAuth::None => Ok(GitAuth::Anonymous),
        SyncAuth::CodecommitIam => {
            shipline_core::git::codecommit::git_auth(&spec.git, &sdk().await).await.map_err(|e| err(e.to_string()))
        }
        SyncAuth::Files(files) => {
            let read = |p: &Path| {
                std::fs::read_to_string(p)
                    .map(|s| s.trim_end().to_owned())
                    .map_err(|e| err(format!("{}: {e}", p.display())))
            };
            match (&files.username, &files.password, &files.identity, &files.known_hosts) {
                (Some(u), Some(p), _, _) => {
                    Ok(GitAuth::UserPassword { username: read(u)?, password: Secret::new(read(p)?) })
                }
                (_, _, Some(identity), Some(known_hosts)) => Ok(GitAuth::SshKey {
                    username: None,
                    private_key: identity.clone(),
                    known_hosts: known_hosts.clone(),
                }),
                _ => Err(err("auth.files: give username + password, or identity + knownHosts".into())),
            }
        }
        SyncAuth::Secret(name) => {
            let secret = secrets
                .get_opt(name)
                .await
                .map_err(|e| err(format!("reading Secret {name}: {e}")))?
                .ok_or_else(|| err(format!("Secret {name} not found in the reconciler's namespace")))?;
            let data = secret.data.unwrap_or_default();
            let field = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned());
            if let (Some(username), Some(password)) = (field("username"), field("password")) {
                return Ok(GitAuth::UserPassword { username, password: Secret::new(password) });
            }
            let (Some(identity), Some(known_hosts)) = (data.get("identity"), data.get("known_hosts")) else {
                return Err(err(format!(
                    "Secret {name} needs keys username + password, or identity + known_hosts (host keys are always verified)"
                )));
            };
            std::fs::create_dir_all(auth_dir).map_err(|e| err(format!("{}: {e}", auth_dir.display())))?;
            let private_key = write_private(&auth_dir.join("identity"), &identity.0).map_err(err)?;
            let known_hosts = write_private(&auth_dir.join("known_hosts"), &known_hosts.0).map_err(err)?;
            Ok(GitAuth::SshKey { username: None, private_key, known_hosts })
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.to_owned())
}

/// Fetches `spec.reference` into the clone at `dir` (created on first use) and checks it out.
/// Branches and tags are fetched shallow; a commit id fetches the branches and tags in full
/// (servers rarely allow fetching an arbitrary commit) and then checks that commit out.
/// Blocking: call from a blocking thread.
pub fn fetch(spec: &SyncSpec, auth: &GitAuth, dir: &Path) -> Result<Revision, ReconcileError> {
    let remote = Remote::new(&spec.git, auth);
    let fetch_err = |source| ReconcileError::Fetch {
        sync: spec.name.clone(),
        url: remote.shown_url(),
        reference: spec.reference.clone(),
        source: Box::new(source),
    };
    let local = |e: git2::Error| {
        fetch_err(shipline_core::git::GitError::Remote {
            action: "local clone at",
            url: dir.display().to_string(),
            source: e,
        })
    };
    let repo = match Repository::open(dir) {
        Ok(repo) => repo,
        Err(_) => {
            let _ = std::fs::remove_dir_all(dir);
            Repository::init(dir).map_err(local)?
        }
    };
    let r = &spec.reference;
    let is_commit = r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit());
    let oid = if is_commit {
        let oid = Oid::from_str(r).map_err(local)?;
        if repo.find_commit(oid).is_err() {
            remote
                .fetch(&repo, &["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"], None)
                .map_err(fetch_err)?;
        }
        oid
    } else {
        // Forget the previous answer so a branch or tag deleted upstream is reported, not
        // silently served from the old clone.
        for name in [format!("refs/remotes/origin/{r}"), format!("refs/tags/{r}")] {
            if let Ok(mut reference) = repo.find_reference(&name) {
                reference.delete().map_err(local)?;
            }
        }
        let branch = format!("+refs/heads/{r}:refs/remotes/origin/{r}");
        let tag = format!("+refs/tags/{r}:refs/tags/{r}");
        // libgit2's local transport cannot fetch shallow; local paths are cheap anyway.
        let local_path = spec.git.starts_with('/') || spec.git.starts_with("file://") || spec.git.starts_with('.');
        let depth = (!local_path).then_some(1);
        remote.fetch(&repo, &[branch.as_str(), tag.as_str()], depth).map_err(fetch_err)?;
        let found = repo
            .find_reference(&format!("refs/remotes/origin/{r}"))
            .or_else(|_| repo.find_reference(&format!("refs/tags/{r}")))
            .and_then(|reference| reference.peel_to_commit());
        match found {
            Ok(commit) => commit.id(),
            Err(_) => return Err(not_found(spec, &remote)),
        }
    };
    let commit = repo.find_commit(oid).map_err(|_| not_found(spec, &remote))?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    repo.checkout_tree(commit.as_object(), Some(&mut checkout)).map_err(local)?;
    repo.set_head_detached(oid).map_err(local)?;
    Ok(Revision { commit: oid.to_string(), root: dir.to_owned() })
}

fn not_found(spec: &SyncSpec, remote: &Remote<'_>) -> ReconcileError {
    ReconcileError::RefNotFound { sync: spec.name.clone(), url: remote.shown_url(), reference: spec.reference.clone() }
}
