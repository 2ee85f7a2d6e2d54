//! Whether applied objects are healthy, with kstatus semantics (the library Flux's
//! kustomize-controller and `kubectl wait` build on): workloads are read the way `kubectl rollout
//! status` does; Jobs, Pods, PersistentVolumeClaims, LoadBalancer Services, CRDs, Namespaces and
//! APIServices have their own rules; any other kind is judged by the generic rules
//! (`status.observedGeneration` against `metadata.generation`, then the `Stalled`, `Reconciling`
//! and `Ready` conditions). An object without a status is current, as in kstatus. Pure functions
//! over the live object.

use serde_json::Value;

/// What a workload's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Rolled out (or, for a Job, completed); also any kind without a status to wait for.
    Ready,
    /// Still rolling out; the reason says what is missing.
    Progressing(String),
    /// Will not get better by waiting (Job failed, Deployment past its progress deadline).
    Failed(String),
}

/// Kinds whose rollout is awaited.
pub fn is_workload(group: &str, kind: &str) -> bool {
    matches!((group, kind), ("apps", "Deployment" | "StatefulSet" | "DaemonSet") | ("batch", "Job"))
}

/// API groups served by Kubernetes itself: their kinds without a rule below have no status to
/// wait for (ConfigMaps, RBAC, ...), so a wait does not poll them.
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "admissionregistration.k8s.io",
    "certificates.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "extensions",
];

/// Whether a wait must read objects of this kind: the kinds with a built-in rule, and custom
/// resources (any group Kubernetes does not serve itself), judged by the generic rules.
pub fn is_awaited(group: &str, kind: &str) -> bool {
    is_workload(group, kind)
        || matches!(
            (group, kind),
            ("", "Pod" | "PersistentVolumeClaim" | "Service" | "Namespace" | "ReplicationController")
                | ("apps", "ReplicaSet")
                | ("apiextensions.k8s.io", "CustomResourceDefinition")
                | ("apiregistration.k8s.io", "APIService")
        )
        || is_custom(group)
}

/// Whether `group` is served by a CustomResourceDefinition or an aggregated API, not by
/// Kubernetes itself (whose kinds have their own rules).
fn is_custom(group: &str) -> bool {
    !BUILT_IN_GROUPS.contains(&group) && group != "apiextensions.k8s.io" && group != "apiregistration.k8s.io"
}

/// Assesses a live object of `group`/`kind` (a missing object, `null`, is still progressing).
/// Custom resources get the generic rules even when their kind shares a built-in name
/// (a Knative `Service` is not a core Service).
pub fn assess(group: &str, kind: &str, live: &Value) -> Health {
    if live.is_null() {
        return Health::Progressing("not found".into());
    }
    let generation = live.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let status = live.get("status").cloned().unwrap_or(Value::Null);
    let int = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let observed = status.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0);
    let spec_replicas = live.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let stale = || Health::Progressing(format!("status is for generation {observed}, spec is at {generation}"));
    if is_custom(group) {
        return generic(generation, &status);
    }
    match kind {
        "Deployment" => {
            if let Some(c) = condition(&status, "Progressing")
                && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
            {
                return Health::Failed(format!("progress deadline exceeded: {}", message(c)));
            }
            if observed < generation {
                return stale();
            }
            let (updated, available, total) = (int("updatedReplicas"), int("availableReplicas"), int("replicas"));
            if updated < spec_replicas {
                Health::Progressing(format!("{updated} of {spec_replicas} replicas updated"))
            } else if total > updated {
                Health::Progressing(format!("{} old replicas pending termination", total - updated))
            } else if available < updated {
                Health::Progressing(format!("{available} of {updated} updated replicas available"))
            } else {
                Health::Ready
            }
        }
        "StatefulSet" => {
            if observed < generation {
                return stale();
            }
            let (ready, updated) = (int("readyReplicas"), int("updatedReplicas"));
            let on_delete = live.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete");
            if ready < spec_replicas {
                Health::Progressing(format!("{ready} of {spec_replicas} replicas ready"))
            } else if !on_delete && updated < spec_replicas {
                Health::Progressing(format!("{updated} of {spec_replicas} replicas updated"))
            } else if !on_delete && status.get("currentRevision") != status.get("updateRevision") {
                Health::Progressing("rolling update to the new revision in progress".into())
            } else {
                Health::Ready
            }
        }
        "DaemonSet" => {
            if observed < generation {
                return stale();
            }
            let (desired, updated, available) =
                (int("desiredNumberScheduled"), int("updatedNumberScheduled"), int("numberAvailable"));
            if updated < desired {
                Health::Progressing(format!("{updated} of {desired} pods updated"))
            } else if available < desired {
                Health::Progressing(format!("{available} of {desired} pods available"))
            } else {
                Health::Ready
            }
        }
        "Job" => {
            if condition(&status, "Failed").is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True")) {
                let c = condition(&status, "Failed").unwrap_or(&Value::Null);
                return Health::Failed(format!("job failed: {}", message(c)));
            }
            if condition(&status, "Complete").is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True")) {
                Health::Ready
            } else {
                Health::Progressing(format!("{} succeeded, {} active, not complete", int("succeeded"), int("active")))
            }
        }
        "Pod" => pod(live, &status),
        "PersistentVolumeClaim" => match status.get("phase").and_then(Value::as_str) {
            Some("Bound") => Health::Ready,
            Some("Lost") => Health::Failed("claim lost its volume".into()),
            phase => Health::Progressing(format!("phase {}, not Bound", phase.unwrap_or("unknown"))),
        },
        "Service" => {
            let lb = live.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
            let ingress =
                status.pointer("/loadBalancer/ingress").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
            if lb && !ingress {
                Health::Progressing("load balancer has no ingress address yet".into())
            } else {
                Health::Ready
            }
        }
        "CustomResourceDefinition" => {
            if is_true(&status, "Established") {
                Health::Ready
            } else if condition(&status, "NamesAccepted").is_some_and(|c| status_of(c) == "False") {
                let c = condition(&status, "NamesAccepted").unwrap_or(&Value::Null);
                Health::Failed(format!("names not accepted: {}", message(c)))
            } else {
                Health::Progressing("not Established".into())
            }
        }
        "Namespace" => match status.get("phase").and_then(Value::as_str) {
            Some("Terminating") => Health::Progressing("terminating".into()),
            _ => Health::Ready,
        },
        "APIService" => {
            if is_true(&status, "Available") {
                Health::Ready
            } else {
                let why = condition(&status, "Available").map(message).unwrap_or_default();
                Health::Progressing(format!(
                    "not Available{}",
                    if why.is_empty() { String::new() } else { format!(": {why}") }
                ))
            }
        }
        "ReplicaSet" | "ReplicationController" => {
            if observed < generation {
                return stale();
            }
            let (ready, available) = (int("readyReplicas"), int("availableReplicas"));
            if ready < spec_replicas {
                Health::Progressing(format!("{ready} of {spec_replicas} replicas ready"))
            } else if available < spec_replicas {
                Health::Progressing(format!("{available} of {spec_replicas} replicas available"))
            } else {
                Health::Ready
            }
        }
        _ => generic(generation, &status),
    }
}

/// kstatus's generic rules, for custom resources: a status for an older generation is
/// progressing; `Stalled=True` is a failure; `Reconciling=True` and `Ready=False`/`Unknown` are
/// progressing; anything else (including no status at all) is current.
fn generic(generation: i64, status: &Value) -> Health {
    if let Some(observed) = status.get("observedGeneration").and_then(Value::as_i64)
        && observed < generation
    {
        return Health::Progressing(format!("status is for generation {observed}, spec is at {generation}"));
    }
    if let Some(c) = condition(status, "Stalled").filter(|c| status_of(c) == "True") {
        return Health::Failed(format!("Stalled: {}", message(c)));
    }
    if let Some(c) = condition(status, "Reconciling").filter(|c| status_of(c) == "True") {
        return Health::Progressing(format!("Reconciling: {}", message(c)));
    }
    match condition(status, "Ready") {
        Some(c) if status_of(c) != "True" => {
            let why = message(c);
            Health::Progressing(format!(
                "Ready is {}{}",
                status_of(c),
                if why.is_empty() { String::new() } else { format!(": {why}") }
            ))
        }
        _ => Health::Ready,
    }
}

/// A Pod: Succeeded is done, Failed is failed, Running is ready once its Ready condition is True.
fn pod(live: &Value, status: &Value) -> Health {
    match status.get("phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::Ready,
        Some("Failed") => {
            let reason = status.get("reason").and_then(Value::as_str).unwrap_or("failed");
            Health::Failed(format!("pod failed: {reason}"))
        }
        Some("Running") if is_true(status, "Ready") => Health::Ready,
        phase => {
            let restart_never = live.pointer("/spec/restartPolicy").and_then(Value::as_str) == Some("Never");
            let phase = phase.unwrap_or("Pending");
            Health::Progressing(format!(
                "phase {phase}, not Ready{}",
                if restart_never { " (restartPolicy Never)" } else { "" }
            ))
        }
    }
}

fn status_of(condition: &Value) -> &str {
    condition.get("status").and_then(Value::as_str).unwrap_or("Unknown")
}

fn is_true(status: &Value, kind: &str) -> bool {
    condition(status, kind).is_some_and(|c| status_of(c) == "True")
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status.get("conditions")?.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn message(condition: &Value) -> String {
    let reason = condition.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = condition.get("message").and_then(Value::as_str).unwrap_or("");
    [reason, message].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assessment_table() {
        type Case<'a> = (&'a str, &'a str, Value, Result<(), &'a str>);
        let ready = Ok(());
        let cases: Vec<Case> = vec![
            (
                "deployment rolled out",
                "Deployment",
                json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
                "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}),
                ready,
            ),
            (
                "deployment stale status",
                "Deployment",
                json!({"metadata": {"generation": 3}, "spec": {"replicas": 1},
                "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}),
                Err("generation 2"),
            ),
            (
                "deployment unavailable",
                "Deployment",
                json!({"metadata": {"generation": 1}, "spec": {"replicas": 2},
                "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 0}}),
                Err("0 of 2 updated replicas available"),
            ),
            (
                "deployment old replicas",
                "Deployment",
                json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
                "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}}),
                Err("1 old replicas"),
            ),
            (
                "deployment deadline",
                "Deployment",
                json!({"metadata": {"generation": 1}, "status": {"conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "rs web-1 timed out"}]}}),
                Err("failed: progress deadline exceeded: ProgressDeadlineExceeded: rs web-1 timed out"),
            ),
            (
                "statefulset ready",
                "StatefulSet",
                json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
                "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "a"}}),
                ready,
            ),
            (
                "statefulset revision",
                "StatefulSet",
                json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
                "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}}),
                Err("rolling update"),
            ),
            (
                "daemonset partial",
                "DaemonSet",
                json!({"metadata": {"generation": 1},
                "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}}),
                Err("2 of 3 pods available"),
            ),
            ("job complete", "Job", json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}), ready),
            (
                "job failed",
                "Job",
                json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}),
                Err("failed: job failed: BackoffLimitExceeded"),
            ),
            ("job running", "Job", json!({"status": {"active": 1}}), Err("0 succeeded, 1 active")),
            (
                "replicaset short",
                "ReplicaSet",
                json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 1, "availableReplicas": 1}}),
                Err("1 of 2 replicas ready"),
            ),
            ("configmap", "ConfigMap", json!({}), ready),
            ("missing", "ConfigMap", Value::Null, Err("not found")),
            ("pod pending", "Pod", json!({"status": {"phase": "Pending"}}), Err("phase Pending")),
            (
                "pod running ready",
                "Pod",
                json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
                ready,
            ),
            ("pod running not ready", "Pod", json!({"status": {"phase": "Running"}}), Err("not Ready")),
            ("pod succeeded", "Pod", json!({"status": {"phase": "Succeeded"}}), ready),
            (
                "pod failed",
                "Pod",
                json!({"status": {"phase": "Failed", "reason": "Evicted"}}),
                Err("failed: pod failed: Evicted"),
            ),
            ("pvc bound", "PersistentVolumeClaim", json!({"status": {"phase": "Bound"}}), ready),
            ("pvc pending", "PersistentVolumeClaim", json!({"status": {"phase": "Pending"}}), Err("phase Pending")),
            ("service clusterip", "Service", json!({"spec": {"type": "ClusterIP"}}), ready),
            (
                "service lb waiting",
                "Service",
                json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}),
                Err("no ingress"),
            ),
            (
                "service lb ready",
                "Service",
                json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"hostname": "a.elb"}]}}}),
                ready,
            ),
            (
                "crd established",
                "CustomResourceDefinition",
                json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}}),
                ready,
            ),
            (
                "crd names conflict",
                "CustomResourceDefinition",
                json!({"status": {"conditions": [{"type": "NamesAccepted", "status": "False", "reason": "ListKindConflict"}]}}),
                Err("failed: names not accepted: ListKindConflict"),
            ),
            ("namespace active", "Namespace", json!({"status": {"phase": "Active"}}), ready),
            ("namespace terminating", "Namespace", json!({"status": {"phase": "Terminating"}}), Err("terminating")),
            (
                "apiservice unavailable",
                "APIService",
                json!({"status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}),
                Err("not Available: MissingEndpoints"),
            ),
            ("custom resource without status", "Widget", json!({"metadata": {"generation": 1}}), ready),
            (
                "custom resource stale",
                "Widget",
                json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}}),
                Err("generation 1"),
            ),
            (
                "custom resource not ready",
                "Widget",
                json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "reason": "Pending", "message": "waiting for cert"}]}}),
                Err("Ready is False: Pending: waiting for cert"),
            ),
            (
                "custom resource reconciling",
                "Widget",
                json!({"status": {"conditions": [{"type": "Reconciling", "status": "True", "reason": "Progressing"}]}}),
                Err("Reconciling: Progressing"),
            ),
            (
                "custom resource stalled",
                "Widget",
                json!({"status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "BadSpec", "message": "no such issuer"}]}}),
                Err("failed: Stalled: BadSpec: no such issuer"),
            ),
            (
                "custom resource ready",
                "Widget",
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                ready,
            ),
        ];
        for (name, kind, live, want) in cases {
            let group = match kind {
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
                "Job" => "batch",
                "CustomResourceDefinition" => "apiextensions.k8s.io",
                "APIService" => "apiregistration.k8s.io",
                "Widget" => "example.com",
                _ => "",
            };
            let got = assess(group, kind, &live);
            match (want, &got) {
                (Ok(()), Health::Ready) => {}
                (Err(text), Health::Failed(m)) if text.starts_with("failed: ") => {
                    assert_eq!(m, &text["failed: ".len()..], "{name}")
                }
                (Err(text), Health::Progressing(m)) if !text.starts_with("failed: ") => {
                    assert!(m.contains(text), "{name}: {m}")
                }
                _ => panic!("{name}: got {got:?}"),
            }
        }
    }

    #[test]
    fn awaited_kinds() {
        let cases = [
            ("apps", "Deployment", true),
            ("", "ConfigMap", false),
            ("rbac.authorization.k8s.io", "Role", false),
            ("", "Service", true),
            ("apiextensions.k8s.io", "CustomResourceDefinition", true),
            ("apiregistration.k8s.io", "APIService", true),
            ("example.com", "Widget", true),
            ("kustomize.toolkit.fluxcd.io", "Kustomization", true),
        ];
        // A custom kind named like a built-in one gets the generic rules.
        let knative = serde_json::json!({"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(matches!(assess("serving.knative.dev", "Service", &knative), Health::Progressing(_)));
        for (group, kind, want) in cases {
            assert_eq!(is_awaited(group, kind), want, "{group}/{kind}");
        }
    }
}
