//! What runs where, read from the cluster for `shipline status`: each sync's status ConfigMap
//! (applied revision and when, Ready and Healthy) and the container images of the workloads in
//! its inventory, read live. Reads only; the join with git history is
//! `shipline_core::update::provenance`.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use shipline_core::update::provenance::{ConditionFacts, RunningImage, SyncFacts};

use crate::{inventory, status};

/// Kinds whose pod template (or pod spec) names images, and the path to the pod spec.
const WORKLOADS: [(&str, &str, &[&str]); 7] = [
    ("apps", "Deployment", &["spec", "template", "spec"]),
    ("apps", "StatefulSet", &["spec", "template", "spec"]),
    ("apps", "DaemonSet", &["spec", "template", "spec"]),
    ("apps", "ReplicaSet", &["spec", "template", "spec"]),
    ("batch", "Job", &["spec", "template", "spec"]),
    ("batch", "CronJob", &["spec", "jobTemplate", "spec", "template", "spec"]),
    ("", "Pod", &["spec"]),
];

/// The `(container, image)` pairs of a workload object (init containers first), or nothing for
/// a kind that runs no pods.
pub fn workload_images(group: &str, kind: &str, object: &Value) -> Vec<(String, String)> {
    let Some((_, _, path)) = WORKLOADS.iter().find(|(g, k, _)| *g == group && *k == kind) else { return Vec::new() };
    let spec = path.iter().try_fold(object, |v, key| v.get(key));
    let Some(spec) = spec else { return Vec::new() };
    ["initContainers", "containers"]
        .iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c.get("image")?.as_str()?.to_owned())))
        .collect()
}

/// Reads every sync that has a status ConfigMap in `namespace` (the reconciler's), or only
/// `only`, with the live images of its workloads. A workload in the inventory that is gone is
/// skipped (it runs nothing).
pub async fn sync_facts(
    client: &kube::Client,
    namespace: &str,
    only: Option<&str>,
) -> Result<Vec<SyncFacts>, kube::Error> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let listed = cms.list(&ListParams::default().labels("app.kubernetes.io/managed-by=shipline")).await?;
    let mut names: Vec<String> = listed
        .items
        .iter()
        .filter_map(|cm| cm.metadata.name.as_deref()?.strip_prefix("shipline-status-").map(str::to_owned))
        .filter(|name| only.is_none_or(|o| o == name))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let state = status::load(&cms, &name).await?;
        let applied = inventory::load(&cms, &name).await.unwrap_or_default();
        let condition = |kind: &str| {
            state.condition(kind).map(|c| ConditionFacts {
                status: c.status.clone(),
                reason: c.reason.clone(),
                since: c.last_transition_time.clone(),
            })
        };
        let mut images = Vec::new();
        for entry in applied.entries.values() {
            let key = &entry.key;
            if !WORKLOADS.iter().any(|(g, k, _)| *g == key.group && *k == key.kind) {
                continue;
            }
            let (group, version) = entry.api_version.split_once('/').unwrap_or(("", entry.api_version.as_str()));
            let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &key.kind));
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.namespace, &resource);
            let Some(object) = api.get_opt(&key.name).await? else { continue };
            let value = serde_json::to_value(&object).unwrap_or(Value::Null);
            for (container, image) in workload_images(&key.group, &key.kind, &value) {
                images.push(RunningImage { workload: key.to_string(), container, image });
            }
        }
        out.push(SyncFacts {
            applied_revision: state.last_applied_revision.clone(),
            applied_at: state.last_applied_at.clone(),
            ready: condition("Ready"),
            healthy: condition("Healthy"),
            name,
            images,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn workload_images_table() {
        let pod = json!({"containers": [{"name": "app", "image": "a:1"}], "initContainers": [{"name": "init", "image": "i:1"}]});
        let cases = [
            ("apps", "Deployment", json!({"spec": {"template": {"spec": pod}}}), vec![("init", "i:1"), ("app", "a:1")]),
            (
                "batch",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}),
                vec![("init", "i:1"), ("app", "a:1")],
            ),
            ("", "Pod", json!({"spec": {"containers": [{"name": "x", "image": "x:2"}]}}), vec![("x", "x:2")]),
            ("", "ConfigMap", json!({"data": {"image": "nope"}}), vec![]),
            ("apps", "Deployment", json!({"spec": {}}), vec![]),
        ];
        for (group, kind, object, want) in cases {
            let got = workload_images(group, kind, &object);
            let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            assert_eq!(got, want, "{kind}");
        }
    }
}
