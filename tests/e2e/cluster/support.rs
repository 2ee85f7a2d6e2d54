//! Fixtures for the real-node tests: kubectl on the node cluster, images built with the project's
//! scripts and pushed with `shipline push`, and bounded polls.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use shipline_e2e::{Registry, service_env};

/// Serializes the tests that install the reconciler into `shipline-system`.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

/// The `shipline` binary the tests drive (`SHIPLINE_BIN`, set by scripts/test.sh).
pub fn shipline_bin() -> PathBuf {
    PathBuf::from(service_env("SHIPLINE_BIN"))
}

/// The real node's cluster.
pub struct Node {
    /// Admin kubeconfig (client certificate) of the node's API server.
    pub kubeconfig: String,
    /// `https://NODE_IP:PORT/v1/repos` of the test git server (same private CA).
    pub git_https_base: String,
}

impl Node {
    /// Reads the node's coordinates from the services' environment.
    pub fn from_env() -> Self {
        Self {
            kubeconfig: service_env("SHIPLINE_TEST_NODE_KUBECONFIG"),
            git_https_base: service_env("SHIPLINE_TEST_NODE_GIT_HTTPS_BASE"),
        }
    }

    /// `kubectl ARGS` against the node (the `kubectl` on PATH: `apply -k` needs its kustomize
    /// v5; kubectl 1.20's own kustomize v2 cannot read components or directory resources).
    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e} (kubectl must be on PATH)"))
    }

    /// `kubectl ARGS`, which must succeed; returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(out.status.success(), "kubectl {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get ARGS -o json`, parsed; `None` when the object does not exist.
    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl_output(&all);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("NotFound") || err.contains("not found"), "kubectl {all:?}: {err}");
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("kubectl json"))
    }

    /// What the node's Pods in `ns` with `selector` say, for failure messages.
    pub fn describe_pods(&self, ns: &str, selector: &str) -> String {
        let out = self.kubectl_output(&["describe", "pods", "-n", ns, "-l", selector]);
        let text = String::from_utf8_lossy(&out.stdout);
        // the Events and state sections are what explain a Pod that does not start
        text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// Polls `f` every 250 ms until it returns `Some`, at most `timeout`; panics with `what` and the
/// last `detail` otherwise.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>, detail: impl Fn() -> String) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", detail());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Ready Pods of `selector` in `ns` and their images.
pub fn ready_pods(node: &Node, ns: &str, selector: &str) -> Vec<(String, String)> {
    let Some(list) = node.get_json(&["pods", "-n", ns, "-l", selector]) else { return vec![] };
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                p["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Runs a command that must succeed; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `scripts/build-image.sh BINARY OUT`: the reconciler image; returns the script's JSON summary.
pub fn build_reconciler_image(binary: &Path, out: &Path) -> Value {
    let stdout = run(Command::new(repo_root().join("scripts/build-image.sh")).arg(binary).arg(out));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("build-image.sh output {stdout:?}: {e}"))
}

/// A web server image (static busybox `httpd`, no shell) serving `page` on port 8079 as user
/// 10001, for the sock-shop front end; returns the layout directory's summary.
pub fn build_front_end_image(out: &Path, page: &str) -> Value {
    let page_file = out.with_extension("html");
    std::fs::write(&page_file, page).expect("write page");
    let stdout = run(Command::new("python3")
        .arg(repo_root().join("scripts/oci-image.py"))
        .args(["--out"])
        .arg(out)
        .args(["--entrypoint", r#"["/bin/busybox","httpd","-f","-p","8079","-h","/www"]"#, "--user", "10001:10001"])
        .arg("file:/bin/busybox:/bin/busybox:755")
        .arg(format!("file:{}:/www/index.html:644", page_file.display())));
    serde_json::from_str(stdout.trim()).expect("oci-image.py output")
}

/// `shipline push --oci-layout LAYOUT` to the test registry as `REGISTRY/name:tag`; returns the
/// image reference the node pulls (`127.0.0.1:PORT/name:tag`) and the pushed digest.
pub fn push_to_test_registry(layout: &Path, name: &str, tag: &str) -> (String, String) {
    let reg = Registry::from_env();
    let repository = format!("{}/{name}", reg.host);
    let stdout = run(Command::new(shipline_bin())
        .args(["push", "--json", "--oci-layout"])
        .arg(layout)
        .args(["--repository", &repository, "--tag", tag, "--username", &reg.user])
        .args(["--registry-endpoint", &format!("http://{}", reg.host)])
        .env("SHIPLINE_REGISTRY_PASSWORD", &reg.password));
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("push --json {stdout:?}: {e}"));
    let digest = report["digest"].as_str().unwrap_or_else(|| panic!("no digest in {report}")).to_owned();
    (format!("{repository}:{tag}"), digest)
}

/// A small web image (busybox httpd on 8079, see [`build_front_end_image`]) in the test
/// registry, built and pushed once per test process; returns `127.0.0.1:PORT/web:1`.
pub fn test_app_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            build_front_end_image(&dir.path().join("web"), "<h1>web 1</h1>\n");
            push_to_test_registry(&dir.path().join("web"), "web", "1").0
        })
        .clone()
}
