//! Whether applied workloads finished rolling out, read from their status the way `kubectl
//! rollout status` does. Pure functions over the live object.

use serde_json::Value;

/// What a workload's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Rolled out (or, for a Job, completed); also any kind without a rollout.
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

/// Assesses a live object of `kind`.
pub fn assess(kind: &str, live: &Value) -> Health {
    let generation = live.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let status = live.get("status").cloned().unwrap_or(Value::Null);
    let int = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let observed = status.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0);
    let spec_replicas = live.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let stale = || Health::Progressing(format!("status is for generation {observed}, spec is at {generation}"));
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
        _ => Health::Ready,
    }
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
            ("configmap", "ConfigMap", json!({}), ready),
        ];
        for (name, kind, live, want) in cases {
            let got = assess(kind, &live);
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
}
