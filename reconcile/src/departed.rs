//! Syncs that left the configuration: their recorded state (inventory and status ConfigMaps in
//! the reconciler's namespace) is found by label, and their objects are handled as the sync's
//! last recorded `deletionPolicy` asks: `Orphan` (the default, so a configuration mistake never
//! deletes workloads) leaves them in the cluster, `Delete` prunes the whole inventory. The state
//! ConfigMaps go in both cases.
//!
//! Only the long-running reconciler does this, at start-up: a `--once` run from a pipeline
//! reconciles a subset of the syncs and must not treat the others as gone.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::config::SyncSpec;
use crate::context::Context;
use crate::error::ReconcileError;
use crate::options::DeletionPolicy;
use crate::{inventory, reconciler, status};

/// What happened to one departed sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    /// Its name.
    pub sync: String,
    /// The policy applied.
    pub policy: DeletionPolicy,
    /// Objects pruned (zero when orphaned).
    pub pruned: usize,
}

/// Finds the syncs with recorded state that are not in `configured` and applies their policy.
pub async fn collect(ctx: &Context, configured: &[SyncSpec]) -> Result<Vec<Departed>, ReconcileError> {
    let names: BTreeSet<&str> = configured.iter().map(|s| s.name.as_str()).collect();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client().await, &ctx.namespace);
    let err = |action: &str, e| ReconcileError::kube("(departed)", action.to_owned(), e);
    let listed = cms
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=shipline"))
        .await
        .map_err(|e| err("listing shipline's ConfigMaps", e))?;
    let mut departed = BTreeSet::new();
    for cm in listed.items {
        let is_inventory = cm.metadata.name.as_deref().is_some_and(|n| n.starts_with("shipline-inventory-"));
        let sync = cm.metadata.labels.as_ref().and_then(|l| l.get("shipline.dev/sync")).cloned();
        if let Some(sync) = sync.filter(|s| is_inventory && !names.contains(s.as_str())) {
            departed.insert(sync);
        }
    }
    let mut out = Vec::new();
    for sync in departed {
        let recorded = status::load(&cms, &sync).await.map_err(|e| err("reading a departed sync's status", e))?;
        let policy = if recorded.deletion_policy == "Delete" { DeletionPolicy::Delete } else { DeletionPolicy::Orphan };
        let spec = SyncSpec { name: sync.clone(), deletion_policy: policy, ..Default::default() };
        let pruned = match policy {
            DeletionPolicy::Delete => reconciler::prune_everything(&spec, ctx).await?.changes.len(),
            DeletionPolicy::Orphan => 0,
        };
        for name in [inventory::configmap_name(&sync), status::configmap_name(&sync)] {
            match cms.delete(&name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => return Err(err("deleting a departed sync's state", e)),
            }
        }
        tracing::info!(sync, policy = ?policy, pruned, "sync left the configuration");
        out.push(Departed { sync, policy, pruned });
    }
    Ok(out)
}
