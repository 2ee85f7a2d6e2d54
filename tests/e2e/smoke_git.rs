//! The git server: clone, commit and push through shipline's git layer over HTTPS (basic auth,
//! private CA) and SSH (key auth, pinned host key); wrong credentials and unknown host keys are
//! refused.

use std::sync::Once;

use shipline_core::git::{self, GitAuth, GitError, Remote};
use shipline_core::secret::Secret;
use shipline_e2e::{GitServer, unique_name};

fn server() -> GitServer {
    static TRUST: Once = Once::new();
    let server = GitServer::from_env();
    TRUST.call_once(|| git::trust_ca_file(&server.ca_file).expect("trust test CA"));
    server
}

fn https_auth(server: &GitServer) -> GitAuth {
    GitAuth::UserPassword { username: server.user.clone(), password: Secret::new(server.password.clone()) }
}

fn ssh_auth(server: &GitServer) -> GitAuth {
    GitAuth::SshKey { username: None, private_key: server.ssh_key.clone(), known_hosts: server.known_hosts.clone() }
}

/// Clones `url`, writes `file`, commits and pushes; returns the pushed commit id.
fn clone_commit_push(url: &str, auth: &GitAuth, file: &str, content: &str) -> git2::Oid {
    let work = tempfile::tempdir().unwrap();
    let remote = Remote::new(url, auth);
    let repo = remote.clone_branch("main", work.path(), Some(1)).unwrap_or_else(|e| panic!("clone {url}: {e}"));
    assert!(work.path().join("README.md").exists(), "seeded file checked out");
    std::fs::write(work.path().join(file), content).unwrap();
    let sig = git2::Signature::now("shipline-test", "test@example.invalid").unwrap();
    let base = repo.head().unwrap().peel_to_commit().unwrap().id();
    let commit = git::commit_all(&repo, "smoke", &sig).unwrap().expect("a change to commit");
    assert_eq!(git::commit_all(&repo, "again", &sig).unwrap(), None, "no empty commits");
    remote.push_branch(&repo, "main", base).unwrap_or_else(|e| panic!("push {url}: {e}"));
    commit
}

#[test]
fn https_clone_commit_push() {
    let server = server();
    let seeded = server.seed_repo(&unique_name("smoke-https"), &[("README.md", "seed\n")]);
    let commit = clone_commit_push(&seeded.https_url, &https_auth(&server), "pushed.txt", "over https\n");
    assert_eq!(seeded.file_on_main("pushed.txt").as_deref(), Some("over https\n"));
    assert_eq!(seeded.commits_on_main(), 2);
    let tip = git2::Repository::open_bare(&seeded.path).unwrap().refname_to_id("refs/heads/main").unwrap();
    assert_eq!(tip, commit);
}

#[test]
fn ssh_clone_commit_push() {
    let server = server();
    let seeded = server.seed_repo(&unique_name("smoke-ssh"), &[("README.md", "seed\n")]);
    clone_commit_push(&seeded.ssh_url, &ssh_auth(&server), "pushed.txt", "over ssh\n");
    assert_eq!(seeded.file_on_main("pushed.txt").as_deref(), Some("over ssh\n"));
}

#[test]
fn wrong_password_fails_with_a_clear_error() {
    let server = server();
    let seeded = server.seed_repo(&unique_name("smoke-badpass"), &[("README.md", "seed\n")]);
    let auth = GitAuth::UserPassword { username: server.user.clone(), password: Secret::new("not-the-password") };
    let work = tempfile::tempdir().unwrap();
    let err = Remote::new(&seeded.https_url, &auth)
        .clone_branch("main", work.path(), Some(1))
        .err()
        .expect("clone must fail");
    assert!(matches!(err, GitError::AuthFailed { .. }), "expected AuthFailed, got {err}");
    let msg = err.to_string();
    assert!(msg.contains(&server.user) && !msg.contains("not-the-password"), "{msg}");
}

#[test]
fn unknown_ssh_host_key_is_refused() {
    let server = server();
    let seeded = server.seed_repo(&unique_name("smoke-hostkey"), &[("README.md", "seed\n")]);
    let empty = tempfile::NamedTempFile::new().unwrap();
    let auth =
        GitAuth::SshKey { username: None, private_key: server.ssh_key.clone(), known_hosts: empty.path().to_owned() };
    let work = tempfile::tempdir().unwrap();
    let err =
        Remote::new(&seeded.ssh_url, &auth).clone_branch("main", work.path(), Some(1)).err().expect("clone must fail");
    assert!(
        matches!(err, GitError::HostKey { status: "unknown", .. }),
        "expected an unknown host key error, got {err}"
    );
}

/// A push from a stale clone is refused, never a silent overwrite: bare repositories accept any
/// update whose old value matches, and a shallow clone cannot check fast-forwardness itself.
#[test]
fn stale_push_is_rejected_not_forced() {
    let server = server();
    let seeded = server.seed_repo(&unique_name("smoke-stale"), &[("README.md", "seed\n")]);
    for (url, auth) in [(seeded.ssh_url.clone(), ssh_auth(&server)), (seeded.https_url.clone(), https_auth(&server))] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let remote = Remote::new(&url, &auth);
        let repo_a = remote.clone_branch("main", a.path(), Some(1)).unwrap();
        let repo_b = remote.clone_branch("main", b.path(), Some(1)).unwrap();
        let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
        let base_a = repo_a.head().unwrap().peel_to_commit().unwrap().id();
        let base_b = repo_b.head().unwrap().peel_to_commit().unwrap().id();
        std::fs::write(a.path().join("a.txt"), format!("a over {url}\n")).unwrap();
        std::fs::write(b.path().join("b.txt"), format!("b over {url}\n")).unwrap();
        let commit_a = git::commit_all(&repo_a, "a", &sig).unwrap().unwrap();
        git::commit_all(&repo_b, "b", &sig).unwrap().unwrap();
        remote.push_branch(&repo_a, "main", base_a).unwrap();
        let err = remote.push_branch(&repo_b, "main", base_b).unwrap_err();
        assert!(matches!(err, GitError::PushRejected { .. }), "{url}: {err}");
        let tip = git2::Repository::open_bare(&seeded.path).unwrap().refname_to_id("refs/heads/main").unwrap();
        assert_eq!(tip, commit_a, "{url}: the first push survives");
    }
}
