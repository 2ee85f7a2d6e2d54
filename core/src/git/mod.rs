//! Git at the edge: reading the local checkout, and cloning, committing and pushing a remote
//! repository over HTTPS or SSH with git2.
//!
//! Security defaults: TLS certificates are verified by libgit2 (add a private CA with
//! [`trust_ca_file`]); SSH host keys are checked against the `known_hosts` file of the
//! [`GitAuth::SshKey`], never accepted when unknown; credentials are tried a bounded number of
//! times and never appear in errors or logs (URLs are shown with their user-info removed).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, FetchOptions, RemoteCallbacks, Repository};

use crate::secret::Secret;

pub mod ancestry;
pub mod codecommit;
pub mod known_hosts;
pub mod pull_request;
pub mod push;
pub mod signing;

pub use push::{LeasedUpdate, is_valid_branch_name, parse_push_refspec};
pub use signing::SigningKey;

use known_hosts::HostKeyStatus;

/// How many times libgit2 may ask for credentials in one operation (clone, push) before we give
/// up. libgit2 asks again after every rejection, so without a cap a wrong password loops forever.
const MAX_CREDENTIAL_ATTEMPTS: u32 = 3;

/// Credentials for a git remote.
#[derive(Debug, Clone)]
pub enum GitAuth {
    /// No credentials: local paths and public repositories.
    Anonymous,
    /// HTTPS basic auth, e.g. CodeCommit HTTPS git credentials or a token.
    UserPassword {
        /// User name.
        username: String,
        /// Password or token.
        password: Secret,
    },
    /// SSH public-key auth; the server's host key must be listed in `known_hosts`.
    SshKey {
        /// User name when the URL has none (CodeCommit uses the SSH key ID).
        username: Option<String>,
        /// Private key file (OpenSSH format, unencrypted).
        private_key: PathBuf,
        /// `known_hosts` file the server's key is checked against.
        known_hosts: PathBuf,
    },
}

/// What went wrong talking to git. URLs in messages carry no credentials.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository at a local path.
    #[error("cannot open git repository at {path}: {source}")]
    Open {
        /// The path searched.
        path: String,
        /// libgit2's reason.
        source: git2::Error,
    },
    /// The server rejected the credentials.
    #[error(
        "authentication to {url} failed as user {username:?}: check the credentials (tried {MAX_CREDENTIAL_ATTEMPTS} times)"
    )]
    AuthFailed {
        /// Remote URL.
        url: String,
        /// User name sent.
        username: String,
    },
    /// The remote asked for credentials and none were configured.
    #[error("{url} asks for credentials ({allowed}) and none are configured")]
    NoCredentials {
        /// Remote URL.
        url: String,
        /// What the server accepts.
        allowed: String,
    },
    /// The SSH host key is not trusted.
    #[error(
        "host key of {host} is {status} in {known_hosts}: refusing to connect (add the key with `ssh-keyscan -p PORT HOST >> {known_hosts}` after checking it)"
    )]
    HostKey {
        /// `host` or `[host]:port`.
        host: String,
        /// `unknown`, `different from the recorded key`, or `revoked`.
        status: &'static str,
        /// The file consulted.
        known_hosts: String,
    },
    /// The server refused to update a ref, e.g. because the push was not a fast-forward.
    #[error("{url} rejected the push of {reference}: {reason}")]
    PushRejected {
        /// Remote URL.
        url: String,
        /// The ref that was refused.
        reference: String,
        /// The server's reason.
        reason: String,
    },
    /// Any other libgit2 failure, with what we were doing.
    #[error("{action} {url}: {source}")]
    Remote {
        /// What we were doing, e.g. `clone of`.
        action: &'static str,
        /// Remote URL or local path.
        url: String,
        /// libgit2's reason.
        source: git2::Error,
    },
    /// A commit could not be signed.
    #[error("signing the commit: {message}")]
    Signing {
        /// What failed (never key material).
        message: String,
    },
    /// Reading a local file the operation needs (e.g. `known_hosts`).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
}

/// What the local git checkout says about HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCheckout {
    /// Where the repository was found (its work tree, or git dir when bare).
    pub path: String,
    /// The checked-out branch, `None` when HEAD is detached.
    pub branch: Option<String>,
    /// Full SHA of HEAD.
    pub commit: String,
    /// Number of commits reachable from HEAD: a build number that grows along a branch, for dry
    /// runs where no CI build number exists.
    pub commit_count: u64,
}

/// Reads branch, HEAD commit and commit count of the repository containing `path`.
pub fn read_checkout(path: &Path) -> Result<LocalCheckout, GitError> {
    let open = |source| GitError::Open { path: path.display().to_string(), source };
    let repo = Repository::discover(path).map_err(open)?;
    let shown = repo.workdir().unwrap_or_else(|| repo.path()).display().to_string();
    let local = |source| GitError::Remote { action: "reading HEAD of", url: shown.clone(), source };
    let head = repo.head().map_err(local)?;
    let branch = if head.is_branch() { head.shorthand().ok().map(str::to_owned) } else { None };
    let commit = head.peel_to_commit().map_err(local)?.id();
    let mut walk = repo.revwalk().map_err(local)?;
    walk.push(commit).map_err(local)?;
    let commit_count = walk.count() as u64;
    Ok(LocalCheckout { path: shown.clone(), branch, commit: commit.to_string(), commit_count })
}

/// Adds a PEM CA bundle to the certificates libgit2 trusts for HTTPS remotes, on top of the
/// system's (for git servers with a private CA). Process-wide; call it once at start-up, before
/// any network operation.
pub fn trust_ca_file(path: &Path) -> Result<(), GitError> {
    std::fs::metadata(path).map_err(|source| GitError::Io { path: path.display().to_string(), source })?;
    // SAFETY: libgit2 option setters are not synchronised with running operations; callers do
    // this at start-up, before any thread uses git.
    unsafe { git2::opts::set_ssl_cert_file(path) }.map_err(|source| GitError::Remote {
        action: "loading CA file",
        url: path.display().to_string(),
        source,
    })
}

/// Removes user-info (`user:password@`) from a URL so it can be shown.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Host and port of an SSH remote: `ssh://[user@]host[:port]/path` or scp-like `user@host:path`.
pub fn ssh_host_port(url: &str) -> Option<(String, u16)> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            let port = after.strip_prefix(':').map_or(Some(22), |p| p.parse().ok())?;
            return Some((host.to_owned(), port));
        }
        return match host_port.rsplit_once(':') {
            Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
            None => Some((host_port.to_owned(), 22)),
        };
    }
    if url.contains("://") {
        return None;
    }
    let (before_path, _) = url.split_once(':')?;
    let host = before_path.rsplit_once('@').map_or(before_path, |(_, h)| h);
    (!host.is_empty() && !host.contains('/')).then(|| (host.to_owned(), 22))
}

/// A connection to one remote URL with one set of credentials: builds the libgit2 callbacks and
/// turns libgit2's errors into [`GitError`]s that say what to fix.
pub struct Remote<'a> {
    url: &'a str,
    auth: &'a GitAuth,
    attempts: Cell<u32>,
    host_key_error: Cell<Option<GitError>>,
}

impl<'a> Remote<'a> {
    /// Prepares callbacks for `url` with `auth`.
    pub fn new(url: &'a str, auth: &'a GitAuth) -> Self {
        Self { url, auth, attempts: Cell::new(0), host_key_error: Cell::new(None) }
    }

    /// The URL without credentials, for messages.
    pub fn shown_url(&self) -> String {
        redact_url(self.url)
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut cb = RemoteCallbacks::new();
        cb.credentials(|_url, user_from_url, allowed| self.credentials(user_from_url, allowed));
        cb.certificate_check(|cert, _host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS: let libgit2 verify the chain and host name as usual.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let key = hostkey.hostkey().unwrap_or_default();
            self.verify_host_key(key).map(|()| CertificateCheckStatus::CertificateOk).map_err(|e| {
                let msg = e.to_string();
                self.host_key_error.set(Some(e));
                git2::Error::from_str(&msg)
            })
        });
        cb
    }

    fn credentials(&self, user_from_url: Option<&str>, allowed: CredentialType) -> Result<Cred, git2::Error> {
        let n = self.attempts.get() + 1;
        self.attempts.set(n);
        if n > MAX_CREDENTIAL_ATTEMPTS {
            return Err(git2::Error::from_str("credentials rejected"));
        }
        match self.auth {
            GitAuth::UserPassword { username, password } if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                Cred::userpass_plaintext(username, password.expose())
            }
            GitAuth::SshKey { username, private_key, .. } => {
                let user = user_from_url.or(username.as_deref()).unwrap_or("git");
                if allowed.contains(CredentialType::USERNAME) {
                    Cred::username(user)
                } else {
                    Cred::ssh_key(user, None, private_key, None)
                }
            }
            _ => Err(git2::Error::from_str(&format!("no credentials configured for {allowed:?}"))),
        }
    }

    fn verify_host_key(&self, key: &[u8]) -> Result<(), GitError> {
        let (host, port) = ssh_host_port(self.url).unwrap_or_else(|| (self.url.to_owned(), 22));
        let shown = known_hosts::host_pattern_name(&host, port);
        let GitAuth::SshKey { known_hosts: path, .. } = self.auth else {
            return Err(GitError::HostKey {
                host: shown,
                status: "unverifiable",
                known_hosts: "(no known_hosts file configured)".into(),
            });
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| GitError::Io { path: path.display().to_string(), source })?;
        let status = match known_hosts::check(&text, &host, port, key) {
            HostKeyStatus::Trusted => return Ok(()),
            HostKeyStatus::Unknown => "unknown",
            HostKeyStatus::Mismatch => "different from the recorded key",
            HostKeyStatus::Revoked => "revoked",
        };
        Err(GitError::HostKey { host: shown, status, known_hosts: path.display().to_string() })
    }

    fn fetch_options(&self, depth: Option<u32>) -> FetchOptions<'_> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(self.callbacks());
        if let Some(depth) = depth {
            fo.depth(depth.try_into().unwrap_or(i32::MAX));
        }
        fo
    }

    /// Maps a libgit2 failure to the most specific error we know of.
    fn error(&self, action: &'static str, source: git2::Error) -> GitError {
        if let Some(e) = self.host_key_error.take() {
            return e;
        }
        let auth_class = source.class() == git2::ErrorClass::Http && source.code() == git2::ErrorCode::Auth;
        if self.attempts.get() > MAX_CREDENTIAL_ATTEMPTS || auth_class || source.code() == git2::ErrorCode::Auth {
            let username = match self.auth {
                GitAuth::UserPassword { username, .. } => username.clone(),
                GitAuth::SshKey { username, .. } => username.clone().unwrap_or_else(|| "git".into()),
                GitAuth::Anonymous => {
                    return GitError::NoCredentials { url: self.shown_url(), allowed: source.message().to_owned() };
                }
            };
            return GitError::AuthFailed { url: self.shown_url(), username };
        }
        GitError::Remote { action, url: self.shown_url(), source }
    }

    /// Clones `branch` into `dest` (which must not exist or be empty); `depth` makes it shallow.
    pub fn clone_branch(&self, branch: &str, dest: &Path, depth: Option<u32>) -> Result<Repository, GitError> {
        self.attempts.set(0);
        let mut builder = git2::build::RepoBuilder::new();
        builder.branch(branch).fetch_options(self.fetch_options(depth));
        builder.clone(self.url, dest).map_err(|e| self.error("clone of", e))
    }

    /// Fetches `refspecs` from the remote into `repo` (e.g. a reused clone); `depth` makes the
    /// fetch shallow. Refspecs naming refs the remote does not have are ignored by libgit2, so
    /// callers look the result up afterwards.
    pub fn fetch(&self, repo: &Repository, refspecs: &[&str], depth: Option<u32>) -> Result<(), GitError> {
        self.attempts.set(0);
        let mut remote = repo.remote_anonymous(self.url).map_err(|e| self.error("fetch from", e))?;
        let mut opts = self.fetch_options(depth);
        opts.download_tags(git2::AutotagOption::None);
        remote.fetch(refspecs, Some(&mut opts), None).map_err(|e| self.error("fetch from", e))
    }

    /// Pushes local `branch` to the same branch of the remote, only if the remote branch still
    /// points at `expected` (the commit the local work started from): a compare-and-swap, so a
    /// concurrent push is never overwritten. Anything else is a [`GitError::PushRejected`].
    ///
    /// Why not rely on the server: a bare repository accepts any update whose old value matches
    /// (`receive.denyNonFastForwards` is off by default), and libgit2 cannot check
    /// fast-forwardness itself when a shallow clone lacks the remote's new commits; it would
    /// then silently replace them.
    pub fn push_branch(&self, repo: &Repository, branch: &str, expected: git2::Oid) -> Result<(), GitError> {
        let remote_ref = format!("refs/heads/{branch}");
        let commit = repo.refname_to_id(&remote_ref).map_err(|source| GitError::Remote {
            action: "reading the branch to push in",
            url: repo.workdir().unwrap_or_else(|| repo.path()).display().to_string(),
            source,
        })?;
        self.push_leased(repo, &[push::LeasedUpdate { commit, remote_ref, expected }])
    }
}

/// Stages every change in the work tree of `repo` and commits it on HEAD. Returns the new
/// commit id, or `None` when the tree is unchanged (no empty commits).
pub fn commit_all(
    repo: &Repository,
    message: &str,
    author: &git2::Signature<'_>,
) -> Result<Option<git2::Oid>, GitError> {
    let Some((tree, parent)) = stage_all(repo)? else { return Ok(None) };
    repo.commit(Some("HEAD"), author, author, message, &tree, &[&parent]).map(Some).map_err(commit_error(repo))
}

/// Stages every change of the work tree (additions, edits, deletions) and returns the new tree
/// with HEAD's commit as its parent, or `None` when the tree is unchanged. Shared by plain and
/// signed commits.
pub(crate) fn stage_all(repo: &Repository) -> Result<Option<(git2::Tree<'_>, git2::Commit<'_>)>, GitError> {
    let err = commit_error(repo);
    let mut index = repo.index().map_err(&err)?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).map_err(&err)?;
    index.update_all(["*"], None).map_err(&err)?;
    index.write().map_err(&err)?;
    let tree_id = index.write_tree().map_err(&err)?;
    let parent = repo.head().and_then(|h| h.peel_to_commit()).map_err(&err)?;
    if parent.tree_id() == tree_id {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id).map_err(&err)?;
    Ok(Some((tree, parent)))
}

/// How a libgit2 failure while committing in `repo` is reported (naming the work tree).
pub(crate) fn commit_error(repo: &Repository) -> impl Fn(git2::Error) -> GitError {
    let shown = repo.workdir().unwrap_or_else(|| repo.path()).display().to_string();
    move |source| GitError::Remote { action: "committing in", url: shown.clone(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_table() {
        let cases = [
            ("https://user:p%40ss@git.example.com/v1/repos/x", "https://git.example.com/v1/repos/x"),
            ("https://git.example.com/a@b", "https://git.example.com/a@b"),
            ("ssh://git@host:2222/repo.git", "ssh://host:2222/repo.git"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            ("/local/path", "/local/path"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn ssh_host_port_table() {
        let cases = [
            ("ssh://git@127.0.0.1:2222/srv/repo.git", Some(("127.0.0.1", 2222))),
            (
                "ssh://git-codecommit.us-east-1.amazonaws.com/v1/repos/x",
                Some(("git-codecommit.us-east-1.amazonaws.com", 22)),
            ),
            ("ssh://user@[::1]:2200/r", Some(("::1", 2200))),
            ("git@github.com:org/repo.git", Some(("github.com", 22))),
            ("https://github.com/org/repo.git", None),
            ("/local/path", None),
        ];
        for (url, want) in cases {
            assert_eq!(ssh_host_port(url), want.map(|(h, p)| (h.to_owned(), p)), "{url}");
        }
    }

    #[test]
    fn secret_is_not_printed() {
        let auth = GitAuth::UserPassword { username: "u".into(), password: Secret::new("hunter2") };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn read_checkout_reports_branch_commit_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
        let tree = repo.find_tree(repo.index().unwrap().write_tree().unwrap()).unwrap();
        let first = repo.commit(Some("HEAD"), &sig, &sig, "one", &tree, &[]).unwrap();
        let parent = repo.find_commit(first).unwrap();
        let second = repo.commit(Some("HEAD"), &sig, &sig, "two", &tree, &[&parent]).unwrap();
        repo.set_head_detached(second).unwrap();
        let detached = read_checkout(dir.path()).unwrap();
        assert_eq!((detached.branch, detached.commit_count), (None, 2));
        assert_eq!(detached.commit, second.to_string());

        repo.branch("feature/X", &repo.find_commit(second).unwrap(), true).unwrap();
        repo.set_head("refs/heads/feature/X").unwrap();
        let on_branch = read_checkout(&dir.path().join(".")).unwrap();
        assert_eq!(on_branch.branch.as_deref(), Some("feature/X"));
    }

    #[test]
    fn read_checkout_outside_a_repository_fails_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_checkout(dir.path()).unwrap_err();
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    }
}
