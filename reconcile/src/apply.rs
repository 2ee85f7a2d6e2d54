//! Server-side apply of a kustomize build to a cluster: parse the YAML stream into dynamic
//! objects, resolve every kind through discovery, and apply in dependency order (Namespaces and
//! CRDs first) with a field manager. The first brick of the in-cluster reconciler.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
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
    #[error("{kind} {namespace}{name}: {}", api_message(source))]
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

/// The API server's own message for an API error (`namespaces "x" not found (NotFound, 404)`),
/// without the client's debug dump; other errors as the client prints them.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({}, {})", status.message, status.reason, status.code),
        other => other.to_string(),
    }
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

/// Apply order: Namespaces, then CRDs, then everything else in build order. Deletion (prune)
/// uses the reverse.
pub fn rank(obj: &DynamicObject) -> u8 {
    kind_rank(obj.types.as_ref().map_or("", |t| t.kind.as_str()))
}

/// [`rank`] by kind name.
pub fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        _ => 2,
    }
}

/// Where one object lives in the API: its typed handle, resolved through discovery.
pub struct Target {
    /// A handle for this object's resource, namespaced when the kind is.
    pub api: Api<DynamicObject>,
    /// The object's namespace (the default namespace when the build left it out), or `None` for
    /// cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The resource (group, version, plural) discovery resolved.
    pub resource: ApiResource,
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

    /// Runs discovery again, e.g. after CRDs were applied so their kinds resolve.
    pub async fn refresh(&mut self) -> Result<(), ApplyError> {
        self.discovery =
            Discovery::new(self.client.clone()).run().await.map_err(|e| ApplyError::Discovery(Box::new(e)))?;
        Ok(())
    }

    /// The client this applier talks through.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Whether the cluster serves `api_version`/`kind`.
    pub fn serves(&self, api_version: &str, kind: &str) -> bool {
        self.discovery.resolve_gvk(&gvk(api_version, kind)).is_some()
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
            out.push(self.apply(obj, &params).await?);
        }
        Ok(out)
    }

    /// Resolves `api_version`/`kind` and the namespace of an object through discovery.
    pub fn target(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Target, ApplyError> {
        let (resource, caps) =
            self.discovery.resolve_gvk(&gvk(api_version, kind)).ok_or_else(|| ApplyError::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                name: name.to_owned(),
            })?;
        let namespace = match caps.scope {
            Scope::Namespaced => Some(namespace.unwrap_or(&self.default_namespace).to_owned()),
            Scope::Cluster => None,
        };
        let api = match &namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        Ok(Target { api, namespace, resource })
    }

    /// [`Applier::target`] for an object.
    pub fn target_of(&self, obj: &DynamicObject) -> Result<Target, ApplyError> {
        let types = obj.types.clone().unwrap_or_default();
        let name = obj.metadata.name.as_deref().unwrap_or_default();
        self.target(&types.api_version, &types.kind, name, obj.metadata.namespace.as_deref())
    }

    /// Server-side applies one object with `params`.
    pub async fn apply(&self, obj: &DynamicObject, params: &PatchParams) -> Result<DynamicObject, ApplyError> {
        let target = self.target_of(obj)?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        target.api.patch(&name, params, &Patch::Apply(obj)).await.map_err(|source| ApplyError::Api {
            kind: obj.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default(),
            namespace: target.namespace.map(|n| format!("{n}/")).unwrap_or_default(),
            name,
            source: Box::new(source),
        })
    }
}

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = group_version(api_version);
    GroupVersionKind::gvk(group, version, kind)
}

/// Splits an apiVersion into group and version (`apps/v1` -> `apps`, `v1`; `v1` -> ``, `v1`).
pub fn group_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
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
