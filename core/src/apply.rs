//! Server-side apply of a kustomize build to a cluster: parse the YAML stream into dynamic
//! objects, resolve every kind through discovery, and apply in dependency order (Namespaces and
//! CRDs first) with a field manager. The first brick of the in-cluster reconciler.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};

/// Why objects could not be applied. Messages name the object.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The build output is not a stream of Kubernetes objects.
    #[error("object #{index} of the build: {message}")]
    Parse {
        /// Position in the stream (1-based).
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The cluster does not serve this kind.
    #[error("{kind} {name}: the cluster serves no {api_version} {kind} (is its CRD installed?)")]
    UnknownKind {
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
        /// Object name.
        name: String,
    },
    /// The API server refused the apply.
    #[error("{kind} {namespace}{name}: {source}")]
    Api {
        /// Kind.
        kind: String,
        /// `namespace/` or empty.
        namespace: String,
        /// Name.
        name: String,
        /// The server's answer (boxed: kube's error is large and this enum travels in Results).
        source: Box<kube::Error>,
    },
    /// Discovery failed.
    #[error("API discovery: {0}")]
    Discovery(Box<kube::Error>),
}

/// Parses a multi-document YAML stream (e.g. `shipline build` output) into objects.
pub fn parse_objects(stream: &str) -> Result<Vec<DynamicObject>, ApplyError> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(stream).map_err(|e| ApplyError::Parse { index: 0, message: e.to_string() })?;
    docs.into_iter()
        .filter(|d| !d.is_null())
        .enumerate()
        .map(|(i, d)| {
            let obj: DynamicObject =
                serde_json::from_value(d).map_err(|e| ApplyError::Parse { index: i + 1, message: e.to_string() })?;
            if obj.types.is_none() || obj.metadata.name.is_none() {
                return Err(ApplyError::Parse {
                    index: i + 1,
                    message: "apiVersion, kind and metadata.name are required".into(),
                });
            }
            Ok(obj)
        })
        .collect()
}

/// Apply order: Namespaces, then CRDs, then everything else in build order.
fn rank(obj: &DynamicObject) -> u8 {
    match obj.types.as_ref().map(|t| t.kind.as_str()) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    }
}

/// Applies objects with server-side apply.
pub struct Applier {
    client: kube::Client,
    discovery: Discovery,
    default_namespace: String,
}

impl Applier {
    /// Discovers the cluster's API resources.
    pub async fn new(client: kube::Client, default_namespace: &str) -> Result<Self, ApplyError> {
        let discovery = Discovery::new(client.clone()).run().await.map_err(|e| ApplyError::Discovery(Box::new(e)))?;
        Ok(Self { client, discovery, default_namespace: default_namespace.to_owned() })
    }

    /// Server-side applies `objects` (sorted by [`rank`]) as `field_manager`; with `dry_run`,
    /// the server validates and answers but persists nothing. Returns the applied objects.
    pub async fn apply_all(
        &self,
        objects: &[DynamicObject],
        field_manager: &str,
        dry_run: bool,
    ) -> Result<Vec<DynamicObject>, ApplyError> {
        let mut ordered: Vec<&DynamicObject> = objects.iter().collect();
        ordered.sort_by_key(|o| rank(o));
        let mut params = PatchParams::apply(field_manager);
        params.dry_run = dry_run;
        let mut out = Vec::with_capacity(ordered.len());
        for obj in ordered {
            out.push(self.apply_one(obj, &params).await?);
        }
        Ok(out)
    }

    async fn apply_one(&self, obj: &DynamicObject, params: &PatchParams) -> Result<DynamicObject, ApplyError> {
        let types = obj.types.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let (group, version) = types.api_version.rsplit_once('/').unwrap_or(("", &types.api_version));
        let gvk = GroupVersionKind::gvk(group, version, &types.kind);
        let (resource, caps) = self.discovery.resolve_gvk(&gvk).ok_or_else(|| ApplyError::UnknownKind {
            api_version: types.api_version.clone(),
            kind: types.kind.clone(),
            name: name.clone(),
        })?;
        let namespace = match caps.scope {
            Scope::Namespaced => Some(obj.metadata.namespace.clone().unwrap_or_else(|| self.default_namespace.clone())),
            Scope::Cluster => None,
        };
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        api.patch(&name, params, &Patch::Apply(obj)).await.map_err(|source| ApplyError::Api {
            kind: types.kind.clone(),
            namespace: namespace.map(|n| format!("{n}/")).unwrap_or_default(),
            name,
            source: Box::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_rank() {
        let stream = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n";
        let objs = parse_objects(stream).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!((rank(&objs[0]), rank(&objs[1])), (2, 0));
        let err = parse_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err();
        assert!(err.to_string().starts_with("object #1 of the build"), "{err}");
    }
}
