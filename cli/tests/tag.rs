//! `shipline tag` as a user runs it: the real binary, flags, CodeBuild variables and a real git
//! checkout.

use std::path::Path;
use std::process::{Command, Output};

const SHA: &str = "1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b";

/// Runs `shipline tag ARGS` in `dir` with exactly the CodeBuild variables given.
fn shipline_tag(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipline"));
    cmd.arg("tag").args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CODEBUILD_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run shipline")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "shipline failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A repository with `commits` empty commits, HEAD on `branch` (or detached when `None`).
fn repo_with(dir: &Path, branch: Option<&str>, commits: usize) -> git2::Oid {
    let repo = git2::Repository::init(dir).unwrap();
    let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
    let tree = repo.find_tree(repo.index().unwrap().write_tree().unwrap()).unwrap();
    let mut parent: Option<git2::Oid> = None;
    for i in 0..commits {
        let parents: Vec<git2::Commit> = parent.map(|p| repo.find_commit(p).unwrap()).into_iter().collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        parent = Some(repo.commit(None, &sig, &sig, &format!("c{i}"), &tree, &refs).unwrap());
    }
    let head = parent.unwrap();
    match branch {
        Some(name) => {
            repo.branch(name, &repo.find_commit(head).unwrap(), true).unwrap();
            repo.set_head(&format!("refs/heads/{name}")).unwrap();
        }
        None => repo.set_head_detached(head).unwrap(),
    }
    head
}

#[test]
fn flags_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipline_tag(dir.path(), &["--branch", "feature/Login-Page", "--commit", SHA, "--build", "24"], &[]);
    assert_eq!(stdout(&out), "feature-login-page-1f49071-24\n");
}

#[test]
fn json_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipline_tag(dir.path(), &["--json", "--branch", "release/2.0", "--commit", SHA, "--build", "3"], &[]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["tag"], "release-2.0-1f49071-3");
    assert_eq!(json["branch"], "release-2.0");
    assert_eq!(json["commit"], "1f49071");
    assert_eq!(json["build"], 3);
    assert_eq!(json["origins"]["build"], "flag");
}

#[test]
fn codebuild_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/main"),
        ("CODEBUILD_RESOLVED_SOURCE_VERSION", SHA),
        ("CODEBUILD_BUILD_NUMBER", "24"),
    ];
    assert_eq!(stdout(&shipline_tag(dir.path(), &[], &env)), "main-1f49071-24\n");
}

#[test]
fn local_checkout_fills_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let head = repo_with(dir.path(), Some("feature/X"), 3);
    let want = format!("feature-x-{}-3\n", &head.to_string()[..7]);
    assert_eq!(stdout(&shipline_tag(dir.path(), &[], &[])), want);
    // The build number from CodeBuild overrides the commit count; the rest still comes from git.
    let want = format!("feature-x-{}-99\n", &head.to_string()[..7]);
    assert_eq!(stdout(&shipline_tag(dir.path(), &[], &[("CODEBUILD_BUILD_NUMBER", "99")])), want);
}

#[test]
fn detached_head_is_an_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    repo_with(dir.path(), None, 1);
    let out = shipline_tag(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("detached HEAD") && err.contains("--branch"), "{err}");
    assert!(out.stdout.is_empty());
    // With the branch given, the same checkout works.
    assert!(shipline_tag(dir.path(), &["--branch", "main"], &[]).status.success());
}

#[test]
fn bad_values_fail_and_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    // (arguments, CodeBuild environment, expected error text)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["--branch", "main", "--commit", "xyz1234", "--build", "1"],
            &[],
            "--commit: commit \"xyz1234\" is not a git SHA",
        ),
        (
            &["--branch", "main", "--commit", SHA, "--build", "0"],
            &[],
            "--build: build number \"0\" is not a positive integer",
        ),
        (
            &["--branch", "main", "--commit", SHA],
            &[("CODEBUILD_BUILD_NUMBER", "abc")],
            "CODEBUILD_BUILD_NUMBER: build number \"abc\"",
        ),
        (&["--branch", "main"], &[], "no commit and build number"),
    ];
    for (args, env, want) in cases {
        let out = shipline_tag(dir.path(), args, env);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}
