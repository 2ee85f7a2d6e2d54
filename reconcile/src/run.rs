//! Running syncs: each on its own task and interval, until SIGTERM; or each once.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use crate::context::{Context, Mode};
use crate::error::ReconcileError;
use crate::plan::Outcome;
use crate::reconciler::{Sync, reconcile_and_report};
use crate::server::Probe;

/// Reconciles every sync once, one after the other; one sync's failure does not stop the
/// others. Returns each sync's result in order.
pub async fn once(syncs: Vec<Sync>, ctx: &Context, mode: Mode) -> Vec<Result<Outcome, ReconcileError>> {
    let mut results = Vec::with_capacity(syncs.len());
    for mut sync in syncs {
        results.push(reconcile_and_report(&mut sync, ctx, mode).await);
    }
    results
}

/// Runs every sync on its interval until `shutdown` flips to true. A reconcile in progress is
/// finished (bounded by its timeout), not cut: no half-applied change set on SIGTERM. A sync is
/// woken before its interval by [`Context::wake`] (the HTTP trigger) and when a sync it depends
/// on becomes Ready.
pub async fn forever(syncs: Vec<Sync>, ctx: Arc<Context>, probe: Arc<Probe>, shutdown: watch::Receiver<bool>) {
    let specs: Vec<_> = syncs.iter().map(|s| s.spec.clone()).collect();
    if let Err(e) = crate::departed::collect(&ctx, &specs).await {
        tracing::warn!(error = %e, "could not handle syncs that left the configuration");
    }
    probe.ready.store(true, Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    let dependents: Vec<(String, Vec<String>)> = syncs
        .iter()
        .map(|s| {
            let of: Vec<String> = syncs
                .iter()
                .filter(|d| d.spec.depends_on.contains(&s.spec.name))
                .map(|d| d.spec.name.clone())
                .collect();
            (s.spec.name.clone(), of)
        })
        .collect();
    for (mut sync, (_, dependents)) in syncs.into_iter().zip(dependents) {
        let ctx = ctx.clone();
        let mut shutdown = shutdown.clone();
        let trigger = ctx.trigger(&sync.spec.name);
        tasks.spawn(async move {
            loop {
                if *shutdown.borrow() {
                    return;
                }
                let result = reconcile_and_report(&mut sync, &ctx, Mode::Apply).await;
                if result.is_ok_and(|o| !o.suspended) {
                    dependents.iter().for_each(|d| {
                        ctx.wake(d);
                    });
                }
                release_free_memory();
                tokio::select! {
                    () = tokio::time::sleep(sync.next_delay()) => {}
                    () = trigger.notified() => tracing::info!(sync = sync.spec.name, "reconcile requested"),
                    _ = shutdown.changed() => return,
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            tracing::error!(error = %e, "a sync task panicked");
        }
    }
}

/// A receiver that turns true on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing reconciles in progress");
        let _ = tx.send(true);
    });
    rx
}

/// Hands freed heap pages back to the kernel between reconciles. A reconcile's peak (LIST pages,
/// the build) is transient, but glibc keeps freed memory in its arenas, so without this the
/// idle RSS stays at the peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
