//! Running syncs: each on its own task and interval, until SIGTERM; or each once.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, watch};

use crate::config::SyncSpec;
use crate::context::{Context, Mode};
use crate::error::ReconcileError;
use crate::plan::Outcome;
use crate::reconciler::{Sync, reconcile_and_report};
use crate::server::Probe;

/// Reconciles every sync once, one after the other (dependencies first); one sync's failure
/// does not stop the others. Nested syncs (Flux Kustomizations in a build) are reconciled after
/// the sync that found them. Returns each sync's result in order.
pub async fn once(syncs: Vec<Sync>, ctx: &Context, mode: Mode) -> Vec<Result<Outcome, ReconcileError>> {
    let mut known: BTreeSet<String> = syncs.iter().map(|s| s.spec.name.clone()).collect();
    let mut queue: VecDeque<Sync> = syncs.into();
    let mut results = Vec::with_capacity(queue.len());
    while let Some(mut sync) = queue.pop_front() {
        let result = reconcile_and_report(&mut sync, ctx, mode).await;
        if let Ok(outcome) = &result {
            for nested in &outcome.nested {
                if known.insert(nested.name.clone()) {
                    queue.push_back(Sync::new(nested.clone()));
                }
            }
        }
        results.push(result);
    }
    results
}

/// Runs every sync on its interval until `shutdown` flips to true. A reconcile in progress is
/// finished (bounded by its timeout), not cut: no half-applied change set on SIGTERM. A sync is
/// woken before its interval by [`Context::wake`] (the HTTP trigger) and when a sync it depends
/// on becomes Ready. Nested syncs found in a build get their own task; a changed nested spec is
/// picked up by that task before its next reconcile.
pub async fn forever(syncs: Vec<Sync>, ctx: Arc<Context>, probe: Arc<Probe>, shutdown: watch::Receiver<bool>) {
    let specs: Vec<_> = syncs.iter().map(|s| s.spec.clone()).collect();
    if let Err(e) = crate::departed::collect(&ctx, &specs).await {
        tracing::warn!(error = %e, "could not handle syncs that left the configuration");
    }
    probe.ready.store(true, Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    let (found_tx, mut found_rx) = mpsc::unbounded_channel::<SyncSpec>();
    let mut running: HashMap<String, watch::Sender<SyncSpec>> = HashMap::new();
    for sync in syncs {
        spawn_sync(&mut tasks, &mut running, sync, &ctx, &shutdown, &found_tx);
    }
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                None => return,
                Some(Err(e)) if e.is_panic() => tracing::error!(error = %e, "a sync task panicked"),
                Some(_) => {}
            },
            Some(spec) = found_rx.recv() => match running.get(&spec.name) {
                Some(tx) => {
                    tx.send_if_modified(|current| {
                        let changed = *current != spec;
                        if changed {
                            *current = spec.clone();
                        }
                        changed
                    });
                }
                None if !*shutdown.borrow() => {
                    tracing::info!(sync = spec.name, "nested sync found");
                    spawn_sync(&mut tasks, &mut running, Sync::new(spec), &ctx, &shutdown, &found_tx);
                }
                None => {}
            },
        }
    }
}

fn spawn_sync(
    tasks: &mut tokio::task::JoinSet<()>,
    running: &mut HashMap<String, watch::Sender<SyncSpec>>,
    mut sync: Sync,
    ctx: &Arc<Context>,
    shutdown: &watch::Receiver<bool>,
    found: &mpsc::UnboundedSender<SyncSpec>,
) {
    let ctx = ctx.clone();
    let mut shutdown = shutdown.clone();
    let found = found.clone();
    let trigger = ctx.trigger(&sync.spec.name);
    let (spec_tx, mut spec_rx) = watch::channel(sync.spec.clone());
    running.insert(sync.spec.name.clone(), spec_tx);
    tasks.spawn(async move {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if spec_rx.has_changed().unwrap_or(false) {
                sync.spec = spec_rx.borrow_and_update().clone();
            }
            let result = reconcile_and_report(&mut sync, &ctx, Mode::Apply).await;
            if let Ok(outcome) = &result
                && !outcome.suspended
            {
                for nested in &outcome.nested {
                    let _ = found.send(nested.clone());
                }
                // Dependents need not wait for their backoff.
                for name in ctx.dependents_of(&sync.spec.name) {
                    ctx.wake(&name);
                }
            }
            (ctx.release_memory)();
            tokio::select! {
                () = tokio::time::sleep(sync.next_delay()) => {}
                () = trigger.notified() => tracing::info!(sync = sync.spec.name, "reconcile requested"),
                _ = shutdown.changed() => return,
            }
        }
    });
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

/// Hands freed heap pages back to the kernel between reconciles, for the system allocator (the
/// default of [`Context::release_memory`]). A reconcile's peak (LIST pages, the build) is
/// transient, but glibc keeps freed memory in its arenas, so without this the idle RSS stays at
/// the peak.
pub fn trim_system_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
