//! The shipped install manifests and the example overlay build natively (byte-identical to
//! kubectl kustomize) and the API server takes them with server-side apply.
//!
//! Measured on v1.20.2: ports without `protocol` fail server-side apply ("associative list with
//! keys has an element that omits key field protocol"), so the shipped YAML spells it out; and a
//! dry-run apply cannot create objects in a Namespace the same dry run creates, so these tests
//! apply for real.

use shipline_e2e::kube_client;
use shipline_reconcile::apply::{Applier, parse_objects};

fn repo_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn build_both(dir: &str) -> String {
    let path = repo_path(dir);
    let ours = shipline_core::kustomize::build(&path).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let kubectl =
        std::process::Command::new("kubectl").arg("kustomize").arg(&path).output().expect("kubectl is installed");
    assert!(kubectl.status.success(), "{dir}: {}", String::from_utf8_lossy(&kubectl.stderr));
    assert_eq!(
        ours,
        String::from_utf8(kubectl.stdout).unwrap(),
        "{dir}: shipline build differs from kubectl kustomize"
    );
    ours
}

#[tokio::test]
async fn install_manifests_apply_cleanly() {
    let client = kube_client().await;
    let applier = Applier::new(client, "default").await.expect("discovery");
    for dir in ["manifests", "manifests/variants/namespaced"] {
        let objects = parse_objects(&build_both(dir)).unwrap();
        assert!(objects.len() >= 6, "{dir}");
        let applied =
            applier.apply_all(&objects, "shipline-test", false).await.unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(applied.len(), objects.len());
    }
}

#[tokio::test]
async fn example_overlay_is_applied_for_real() {
    let client = kube_client().await;
    let applier = Applier::new(client.clone(), "default").await.expect("discovery");
    let objects = parse_objects(&build_both("manifests/examples/sock-shop/overlays/development")).unwrap();
    assert!(
        objects.iter().any(|o| o.types.as_ref().is_some_and(|t| t.kind == "Namespace")),
        "the overlay brings its namespace"
    );
    applier.apply_all(&objects, "shipline-test", false).await.expect("apply");
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(client, "sock-shop-dev");
    let front_end = deployments.get("front-end").await.expect("deployment applied");
    // A dry run of a changed object is answered with the change but persists nothing.
    let mut changed = objects.clone();
    for o in changed.iter_mut().filter(|o| o.types.as_ref().is_some_and(|t| t.kind == "Deployment")) {
        o.data["spec"]["replicas"] = serde_json::json!(5);
    }
    let answered = applier.apply_all(&changed, "shipline-test", true).await.expect("dry run");
    let dry = answered.iter().find(|o| o.types.as_ref().is_some_and(|t| t.kind == "Deployment")).unwrap();
    assert_eq!(dry.data["spec"]["replicas"], 5, "the dry run answers with the change");
    let after = deployments.get("front-end").await.unwrap();
    // The controller-manager keeps writing status (resourceVersion moves); the spec generation
    // only moves when the spec is written.
    assert_eq!(after.metadata.generation, front_end.metadata.generation, "and persists nothing");
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(1));
    let image = front_end.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap();
    assert!(image.starts_with("123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end:"), "{image}");
}
