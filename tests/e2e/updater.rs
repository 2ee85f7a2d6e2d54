//! The overlay updater against the real git server: concurrent updates all land, duplicates
//! make one commit, older builds change nothing, bad credentials push nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Once};

use shipline_core::git::{self, GitAuth, GitError};
use shipline_core::image::Candidate;
use shipline_core::secret::Secret;
use shipline_core::update::updater::{self, UpdateError, UpdateRequest};
use shipline_e2e::{GitServer, SeededRepo, unique_name};

const SERVICES: usize = 20;

fn server() -> GitServer {
    static TRUST: Once = Once::new();
    let server = GitServer::from_env();
    TRUST.call_once(|| git::trust_ca_file(&server.ca_file).expect("trust test CA"));
    server
}

fn deployment(n: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{n}\n\n# pinned by shipline\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: reg/svc-{n}:main-0000000-1 # {{\"$imagepolicy\": \"apps:svc-{n}\"}}\n"
    )
}

/// A microservices repo: SERVICES deployments with markers, a shipline.yaml with one
/// branch-commit-build policy each.
fn seed(server: &GitServer, name: &str) -> SeededRepo {
    let mut config = String::from(
        "paths: [overlays/dev]\ncommit: {authorName: shipline-test, authorEmail: t@example.invalid}\npolicies:\n",
    );
    let mut files: Vec<(String, String)> = Vec::new();
    for n in 0..SERVICES {
        config.push_str(&format!(
            "- name: apps:svc-{n}\n  image: reg/svc-{n}\n  policy: {{branchCommitBuild: {{branch: main}}}}\n"
        ));
        files.push((format!("overlays/dev/svc-{n}.yaml"), deployment(n)));
    }
    files.push(("shipline.yaml".into(), config));
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    server.seed_repo(name, &refs)
}

fn request(url: &str, auth: GitAuth, image: &str) -> UpdateRequest {
    let (repo, tag) = image.rsplit_once(':').unwrap();
    UpdateRequest {
        url: url.to_owned(),
        auth,
        branch: None,
        config_path: "shipline.yaml".into(),
        candidates: BTreeMap::from([(repo.to_owned(), vec![Candidate { tag: tag.to_owned(), digest: None }])]),
        trailers: vec![("Image-Source".into(), "e2e".into())],
        dry_run: false,
        author: None,
        write: Default::default(),
    }
}

fn https_auth(server: &GitServer) -> GitAuth {
    GitAuth::UserPassword { username: server.user.clone(), password: Secret::new(server.password.clone()) }
}

fn image_line(repo: &SeededRepo, n: usize) -> String {
    let file = repo.file_on_main(&format!("overlays/dev/svc-{n}.yaml")).expect("file on main");
    file.lines().find(|l| l.contains("image:")).unwrap().trim().to_owned()
}

#[test]
fn concurrent_updates_of_different_images_all_land_over_https() {
    let server = server();
    let repo = seed(&server, &unique_name("upd-concurrent"));
    let barrier = Arc::new(Barrier::new(SERVICES));
    let handles: Vec<_> = (0..SERVICES)
        .map(|n| {
            let (barrier, url, auth) = (barrier.clone(), repo.https_url.clone(), https_auth(&server));
            std::thread::spawn(move || {
                barrier.wait();
                updater::run(&request(&url, auth, &format!("reg/svc-{n}:main-abcdef{}-2", n % 10)), None)
            })
        })
        .collect();
    let mut attempts = 0;
    for (n, h) in handles.into_iter().enumerate() {
        let outcome = h.join().unwrap().unwrap_or_else(|e| panic!("update {n}: {e}"));
        assert!(outcome.commit.is_some(), "update {n} pushed a commit");
        attempts += outcome.attempts;
    }
    for n in 0..SERVICES {
        assert_eq!(
            image_line(&repo, n),
            format!("image: reg/svc-{n}:main-abcdef{}-2 # {{\"$imagepolicy\": \"apps:svc-{n}\"}}", n % 10),
            "no lost update for svc-{n}"
        );
    }
    assert_eq!(repo.commits_on_main(), SERVICES + 1, "one commit per update");
    assert!(attempts > SERVICES as u32, "the pushes really raced (attempts: {attempts})");
}

#[test]
fn duplicate_events_make_one_commit_over_ssh() {
    let server = server();
    let repo = seed(&server, &unique_name("upd-duplicate"));
    let auth = GitAuth::SshKey {
        username: None,
        private_key: server.ssh_key.clone(),
        known_hosts: server.known_hosts.clone(),
    };
    let barrier = Arc::new(Barrier::new(SERVICES));
    let handles: Vec<_> = (0..SERVICES)
        .map(|_| {
            let (barrier, url, auth) = (barrier.clone(), repo.ssh_url.clone(), auth.clone());
            std::thread::spawn(move || {
                barrier.wait();
                updater::run(&request(&url, auth, "reg/svc-3:main-1f49071-7"), None)
            })
        })
        .collect();
    let pushed = handles.into_iter().map(|h| h.join().unwrap().expect("update")).filter(|o| o.commit.is_some()).count();
    assert_eq!(pushed, 1, "exactly one of the duplicates pushes");
    assert_eq!(repo.commits_on_main(), 2);
    assert!(image_line(&repo, 3).starts_with("image: reg/svc-3:main-1f49071-7 #"));
}

#[test]
fn an_older_build_changes_nothing_and_a_newer_one_does() {
    let server = server();
    let repo = seed(&server, &unique_name("upd-order"));
    let run = |image: &str| updater::run(&request(&repo.https_url, https_auth(&server), image), None).expect("update");
    assert!(run("reg/svc-1:main-1f49071-24").commit.is_some());
    let late = run("reg/svc-1:main-abcdef0-23");
    assert_eq!(late.commit, None, "late event for an older build");
    assert!(!late.changed());
    let skipped: Vec<String> =
        late.files.iter().flat_map(|f| f.edit.skipped.iter().map(|s| s.reason.clone())).collect();
    assert!(skipped.iter().any(|r| r.contains("not downgrading")), "{skipped:?}");
    assert!(image_line(&repo, 1).contains("main-1f49071-24"));
    let other_branch = run("reg/svc-1:feature-x-abcdef0-99");
    assert_eq!(other_branch.commit, None, "the policy only takes main");
    let mut newer = request(&repo.https_url, https_auth(&server), "reg/svc-1:main-abcdef0-25");
    newer.author = Some(("deploy-bot".into(), "deploy-bot@example.invalid".into()));
    assert!(updater::run(&newer, None).expect("update").commit.is_some());
    assert!(image_line(&repo, 1).contains("main-abcdef0-25"));
    assert_eq!(repo.commits_on_main(), 3);

    // The commit message lists the change and carries the trailer.
    let bare = git2::Repository::open_bare(&repo.path).unwrap();
    let head = bare.find_reference("refs/heads/main").unwrap().peel_to_commit().unwrap();
    let message = head.message().unwrap();
    assert!(message.starts_with("Update images: reg/svc-1:main-abcdef0-25\n"), "{message}");
    assert!(
        message.contains("overlays/dev/svc-1.yaml: reg/svc-1:main-1f49071-24 -> reg/svc-1:main-abcdef0-25"),
        "{message}"
    );
    assert!(message.contains("\nImage-Source: e2e\n"), "{message}");
    assert_eq!(head.author().name().ok(), Some("deploy-bot"), "the request's author overrides the configuration's");
    let first = head.parent(0).unwrap();
    assert_eq!(first.author().name().ok(), Some("shipline-test"), "otherwise the configuration's author");
}

#[test]
fn wrong_password_fails_fast_and_pushes_nothing() {
    let server = server();
    let repo = seed(&server, &unique_name("upd-badpass"));
    let auth = GitAuth::UserPassword { username: server.user.clone(), password: Secret::new("wrong") };
    let err = updater::run(&request(&repo.https_url, auth, "reg/svc-1:main-1f49071-24"), None).unwrap_err();
    assert!(matches!(err, UpdateError::Git(GitError::AuthFailed { .. })), "{err}");
    assert!(!err.is_transient(), "bad credentials are not retried");
    assert!(!err.to_string().contains("wrong"), "no password in the message: {err}");
    assert_eq!(repo.commits_on_main(), 1);
}

#[test]
fn dry_run_plans_without_pushing() {
    let server = server();
    let repo = seed(&server, &unique_name("upd-dry"));
    let mut req = request(&repo.https_url, https_auth(&server), "reg/svc-2:main-1f49071-5");
    req.dry_run = true;
    let outcome = updater::run(&req, None).expect("dry run");
    assert!(outcome.changed() && outcome.commit.is_none());
    assert_eq!(outcome.chosen["apps:svc-2"], "reg/svc-2:main-1f49071-5");
    assert_eq!(repo.commits_on_main(), 1);
}
