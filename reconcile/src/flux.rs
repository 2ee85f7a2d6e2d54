//! Flux's `GitRepository` (source.toolkit.fluxcd.io/v1) and `Kustomization`
//! (kustomize.toolkit.fluxcd.io/v1) manifests as a syncs file, read as they are: each
//! Kustomization becomes a sync of the GitRepository its `sourceRef` names.
//!
//! Fields shipline implements are mapped (see the README's table); every other field of a spec is
//! an error naming it, never silently ignored, so a repository that relies on a feature shipline
//! lacks fails at start-up rather than being applied differently.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{SyncAuth, SyncSpec, parse_duration};
use crate::options::{DeletionPolicy, ObjectRef, PostBuild};

/// Whether a syncs file's documents are Flux objects (any `*.toolkit.fluxcd.io` apiVersion).
pub fn is_flux(docs: &[Value]) -> bool {
    docs.iter().any(|d| {
        d.get("apiVersion").and_then(Value::as_str).is_some_and(|a| {
            a.starts_with("source.toolkit.fluxcd.io/") || a.starts_with("kustomize.toolkit.fluxcd.io/")
        })
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object<S> {
    metadata: Metadata,
    spec: S,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GitRepositorySpec {
    url: String,
    #[serde(default, rename = "ref")]
    reference: Option<GitRef>,
    #[serde(default)]
    secret_ref: Option<LocalRef>,
    /// Accepted: the source is fetched on every reconcile of the Kustomizations that use it.
    #[serde(default)]
    #[allow(dead_code)]
    interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitRef {
    branch: Option<String>,
    tag: Option<String>,
    commit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalRef {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KustomizationSpec {
    source_ref: SourceRef,
    #[serde(default)]
    path: Option<String>,
    interval: String,
    #[serde(default)]
    retry_interval: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    prune: bool,
    #[serde(default)]
    wait: Option<bool>,
    #[serde(default)]
    health_checks: Vec<ObjectRef>,
    #[serde(default)]
    depends_on: Vec<DependencyRef>,
    #[serde(default)]
    post_build: Option<PostBuild>,
    #[serde(default)]
    decryption: Option<crate::options::Decryption>,
    #[serde(default)]
    suspend: bool,
    #[serde(default)]
    deletion_policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRef {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DependencyRef {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// A GitRepository as a sync uses it; nested Kustomizations whose `sourceRef` is not in their
/// parent's build resolve to their parent's source by its `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitSource {
    /// `namespace/name` of the GitRepository.
    pub id: String,
    /// URL.
    pub url: String,
    /// Branch, tag or commit.
    pub reference: String,
    /// Credentials.
    pub auth: SyncAuth,
}

/// Turns Flux documents into syncs (in dependency order). `file` names the file in errors.
pub fn syncs_from_flux(docs: Vec<Value>, file: &str) -> Result<Vec<SyncSpec>, String> {
    let syncs = parse_syncs(docs, &[])?;
    if syncs.is_empty() {
        return Err(format!("{file}: no kustomize.toolkit.fluxcd.io/v1 Kustomization found; nothing to reconcile"));
    }
    crate::config::order_by_dependencies(syncs)
}

/// The nested syncs of a build: its Flux documents, with GitRepositories defined elsewhere (the
/// parent sync's source). A `dependsOn` may name a sync outside the build (checked when it runs).
pub fn nested_syncs(docs: Vec<Value>, known: &[GitSource]) -> Result<Vec<SyncSpec>, String> {
    let syncs = parse_syncs(docs, known)?;
    let inside: std::collections::BTreeSet<String> = syncs.iter().map(|s| s.name.clone()).collect();
    let graph: Vec<(String, Vec<String>)> = syncs
        .iter()
        .map(|s| (s.name.clone(), s.depends_on.iter().filter(|d| inside.contains(*d)).cloned().collect()))
        .collect();
    let order = crate::options::dependency_order(&graph)?;
    let mut slots: Vec<Option<SyncSpec>> = syncs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn parse_syncs(docs: Vec<Value>, known: &[GitSource]) -> Result<Vec<SyncSpec>, String> {
    let mut sources: BTreeMap<String, GitSource> = known.iter().map(|g| (g.id.clone(), g.clone())).collect();
    let mut kustomizations = Vec::new();
    for (i, doc) in docs.into_iter().enumerate().filter(|(_, d)| d.is_object()) {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
        let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
        let at = |e: serde_json::Error| format!("document {} ({kind}): {e}", i + 1);
        match (api.as_str(), kind.as_str()) {
            ("source.toolkit.fluxcd.io/v1", "GitRepository") => {
                let o: Object<GitRepositorySpec> = serde_json::from_value(doc).map_err(&at)?;
                let ns = o.metadata.namespace.unwrap_or_else(|| "flux-system".into());
                let id = format!("{ns}/{}", o.metadata.name);
                let source = git_source(id.clone(), o.spec).map_err(|m| format!("GitRepository {id}: {m}"))?;
                sources.insert(id, source);
            }
            ("kustomize.toolkit.fluxcd.io/v1", "Kustomization") => {
                let o: Object<KustomizationSpec> = serde_json::from_value(doc).map_err(&at)?;
                kustomizations.push(o);
            }
            (api, kind) if api.contains(".toolkit.fluxcd.io/") => {
                return Err(format!(
                    "document {} ({kind} {api}): shipline reads source.toolkit.fluxcd.io/v1 GitRepository and kustomize.toolkit.fluxcd.io/v1 Kustomization only",
                    i + 1
                ));
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(kustomizations.len());
    for k in kustomizations {
        let name = k.metadata.name.clone();
        let ns = k.metadata.namespace.clone().unwrap_or_else(|| "flux-system".into());
        let at = |message: String| format!("Kustomization {ns}/{name}: {message}");
        out.push(sync_of(k, &ns, &sources).map_err(at)?);
    }
    Ok(out)
}

fn sync_of(k: Object<KustomizationSpec>, ns: &str, sources: &BTreeMap<String, GitSource>) -> Result<SyncSpec, String> {
    let s = k.spec;
    if s.source_ref.kind != "GitRepository" {
        return Err(format!("spec.sourceRef.kind: {:?} is not supported (GitRepository only)", s.source_ref.kind));
    }
    let source_ns = s.source_ref.namespace.clone().unwrap_or_else(|| ns.to_owned());
    let Some(git) = sources.get(&format!("{source_ns}/{}", s.source_ref.name)) else {
        return Err(format!("spec.sourceRef: no GitRepository {source_ns}/{} in the file", s.source_ref.name));
    };
    let duration = |field: &str, text: &str| parse_duration(text).map_err(|e| format!("spec.{field}: {e}"));
    let deletion_policy = match s.deletion_policy.as_deref() {
        None | Some("Orphan") => DeletionPolicy::Orphan,
        Some("Delete") => DeletionPolicy::Delete,
        Some("MirrorPrune") if s.prune => DeletionPolicy::Delete,
        Some("MirrorPrune") => DeletionPolicy::Orphan,
        Some(other) => {
            return Err(format!("spec.deletionPolicy: {other:?} is not supported (Orphan, Delete, MirrorPrune)"));
        }
    };
    let mut depends_on = Vec::with_capacity(s.depends_on.len());
    for d in s.depends_on {
        if d.namespace.as_deref().is_some_and(|n| n != ns) {
            return Err(format!(
                "spec.dependsOn: {}/{}: cross-namespace dependencies are not supported",
                d.namespace.unwrap_or_default(),
                d.name
            ));
        }
        depends_on.push(d.name);
    }
    crate::config::validated(SyncSpec {
        name: k.metadata.name,
        git: git.url.clone(),
        reference: git.reference.clone(),
        source: Some(git.clone()),
        path: flux_path(s.path.as_deref()),
        interval: duration("interval", &s.interval)?,
        retry_interval: s.retry_interval.as_deref().map(|r| duration("retryInterval", r)).transpose()?,
        timeout: match &s.timeout {
            Some(t) => duration("timeout", t)?,
            None => duration("interval", &s.interval)?,
        },
        prune: s.prune,
        wait: s.wait.unwrap_or(false),
        namespace: "default".into(),
        auth: git.auth.clone(),
        depends_on,
        health_checks: s.health_checks,
        post_build: s.post_build,
        decryption: s.decryption,
        suspend: s.suspend,
        deletion_policy,
        ignore: Vec::new(),
    })
}

fn git_source(id: String, spec: GitRepositorySpec) -> Result<GitSource, String> {
    let reference = match &spec.reference {
        None => "master".to_owned(),
        Some(r) => match (&r.commit, &r.tag, &r.branch) {
            (Some(c), _, _) => c.clone(),
            (None, Some(t), _) => t.clone(),
            (None, None, Some(b)) => b.clone(),
            (None, None, None) => return Err("spec.ref: give branch, tag or commit".into()),
        },
    };
    let auth = spec.secret_ref.map_or(SyncAuth::None, |r| SyncAuth::Secret(r.name));
    Ok(GitSource { id, url: spec.url, reference, auth })
}

/// Whether an object of the build is a Flux object that becomes a nested sync.
pub fn is_nested_kind(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("kustomize.toolkit.fluxcd.io", "Kustomization") | ("source.toolkit.fluxcd.io", "GitRepository")
    )
}

/// Flux paths are relative to the repository root with or without `./`; empty is the root.
fn flux_path(path: Option<&str>) -> String {
    let p = path.unwrap_or("").trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
    if p.is_empty() || p == "." { ".".into() } else { p.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SyncSpec>, String> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
        assert!(is_flux(&docs));
        syncs_from_flux(docs, "flux.yaml")
    }

    const BOOTSTRAP: &str = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n    name: flux-system\n  url: ssh://git@github.com/org/fleet\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  dependsOn:\n  - name: infrastructure\n  interval: 10m0s\n  retryInterval: 1m\n  path: ./apps/production\n  prune: true\n  wait: true\n  timeout: 5m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substitute: {cluster_env: prod}\n    substituteFrom:\n    - kind: ConfigMap\n      name: cluster-vars\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: infrastructure\n  namespace: flux-system\nspec:\n  interval: 1h0m0s\n  path: ./infrastructure\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  healthChecks:\n  - apiVersion: apps/v1\n    kind: Deployment\n    name: operator\n    namespace: operators\n";

    #[test]
    fn bootstrap_layout_becomes_ordered_syncs() {
        let syncs = parse(BOOTSTRAP).unwrap();
        assert_eq!(syncs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["infrastructure", "apps"]);
        let (infra, apps) = (&syncs[0], &syncs[1]);
        assert_eq!(
            (infra.git.as_str(), infra.reference.as_str(), infra.path.as_str()),
            ("ssh://git@github.com/org/fleet", "main", "infrastructure")
        );
        assert_eq!(infra.auth, SyncAuth::Secret("flux-system".into()));
        assert_eq!(infra.timeout, std::time::Duration::from_secs(3600), "timeout defaults to the interval");
        assert_eq!(infra.health_checks[0].name, "operator");
        assert!(!infra.wait);
        assert_eq!(apps.depends_on, ["infrastructure"]);
        assert_eq!(apps.retry_interval, Some(std::time::Duration::from_secs(60)));
        assert!(apps.wait && apps.prune);
        assert_eq!(apps.post_build.as_ref().unwrap().substitute["cluster_env"], "prod");
        assert_eq!(apps.deletion_policy, DeletionPolicy::Orphan, "orphan unless asked");
    }

    #[test]
    fn unimplemented_fields_are_errors_naming_them() {
        let cases = [
            ("  prune: true\n  wait: true\n", "  prune: true\n  wait: true\n  targetNamespace: x\n", "targetNamespace"),
            (
                "  prune: true\n  wait: true\n",
                "  prune: true\n  wait: true\n  decryption: {provider: vault}\n",
                "decryption.provider: \"vault\"",
            ),
            (
                "  prune: true\n  wait: true\n",
                "  prune: true\n  wait: true\n  decryption: {provider: sops, serviceAccountName: x}\n",
                "serviceAccountName",
            ),
            ("  prune: true\n  wait: true\n", "  prune: true\n  wait: true\n  force: true\n", "force"),
            ("    branch: main\n", "    semver: '>=1.0'\n", "semver"),
            ("  interval: 1m0s\n  ref:", "  interval: 1m0s\n  ignore: '/*'\n  ref:", "ignore"),
            (
                "    kind: GitRepository\n    name: flux-system\n  postBuild",
                "    kind: OCIRepository\n    name: flux-system\n  postBuild",
                "OCIRepository",
            ),
            ("  - name: infrastructure\n", "  - name: nowhere\n", "no sync is named \"nowhere\""),
            (
                "  retryInterval: 1m\n",
                "  retryInterval: 1m\n  deletionPolicy: WaitForTermination\n",
                "WaitForTermination",
            ),
        ];
        for (from, to, want) in cases {
            let text = BOOTSTRAP.replacen(from, to, 1);
            assert_ne!(text, BOOTSTRAP, "{from:?} not found");
            let err = parse(&text).unwrap_err();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn nested_kustomizations_use_the_parent_source_and_may_depend_outside_the_build() {
        let docs: Vec<Value> = serde_saphyr::from_multiple(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec: {interval: 5m, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: flux-system}, dependsOn: [{name: infra}, {name: elsewhere}]}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: infra, namespace: flux-system}\nspec: {interval: 5m, path: ./infra, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}\n",
        )
        .unwrap();
        let parent = GitSource {
            id: "flux-system/flux-system".into(),
            url: "https://h/fleet".into(),
            reference: "main".into(),
            auth: SyncAuth::Secret("flux-system".into()),
        };
        let nested = nested_syncs(docs.clone(), std::slice::from_ref(&parent)).unwrap();
        assert_eq!(nested.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["infra", "apps"]);
        assert_eq!((nested[0].git.as_str(), nested[0].reference.as_str()), ("https://h/fleet", "main"));
        assert_eq!(nested[1].depends_on, ["infra", "elsewhere"]);
        let err = nested_syncs(docs, &[]).unwrap_err();
        assert!(err.contains("no GitRepository flux-system/flux-system"), "{err}");
    }
}
