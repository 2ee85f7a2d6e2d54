//! Signed commits against the real git server, verified by git itself (`git verify-commit`,
//! which runs `ssh-keygen -Y verify` for SSH signatures and gpg for OpenPGP ones).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Once;

use shipline_core::git::{self, GitAuth, SigningKey};
use shipline_core::image::Candidate;
use shipline_core::secret::Secret;
use shipline_core::update::updater::{self, UpdateRequest, WriteOptions};
use shipline_e2e::{GitServer, SeededRepo, service_env, unique_name};

const EMAIL: &str = "signer@example.invalid";

fn server() -> GitServer {
    static TRUST: Once = Once::new();
    let server = GitServer::from_env();
    TRUST.call_once(|| git::trust_ca_file(&server.ca_file).expect("trust test CA"));
    server
}

fn seed(server: &GitServer, prefix: &str) -> SeededRepo {
    let config = format!(
        "commit: {{authorName: signer, authorEmail: {EMAIL}}}\npolicies:\n- {{name: 'apps:a', image: reg.example/a, policy: {{semver: {{range: '>=1.0.0'}}}}}}\n"
    );
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: reg.example/a:1.0.0 # {\"$imagepolicy\": \"apps:a\"}\n";
    server.seed_repo(&unique_name(prefix), &[("shipline.yaml", config.as_str()), ("apps/a.yaml", deployment)])
}

fn request(server: &GitServer, repo: &SeededRepo, tag: &str, key: SigningKey) -> UpdateRequest {
    UpdateRequest {
        url: repo.https_url.clone(),
        auth: GitAuth::UserPassword { username: server.user.clone(), password: Secret::new(server.password.clone()) },
        branch: None,
        config_path: "shipline.yaml".into(),
        candidates: BTreeMap::from([("reg.example/a".to_owned(), vec![Candidate { tag: tag.into(), digest: None }])]),
        trailers: Vec::new(),
        dry_run: false,
        author: None,
        write: WriteOptions { signing_key: Some(key), ..WriteOptions::default() },
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (install openssh-client, gnupg, git)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git verify-commit` in the server's bare repository; returns success and git's report.
fn verify(repo: &SeededRepo, commit: &str, config: &[&str], gnupg_home: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new("git");
    for c in config {
        cmd.args(["-c", c]);
    }
    cmd.arg("-C").arg(&repo.path).args(["verify-commit", "--raw", commit]);
    if let Some(home) = gnupg_home {
        cmd.env("GNUPGHOME", home);
    }
    let out = cmd.output().expect("git verify-commit");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn ssh_signed_commits_verify_with_git() {
    let server = server();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("id_ed25519");
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", EMAIL, "-f"]).arg(&key_file));
    let public = std::fs::read_to_string(keys.path().join("id_ed25519.pub")).unwrap();
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("{EMAIL} {public}")).unwrap();
    let allowed_cfg = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let ssh_cfg = ["gpg.format=ssh", allowed_cfg.as_str()];

    // Through the library, with the key parsed as the Lambda does.
    let repo = seed(&server, "sign-ssh");
    let text = std::fs::read_to_string(&key_file).unwrap();
    let key = SigningKey::parse(&text, "test key", None).expect("parse key");
    let commit = updater::run(&request(&server, &repo, "1.1.0", key), None).unwrap().commit.expect("commit");
    let (ok, report) = verify(&repo, &commit, &ssh_cfg, None);
    assert!(ok && report.contains("Good \"git\" signature"), "{report}");

    // The seed commit is unsigned: the same check fails on it.
    let bare = git2::Repository::open_bare(&repo.path).unwrap();
    let seed_commit = bare.find_commit(git2::Oid::from_str(&commit).unwrap()).unwrap().parent_id(0).unwrap();
    assert!(!verify(&repo, &seed_commit.to_string(), &ssh_cfg, None).0);

    // Through the CLI, with the key in a file.
    let out = Command::new(service_env("SHIPLINE_BIN"))
        .args(["update", "--git", &repo.https_url, "--git-username", &server.user, "--ca-file"])
        .arg(&server.ca_file)
        .args(["--candidate", "reg.example/a:1.2.0", "--json", "--signing-key"])
        .arg(&key_file)
        .env("SHIPLINE_GIT_PASSWORD", &server.password)
        .output()
        .expect("run shipline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("PRIVATE KEY") && !String::from_utf8_lossy(&out.stderr).contains("PRIVATE KEY"));
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    let cli_commit = json["commit"].as_str().expect("commit");
    let (ok, report) = verify(&repo, cli_commit, &ssh_cfg, None);
    assert!(ok, "{report}");

    // A bad key file: a clear error naming the flag, nothing pushed.
    let bad = keys.path().join("bad");
    std::fs::write(&bad, "not a key").unwrap();
    let out = Command::new(service_env("SHIPLINE_BIN"))
        .args(["update", "--git", &repo.https_url, "--candidate", "reg.example/a:1.3.0", "--signing-key"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--signing-key") && stderr.contains("expected an OpenSSH private key"), "{stderr}");
}

#[test]
fn gpg_signed_commits_from_a_flux_signing_secret_verify_with_git() {
    let server = server();
    let home = tempfile::Builder::new().prefix("gpg-").tempdir_in("/tmp").unwrap();
    let gpg = || {
        let mut cmd = Command::new("gpg");
        cmd.args(["--batch", "--no-tty", "--homedir"]).arg(home.path());
        cmd.args(["--pinentry-mode", "loopback", "--passphrase", "s3cret"]);
        cmd
    };
    run(gpg().args(["--quick-gen-key", &format!("Signer <{EMAIL}>"), "ed25519", "sign", "never"]));
    let armored = run(gpg().args(["--armor", "--export-secret-keys", EMAIL]));
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // Flux's signingKey Secret, as `flux create secret git --gpg-key` writes it.
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: signing-key, namespace: flux-system}}\ntype: Opaque\ndata:\n  git.asc: {}\n  passphrase: {}\n",
        b64(&armored),
        b64("s3cret")
    );
    let key = SigningKey::parse(&secret, "signing-key.yaml", None).expect("parse Flux secret");

    let repo = seed(&server, "sign-gpg");
    let commit = updater::run(&request(&server, &repo, "1.1.0", key), None).unwrap().commit.expect("commit");
    let (ok, report) = verify(&repo, &commit, &[], Some(home.path()));
    assert!(ok && report.contains("GOODSIG"), "{report}");

    // A wrong passphrase is an error before anything is pushed.
    let wrong = SigningKey::parse(&armored, "key.asc", Some(Secret::new("wrong"))).unwrap();
    let err = updater::run(&request(&server, &repo, "1.2.0", wrong), None).unwrap_err();
    assert!(err.to_string().contains("signing the commit"), "{err}");
    assert!(!err.to_string().contains("wrong") && !err.to_string().contains("PRIVATE"), "{err}");
    assert_eq!(repo.commits_on_main(), 2, "nothing pushed after the failure");
    let _ = Command::new("gpgconf").arg("--homedir").arg(home.path()).args(["--kill", "gpg-agent"]).output();
}
