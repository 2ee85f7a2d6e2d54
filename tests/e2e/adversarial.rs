//! The adversarial suite (issue 15): shipline run as a hostile repository author or a careless
//! caller would, through the real binary (`SHIPLINE_BIN`) and, for `--git`, the real git server.
//! Every case asserts the exact outcome: exit status, the message naming file/field/value, the
//! checksum of every file before and after, nothing pushed, no sentinel secret in any output,
//! and, where memory is the attack, the child's peak RSS under a stated bound.
//!
//! Each negative check has a positive control in the same test (the same command on a benign
//! input does write, push or print), so a check cannot pass because the thing checked broke.

mod git;
mod local;
mod output;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shipline_e2e::service_env;

/// A password that must never appear in any output.
pub const SENTINEL: &str = "S3ntinel-Pw-7c1e";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit status code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Peak resident set size of the child, in KiB (from `wait4`).
    pub max_rss_kib: i64,
}

impl Run {
    /// Both streams, for "never printed" checks.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// How long a run may take before it counts as a hang.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Runs `shipline ARGS` in `dir` with extra environment variables, stdin closed. A run that
/// does not end within [`RUN_LIMIT`] is killed and fails the test (a hang is a finding).
pub fn shipline(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let bin = service_env("SHIPLINE_BIN");
    let mut cmd = Command::new(&bin);
    cmd.args(args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env_remove("SHIPLINE_LOG").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {bin}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let (code, max_rss_kib) = wait_bounded(child, args);
    let stdout = String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Run { code, stdout, stderr, max_rss_kib }
}

/// Waits for the child with `wait4` (its own peak RSS, not the test process's other children),
/// polling with a deadline.
fn wait_bounded(mut child: std::process::Child, args: &[&str]) -> (Option<i32>, i64) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data, zero is a valid value; wait4 writes into both.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child, not yet reaped (Child::wait is never called).
        let got = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if got == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            return (code, usage.ru_maxrss);
        }
        assert!(got == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shipline {args:?} did not end within {RUN_LIMIT:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SHA-256 of every file under `dir` (links recorded as `-> target`, never followed), by path.
pub fn checksums(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if meta.file_type().is_symlink() {
                out.insert(rel, format!("-> {}", std::fs::read_link(&path).expect("readlink").display()));
            } else if meta.is_dir() {
                walk(root, &path, out);
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(rel, hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()));
            } else {
                out.insert(rel, "special".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A marked Deployment for policy `apps:NAME` at `tag`.
pub fn deployment(name: &str, tag: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: reg.example/{name}:{tag} # {{\"$imagepolicy\": \"apps:{name}\"}}\n"
    )
}
