//! Resource identity: group, version, kind, namespace and name.

use std::fmt;

/// Kinds that live outside namespaces (kustomize's built-in list).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "Cluster",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Group, version and kind of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` into group and version.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk { group, version, kind: kind.to_string() }
    }

    /// Whether resources of this kind are namespaced.
    pub fn is_namespaceable(&self) -> bool {
        !CLUSTER_SCOPED.contains(&self.kind.as_str())
    }

    /// Whether this matches a selector whose empty fields are wildcards.
    pub fn is_selected_by(&self, group: Option<&str>, version: Option<&str>, kind: Option<&str>) -> bool {
        group.is_none_or(|g| g.is_empty() || g == self.group)
            && version.is_none_or(|v| v.is_empty() || v == self.version)
            && kind.is_none_or(|k| k.is_empty() || k == self.kind)
    }

    /// kustomize's `Gvk.String()` (`group_version_kind` with `~G`/`~V`/`~K` for blanks).
    pub fn sort_string(&self) -> String {
        let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
        format!("{}_{}_{}", or(&self.group, "~G"), or(&self.version, "~V"), or(&self.kind, "~K"))
    }
}

/// A resource id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResId {
    /// Group, version, kind.
    pub gvk: Gvk,
    /// Name.
    pub name: String,
    /// Namespace (empty when unset).
    pub namespace: String,
}

impl ResId {
    /// The namespace used for equality: `default` when unset, a marker for cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        if !self.gvk.is_namespaceable() {
            "_non_namespaceable_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Equality as kustomize's resource map sees it.
    pub fn same_as(&self, o: &ResId) -> bool {
        self.gvk == o.gvk && self.name == o.name && self.effective_namespace() == o.effective_namespace()
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = if self.namespace.is_empty() { "[noNs]" } else { &self.namespace };
        let g = if self.gvk.group.is_empty() { "[noGrp]" } else { &self.gvk.group };
        write!(f, "{}.{}.{}/{}.{}", self.gvk.kind, self.gvk.version, g, self.name, ns)
    }
}
