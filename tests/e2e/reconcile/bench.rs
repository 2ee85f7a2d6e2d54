//! Figures, not pass/fail timing: run with
//! `cargo test -p shipline-e2e --test e2e reconcile::bench -- --ignored --nocapture`
//! (services up). `scripts/bench-reconcile.sh` compares with `kubectl apply --server-side`.

use std::time::Instant;

use shipline_e2e::{kube_client, unique_name};
use shipline_reconcile::context::Mode;
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::support::{Fixture, LocalRepo, spec, sync_name, trees};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value")
}

/// Memory over thousands of no-op reconciles (each: fetch, drift check of 20 objects, status
/// comparison) in one process; the growth must stay small (no per-reconcile leak).
#[tokio::test]
#[ignore = "benchmark: prints figures; run with --ignored --nocapture"]
async fn memory_stays_flat_over_thousands_of_reconciles() {
    const RECONCILES: usize = 2_000;
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-mem");
    let mut files = vec![("ns.yaml".to_owned(), trees::namespace(&ns))];
    for i in 0..10 {
        files.push((format!("cm-{i}.yaml"), trees::configmap(&ns, &format!("cm-{i}"), "v", "")));
        files.push((format!("svc-{i}.yaml"), trees::service(&ns, &format!("svc-{i}"))));
    }
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    let mut tree: Vec<(&str, String)> = files.iter().map(|(f, c)| (f.as_str(), c.clone())).collect();
    let kustomization = trees::kustomization(&names);
    tree.push(("kustomization.yaml", kustomization));
    let repo = LocalRepo::new();
    repo.commit(&tree);
    let mut sync = Sync::new(spec(&sync_name("mem"), &repo));
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");
    // Warm-up: allocator pools, connection pool, caches.
    for _ in 0..200 {
        reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("no-op");
    }
    let start_rss = rss_kib();
    let started = Instant::now();
    let mut samples = Vec::new();
    for i in 1..=RECONCILES {
        let outcome = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("no-op");
        assert!(outcome.changes.is_empty());
        if i % 500 == 0 {
            samples.push((i, rss_kib()));
        }
    }
    let per = started.elapsed() / RECONCILES as u32;
    println!("no-op reconcile of 21 objects: {per:?} each; RSS after warm-up {start_rss} KiB");
    for (i, rss) in &samples {
        println!("  after {i:>5} reconciles: RSS {rss} KiB ({:+} KiB)", *rss as i64 - start_rss as i64);
    }
    let last = samples.last().expect("samples").1;
    assert!(last < start_rss + 4 * 1024, "RSS grew from {start_rss} to {last} KiB over {RECONCILES} reconciles");
}
