//! The long-running reconciler's controls on the real API server: the reconcile-now trigger
//! (`POST /reconcile/SYNC` with a bearer token) and what happens to a sync's objects when it
//! leaves the configuration (`deletionPolicy`: orphan by default, `Delete` prunes).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use shipline_core::secret::Secret;
use shipline_e2e::{kube_client, unique_name};
use shipline_reconcile::options::DeletionPolicy;
use shipline_reconcile::reconciler::Sync;
use shipline_reconcile::run;
use shipline_reconcile::server::{self, Probe, Trigger};
use tokio::time::Instant;

use super::support::{Fixture, LocalRepo, spec, sync_name, trees};

const TOKEN: &str = "trigger-token-0123456789";

fn tree(ns: &str, value: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "cm.yaml"])),
        ("ns.yaml", trees::namespace(ns)),
        ("cm.yaml", trees::configmap(ns, "settings", value, "")),
    ]
}

/// Runs the long-running reconciler (syncs on their intervals, the HTTP endpoints with the
/// trigger) until the returned sender says stop.
async fn start(
    fx: &Fixture,
    syncs: Vec<Sync>,
) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let trigger = Trigger { ctx: fx.ctx.clone(), token: Secret::new(TOKEN) };
    let probe = Arc::new(Probe { ready: AtomicBool::new(false), metrics: fx.metrics.clone(), trigger: Some(trigger) });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut serve_stop = stopped.clone();
    tokio::spawn(server::serve(listener, probe.clone(), async move {
        let _ = serve_stop.wait_for(|s| *s).await;
    }));
    let ctx = fx.ctx.clone();
    let task = tokio::spawn(run::forever(syncs, ctx, probe, stopped));
    (addr, stop, task)
}

async fn post(addr: std::net::SocketAddr, path: &str, token: &str) -> u16 {
    let client = reqwest::Client::new();
    let response =
        client.post(format!("http://{addr}{path}")).bearer_auth(token).send().await.expect("trigger request");
    response.status().as_u16()
}

/// Polls (bounded) until the sync's status records `revision` as applied; returns how long it took.
async fn applied(fx: &Fixture, sync: &str, revision: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let cm = fx.configmaps().get_opt(&format!("shipline-status-{sync}")).await.expect("read status");
        if cm.and_then(|c| c.data).is_some_and(|d| d.get("lastAppliedRevision").map(String::as_str) == Some(revision)) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "sync {sync} did not apply {revision} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_trigger_reconciles_at_once_and_removed_syncs_orphan_unless_they_ask_for_delete() {
    let fx = Fixture::new(kube_client().await).await;
    let (ns_t, ns_orphan, ns_delete) = (unique_name("rec-trig"), unique_name("rec-orphan"), unique_name("rec-del"));
    let (repo_t, repo_orphan, repo_delete) = (LocalRepo::new(), LocalRepo::new(), LocalRepo::new());
    let first = repo_t.commit(&tree(&ns_t, "one"));
    let orphan_rev = repo_orphan.commit(&tree(&ns_orphan, "kept"));
    let delete_rev = repo_delete.commit(&tree(&ns_delete, "gone"));
    let (t, orphan, delete) = (sync_name("trig"), sync_name("orphan"), sync_name("del"));
    let mut spec_t = spec(&t, &repo_t);
    spec_t.interval = Duration::from_secs(3600);
    let mut spec_delete = spec(&delete, &repo_delete);
    spec_delete.deletion_policy = DeletionPolicy::Delete;
    let syncs = vec![Sync::new(spec_t.clone()), Sync::new(spec(&orphan, &repo_orphan)), Sync::new(spec_delete)];
    let (addr, stop, task) = start(&fx, syncs).await;
    applied(&fx, &t, &first, Duration::from_secs(60)).await;
    applied(&fx, &orphan, &orphan_rev, Duration::from_secs(60)).await;
    applied(&fx, &delete, &delete_rev, Duration::from_secs(60)).await;

    // Refused without the token, or for a sync that does not exist.
    assert_eq!(post(addr, &format!("/reconcile/{t}"), "wrong-token-0123456789xx").await, 401);
    assert_eq!(post(addr, "/reconcile/no-such-sync", TOKEN).await, 404);
    // A new commit: the interval is an hour, the trigger applies it at once.
    let second = repo_t.commit(&tree(&ns_t, "two"));
    assert_eq!(post(addr, &format!("/reconcile/{t}"), TOKEN).await, 202);
    let took = applied(&fx, &t, &second, Duration::from_secs(5)).await;
    eprintln!("trigger to applied: {took:?}");
    assert!(took < Duration::from_secs(1), "the trigger reconciled in {took:?}");
    let _ = stop.send(true);
    task.await.expect("reconciler stopped");

    // Restart with only the first sync: the removed ones are handled by their recorded policy.
    let (_, stop, task) = start(&fx, vec![Sync::new(spec_t)]).await;
    let cms = |ns: &str| -> Api<ConfigMap> { Api::namespaced(fx.client.clone(), ns) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while fx.configmaps().get_opt(&format!("shipline-inventory-{orphan}")).await.unwrap().is_some()
        || cms(&ns_delete).get_opt("settings").await.unwrap().is_some()
    {
        assert!(Instant::now() < deadline, "the removed syncs were not handled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cms(&ns_orphan).get_opt("settings").await.unwrap().is_some(), "orphaned by default: the objects stay");
    assert!(fx.configmaps().get_opt(&format!("shipline-inventory-{delete}")).await.unwrap().is_none());
    let _ = stop.send(true);
    task.await.expect("reconciler stopped");
}
