//! `shipline update --git` against the real git server with a hostile repository: committed
//! symbolic links in `paths:`, in the walked tree and as the configuration file (class 1), and a
//! configuration that is an alias bomb (class 5). The server password is the sentinel: it must
//! never be printed (class 3).

use std::path::Path;
use std::sync::Once;

use shipline_core::git;
use shipline_e2e::{GitServer, SeededRepo, unique_name};

use super::{checksums, deployment, shipline};

fn server() -> GitServer {
    static TRUST: Once = Once::new();
    let server = GitServer::from_env();
    TRUST.call_once(|| git::trust_ca_file(&server.ca_file).expect("trust test CA"));
    server
}

const CONFIG: &str = "paths: [overlays/dev]\ncommit: {authorName: t, authorEmail: t@example.invalid}\npolicies:\n- name: apps:front\n  image: reg.example/front\n  policy: {semver: {range: '>=1.0.0'}}\n";

/// Seeds `name` with regular `files` and symbolic `links` (path, target) committed as links.
fn seed(server: &GitServer, files: &[(&str, &str)], links: &[(&str, &str)]) -> SeededRepo {
    let repo = server.seed_repo(&unique_name("adversarial"), files);
    let bare = git2::Repository::open_bare(&repo.path).expect("open bare");
    let main = bare.find_reference("refs/heads/main").and_then(|r| r.peel_to_commit()).expect("main");
    let mut tree = main.tree().expect("tree");
    for (path, target) in links {
        let blob = bare.blob(target.as_bytes()).expect("link blob");
        tree = insert(&bare, &tree, Path::new(path), blob);
    }
    let sig = git2::Signature::now("seed", "seed@example.invalid").unwrap();
    bare.commit(Some("refs/heads/main"), &sig, &sig, "links", &tree, &[&main]).expect("commit links");
    repo
}

/// `tree` with a symbolic link (mode 120000) at `path`, intermediate trees rebuilt.
fn insert<'r>(repo: &'r git2::Repository, tree: &git2::Tree<'r>, path: &Path, blob: git2::Oid) -> git2::Tree<'r> {
    let mut parts = path.iter();
    let first = parts.next().unwrap().to_str().unwrap();
    let rest: std::path::PathBuf = parts.collect();
    let mut builder = repo.treebuilder(Some(tree)).unwrap();
    if rest.as_os_str().is_empty() {
        builder.insert(first, blob, 0o120000).unwrap();
    } else {
        let sub = match tree.get_name(first) {
            Some(e) => repo.find_tree(e.id()).unwrap(),
            None => repo.find_tree(repo.treebuilder(None).unwrap().write().unwrap()).unwrap(),
        };
        let sub = insert(repo, &sub, &rest, blob);
        builder.insert(first, sub.id(), 0o040000).unwrap();
    }
    repo.find_tree(builder.write().unwrap()).unwrap()
}

fn update(server: &GitServer, repo: &SeededRepo) -> super::Run {
    let cwd = tempfile::tempdir().unwrap();
    let ca = server.ca_file.display().to_string();
    shipline(
        cwd.path(),
        &[
            "update",
            "--git",
            &repo.https_url,
            "--git-username",
            &server.user,
            "--ca-file",
            &ca,
            "--candidate",
            "reg.example/front:2.0.0",
        ],
        &[("SHIPLINE_GIT_PASSWORD", &server.password), ("SHIPLINE_LOG", "debug")],
    )
}

#[test]
fn links_in_a_repository_never_lead_outside_the_clone_and_nothing_is_pushed() {
    let server = server();
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("dev")).unwrap();
    std::fs::write(host.path().join("dev/host.yaml"), deployment("front", "1.0.0")).unwrap();
    std::fs::write(host.path().join("secret.yaml"), deployment("front", "1.0.0")).unwrap();
    let host_dev = host.path().join("dev").display().to_string();
    let host_file = host.path().join("secret.yaml").display().to_string();
    let host_before = checksums(host.path());
    let config_via_link = CONFIG.replace("overlays/dev", "overlays/link/dev");
    // (what, files, links, the path the message must name)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        // paths: names a directory link to an absolute path.
        (
            "dir link in paths",
            vec![("shipline.yaml", CONFIG)],
            vec![("overlays/dev", host_dev.as_str())],
            "overlays/dev",
        ),
        // The configuration file itself is a link to a host file.
        (
            "config link",
            vec![("overlays/dev/a.yaml", "a: 1\n")],
            vec![("shipline.yaml", host_file.as_str())],
            "shipline.yaml",
        ),
        // A directory on the way to paths: is a link.
        (
            "link on the way",
            vec![("shipline.yaml", config_via_link.as_str())],
            vec![("overlays/link", host.path().to_str().unwrap())],
            "overlays/link",
        ),
    ];
    for (what, files, links, named) in cases {
        let repo = seed(&server, &files, &links);
        let commits = repo.commits_on_main();
        let run = update(&server, &repo);
        assert_eq!(run.code, Some(1), "{what}: {run:?}");
        assert!(run.stderr.contains(named) && run.stderr.contains("symbolic link"), "{what}: {}", run.stderr);
        assert_eq!(repo.commits_on_main(), commits, "{what}: nothing pushed");
        assert_eq!(checksums(host.path()), host_before, "{what}: host files untouched");
        assert!(!run.all_output().contains(&server.password), "{what}: the git password was printed");
    }

    // A file link inside the walked tree is skipped with a warning; the regular file beside it is
    // updated and pushed (the positive control), and the link's target content is never committed.
    let repo = seed(
        &server,
        &[("shipline.yaml", CONFIG), ("overlays/dev/real.yaml", &deployment("front", "1.0.0"))],
        &[("overlays/dev/link.yaml", host_file.as_str())],
    );
    let commits = repo.commits_on_main();
    let run = update(&server, &repo);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("link.yaml: skipped, a symbolic link"), "{}", run.stderr);
    assert_eq!(repo.commits_on_main(), commits + 1, "the regular file's update was pushed");
    assert_eq!(repo.file_on_main("overlays/dev/real.yaml").unwrap(), deployment("front", "2.0.0"));
    assert_eq!(repo.file_on_main("overlays/dev/link.yaml").unwrap(), host_file, "still a link, to the same target");
    assert_eq!(checksums(host.path()), host_before);
    assert!(!run.all_output().contains(&server.password));
}

#[test]
fn an_alias_bomb_configuration_is_refused_in_bounded_memory() {
    let server = server();
    let mut bomb = format!("{CONFIG}big: &x {}\nmany:\n", "y".repeat(10_000));
    for _ in 0..160_000 {
        bomb.push_str("- *x\n");
    }
    let repo = seed(&server, &[("shipline.yaml", &bomb), ("overlays/dev/a.yaml", &deployment("front", "1.0.0"))], &[]);
    let commits = repo.commits_on_main();
    let run = update(&server, &repo);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("shipline.yaml") && run.stderr.contains("past 16777216 bytes"), "{}", run.stderr);
    assert!(run.max_rss_kib < 256 * 1024, "peak RSS {} KiB, bound 256 MiB", run.max_rss_kib);
    assert_eq!(repo.commits_on_main(), commits);
    // Positive control: the same repository without the bomb is updated.
    let repo = seed(&server, &[("shipline.yaml", CONFIG), ("overlays/dev/a.yaml", &deployment("front", "1.0.0"))], &[]);
    let run = update(&server, &repo);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(repo.file_on_main("overlays/dev/a.yaml").unwrap(), deployment("front", "2.0.0"));
}
