//! What the CLI prints: classes 3 (no credential in any output), 4 (names checked before any
//! I/O), 6 (closed or full stdout, `--json` everywhere, terminal-safe text, no colours in a
//! piped log).

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use shipline_e2e::service_env;

use super::{SENTINEL, deployment, shipline};

/// A tree with one marked file and a `docker save` archive, for commands that need inputs.
fn inputs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deploy.yaml"), deployment("front", "v1")).unwrap();
    shipline_e2e::oci::docker_archive(&dir.path().join("app.tar"), 7, 1, 1024);
    std::fs::create_dir(dir.path().join("kust")).unwrap();
    std::fs::write(dir.path().join("kust/kustomization.yaml"), "resources:\n- deploy.yaml\n").unwrap();
    std::fs::write(dir.path().join("kust/deploy.yaml"), deployment("front", "v1")).unwrap();
    dir
}

/// Commands that print something on success, none of which contacts a service.
fn printing_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["tag", "--branch", "main", "--commit", "1f49071c2e", "--build", "24", "--no-lookup"],
        vec!["tag", "--branch", "main", "--commit", "1f49071c2e", "--build", "24", "--no-lookup", "--json"],
        vec!["update", "--dry-run", "--set", "apps:front=reg.example/front:v2", "deploy.yaml"],
        vec!["update", "--dry-run", "--json", "--set", "apps:front=reg.example/front:v2", "deploy.yaml"],
        vec!["push", "--dry-run", "--docker-archive", "app.tar", "--repository", "127.0.0.1:1/app", "--tag", "v1"],
        vec![
            "push",
            "--dry-run",
            "--json",
            "--docker-archive",
            "app.tar",
            "--repository",
            "127.0.0.1:1/app",
            "--tag",
            "v1",
        ],
        vec!["retag", "--dry-run", "--repository", "front-end", "--tag", "a", "--new-tag", "b"],
        vec!["retag", "--dry-run", "--json", "--repository", "front-end", "--tag", "a", "--new-tag", "b"],
        vec!["build", "kust"],
        vec!["build", "--json", "kust"],
    ]
}

#[test]
fn a_full_stdout_is_a_one_line_error_and_a_closed_pipe_ends_quietly() {
    let dir = inputs();
    let bin = service_env("SHIPLINE_BIN");
    for args in printing_commands() {
        // Positive control: the command prints when stdout works.
        let ok = shipline(dir.path(), &args, &[]);
        assert_eq!(ok.code, Some(0), "{args:?}: {ok:?}");
        assert!(!ok.stdout.is_empty(), "{args:?} prints something");

        let full = Command::new(&bin)
            .args(&args)
            .current_dir(dir.path())
            .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&full.stderr);
        assert_eq!(full.status.code(), Some(1), "{args:?} > /dev/full: {stderr}");
        assert_eq!(stderr, "error: writing to stdout: No space left on device (os error 28)\n", "{args:?}");

        // A pipe whose reader is already gone: the first write gets EPIPE, deterministically.
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors pipe writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just created and are owned here.
        let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(reader);
        let closed = Command::new(&bin)
            .args(&args)
            .current_dir(dir.path())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&closed.stderr);
        assert_eq!(closed.status.code(), Some(0), "{args:?} | (closed): {stderr}");
        assert!(stderr.is_empty(), "{args:?}: a closed pipe ends quietly: {stderr}");
    }
}

#[test]
fn json_is_honoured_by_every_command_including_dry_runs() {
    let dir = inputs();
    for args in printing_commands().into_iter().filter(|a| a.contains(&"--json")) {
        let run = shipline(dir.path(), &args, &[]);
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        let value: serde_json::Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", run.stdout));
        assert!(value.is_object() || value.is_array(), "{args:?}: {value}");
    }
}

#[test]
fn no_credential_reaches_any_output() {
    let dir = inputs();
    let with_password = format!("https://ci:{SENTINEL}@127.0.0.1:1/app");
    let env = [
        ("SHIPLINE_GIT_PASSWORD", SENTINEL),
        ("SHIPLINE_REGISTRY_PASSWORD", SENTINEL),
        ("SHIPLINE_LOG", "trace"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SENTINEL),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("KUBECONFIG", "/nonexistent/kubeconfig"),
    ];
    let git_url = format!("https://ci:{SENTINEL}@127.0.0.1:1/v1/repos/x");
    let endpoint = format!("http://u:{SENTINEL}@127.0.0.1:1");
    let cases: Vec<Vec<&str>> = vec![
        vec!["push", "--dry-run", "--docker-archive", "app.tar", "--repository", &with_password, "--tag", "v1"],
        vec!["push", "--docker-archive", "app.tar", "--repository", &with_password, "--tag", "v1", "--json"],
        vec![
            "push",
            "--docker-archive",
            "app.tar",
            "--repository",
            "127.0.0.1:1/app",
            "--tag",
            "v1",
            "--username",
            "u",
            "--registry-endpoint",
            &endpoint,
        ],
        vec!["retag", "--dry-run", "--repository", &with_password, "--tag", "a", "--new-tag", "b"],
        vec!["retag", "--dry-run", "--json", "--repository", &with_password, "--tag", "a", "--new-tag", "b"],
        vec!["retag", "--repository", "front-end", "--tag", "a", "--new-tag", "b"],
        vec!["update", "--git", &git_url, "--candidate", "reg.example/front:v2"],
        vec!["update", "--git", &git_url, "--candidate", "reg.example/front:v2", "--dry-run", "--json"],
        vec![
            "update",
            "--git",
            "https://127.0.0.1:1/v1/repos/x",
            "--git-username",
            "ci",
            "--candidate",
            "reg.example/front:v2",
        ],
        vec!["reconcile", "--once", "--dry-run", "--git", &git_url, "--path", "."],
    ];
    for args in &cases {
        let run = shipline(dir.path(), args, &env);
        assert_ne!(run.code, Some(0), "{args:?} cannot succeed against 127.0.0.1:1: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        assert!(!run.all_output().contains(SENTINEL), "{args:?} printed the sentinel:\n{}", run.all_output());
    }
    // Positive control: the sentinel is in the arguments the binary saw, and output does reach us
    // (the redacted form of the URL is shown).
    let run = shipline(dir.path(), &cases[0], &env);
    assert!(run.stderr.contains("credentials"), "{}", run.stderr);
    let run = shipline(dir.path(), &["update", "--git", &git_url, "--candidate", "reg.example/front:v2"], &env);
    assert!(run.stderr.contains("127.0.0.1:1"), "the URL is shown, redacted: {}", run.stderr);
}

#[test]
fn invalid_names_and_trailers_are_refused_before_any_io() {
    let dir = inputs();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["update", "--dry-run", "--set", "apps:front=Reg/App:v1", "deploy.yaml"], "Reg/App:v1"),
        (vec!["update", "--dry-run", "--set", "apps:front=reg//app:v1", "deploy.yaml"], "reg//app:v1"),
        (vec!["update", "--dry-run", "--image", "front=rég/app:v1", "deploy.yaml"], "rég/app:v1"),
        (vec!["push", "--docker-archive", "app.tar", "--repository", "127.0.0.1:1/app", "--tag=-bad"], "-bad"),
        (vec!["push", "--docker-archive", "app.tar", "--repository", "127.0.0.1:1/App", "--tag", "v1"], "App"),
        (vec!["retag", "--repository", "front-end", "--tag", "a", "--new-tag", "bad tag"], "bad tag"),
        (vec!["update", "--git", "https://127.0.0.1:1/x", "--candidate", "Reg/App:v1"], "Reg/App:v1"),
        (
            vec![
                "update",
                "--git",
                "https://127.0.0.1:1/x",
                "--candidate",
                "reg.example/a:v1",
                "--trailer",
                "Build=1\nSigned-off-by: forged",
            ],
            "one line",
        ),
        (
            vec![
                "update",
                "--git",
                "https://127.0.0.1:1/x",
                "--candidate",
                "reg.example/a:v1",
                "--trailer",
                "Bad Key=1",
            ],
            "Bad Key",
        ),
    ];
    let before = super::checksums(dir.path());
    for (args, named) in &cases {
        let run = shipline(dir.path(), args, &[]);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert!(run.stderr.contains(named), "{args:?}: the message names {named:?}: {}", run.stderr);
        // Nothing was contacted: a connection attempt to 127.0.0.1:1 would say so.
        assert!(!run.stderr.contains("onnection refused") && !run.stderr.contains("HTTP"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(super::checksums(dir.path()), before, "nothing written");
    // Positive control: a valid reference is accepted by the same command.
    let run =
        shipline(dir.path(), &["update", "--dry-run", "--set", "apps:front=reg.example/front:v2", "deploy.yaml"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn untrusted_bytes_are_escaped_and_piped_logs_carry_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    // A right-to-left override (valid YAML) in a comment next to the edited line, and a file
    // whose bytes hold a terminal escape sequence (invalid YAML, so it reaches an error message).
    let hostile = deployment("front", "v1").replace(
        "- name: app
",
        "- name: app # \u{202e}gnp.exe\n",
    );
    std::fs::write(dir.path().join("deploy.yaml"), &hostile).unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "a: 1 # {'$imagepolicy': 'x'}\n").unwrap();
    // Colour is the default when NO_COLOR is unset; stderr here is a pipe, so none is used.
    let bin = service_env("SHIPLINE_BIN");
    let run = Command::new(&bin)
        .args(["update", "--dry-run", "--set", "apps:front=reg.example/front:v2", "."])
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains('\u{202e}'), "a raw bidi override reached the terminal: {stdout:?}");
    assert!(stdout.contains("\\u{202e}gnp.exe"), "shown escaped: {stdout}");
    assert!(stdout.contains("+        image: reg.example/front:v2"), "positive control, the diff: {stdout}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI colour in a piped log: {stderr:?}");
    assert!(stderr.contains("ignored marker"), "positive control, the log line is there: {stderr}");

    std::fs::write(dir.path().join("deploy.yaml"), hostile.replace("\u{202e}", "\u{1b}]0;pwned\u{7}")).unwrap();
    let run = Command::new(&bin)
        .args(["update", "--dry-run", "--set", "apps:front=reg.example/front:v2", "deploy.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: deploy.yaml: not valid YAML"), "names the file: {stderr}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{7}'), "raw escape bytes in the error: {stderr:?}");
}
