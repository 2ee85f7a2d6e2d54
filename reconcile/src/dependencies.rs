//! `dependsOn`: a sync applies only once each dependency is Ready at its current revision.
//!
//! What this process knows comes first (the dependency reconciled here: its last result and the
//! revision it last fetched); a dependency not reconciled by this process yet is judged by its
//! status ConfigMap (written by an earlier run): Ready, and the revision last applied is the one
//! last attempted.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::config::SyncSpec;
use crate::context::Context;
use crate::error::ReconcileError;
use crate::status;

/// Fails with [`ReconcileError::DependencyNotReady`] naming the first dependency not Ready.
pub async fn check(spec: &SyncSpec, ctx: &Context) -> Result<(), ReconcileError> {
    for dependency in &spec.depends_on {
        let not_ready = |reason: String| ReconcileError::DependencyNotReady {
            sync: spec.name.clone(),
            dependency: dependency.clone(),
            reason,
        };
        if let Some(known) = ctx.readiness(dependency) {
            if known.ready {
                continue;
            }
            let reason = if known.message.is_empty() { "not Ready".to_owned() } else { known.message };
            return Err(not_ready(reason));
        }
        let cms: Api<ConfigMap> = Api::namespaced(ctx.client().await, &ctx.namespace);
        let recorded = status::load(&cms, dependency).await.map_err(|e| {
            ReconcileError::kube(&spec.name, format!("reading the status of dependency {dependency}"), e)
        })?;
        if let Some(reason) = recorded_not_ready(&recorded) {
            return Err(not_ready(reason));
        }
    }
    Ok(())
}

/// Why a recorded status is not Ready at its current revision (`None`: it is).
pub fn recorded_not_ready(recorded: &status::SyncStatus) -> Option<String> {
    match recorded.condition("Ready") {
        None => Some("not reconciled yet".into()),
        Some(c) if c.status != "True" => Some(format!("Ready is {}: {}: {}", c.status, c.reason, c.message)),
        Some(_) if recorded.last_applied_revision != recorded.last_attempted_revision => Some(format!(
            "revision {} is not applied yet (last applied {})",
            recorded.last_attempted_revision, recorded.last_applied_revision
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_readiness() {
        let mut s = status::SyncStatus::default();
        assert_eq!(recorded_not_ready(&s).as_deref(), Some("not reconciled yet"));
        s.set_condition("Ready", "False", "BuildFailed", "bad yaml", "t");
        assert_eq!(recorded_not_ready(&s).as_deref(), Some("Ready is False: BuildFailed: bad yaml"));
        s.set_condition("Ready", "True", "ReconciliationSucceeded", "", "t");
        s.last_applied_revision = "a".into();
        s.last_attempted_revision = "b".into();
        assert!(recorded_not_ready(&s).unwrap().contains("revision b is not applied yet"));
        s.last_applied_revision = "b".into();
        assert_eq!(recorded_not_ready(&s), None);
    }
}
