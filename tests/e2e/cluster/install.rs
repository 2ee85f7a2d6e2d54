//! `manifests/` installed for real, as a user would: an overlay of their own over the shipped
//! kustomization (image set with `images:`, their syncs file, git credentials in a Secret, the
//! git server's private CA), applied with `kubectl apply -k`. The reconciler Pod pulls its image
//! (built by scripts/build-image.sh, pushed with `shipline push --oci-layout`) from the test
//! registry, becomes Ready (its /readyz probe), talks to the API server with its ServiceAccount
//! (in-cluster configuration) and syncs the sock-shop example from the test git server over
//! HTTPS; the front-end Pods then run an image from the test registry. Both RBAC variants.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shipline_e2e::{GitServer, SeededRepo, unique_name};

use super::support::{
    Node, build_front_end_image, build_reconciler_image, exclusive, push_to_test_registry, ready_pods, repo_root, run,
    shipline_bin, wait_for,
};

const SYSTEM_NS: &str = "shipline-system";
const RECONCILER: &str = "app.kubernetes.io/name=shipline";

/// The images a test installs: the reconciler and a front end, both in the test registry.
pub struct Images {
    /// `127.0.0.1:PORT/shipline:TAG`.
    pub reconciler: String,
    /// `127.0.0.1:PORT/front-end:main-HEX-1`.
    pub front_end: String,
}

/// Builds and pushes the reconciler image (from `SHIPLINE_BIN`) and a front-end image serving `page`.
pub fn push_images(work: &Path, page: &str) -> Images {
    let tag = unique_name("t").replace('_', "-");
    build_reconciler_image(&shipline_bin(), &work.join("reconciler"));
    let (reconciler, _) = push_to_test_registry(&work.join("reconciler"), "shipline", &tag);
    let summary = build_front_end_image(&work.join("front-end"), page);
    let hex = &summary["digest"].as_str().expect("digest")[7..14];
    let (front_end, _) = push_to_test_registry(&work.join("front-end"), "front-end", &format!("main-{hex}-1"));
    Images { reconciler, front_end }
}

/// The sock-shop example as a microservices repository (`deploy/kubernetes/...`, as the shipped
/// syncs.yaml expects), plus an `overlays/apps` overlay for the namespaced variant, with the
/// front-end image set by `shipline update --set` (the `$imagepolicy` markers).
pub fn seed_sock_shop(work: &Path, git: &GitServer, front_end: &str) -> SeededRepo {
    let tree = work.join("microservices");
    let deploy = tree.join("deploy/kubernetes");
    std::fs::create_dir_all(&deploy).expect("mkdir");
    run(Command::new("cp").arg("-r").arg(repo_root().join("manifests/examples/sock-shop/.")).arg(&deploy));
    std::fs::create_dir_all(deploy.join("overlays/apps")).expect("mkdir");
    std::fs::write(
        deploy.join("overlays/apps/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: apps\nresources:\n- ../../base\n\
         images:\n- name: weaveworksdemos/front-end\n  newName: x # {\"$imagepolicy\": \"flux-system:front-end:name\"}\n  \
         newTag: x # {\"$imagepolicy\": \"flux-system:front-end:tag\"}\n",
    )
    .expect("write apps overlay");
    run(Command::new(shipline_bin())
        .args(["update", "--set", &format!("flux-system:front-end={front_end}")])
        .arg(&deploy));
    let mut files = Vec::new();
    collect(&tree, &tree, &mut files);
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    git.seed_repo(&unique_name("microservices"), &borrowed)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, std::fs::read_to_string(&p).expect("read")));
        }
    }
}

/// The tip of `main` of a seeded repository.
pub fn main_commit(repo: &SeededRepo) -> String {
    let bare = git2::Repository::open_bare(&repo.path).expect("open bare repo");
    bare.find_reference("refs/heads/main").and_then(|r| r.peel_to_commit()).expect("main").id().to_string()
}

/// A user's install overlay in `work/NAME` over a copy of `manifests/` (`base` is
/// `manifests` or `manifests/variants/namespaced`), with the reconciler image, one sync, the
/// git credentials Secret and the git server's CA. Removes what it installed when dropped.
pub struct Install<'a> {
    node: &'a Node,
    pub dir: PathBuf,
    /// Namespaces the sync creates or fills (deleted on drop).
    pub workload_ns: String,
}

pub struct SyncFile<'a> {
    pub name: &'a str,
    pub git_url: String,
    pub path: &'a str,
    pub namespace: &'a str,
    /// How often the reconciler fetches (`15s`).
    pub interval: &'a str,
    /// Bound on apply plus the health wait (`3m`).
    pub timeout: &'a str,
}

impl<'a> Install<'a> {
    pub fn apply(node: &'a Node, work: &Path, base: &str, image: &str, sync: &SyncFile, workload_ns: &str) -> Self {
        let manifests = work.join("manifests");
        if !manifests.exists() {
            run(Command::new("cp").arg("-r").arg(repo_root().join("manifests")).arg(&manifests));
        }
        let dir = work.join(format!("install-{}", sync.name));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let git = GitServer::from_env();
        let (image_name, image_tag) = image.rsplit_once(':').expect("image tag");
        std::fs::write(dir.join("username"), &git.user).expect("write");
        std::fs::write(dir.join("password"), &git.password).expect("write");
        std::fs::copy(&git.ca_file, dir.join("ca.pem")).expect("copy CA");
        std::fs::write(
            dir.join("syncs.yaml"),
            format!(
                "syncs:\n- name: {}\n  git: {}\n  ref: main\n  path: {}\n  interval: {}\n  timeout: {}\n  prune: true\n  \
                 wait: true\n  namespace: {}\n  auth: {{secret: git-creds}}\n",
                sync.name, sync.git_url, sync.path, sync.interval, sync.timeout, sync.namespace
            ),
        )
        .expect("write syncs");
        std::fs::write(
            dir.join("kustomization.yaml"),
            format!(
                r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../{base}
images:
- name: shipline
  newName: {image_name}
  newTag: {image_tag}
configMapGenerator:
- name: shipline-syncs
  namespace: {SYSTEM_NS}
  behavior: replace
  files: [syncs.yaml]
- name: git-ca
  namespace: {SYSTEM_NS}
  files: [ca.pem]
secretGenerator:
- name: git-creds
  namespace: {SYSTEM_NS}
  files: [username, password]
  options: {{disableNameSuffixHash: true}}
patches:
- target: {{kind: Deployment, name: shipline-reconciler}}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --ca-file=/etc/shipline-ca/ca.pem
    - op: add
      path: /spec/template/spec/volumes/-
      value: {{name: git-ca, configMap: {{name: git-ca}}}}
    - op: add
      path: /spec/template/spec/containers/0/volumeMounts/-
      value: {{name: git-ca, mountPath: /etc/shipline-ca, readOnly: true}}
"#
            ),
        )
        .expect("write kustomization");
        let install = Self { node, dir, workload_ns: workload_ns.to_owned() };
        install.node.kubectl(&["apply", "-k", install.dir.to_str().unwrap()]);
        install
    }

    /// Waits (bounded) for the reconciler Pod to be Ready; returns its name.
    pub fn wait_reconciler_ready(&self, image: &str) -> String {
        let pods = wait_for(
            "the reconciler Pod to be Ready",
            Duration::from_secs(180),
            || Some(ready_pods(self.node, SYSTEM_NS, RECONCILER)).filter(|p| !p.is_empty()),
            || self.node.describe_pods(SYSTEM_NS, RECONCILER),
        );
        assert_eq!(pods[0].1, image, "the reconciler runs the image set with kustomize images:");
        pods[0].0.clone()
    }
}

impl Drop for Install<'_> {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        // The reconciler finishes the reconcile it is in on SIGTERM (its grace period is 330 s: a
        // health wait of up to the sync's timeout), and while its Pod lingers the namespace
        // controller retries with a growing backoff, so the namespace can stay for minutes after
        // the Pod is gone. The Deployment goes first, waiting for its Pods (foreground).
        let _ = self.node.kubectl_output(&[
            "delete",
            "deployment",
            "-n",
            SYSTEM_NS,
            "--all",
            "--cascade=foreground",
            "--ignore-not-found",
            "--timeout=340s",
        ]);
        let _ = self.node.kubectl_output(&["delete", "-k", &dir, "--ignore-not-found", "--wait=false"]);
        let _ =
            self.node.kubectl_output(&["delete", "namespace", &self.workload_ns, "--ignore-not-found", "--wait=false"]);
        // The next install re-creates shipline-system: wait until this one is gone.
        let gone = (0..480).any(|_| {
            let out = self.node.kubectl_output(&["get", "namespace", SYSTEM_NS, "-o", "name"]);
            let done = !out.status.success();
            if !done {
                std::thread::sleep(Duration::from_millis(250));
            }
            done
        });
        if !gone && !std::thread::panicking() {
            // What holds the namespace: its conditions name the kinds left or the discovery
            // failure, and the Pods show one that does not terminate.
            let text = |args: &[&str]| String::from_utf8_lossy(&self.node.kubectl_output(args).stdout).into_owned();
            let conditions = text(&["get", "namespace", SYSTEM_NS, "-o", "jsonpath={.status.conditions}"]);
            let pods = text(&["get", "pods", "-n", SYSTEM_NS, "-o", "wide"]);
            let logs = text(&["logs", "-n", SYSTEM_NS, "-l", "app.kubernetes.io/name=shipline", "--tail=40"]);
            panic!(
                "namespace {SYSTEM_NS} was not deleted within 120 s\nconditions: {conditions}\npods:\n{pods}\nreconciler log:\n{logs}"
            );
        }
    }
}

/// Waits (bounded) until the Deployment `front-end` in `ns` has only Ready Pods of `image`.
pub fn wait_front_end(node: &Node, ns: &str, image: &str, timeout: Duration) -> Vec<String> {
    wait_for(
        &format!("front-end Pods of {image} Ready in {ns}"),
        timeout,
        || {
            let pods = ready_pods(node, ns, "name=front-end");
            (!pods.is_empty() && pods.iter().all(|(_, i)| i == image)).then(|| pods.into_iter().map(|p| p.0).collect())
        },
        || node.describe_pods(ns, "name=front-end"),
    )
}

/// The reconciler's status ConfigMap field, or "" while it does not exist.
pub fn status_field(node: &Node, sync: &str, field: &str) -> String {
    node.get_json(&["configmap", "-n", SYSTEM_NS, &format!("shipline-status-{sync}")])
        .and_then(|cm| cm["data"][field].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn pod_ip(node: &Node, ns: &str, pod: &str) -> String {
    node.kubectl(&["get", "pod", "-n", ns, pod, "-o", "jsonpath={.status.podIP}"])
}

fn http_get(url: &str) -> String {
    run(Command::new("curl").args(["-fsS", "--max-time", "10", url]))
}

fn can_i(node: &Node, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let mut args = vec!["auth", "can-i", verb, resource, "--as=system:serviceaccount:shipline-system:shipline"];
    if let Some(ns) = ns {
        args.extend_from_slice(&["-n", ns]);
    }
    node.kubectl_output(&args).stdout.starts_with(b"yes")
}

#[test]
fn install_manifests_run_the_reconciler_which_syncs_sock_shop_over_https_in_both_rbac_variants() {
    let _one_at_a_time = exclusive();
    let node = Node::from_env();
    let git = GitServer::from_env();
    let work = tempfile::tempdir().expect("tempdir");
    let images = push_images(work.path(), "<h1>sock-shop front-end v1</h1>\n");
    let repo = seed_sock_shop(work.path(), &git, &images.front_end);
    let repo_name = repo.https_url.rsplit('/').next().unwrap().to_owned();
    let git_url = format!("{}/{repo_name}", node.git_https_base);
    let commit = main_commit(&repo);

    // --- cluster-wide variant: manifests/ (cluster-admin binding), the development overlay ---
    let t0 = std::time::Instant::now();
    let sync = SyncFile {
        name: "sock-shop-development",
        git_url: git_url.clone(),
        path: "deploy/kubernetes/overlays/development",
        namespace: "default",
        interval: "15s",
        timeout: "3m",
    };
    {
        let install = Install::apply(&node, work.path(), "manifests", &images.reconciler, &sync, "sock-shop-dev");
        let reconciler = install.wait_reconciler_ready(&images.reconciler);
        let spec = node.get_json(&["pod", "-n", SYSTEM_NS, &reconciler]).expect("pod")["spec"].clone();
        assert_eq!(spec["serviceAccountName"], "shipline");
        assert_eq!(spec["securityContext"]["runAsUser"], 65532);
        let pods = wait_front_end(&node, "sock-shop-dev", &images.front_end, Duration::from_secs(240));
        eprintln!("cluster-wide install: reconciler Ready and front-end Ready {:?} after apply", t0.elapsed());
        let page = http_get(&format!("http://{}:8079/", pod_ip(&node, "sock-shop-dev", &pods[0])));
        assert!(page.contains("front-end v1"), "{page}");
        // Applied by the reconciler (field manager `shipline`), with its ServiceAccount's rights.
        let managers = node.kubectl(&[
            "get",
            "deployment",
            "-n",
            "sock-shop-dev",
            "front-end",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ]);
        assert!(managers.split_whitespace().any(|m| m == "shipline"), "{managers}");
        assert!(can_i(&node, "create", "namespaces", None), "cluster-wide: the reconciler is bound to cluster-admin");
        // Status at the commit, written by the reconciler in its namespace.
        wait_for(
            "status ConfigMap at the seeded commit",
            Duration::from_secs(60),
            || status_field(&node, sync.name, "lastAppliedRevision").contains(&commit).then_some(()),
            || status_field(&node, sync.name, "conditions"),
        );
        // /metrics, served on the Pod's port as the probes are.
        let metrics = http_get(&format!("http://{}:8080/metrics", pod_ip(&node, SYSTEM_NS, &reconciler)));
        assert!(metrics.contains("shipline_reconcile_total"), "{metrics}");
    }

    // --- namespaced variant: Roles in `apps` and `shipline-system` only ---
    let t0 = std::time::Instant::now();
    let sync = SyncFile {
        name: "sock-shop-apps",
        git_url,
        path: "deploy/kubernetes/overlays/apps",
        namespace: "apps",
        interval: "15s",
        timeout: "3m",
    };
    let install =
        Install::apply(&node, work.path(), "manifests/variants/namespaced", &images.reconciler, &sync, "apps");
    install.wait_reconciler_ready(&images.reconciler);
    wait_front_end(&node, "apps", &images.front_end, Duration::from_secs(240));
    eprintln!("namespaced install: reconciler Ready and front-end Ready {:?} after apply", t0.elapsed());
    wait_for(
        "status ConfigMap at the seeded commit",
        Duration::from_secs(60),
        || status_field(&node, sync.name, "lastAppliedRevision").contains(&commit).then_some(()),
        || status_field(&node, sync.name, "conditions"),
    );
    assert!(!can_i(&node, "create", "namespaces", None), "namespaced: no cluster-scoped writes");
    assert!(!can_i(&node, "list", "secrets", Some(SYSTEM_NS)), "namespaced: Secrets are read by name only");
    assert!(can_i(&node, "patch", "deployments", Some("apps")));
    // A sync that left syncs.yaml is found at start-up by listing the state ConfigMaps, and its
    // state deleted (deletionPolicy); without these the reconciler only logs a warning.
    assert!(can_i(&node, "list", "configmaps", Some(SYSTEM_NS)), "namespaced: departed syncs are found by list");
    assert!(can_i(&node, "delete", "configmaps", Some(SYSTEM_NS)), "namespaced: departed syncs' state is deleted");
}
