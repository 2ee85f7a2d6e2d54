//! Per-object cluster operations with shipline's policies: apply (taking fields back from
//! imperative edits, refusing to take them from another declarative owner), re-create on
//! immutable-field changes when the object opts in, wait for CRDs and workloads.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::apply::{ApplyError, Target};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::ReconcileError;
use crate::health::{Health, assess};
use crate::objects::DesiredObject;
use crate::{FIELD_MANAGER, RECREATE_ANNOTATION};

/// How often waits poll the API server.
const POLL: Duration = Duration::from_millis(500);

/// Applies `desired` to `target`. On a field conflict, fields held by an `Update` manager
/// (`kubectl edit`, `kubectl scale`: imperative drift) are taken back with force; fields held by
/// another `Apply` manager are a [`ReconcileError::Conflict`]. Returns the applied object and
/// whether it had to be re-created.
pub async fn apply(
    sync: &str,
    target: &Target,
    desired: &DesiredObject,
    dry_run: bool,
) -> Result<(DynamicObject, bool), ReconcileError> {
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.dry_run = dry_run;
    match patch(target, desired, &params).await {
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let conflicts = conflicting_managers(&status);
            let live =
                target.api.get_opt(&desired.key.name).await.map_err(|e| kube_err(sync, "reading", desired, e))?;
            let declarative: Vec<&str> = conflicts
                .managers
                .iter()
                .map(String::as_str)
                .filter(|m| live.as_ref().is_some_and(|l| manages_with_apply(l, m)))
                .collect();
            if !declarative.is_empty() {
                return Err(ReconcileError::Conflict {
                    sync: sync.into(),
                    object: desired.key.to_string(),
                    managers: declarative.join(", "),
                    fields: conflicts.fields.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
            tracing::info!(sync, object = %desired.key, managers = ?conflicts.managers, "taking back fields changed imperatively");
            let forced = patch(target, desired, &params.clone().force()).await;
            forced.map(|o| (o, false)).map_err(|e| apply_err(sync, target, desired, e))
        }
        Err(kube::Error::Api(status)) if status.code == 422 && is_immutable(&status.message) => {
            if desired.annotation(RECREATE_ANNOTATION) != Some("true") {
                return Err(ReconcileError::Immutable {
                    sync: sync.into(),
                    object: desired.key.to_string(),
                    message: status.message.clone(),
                });
            }
            if dry_run {
                let live =
                    target.api.get(&desired.key.name).await.map_err(|e| kube_err(sync, "reading", desired, e))?;
                return Ok((live, true));
            }
            delete_and_wait(sync, target, desired).await?;
            let created = patch(target, desired, &params).await.map_err(|e| apply_err(sync, target, desired, e))?;
            Ok((created, true))
        }
        other => other.map(|o| (o, false)).map_err(|e| apply_err(sync, target, desired, e)),
    }
}

async fn patch(target: &Target, desired: &DesiredObject, params: &PatchParams) -> Result<DynamicObject, kube::Error> {
    target.api.patch(&desired.key.name, params, &Patch::Apply(&desired.object)).await
}

fn apply_err(sync: &str, target: &Target, desired: &DesiredObject, source: kube::Error) -> ReconcileError {
    ReconcileError::Apply {
        sync: sync.into(),
        source: ApplyError::Api {
            kind: desired.key.kind.clone(),
            namespace: target.namespace.as_ref().map(|n| format!("{n}/")).unwrap_or_default(),
            name: desired.key.name.clone(),
            source: Box::new(source),
        },
    }
}

fn kube_err(sync: &str, action: &str, desired: &DesiredObject, source: kube::Error) -> ReconcileError {
    ReconcileError::kube(sync, format!("{action} {}", desired.key), source)
}

struct Conflicts {
    managers: BTreeSet<String>,
    fields: BTreeSet<String>,
}

/// Managers and fields named by a 409 apply conflict (`conflict with "kubectl-edit" using v1`).
fn conflicting_managers(status: &kube::core::Status) -> Conflicts {
    let mut out = Conflicts { managers: BTreeSet::new(), fields: BTreeSet::new() };
    for cause in status.details.iter().flat_map(|d| &d.causes) {
        if let Some(manager) = cause.message.split('"').nth(1) {
            out.managers.insert(manager.to_owned());
        }
        if !cause.field.is_empty() {
            out.fields.insert(cause.field.clone());
        }
    }
    out
}

/// Whether `manager` holds fields of `live` through server-side apply.
fn manages_with_apply(live: &DynamicObject, manager: &str) -> bool {
    live.metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|m| m.manager.as_deref() == Some(manager) && m.operation.as_deref() == Some("Apply"))
}

/// The API server's wording for changes it refuses on existing objects.
fn is_immutable(message: &str) -> bool {
    message.contains("field is immutable") || message.contains("are forbidden") && message.contains("updates to")
}

async fn delete_and_wait(sync: &str, target: &Target, desired: &DesiredObject) -> Result<(), ReconcileError> {
    let name = &desired.key.name;
    let live = target.api.get_opt(name).await.map_err(|e| kube_err(sync, "reading", desired, e))?;
    let Some(uid) = live.and_then(|l| l.metadata.uid) else { return Ok(()) };
    let params =
        DeleteParams::foreground().preconditions(Preconditions { uid: Some(uid.clone()), resource_version: None });
    tracing::info!(sync, object = %desired.key, "re-creating: a change hits an immutable field");
    match target.api.delete(name, &params).await {
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(e) => return Err(kube_err(sync, "deleting", desired, e)),
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let live = target.api.get_opt(name).await.map_err(|e| kube_err(sync, "reading", desired, e))?;
        if live.and_then(|l| l.metadata.uid).as_deref() != Some(uid.as_str()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ReconcileError::Immutable {
                sync: sync.into(),
                object: desired.key.to_string(),
                message: "deleted for re-creation but still present after 120s (finalizers?)".into(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every CRD in `names` is Established (its kinds are served).
pub async fn wait_crds_established(
    sync: &str,
    api: &kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>,
    names: &[String],
    deadline: Instant,
) -> Result<(), ReconcileError> {
    for name in names {
        loop {
            let crd = api
                .get(name)
                .await
                .map_err(|e| ReconcileError::kube(sync, format!("reading CustomResourceDefinition {name}"), e))?;
            let established = crd
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(ReconcileError::Unhealthy {
                    sync: sync.into(),
                    timeout_s: 0,
                    details: format!("CustomResourceDefinition {name} is not Established"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(())
}

/// Polls objects until each is ready or failed, or `deadline` passes. Returns the ones that
/// are not ready with their last assessment (kstatus rules, [`crate::health::assess`]).
pub async fn wait_healthy(
    sync: &str,
    objects: Vec<(crate::objects::ObjectKey, &Target)>,
    deadline: Instant,
) -> Result<Vec<(crate::objects::ObjectKey, Health)>, ReconcileError> {
    let mut pending = objects;
    loop {
        let mut still = Vec::new();
        let mut verdicts = Vec::new();
        for (key, target) in pending {
            let live = target
                .api
                .get_opt(&key.name)
                .await
                .map_err(|e| ReconcileError::kube(sync, format!("reading {key}"), e))?;
            let value = live.as_ref().map_or(Value::Null, crate::objects::to_json);
            match assess(&key.group, &key.kind, &value) {
                Health::Ready => {}
                failed @ Health::Failed(_) => verdicts.push((key.clone(), failed)),
                progressing => {
                    verdicts.push((key.clone(), progressing));
                    still.push((key, target));
                }
            }
        }
        let failed = verdicts.iter().any(|(_, h)| matches!(h, Health::Failed(_)));
        if still.is_empty() || failed || Instant::now() > deadline {
            return Ok(verdicts);
        }
        pending = still;
        tokio::time::sleep(POLL).await;
    }
}

/// Why a workload's Pods are not running, from their containers' waiting states
/// (`ImagePullBackOff`, `ErrImagePull`, `CrashLoopBackOff`, ...), as `kubectl describe` shows
/// them; `None` when there is nothing to add (or the Pods cannot be read).
pub async fn pod_problems(client: &kube::Client, desired: &DesiredObject) -> Option<String> {
    let labels = desired.object.data.pointer("/spec/selector/matchLabels")?.as_object()?;
    let selector: Vec<String> = labels.iter().filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}"))).collect();
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), &desired.key.namespace);
    let list = pods.list(&ListParams::default().labels(&selector.join(","))).await.ok()?;
    let mut problems = BTreeSet::new();
    for pod in &list.items {
        let statuses = pod.status.iter().flat_map(|s| s.container_statuses.iter().flatten());
        for (status, waiting) in statuses.filter_map(|c| c.state.as_ref()?.waiting.as_ref().map(|w| (c, w))) {
            let Some(reason) = waiting.reason.as_deref() else { continue };
            if matches!(reason, "ContainerCreating" | "PodInitializing") {
                continue;
            }
            let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
            let message = waiting.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            problems.insert(format!("pod {pod_name} container {}: {reason}{message}", status.name));
        }
    }
    (!problems.is_empty()).then(|| problems.into_iter().take(3).collect::<Vec<_>>().join("; "))
}
