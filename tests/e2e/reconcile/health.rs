//! Health waits against real rollouts: the reconciler (in the test process) applies a
//! Deployment to the real node's cluster (`tests/services/node.sh`); the scheduler places the
//! Pod, kubelet pulls the image from the test registry and starts it, and the Deployment's
//! status is what a production cluster would report.

use std::time::Duration;

use shipline_e2e::{node_kube_client, unique_name};
use shipline_reconcile::ReconcileError;
use shipline_reconcile::context::Mode;
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::support::{Fixture, LocalRepo, spec, sync_name, trees};
use crate::cluster::support::test_app_image;

fn tree(ns: &str, image: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "web.yaml"])),
        ("ns.yaml", trees::namespace(ns)),
        ("web.yaml", trees::deployment(ns, "web", image, 1)),
    ]
}

#[tokio::test]
async fn rollouts_are_awaited_and_a_rollout_that_never_finishes_times_out() {
    let image = tokio::task::spawn_blocking(test_app_image).await.expect("image");
    let fx = Fixture::new(node_kube_client().await).await;
    let ns = unique_name("rec-health");
    let repo = LocalRepo::new();
    repo.commit(&tree(&ns, &image));
    let name = sync_name("health");
    let mut s = spec(&name, &repo);
    s.wait = true;
    s.timeout = Duration::from_secs(180);
    let mut sync = Sync::new(s);
    let started = std::time::Instant::now();
    let outcome = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("healthy once the Pod runs");
    eprintln!("real rollout awaited in {:?}", started.elapsed());
    assert!(outcome.unhealthy.is_empty());
    let conditions = fx.status_field(&name, "conditions").await;
    assert!(conditions.contains("WorkloadsReady"), "{conditions}");

    // An image tag the registry does not have: kubelet backs off pulling it, the new Pod never
    // becomes Ready, and the wait ends at the timeout naming the object.
    let (repository, _) = image.rsplit_once(':').expect("tag");
    repo.commit(&tree(&ns, &format!("{repository}:does-not-exist")));
    sync.spec.timeout = Duration::from_secs(20);
    let err = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect_err("never ready");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::Unhealthy { .. }), "{text}");
    assert!(text.contains(&format!("Deployment.apps {ns}/web")) && text.contains("replicas"), "{text}");
    // ... and says why, from the new Pod's container state (ErrImagePull, then ImagePullBackOff).
    assert!(text.contains("container app: ErrImagePull") || text.contains("container app: ImagePullBackOff"), "{text}");
    assert!(fx.status_field(&name, "conditions").await.contains("HealthCheckFailed"));
    // The old Pod keeps running (maxUnavailable 25% of 1 rounds to 0).
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(fx.client.clone(), &ns);
    let running = pods.list(&Default::default()).await.expect("pods").items.into_iter().filter(|p| {
        p.spec.as_ref().is_some_and(|s| s.containers[0].image.as_deref() == Some(image.as_str()))
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    });
    assert_eq!(running.count(), 1, "the previous Pod keeps serving");
    let _ = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(fx.client.clone())
        .delete(&ns, &Default::default())
        .await;
}
