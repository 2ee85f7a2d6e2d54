//! Fixtures for the reconciler tests: a local git repository to commit trees to, a reconciler
//! context on the real API server, and the API server's audit log to count requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use shipline_e2e::{service_env, unique_name};
use shipline_reconcile::apply::Applier;
use shipline_reconcile::config::{SyncAuth, SyncSpec};
use shipline_reconcile::context::Context;
use shipline_reconcile::metrics::Metrics;

/// A git repository on local disk; the reconciler fetches it by path.
pub struct LocalRepo {
    pub dir: tempfile::TempDir,
}

impl LocalRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        git2::Repository::init_opts(dir.path(), git2::RepositoryInitOptions::new().initial_head("main"))
            .expect("git init");
        Self { dir }
    }

    pub fn url(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Replaces the whole tree with `files` and commits; returns the commit id.
    pub fn commit(&self, files: &[(&str, String)]) -> String {
        let repo = git2::Repository::open(self.dir.path()).expect("open");
        for entry in std::fs::read_dir(self.dir.path()).expect("read dir").flatten() {
            if entry.file_name() != ".git" {
                let p = entry.path();
                if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) }.expect("clean tree");
            }
        }
        for (file, content) in files {
            let target = self.dir.path().join(file);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, content).expect("write");
        }
        let mut index = repo.index().expect("index");
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree = repo.find_tree(index.write_tree().expect("tree")).expect("tree");
        let sig = git2::Signature::now("test", "test@example.invalid").expect("sig");
        let parents: Vec<git2::Commit> = repo.head().ok().and_then(|h| h.peel_to_commit().ok()).into_iter().collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "update", &tree, &parents).expect("commit").to_string()
    }
}

/// A reconciler context whose state (inventory, status, Events) lives in a fresh namespace.
pub struct Fixture {
    pub client: kube::Client,
    pub ctx: Arc<Context>,
    pub state_namespace: String,
    pub metrics: Arc<Metrics>,
    _state_dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new(client: kube::Client) -> Self {
        Self::configured(client, true, |_| {}).await
    }

    /// A fixture whose state namespace is created only when `create_state_namespace`, with the
    /// context adjusted by `configure` (strict substitution, namespace creation).
    pub async fn configured(
        client: kube::Client,
        create_state_namespace: bool,
        configure: impl FnOnce(&mut Context),
    ) -> Self {
        let state_namespace = unique_name("shipline-state");
        if create_state_namespace {
            create_namespace(&client, &state_namespace).await;
        }
        // Other tests create and delete CRDs on the same API server: a group that vanishes
        // while discovery lists it fails the whole discovery (404). That is their doing, not
        // this test's, so discovery is tried again a few times before it counts.
        let mut attempts = 0;
        let applier = loop {
            attempts += 1;
            match Applier::new(client.clone(), "default").await {
                Ok(applier) => break applier,
                Err(e) if attempts < 5 => eprintln!("discovery attempt {attempts}: {e}"),
                Err(e) => panic!("discovery failed {attempts} times: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let state_dir = tempfile::tempdir().expect("tempdir");
        let metrics = Arc::new(Metrics::default());
        let mut ctx = Context::new(applier, &state_namespace, state_dir.path().to_owned(), metrics.clone());
        configure(&mut ctx);
        Self { client, ctx: Arc::new(ctx), state_namespace, metrics, _state_dir: state_dir }
    }

    pub fn configmaps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.state_namespace)
    }

    /// The status ConfigMap's data field.
    pub async fn status_field(&self, sync: &str, field: &str) -> String {
        let cm = self.configmaps().get(&format!("shipline-status-{sync}")).await.expect("status ConfigMap");
        cm.data.and_then(|d| d.get(field).cloned()).unwrap_or_default()
    }
}

pub async fn create_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    api.create(&PostParams::default(), &ns).await.expect("create namespace");
}

/// A sync of `repo` with pruning on, no health wait, a 60 s timeout.
pub fn spec(name: &str, repo: &LocalRepo) -> SyncSpec {
    SyncSpec {
        name: name.into(),
        git: repo.url(),
        reference: "main".into(),
        path: ".".into(),
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(60),
        prune: true,
        wait: false,
        namespace: "default".into(),
        auth: SyncAuth::None,
        ..Default::default()
    }
}

/// A sync name unique to this run, usable as a DNS label (<= 40 characters).
pub fn sync_name(prefix: &str) -> String {
    let n = unique_name(prefix).replace('_', "-");
    let tail: String = n.chars().rev().take(40 - prefix.len() - 1).collect::<String>().chars().rev().collect();
    format!("{prefix}-{}", tail.trim_start_matches('-'))
}

/// The API server's audit log: the write requests made after a mark.
pub struct Audit {
    path: PathBuf,
    start: usize,
}

impl Audit {
    /// Marks the current end of the log.
    pub fn mark() -> Self {
        let path = PathBuf::from(service_env("SHIPLINE_TEST_KUBE_AUDIT_LOG"));
        let start = read(&path).lines().count();
        Self { path, start }
    }

    /// Write requests (not get/list/watch) since the mark whose URI contains any of `needles`,
    /// other than the controller-manager's.
    /// First makes a sentinel request and waits for it to be logged, so everything before it is.
    pub async fn writes(&self, client: &kube::Client, needles: &[&str]) -> Vec<String> {
        let sentinel = unique_name("audit-sentinel");
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let _ = api.get_opt(&sentinel).await.expect("sentinel request");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = read(&self.path);
            if text.contains(&sentinel) {
                // Every complete line must parse: a reader that dropped lines would find no writes.
                let entries: Vec<serde_json::Value> = text
                    .lines()
                    .skip(self.start)
                    .filter(|l| l.ends_with('}'))
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line does not parse ({e}): {l}")))
                    .collect();
                // Positive control: the sentinel request itself is among the parsed entries.
                assert!(
                    entries.iter().any(|e| e["requestURI"].as_str().is_some_and(|u| u.contains(&sentinel))),
                    "the audit reader does not see the sentinel request it waited for"
                );
                return entries
                    .into_iter()
                    .filter(|e| !matches!(e["verb"].as_str(), Some("get" | "list" | "watch")))
                    // The controller-manager shares the admin user (it writes workload status).
                    .filter(|e| !e["userAgent"].as_str().unwrap_or("").starts_with("kube-controller-manager"))
                    .map(|e| format!("{} {}", e["verb"].as_str().unwrap_or(""), e["requestURI"].as_str().unwrap_or("")))
                    .filter(|l| needles.iter().any(|n| l.contains(n)))
                    .collect();
            }
            assert!(tokio::time::Instant::now() < deadline, "the audit log never recorded the sentinel request");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("audit log {}: {e}", path.display()))
}

/// Manifests for tests.
pub mod trees {
    pub fn kustomization(resources: &[&str]) -> String {
        let list: String = resources.iter().map(|r| format!("- {r}\n")).collect();
        format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{list}")
    }

    pub fn namespace(ns: &str) -> String {
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    }

    pub fn configmap(ns: &str, name: &str, value: &str, annotations: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations: {{{annotations}}}\ndata:\n  key: {value:?}\n"
        )
    }

    pub fn deployment(ns: &str, name: &str, image: &str, replicas: u32) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n        ports:\n        - containerPort: 8080\n        resources:\n          requests: {{cpu: 0.1, memory: 64Mi}}\n"
        )
    }

    pub fn service(ns: &str, name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
        )
    }
}

/// Waits (bounded) for the ReplicaSet controller to create a pod of `image`, then reports it
/// Ready as a kubelet would: for tests on the API server without a node (the real node's tests
/// are in `health.rs` and `cluster/`).
pub async fn mark_pod_ready(client: &kube::Client, ns: &str, app: &str, image: &str) {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let pod = loop {
        let list = pods.list(&kube::api::ListParams::default().labels(&format!("app={app}"))).await.expect("list pods");
        let found = list
            .items
            .into_iter()
            .find(|p| p.spec.as_ref().is_some_and(|s| s.containers.iter().any(|c| c.image.as_deref() == Some(image))));
        if let Some(pod) = found {
            break pod;
        }
        assert!(tokio::time::Instant::now() < deadline, "the controller-manager created no pod for {image}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let name = pod.metadata.name.expect("pod name");
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = serde_json::json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
    ]}});
    pods.patch_status(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(status))
        .await
        .expect("mark pod ready");
}
