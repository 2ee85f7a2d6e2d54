//! `shipline status` on the real API server and the test git server: the real updater commits
//! an image with CodeBuild and pipeline trailers, the real reconciler applies the repository
//! (`--no-wait`: no node runs pods here; the workloads' images are read from the API server),
//! and `status` joins the status ConfigMap, the live workloads and the git history.

use std::process::{Command, Output};

use serde_json::Value;
use shipline_e2e::{GitServer, kube_client, service_env, unique_name};

const REG: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const DIGEST: &str = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";

fn shipline(server: &GitServer, args: &[&str]) -> Output {
    Command::new(service_env("SHIPLINE_BIN"))
        .args(args)
        .env("KUBECONFIG", service_env("KUBECONFIG"))
        .env("SHIPLINE_GIT_PASSWORD", &server.password)
        .env_remove("POD_NAMESPACE")
        .output()
        .expect("run shipline")
}

fn deployment(ns: &str, name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"
    )
}

fn head(path: &std::path::Path) -> String {
    let bare = git2::Repository::open_bare(path).expect("open bare");
    bare.find_reference("refs/heads/main").and_then(|r| r.peel_to_commit()).expect("main").id().to_string()
}

#[tokio::test]
async fn status_shows_each_image_with_the_commit_and_trailers_that_put_it_there() {
    let _client = kube_client().await; // fails loudly when the API server is missing
    let server = GitServer::from_env();
    let prefix = unique_name("status");
    let ns = unique_name("status-app");
    let state_ns = unique_name("status-state");
    let sync = unique_name("shop");
    let cart = format!("{REG}/{prefix}/cart");
    let files = [
        (
            "shipline.yaml".to_owned(),
            format!(
                "paths: [overlays]\ncommit: {{authorName: ci, authorEmail: ci@example.invalid}}\npolicies:\n- name: apps:cart\n  image: {cart}\n  policy: {{branchCommitBuild: {{branch: main}}}}\n"
            ),
        ),
        ("overlays/kustomization.yaml".to_owned(), "resources:\n- ns.yaml\n- cart.yaml\n- redis.yaml\n".to_owned()),
        ("overlays/ns.yaml".to_owned(), format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")),
        (
            "overlays/cart.yaml".to_owned(),
            deployment(&ns, "cart", &format!("{cart}:main-0000000-1 # {{\"$imagepolicy\": \"apps:cart\"}}")),
        ),
        ("overlays/redis.yaml".to_owned(), deployment(&ns, "redis", "redis:7")),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let repo = server.seed_repo(&prefix, &refs);
    let seeded = head(&repo.path);

    // The updater writes the image with the build's provenance as trailers.
    let candidate = format!("{cart}:main-1f49071-24@{DIGEST}");
    let update = shipline(
        &server,
        &[
            "update",
            "--git",
            &repo.http_url,
            "--git-username",
            &server.user,
            "--candidate",
            &candidate,
            "--trailer",
            "CodeBuild-Build-Id=cart-build:0b1c",
            "--trailer",
            "CodePipeline-Execution-Id=exec-42",
        ],
    );
    assert!(update.status.success(), "update: {}", String::from_utf8_lossy(&update.stderr));
    let updated = head(&repo.path);
    assert_ne!(updated, seeded);

    let path = repo.path.display().to_string();
    let reconcile = shipline(
        &server,
        &[
            "reconcile",
            "--once",
            "--no-wait",
            "--git",
            &path,
            "--path",
            "overlays",
            "--name",
            &sync,
            "--reconciler-namespace",
            &state_ns,
            "--create-reconciler-namespace",
        ],
    );
    assert!(reconcile.status.success(), "reconcile: {}", String::from_utf8_lossy(&reconcile.stderr));

    let status = shipline(
        &server,
        &[
            "status",
            "--git",
            &repo.http_url,
            "--git-username",
            &server.user,
            "--reconciler-namespace",
            &state_ns,
            "--json",
        ],
    );
    assert!(status.status.success(), "status: {}", String::from_utf8_lossy(&status.stderr));
    let report: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let row = &report["syncs"][0];
    assert_eq!(report["syncs"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(row["sync"], sync.as_str());
    assert_eq!(row["applied_revision"], updated.as_str());
    assert!(row["applied_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{row}");
    assert_eq!(row["ready"]["status"], "True", "{row}");
    let images = row["images"].as_array().expect("images");
    let find = |name: &str| images.iter().find(|i| i["workload"].as_str().is_some_and(|w| w.ends_with(name))).cloned();
    let cart_row = find("/cart").expect("the cart Deployment");
    assert_eq!(cart_row["image"], candidate.as_str());
    assert_eq!(cart_row["commit"]["id"], updated.as_str(), "put there by the update commit");
    let trailers = cart_row["commit"]["trailers"].to_string();
    assert!(trailers.contains("cart-build:0b1c") && trailers.contains("exec-42"), "{trailers}");
    let redis_row = find("/redis").expect("the redis Deployment");
    assert_eq!(redis_row["commit"]["id"], seeded.as_str(), "redis:7 came with the first commit");
    assert!(!String::from_utf8_lossy(&status.stdout).contains(&server.password), "no credential printed");

    // Where does this build run, since when? (text, from a local clone)
    let clone = tempfile::tempdir().unwrap();
    git2::Repository::clone(&path, clone.path()).expect("local clone");
    let clone_path = clone.path().display().to_string();
    let query = format!("{prefix}/cart:main-1f49071-24");
    let found =
        shipline(&server, &["status", "--repo", &clone_path, "--reconciler-namespace", &state_ns, "--image", &query]);
    assert!(found.status.success(), "{}", String::from_utf8_lossy(&found.stderr));
    let text = String::from_utf8_lossy(&found.stdout);
    assert!(text.contains(&format!("sync {sync}: applied {}", &updated[..12])), "{text}");
    assert!(text.contains("cart") && !text.contains("redis:7"), "only the asked image: {text}");
    assert!(
        text.contains(&format!("put there by {}", &updated[..12]))
            && text.contains("CodeBuild-Build-Id: cart-build:0b1c"),
        "{text}"
    );

    // An image that runs nowhere, and a sync that does not exist: non-zero, saying why.
    let nowhere = format!("{prefix}/cart:main-0000000-1");
    let missing =
        shipline(&server, &["status", "--repo", &clone_path, "--reconciler-namespace", &state_ns, "--image", &nowhere]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("runs in no workload"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let no_sync =
        shipline(&server, &["status", "--repo", &clone_path, "--reconciler-namespace", &state_ns, "--sync", "nope"]);
    assert!(!no_sync.status.success());
    assert!(
        String::from_utf8_lossy(&no_sync.stderr).contains("no sync \"nope\""),
        "{}",
        String::from_utf8_lossy(&no_sync.stderr)
    );
}
