//! The desired state: build output turned into keyed, normalised objects with a content hash.

use std::fmt;

use crate::apply::{ApplyError, group_version, kind_rank, parse_objects};
use kube::api::DynamicObject;
use serde_json::Value;

/// Identifies an object across API versions: group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectKey {
    /// API group (empty for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    /// `Deployment.apps sock-shop/front-end`, `Namespace sock-shop`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if self.namespace.is_empty() {
            write!(f, " {}", self.name)
        } else {
            write!(f, " {}/{}", self.namespace, self.name)
        }
    }
}

impl ObjectKey {
    /// Apply rank of the kind (Namespaces, CRDs, rest).
    pub fn rank(&self) -> u8 {
        kind_rank(&self.kind)
    }
}

/// One object of the build, ready to apply. Serialisable so a build can be kept compact between
/// reconciles (see `build_cache`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DesiredObject {
    /// Identity (namespace filled in once the scope is known).
    pub key: ObjectKey,
    /// `group/version` or `version`.
    pub api_version: String,
    /// The object as applied.
    pub object: DynamicObject,
    /// SHA-256 of the applied JSON: tells a changed manifest from an unchanged one.
    pub hash: String,
    /// JSON pointers of the values sops decrypted (any kind): dry-run diffs mask them as they
    /// mask a Secret's data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// Parses build output into desired objects in apply order (Namespaces, CRDs, then build order).
/// Namespaces are left as the build wrote them; [`DesiredObject::set_namespace`] completes them.
pub fn desired_objects(stream: &str) -> Result<Vec<DesiredObject>, ApplyError> {
    let mut out: Vec<DesiredObject> = parse_objects(stream)?
        .into_iter()
        .map(|mut object| {
            let types = object.types.clone().unwrap_or_default();
            normalize_for_apply(&types.kind, &mut object.data);
            let group = group_version(&types.api_version).0.to_owned();
            let key = ObjectKey {
                group,
                kind: types.kind,
                namespace: object.metadata.namespace.clone().unwrap_or_default(),
                name: object.metadata.name.clone().unwrap_or_default(),
            };
            let mut d =
                DesiredObject { key, api_version: types.api_version, object, hash: String::new(), masked: Vec::new() };
            d.rehash();
            d
        })
        .collect();
    out.sort_by_key(|d| d.key.rank());
    Ok(out)
}

impl DesiredObject {
    /// Sets (or, for cluster-scoped kinds, clears) the namespace and updates key and hash.
    pub fn set_namespace(&mut self, namespace: Option<&str>) {
        if self.object.metadata.namespace.as_deref() == namespace {
            return;
        }
        self.object.metadata.namespace = namespace.map(str::to_owned);
        self.key.namespace = namespace.unwrap_or_default().to_owned();
        self.rehash();
    }

    pub(crate) fn rehash(&mut self) {
        let bytes = serde_json::to_vec(&self.object).unwrap_or_default();
        self.hash = shipline_core::digest::sha256_hex(&bytes);
    }

    /// The value of an annotation in git.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.object.metadata.annotations.as_ref()?.get(name).map(String::as_str)
    }
}

/// Rewrites what server-side apply rejects although the API accepts it elsewhere (both measured
/// on v1.20, both also break `kubectl apply --server-side`):
/// - `protocol` is part of the key of port lists, and an applied port that omits it is refused,
///   although the API defaults it to TCP: fill it in where Kubernetes would;
/// - a quantity written as a YAML number (`cpu: 0.5`) is refused with "expected string": write it
///   as the string it means (`"0.5"`).
pub fn normalize_for_apply(kind: &str, data: &mut Value) {
    let pod_spec_paths: &[&[&str]] = match kind {
        "Pod" => &[&["spec"]],
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController" | "PodTemplate" => {
            &[&["spec", "template", "spec"], &["template", "spec"]]
        }
        "CronJob" => &[&["spec", "jobTemplate", "spec", "template", "spec"]],
        "Service" => {
            default_protocol(data.pointer_mut("/spec/ports"));
            return;
        }
        "PersistentVolumeClaim" => {
            quantities_as_strings(data.pointer_mut("/spec/resources/requests"));
            return;
        }
        _ => return,
    };
    for path in pod_spec_paths {
        let Some(spec) = path.iter().try_fold(&mut *data, |v, k| v.get_mut(*k)) else { continue };
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            if let Some(Value::Array(containers)) = spec.get_mut(list) {
                for c in containers {
                    default_protocol(c.get_mut("ports"));
                    for bound in ["requests", "limits"] {
                        quantities_as_strings(c.pointer_mut(&format!("/resources/{bound}")));
                    }
                }
            }
        }
    }
}

fn quantities_as_strings(map: Option<&mut Value>) {
    if let Some(Value::Object(map)) = map {
        for v in map.values_mut() {
            if let Value::Number(n) = v {
                *v = Value::String(n.to_string());
            }
        }
    }
}

fn default_protocol(ports: Option<&mut Value>) {
    if let Some(Value::Array(ports)) = ports {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert_with(|| Value::String("TCP".into()));
        }
    }
}

/// A Kubernetes object as JSON, for comparing and diffing (an object that cannot be serialised,
/// which `DynamicObject` never is, compares as `null`).
pub fn to_json(o: &kube::api::DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_protocols_and_quantities() {
        let stream = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]\n        resources: {requests: {cpu: 0.5, memory: 64Mi}, limits: {cpu: 2}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x}\nspec: {ports: [{port: 80}]}\n";
        let objs = desired_objects(stream).unwrap();
        let keys: Vec<String> = objs.iter().map(|o| o.key.to_string()).collect();
        assert_eq!(keys, ["Namespace ns", "Deployment.apps web", "Service x/web"]);
        let ports = objs[1].object.data.pointer("/spec/template/spec/containers/0/ports").unwrap();
        assert_eq!(
            ports,
            &serde_json::json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}])
        );
        assert_eq!(objs[2].object.data.pointer("/spec/ports/0/protocol"), Some(&Value::from("TCP")));
        let resources = objs[1].object.data.pointer("/spec/template/spec/containers/0/resources").unwrap();
        assert_eq!(
            resources,
            &serde_json::json!({"requests": {"cpu": "0.5", "memory": "64Mi"}, "limits": {"cpu": "2"}})
        );
    }

    #[test]
    fn hash_follows_content_and_namespace() {
        let a = &desired_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n").unwrap()[0];
        let b = &desired_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: w}\n").unwrap()[0];
        assert_ne!(a.hash, b.hash);
        let mut c = a.clone();
        c.set_namespace(Some("default"));
        assert_ne!(a.hash, c.hash);
        assert_eq!(c.key.namespace, "default");
    }
}
