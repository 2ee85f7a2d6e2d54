//! Before a sync's first write: make sure its state can be recorded. A sync that applied objects
//! and then could not write its inventory would forget them, so nothing it applied could ever be
//! pruned; so the check comes first, and a sync whose state cannot be recorded applies nothing.
//!
//! The check: the reconciler's namespace exists (created when `--create-reconciler-namespace`
//! allows it), and a server-side dry-run apply of the inventory and status ConfigMaps succeeds,
//! which proves the namespace is there and RBAC lets shipline write both. It reads only, apart
//! from the dry runs, and runs once per sync per process, right before the first write.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::context::Context;
use crate::error::ReconcileError;
use crate::inventory::{self, managed_labels};
use crate::{FIELD_MANAGER, status};

/// Checks (and, when the context allows, creates) what `sync` needs to record its state.
pub async fn ensure_state_recordable(ctx: &Context, sync: &str) -> Result<(), ReconcileError> {
    let client = ctx.client().await;
    let ns = &ctx.namespace;
    let unrecordable =
        |message: String| ReconcileError::StateUnrecordable { sync: sync.to_owned(), namespace: ns.clone(), message };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(ns).await {
        Ok(Some(_)) => {}
        Ok(None) if ctx.create_namespace => {
            let body = serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "shipline"}},
            });
            namespaces
                .patch(ns, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(body))
                .await
                .map_err(|e| unrecordable(format!("creating the namespace: {}", crate::apply::api_message(&e))))?;
            tracing::info!(sync, namespace = %ns, "created the reconciler namespace for inventory and status");
        }
        Ok(None) => {
            return Err(unrecordable(format!(
                "the namespace does not exist; create it (kubectl create namespace {ns}) or pass --create-reconciler-namespace"
            )));
        }
        // A reconciler limited to its own namespace may not read Namespaces: the dry runs below
        // still tell whether it can write there.
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        Err(e) => return Err(ReconcileError::kube(sync, format!("reading Namespace {ns}"), e)),
    }
    let cms: Api<ConfigMap> = Api::namespaced(client, ns);
    for name in [inventory::configmap_name(sync), status::configmap_name(sync)] {
        let body = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": managed_labels(sync)},
            "data": BTreeMap::<String, String>::new(),
        });
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = true;
        cms.patch(&name, &params, &Patch::Apply(body))
            .await
            .map_err(|e| unrecordable(format!("cannot write ConfigMap {name}: {}", crate::apply::api_message(&e))))?;
    }
    Ok(())
}
