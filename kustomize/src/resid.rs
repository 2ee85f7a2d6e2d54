//! Resource identity: group, version, kind, namespace and name.

use std::fmt;

/// Cluster-scoped types (group, version, kind), generated from the paths of the Kubernetes
/// OpenAPI document (`api/openapi-spec/swagger.json` of v1.20.2: a type whose paths never hold
/// `{namespace}`), which is how kustomize derives scope from its embedded v1.21.2 document.
/// Any other type, custom resources included, is namespaced (`cluster.x-k8s.io` `Cluster`,
/// `servicebus.azure.com` `Namespace`).
const CLUSTER_SCOPED: &[(&str, &str, &str)] = &[
    ("", "v1", "ComponentStatus"),
    ("", "v1", "Namespace"),
    ("", "v1", "Node"),
    ("", "v1", "PersistentVolume"),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "v1beta1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "v1beta1", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "v1", "APIService"),
    ("apiregistration.k8s.io", "v1beta1", "APIService"),
    ("authentication.k8s.io", "v1", "TokenReview"),
    ("authentication.k8s.io", "v1beta1", "TokenReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "v1", "SubjectAccessReview"),
    ("authorization.k8s.io", "v1beta1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1beta1", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "v1beta1", "SubjectAccessReview"),
    ("certificates.k8s.io", "v1", "CertificateSigningRequest"),
    ("certificates.k8s.io", "v1beta1", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1", "PriorityLevelConfiguration"),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "v1", "IngressClass"),
    ("networking.k8s.io", "v1beta1", "IngressClass"),
    ("node.k8s.io", "v1", "RuntimeClass"),
    ("node.k8s.io", "v1alpha1", "RuntimeClass"),
    ("node.k8s.io", "v1beta1", "RuntimeClass"),
    ("policy", "v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "v1alpha1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1alpha1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "v1", "PriorityClass"),
    ("scheduling.k8s.io", "v1alpha1", "PriorityClass"),
    ("scheduling.k8s.io", "v1beta1", "PriorityClass"),
    ("storage.k8s.io", "v1", "CSIDriver"),
    ("storage.k8s.io", "v1", "CSINode"),
    ("storage.k8s.io", "v1", "StorageClass"),
    ("storage.k8s.io", "v1", "VolumeAttachment"),
    ("storage.k8s.io", "v1alpha1", "VolumeAttachment"),
    ("storage.k8s.io", "v1beta1", "CSIDriver"),
    ("storage.k8s.io", "v1beta1", "CSINode"),
    ("storage.k8s.io", "v1beta1", "StorageClass"),
    ("storage.k8s.io", "v1beta1", "VolumeAttachment"),
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
    /// An empty version (a selector or field spec without one) matches any version.
    pub fn is_namespaceable(&self) -> bool {
        // Asked for every resource pair name references compare, so most kinds (those the
        // table never names) are answered by one hash look-up instead of a scan of the table.
        static KINDS: std::sync::LazyLock<std::collections::HashSet<&str>> =
            std::sync::LazyLock::new(|| CLUSTER_SCOPED.iter().map(|(_, _, k)| *k).collect());
        if !KINDS.contains(self.kind.as_str()) {
            return true;
        }
        !CLUSTER_SCOPED
            .iter()
            .any(|(g, v, k)| *k == self.kind && *g == self.group && (self.version.is_empty() || *v == self.version))
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

/// An entry of (legacy) `vars`.
#[derive(Debug, Clone, Default)]
pub struct VarSpec {
    /// The variable name used as `$(NAME)`.
    pub name: String,
    /// The referenced object's group, version and kind.
    pub gvk: Gvk,
    /// The referenced object's name.
    pub object: String,
    /// The referenced object's namespace (empty: any).
    pub namespace: String,
    /// The field to read (`metadata.name` by default).
    pub field_path: String,
}

#[cfg(test)]
mod tests {
    use super::Gvk;

    #[test]
    fn scope_is_decided_by_group_version_and_kind() {
        let gvk = |av: &str, k: &str| Gvk::from_api_version(av, k);
        assert!(!gvk("v1", "Namespace").is_namespaceable());
        assert!(gvk("servicebus.azure.com/v1beta20210101preview", "Namespace").is_namespaceable());
        assert!(gvk("cluster.x-k8s.io/v1beta1", "Cluster").is_namespaceable());
        assert!(!gvk("rbac.authorization.k8s.io/v1", "ClusterRole").is_namespaceable());
        assert!(gvk("rbac.authorization.k8s.io/v2", "ClusterRole").is_namespaceable());
        assert!(!gvk("networking.k8s.io/v1", "IngressClass").is_namespaceable());
        assert!(gvk("apps/v1", "Deployment").is_namespaceable());
        // Without a version (selectors, field specs) any version of the type counts.
        assert!(
            !Gvk { group: "storage.k8s.io".into(), version: String::new(), kind: "StorageClass".into() }
                .is_namespaceable()
        );
    }
}
