//! The optional parts of a sync that Flux's Kustomization also has (`dependsOn`, `healthChecks`,
//! `postBuild`, `decryption`, `suspend`, `deletionPolicy`) and shipline's drift ignore rules, in the syncs
//! file's form (camelCase, unknown fields refused).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// An object named by `healthChecks`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    /// `group/version` or `version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (the sync's namespace when left out; ignored for cluster-scoped kinds).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `postBuild`: variables substituted into the build output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostBuild {
    /// Inline variables; they win over `substituteFrom`.
    #[serde(default)]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in the reconciler's namespace) whose data keys are variables; a
    /// later source overrides an earlier one.
    #[serde(default)]
    pub substitute_from: Vec<VarSource>,
}

/// `decryption`: sops, with keys from a Secret in the sync's namespace (Flux's shape: `.agekey`
/// age identities, `sops.aws-kms` static credentials) and AWS KMS with the SDK's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decryption {
    /// Must be `sops`.
    pub provider: String,
    /// The Secret holding keys; KMS needs none (IRSA).
    #[serde(default)]
    pub secret_ref: Option<SecretRef>,
}

/// A Secret named by `decryption.secretRef`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Its name.
    pub name: String,
}

impl Decryption {
    /// Refuses providers other than sops, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.provider != "sops" {
            return Err(format!("decryption.provider: {:?} is not supported (sops)", self.provider));
        }
        Ok(())
    }
}

/// A ConfigMap or Secret of variables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VarSource {
    /// `ConfigMap` or `Secret`.
    pub kind: VarSourceKind,
    /// Its name.
    pub name: String,
    /// A missing source defines no variables instead of failing the sync.
    #[serde(default)]
    pub optional: bool,
}

/// The kinds `substituteFrom` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum VarSourceKind {
    /// A ConfigMap's `data`.
    ConfigMap,
    /// A Secret's `data` (decoded).
    Secret,
}

/// What happens to a sync's objects when the sync leaves the configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DeletionPolicy {
    /// Leave them in the cluster (the default: a configuration mistake never deletes workloads).
    #[default]
    Orphan,
    /// Prune the sync's whole inventory.
    Delete,
}

/// A drift ignore rule: fields shipline neither applies nor corrects on matching objects, because
/// another controller owns them (`spec.replicas` under a HorizontalPodAutoscaler).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreRule {
    /// JSON pointers (`/spec/replicas`) to leave to others.
    pub paths: Vec<String>,
    /// Which objects; every field given must match. Empty: all objects.
    #[serde(default)]
    pub target: IgnoreTarget,
}

/// The objects an [`IgnoreRule`] applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreTarget {
    /// API group (`apps`; empty string for the core group).
    pub group: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
}

impl IgnoreTarget {
    /// Whether the object `key` is targeted.
    pub fn matches(&self, key: &crate::objects::ObjectKey) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.group, &key.group)
            && ok(&self.kind, &key.kind)
            && ok(&self.name, &key.name)
            && ok(&self.namespace, &key.namespace)
    }
}

/// Removes the fields `rules` leave to other controllers from an object about to be applied, so
/// server-side apply neither sets nor owns them. Returns whether anything was removed.
pub fn strip_ignored(rules: &[IgnoreRule], key: &crate::objects::ObjectKey, object: &mut serde_json::Value) -> bool {
    let mut removed = false;
    for rule in rules.iter().filter(|r| r.target.matches(key)) {
        for path in &rule.paths {
            let Some((parent, last)) = path.rsplit_once('/') else { continue };
            let last = last.replace("~1", "/").replace("~0", "~");
            let parent = if parent.is_empty() { Some(&mut *object) } else { object.pointer_mut(parent) };
            if let Some(map) = parent.and_then(serde_json::Value::as_object_mut) {
                removed |= map.remove(&last).is_some();
            }
        }
    }
    removed
}

/// Checks `dependsOn` across syncs: every name exists, no sync depends on itself, no cycle.
/// Returns the syncs' indices in dependency order (dependencies first, otherwise file order).
pub fn dependency_order(syncs: &[(String, Vec<String>)]) -> Result<Vec<usize>, String> {
    let index: BTreeMap<&str, usize> = syncs.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
    for (name, deps) in syncs {
        for d in deps {
            if !index.contains_key(d.as_str()) {
                return Err(format!("syncs ({name}): dependsOn: no sync is named {d:?}"));
            }
        }
    }
    let mut order = Vec::with_capacity(syncs.len());
    let mut done = BTreeSet::new();
    for start in 0..syncs.len() {
        visit(start, syncs, &index, &mut done, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

fn visit(
    i: usize,
    syncs: &[(String, Vec<String>)],
    index: &BTreeMap<&str, usize>,
    done: &mut BTreeSet<usize>,
    path: &mut Vec<usize>,
    order: &mut Vec<usize>,
) -> Result<(), String> {
    if done.contains(&i) {
        return Ok(());
    }
    if let Some(at) = path.iter().position(|p| *p == i) {
        let mut cycle: Vec<&str> = path[at..].iter().map(|p| syncs[*p].0.as_str()).collect();
        cycle.push(&syncs[i].0);
        return Err(format!("dependsOn: cycle {}", cycle.join(" -> ")));
    }
    path.push(i);
    for d in &syncs[i].1 {
        visit(index[d.as_str()], syncs, index, done, path, order)?;
    }
    path.pop();
    done.insert(i);
    order.push(i);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::ObjectKey;

    fn s(name: &str, deps: &[&str]) -> (String, Vec<String>) {
        (name.into(), deps.iter().map(|d| (*d).to_owned()).collect())
    }

    #[test]
    fn dependency_orders_and_errors() {
        let order = dependency_order(&[s("apps", &["infra"]), s("infra", &[]), s("other", &[])]).unwrap();
        assert_eq!(order, [1, 0, 2]);
        let err = dependency_order(&[s("a", &["b"]), s("b", &["c"]), s("c", &["a"])]).unwrap_err();
        assert_eq!(err, "dependsOn: cycle a -> b -> c -> a");
        let err = dependency_order(&[s("a", &["a"])]).unwrap_err();
        assert_eq!(err, "dependsOn: cycle a -> a");
        let err = dependency_order(&[s("a", &["nope"])]).unwrap_err();
        assert!(err.contains("no sync is named \"nope\""), "{err}");
    }

    #[test]
    fn ignore_rules_strip_only_matching_objects() {
        let rules = [IgnoreRule {
            paths: vec!["/spec/replicas".into(), "/metadata/annotations/a~1b".into(), "/spec/none/x".into()],
            target: IgnoreTarget { kind: Some("Deployment".into()), ..Default::default() },
        }];
        let key =
            |kind: &str| ObjectKey { group: "apps".into(), kind: kind.into(), namespace: "n".into(), name: "w".into() };
        let mut obj = serde_json::json!({"metadata": {"annotations": {"a/b": "1", "c": "2"}}, "spec": {"replicas": 3, "paused": false}});
        assert!(strip_ignored(&rules, &key("Deployment"), &mut obj));
        assert_eq!(obj, serde_json::json!({"metadata": {"annotations": {"c": "2"}}, "spec": {"paused": false}}));
        let mut sts = serde_json::json!({"spec": {"replicas": 3}});
        assert!(!strip_ignored(&rules, &key("StatefulSet"), &mut sts));
        assert_eq!(sts["spec"]["replicas"], 3);
    }
}
