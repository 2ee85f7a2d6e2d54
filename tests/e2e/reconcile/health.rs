//! Health waits. There is no kubelet: the test plays it, marking the pod Ready through the
//! status subresource; the real controller-manager turns that into Deployment status.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use shipline_e2e::{kube_client, unique_name};
use shipline_reconcile::ReconcileError;
use shipline_reconcile::context::Mode;
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::support::{Fixture, LocalRepo, spec, sync_name, trees};

fn tree(ns: &str, image: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "web.yaml"])),
        ("ns.yaml", trees::namespace(ns)),
        ("web.yaml", trees::deployment(ns, "web", image, 1)),
    ]
}

/// Waits (bounded) for the ReplicaSet controller to create a pod of `image`, then reports it
/// Ready as a kubelet would.
pub(super) async fn mark_pod_ready(client: &kube::Client, ns: &str, app: &str, image: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let pod = loop {
        let list = pods.list(&ListParams::default().labels(&format!("app={app}"))).await.expect("list pods");
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
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(status)).await.expect("mark pod ready");
}

#[tokio::test]
async fn rollouts_are_awaited_and_a_rollout_that_never_finishes_times_out() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-health");
    let repo = LocalRepo::new();
    repo.commit(&tree(&ns, "registry.example/web:1"));
    let name = sync_name("health");
    let mut s = spec(&name, &repo);
    s.wait = true;
    s.timeout = Duration::from_secs(90);
    let mut sync = Sync::new(s);
    let ctx = fx.ctx.clone();
    let reconcile = tokio::spawn(async move {
        let result = reconcile_and_report(&mut sync, &ctx, Mode::Apply).await;
        (result, sync)
    });
    mark_pod_ready(&fx.client, &ns, "web", "registry.example/web:1").await;
    let (result, mut sync) = reconcile.await.expect("task");
    let outcome = result.expect("healthy once the pod is ready");
    assert!(outcome.unhealthy.is_empty());
    let conditions = fx.status_field(&name, "conditions").await;
    assert!(conditions.contains("WorkloadsReady"), "{conditions}");

    // A new image whose pod never becomes ready: the wait ends at the timeout, naming the object.
    repo.commit(&tree(&ns, "registry.example/web:2"));
    sync.spec.timeout = Duration::from_secs(3);
    let err = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect_err("never ready");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::Unhealthy { .. }), "{text}");
    assert!(text.contains(&format!("Deployment.apps {ns}/web")) && text.contains("replicas"), "{text}");
    assert!(fx.status_field(&name, "conditions").await.contains("HealthCheckFailed"));
}
