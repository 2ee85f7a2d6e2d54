//! The `shipline reconcile` binary: `--once --dry-run --json` for CI, and the long-running mode
//! with its HTTP endpoints and graceful SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use shipline_e2e::{kube_client, service_env, unique_name};

use super::support::{LocalRepo, create_namespace, sync_name, trees};

fn shipline() -> Command {
    let bin = service_env("SHIPLINE_BIN");
    let mut cmd = Command::new(bin);
    cmd.env("KUBECONFIG", service_env("KUBECONFIG"));
    cmd
}

fn tree(ns: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "cm.yaml"])),
        ("ns.yaml", trees::namespace(ns)),
        ("cm.yaml", trees::configmap(ns, "settings", "v", "")),
    ]
}

#[tokio::test]
async fn once_dry_run_json_writes_nothing_and_bad_flags_fail_clearly() {
    let client = kube_client().await;
    let ns = unique_name("rec-cli");
    let repo = LocalRepo::new();
    let commit = repo.commit(&tree(&ns));
    let state = tempfile::tempdir().unwrap();
    let out = shipline()
        .args(["reconcile", "--once", "--dry-run", "--json", "--git", &repo.url(), "--name", &sync_name("cli")])
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .expect("run shipline");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report[0]["ok"], true);
    assert_eq!(report[0]["outcome"]["revision"], commit.as_str());
    assert_eq!(report[0]["outcome"]["changes"].as_array().map(Vec::len), Some(2), "{report}");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    assert!(namespaces.get_opt(&ns).await.unwrap().is_none(), "dry run wrote nothing");

    let bad = shipline().args(["reconcile", "--once", "--git", &repo.url(), "--interval", "soon"]).output().unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--interval: \"soon\" is not a duration"), "{stderr}");
}

#[tokio::test]
async fn long_running_mode_serves_probes_and_metrics_and_stops_on_sigterm() {
    let client = kube_client().await;
    let state_ns = unique_name("shipline-cli-state");
    create_namespace(&client, &state_ns).await;
    let ns = unique_name("rec-daemon");
    let repo = LocalRepo::new();
    let commit = repo.commit(&tree(&ns));
    let name = sync_name("daemon");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    let mut child = shipline()
        .args(["reconcile", "--git", &repo.url(), "--name", &name, "--interval", "1s", "--prune"])
        .args(["--reconciler-namespace", &state_ns, "--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state.path())
        .env("SHIPLINE_LOG_FORMAT", "json")
        .env("SHIPLINE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shipline reconcile");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let statuses: Api<ConfigMap> = Api::namespaced(client.clone(), &state_ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200);
        let applied = statuses
            .get_opt(&format!("shipline-status-{name}"))
            .await
            .unwrap()
            .and_then(|cm| cm.data)
            .is_some_and(|d| d.get("lastAppliedRevision") == Some(&commit));
        if ready && applied {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reconciler never became ready and applied {commit}");
        assert!(child.try_wait().unwrap().is_none(), "the reconciler exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("shipline_reconcile_total{{sync=\"{name}\",result=\"success\"}}")), "{metrics}");
    assert!(metrics.contains(&format!("shipline_objects_applied_total{{sync=\"{name}\"}} 2")), "{metrics}");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::task::spawn_blocking(move || {
        let status = child.wait().expect("wait");
        let mut logs = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut logs).expect("logs");
        (status, logs)
    });
    let (status, logs) =
        tokio::time::timeout(Duration::from_secs(30), exit).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "exit status {status:?}\n{logs}");
    let first =
        logs.lines().find(|l| l.contains("\"applied\"")).unwrap_or_else(|| panic!("no applied log line in\n{logs}"));
    let line: serde_json::Value = serde_json::from_str(first).expect("structured (JSON) log lines");
    assert_eq!(line["fields"]["sync"], name.as_str(), "{first}");
}
