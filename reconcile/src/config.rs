//! What to keep applied: syncs from a YAML file (`--config`) or from flags (one sync).
//!
//! ```yaml
//! syncs:
//! - name: sock-shop-development        # DNS label: names the inventory and status ConfigMaps
//!   git: https://git-codecommit.us-east-1.amazonaws.com/v1/repos/microservices
//!   ref: main                          # branch, tag or full commit id
//!   path: deploy/kubernetes/overlays/development
//!   interval: 1m                       # also the drift-check period
//!   timeout: 5m                        # apply + health wait
//!   prune: true
//!   wait: true                         # wait for rollouts
//!   namespace: default                 # for namespaced objects the build leaves without one
//!   auth: codecommit-iam               # or {secret: NAME} or {files: {...}}; none when omitted
//!   # as in Flux's Kustomization (see `options`):
//!   dependsOn: [infrastructure]        # wait until these syncs are Ready at their revision
//!   healthChecks: [{apiVersion: apps/v1, kind: Deployment, name: web, namespace: apps}]
//!   postBuild: {substitute: {env: prod}, substituteFrom: [{kind: ConfigMap, name: vars, optional: true}]}
//!   decryption: {provider: sops, secretRef: {name: sops-age}}   # age keys in the Secret; KMS via IRSA
//!   suspend: false
//!   deletionPolicy: Orphan             # or Delete, when the sync leaves the file
//!   ignore: [{paths: [/spec/replicas], target: {kind: Deployment, name: web}}]   # drift ignore rules
//! ```

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ReconcileError;
use crate::options::{Decryption, DeletionPolicy, IgnoreRule, ObjectRef, PostBuild, dependency_order};

/// One overlay kept applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSpec {
    /// Unique DNS label; names the inventory (`shipline-inventory-NAME`) and status
    /// (`shipline-status-NAME`) ConfigMaps.
    pub name: String,
    /// Git URL (HTTPS, SSH, or a local path).
    pub git: String,
    /// Branch, tag or full commit id.
    pub reference: String,
    /// The kustomization directory inside the repository.
    pub path: String,
    /// How often to fetch and check for drift.
    pub interval: Duration,
    /// Bound on apply and health waiting.
    pub timeout: Duration,
    /// Cap of the backoff after failures (Flux's `retryInterval`); the interval when unset.
    pub retry_interval: Option<Duration>,
    /// Delete objects that left the build.
    pub prune: bool,
    /// Wait for Deployments, StatefulSets, DaemonSets and Jobs after applying.
    pub wait: bool,
    /// Namespace for namespaced objects without one.
    pub namespace: String,
    /// Git credentials.
    pub auth: SyncAuth,
    /// Syncs that must be Ready at their current revision before this one applies.
    pub depends_on: Vec<String>,
    /// Extra objects whose health the wait checks (kstatus rules).
    pub health_checks: Vec<ObjectRef>,
    /// Variable substitution into the build output.
    pub post_build: Option<PostBuild>,
    /// sops decryption of the build (see `crate::sops`).
    pub decryption: Option<Decryption>,
    /// Skip reconciles (nothing fetched, applied or corrected) until resumed.
    pub suspend: bool,
    /// What happens to the inventory when the sync leaves the configuration.
    pub deletion_policy: DeletionPolicy,
    /// Fields left to other controllers (not applied, not corrected).
    pub ignore: Vec<IgnoreRule>,
    /// The Flux GitRepository this sync came from (Flux manifests only): nested Kustomizations
    /// that name it by `sourceRef` use the same repository.
    pub source: Option<crate::flux::GitSource>,
}

/// Where a sync's git credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SyncAuth {
    /// Public repository or local path.
    #[default]
    None,
    /// CodeCommit over HTTPS with the pod's IAM role (IRSA): SigV4 git credentials.
    CodecommitIam,
    /// A Secret in the reconciler's namespace with Flux's GitRepository keys: `username` +
    /// `password`, or `identity` (SSH private key) + `known_hosts`.
    Secret(String),
    /// Mounted files.
    Files(AuthFiles),
}

/// Credential files mounted into the pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthFiles {
    /// File holding the HTTPS user name.
    pub username: Option<PathBuf>,
    /// File holding the HTTPS password or token.
    pub password: Option<PathBuf>,
    /// SSH private key (OpenSSH format, unencrypted).
    pub identity: Option<PathBuf>,
    /// `known_hosts` for SSH.
    pub known_hosts: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    syncs: Vec<SyncForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncForm {
    name: String,
    git: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
    path: Option<String>,
    interval: Option<String>,
    #[serde(default, rename = "retryInterval")]
    retry_interval: Option<String>,
    timeout: Option<String>,
    prune: Option<bool>,
    wait: Option<bool>,
    namespace: Option<String>,
    #[serde(default)]
    auth: SyncAuth,
    #[serde(default, rename = "dependsOn")]
    depends_on: Vec<String>,
    #[serde(default, rename = "healthChecks")]
    health_checks: Vec<ObjectRef>,
    #[serde(default, rename = "postBuild")]
    post_build: Option<PostBuild>,
    #[serde(default)]
    decryption: Option<Decryption>,
    #[serde(default)]
    suspend: bool,
    #[serde(default, rename = "deletionPolicy")]
    deletion_policy: DeletionPolicy,
    #[serde(default)]
    ignore: Vec<IgnoreRule>,
}

/// Values a sync takes when its fields are left out.
pub mod defaults {
    /// Ref.
    pub const REF: &str = "main";
    /// Interval.
    pub const INTERVAL: &str = "1m";
    /// Timeout.
    pub const TIMEOUT: &str = "5m";
    /// Namespace.
    pub const NAMESPACE: &str = "default";
}

/// The fields of one sync as given on the command line (`shipline reconcile --git ...`).
#[derive(Debug, Clone, Default)]
pub struct SyncFlags {
    /// `--name` (defaults to the last path segment of the URL).
    pub name: Option<String>,
    /// `--git`.
    pub git: String,
    /// `--ref`.
    pub reference: Option<String>,
    /// `--path`.
    pub path: Option<String>,
    /// `--interval`.
    pub interval: Option<String>,
    /// `--timeout`.
    pub timeout: Option<String>,
    /// `--prune`.
    pub prune: bool,
    /// `--no-wait` negated.
    pub wait: bool,
    /// `--namespace`.
    pub namespace: Option<String>,
    /// `--auth-secret`.
    pub auth_secret: Option<String>,
}

/// Reads and validates a syncs file.
pub fn load_file(path: &Path) -> Result<Vec<SyncSpec>, ReconcileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReconcileError::Config { file: file.clone(), message: format!("cannot read: {e}") })?;
    parse_file(&text, &file)
}

/// Parses a syncs file's text (shipline's `syncs:` form, or Flux `GitRepository` +
/// `Kustomization` manifests, see [`crate::flux`]); `file` names it in errors.
pub fn parse_file(text: &str, file: &str) -> Result<Vec<SyncSpec>, ReconcileError> {
    let err = |message: String| ReconcileError::Config { file: file.to_owned(), message };
    if text.contains("toolkit.fluxcd.io/") {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| err(e.to_string()))?;
        if crate::flux::is_flux(&docs) {
            return crate::flux::syncs_from_flux(docs, file).map_err(err);
        }
    }
    let form: FileForm = serde_saphyr::from_str(text).map_err(|e| err(e.to_string()))?;
    if form.syncs.is_empty() {
        return Err(err("syncs: the list is empty; nothing to reconcile".into()));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(form.syncs.len());
    for (i, s) in form.syncs.into_iter().enumerate() {
        let name = s.name.clone();
        let at = |message: String| err(format!("syncs[{i}] ({name}): {message}"));
        if !names.insert(s.name.clone()) {
            return Err(at("name: used by an earlier sync; names must be unique".into()));
        }
        out.push(resolve(s, Source::File).map_err(at)?);
    }
    order_by_dependencies(out).map_err(err)
}

/// Checks `dependsOn` (known names, no cycle) and puts dependencies before their dependents.
pub fn order_by_dependencies(syncs: Vec<SyncSpec>) -> Result<Vec<SyncSpec>, String> {
    let graph: Vec<(String, Vec<String>)> = syncs.iter().map(|s| (s.name.clone(), s.depends_on.clone())).collect();
    let order = dependency_order(&graph)?;
    let mut slots: Vec<Option<SyncSpec>> = syncs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Builds the one sync given by flags.
pub fn from_flags(flags: &SyncFlags) -> Result<SyncSpec, ReconcileError> {
    let form = SyncForm {
        name: flags.name.clone().unwrap_or_else(|| default_name(&flags.git)),
        git: flags.git.clone(),
        reference: flags.reference.clone(),
        path: flags.path.clone(),
        interval: flags.interval.clone(),
        retry_interval: None,
        timeout: flags.timeout.clone(),
        prune: Some(flags.prune),
        wait: Some(flags.wait),
        namespace: flags.namespace.clone(),
        auth: flags.auth_secret.clone().map_or(SyncAuth::None, SyncAuth::Secret),
        depends_on: Vec::new(),
        health_checks: Vec::new(),
        post_build: None,
        decryption: None,
        suspend: false,
        deletion_policy: DeletionPolicy::Orphan,
        ignore: Vec::new(),
    };
    resolve(form, Source::Flags).map_err(|message| ReconcileError::Config { file: "flags".into(), message })
}

/// Where a sync was given, which decides how its fields are named in messages.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A syncs file: `interval`.
    File,
    /// Command-line flags: `--interval`.
    Flags,
}

impl Source {
    fn field(self, key: &str) -> String {
        match self {
            Self::File => key.to_owned(),
            Self::Flags => format!("--{key}"),
        }
    }
}

/// Fills in defaults and validates one sync.
fn resolve(s: SyncForm, source: Source) -> Result<SyncSpec, String> {
    let duration = |key: &str, text: Option<&str>, default: &str| {
        parse_duration(text.unwrap_or(default)).map_err(|m| format!("{}: {m}", source.field(key)))
    };
    let spec = SyncSpec {
        interval: duration("interval", s.interval.as_deref(), defaults::INTERVAL)?,
        timeout: duration("timeout", s.timeout.as_deref(), defaults::TIMEOUT)?,
        retry_interval: match s.retry_interval.as_deref() {
            Some(r) => Some(parse_duration(r).map_err(|m| format!("{}: {m}", source.field("retryInterval")))?),
            None => None,
        },
        name: s.name,
        git: s.git,
        reference: s.reference.unwrap_or_else(|| defaults::REF.into()),
        path: s.path.unwrap_or_else(|| ".".into()),
        prune: s.prune.unwrap_or(true),
        wait: s.wait.unwrap_or(true),
        namespace: s.namespace.unwrap_or_else(|| defaults::NAMESPACE.into()),
        auth: s.auth,
        depends_on: s.depends_on,
        health_checks: s.health_checks,
        post_build: s.post_build,
        decryption: s.decryption,
        suspend: s.suspend,
        deletion_policy: s.deletion_policy,
        ignore: s.ignore,
        source: None,
    };
    validate(spec, source)
}

/// A DNS label from the repository name in `url` (`.../microservices.git` -> `microservices`).
fn default_name(url: &str) -> String {
    let last = url.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or("sync");
    let base = last.strip_suffix(".git").unwrap_or(last).to_ascii_lowercase();
    let label: String = base.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let label = label.trim_matches('-');
    if label.is_empty() { "sync".into() } else { label.chars().take(40).collect() }
}

/// Validates a sync built from another form (Flux manifests).
pub(crate) fn validated(spec: SyncSpec) -> Result<SyncSpec, String> {
    validate(spec, Source::File)
}

fn validate(spec: SyncSpec, source: Source) -> Result<SyncSpec, String> {
    let field = |key: &str| source.field(key);
    let n = &spec.name;
    let label_ok = !n.is_empty()
        && n.len() <= 40
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-');
    if !label_ok {
        return Err(format!(
            "{}: {n:?} must be 1-40 lowercase letters, digits or '-' (it names ConfigMaps), not starting or ending with '-'",
            field("name")
        ));
    }
    if spec.git.is_empty() {
        return Err(format!("{}: the URL is empty", field("git")));
    }
    if spec.reference.is_empty() {
        return Err(format!("{}: empty", field("ref")));
    }
    let path = Path::new(&spec.path);
    if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "{}: {:?} must be relative to the repository root and stay inside it",
            field("path"),
            spec.path
        ));
    }
    if spec.interval < Duration::from_secs(1) {
        return Err(format!("{}: must be at least 1s", field("interval")));
    }
    if let SyncAuth::Files(f) = &spec.auth {
        let https = f.username.is_some() || f.password.is_some();
        let ssh = f.identity.is_some() || f.known_hosts.is_some();
        if https == ssh || (https && (f.username.is_none() || f.password.is_none())) {
            return Err("auth.files: give username + password, or identity + knownHosts".into());
        }
        if ssh && (f.identity.is_none() || f.known_hosts.is_none()) {
            return Err("auth.files: SSH needs both identity and knownHosts (host keys are always verified)".into());
        }
    }
    if let Some(pb) = &spec.post_build
        && let Some(bad) = pb.substitute.keys().find(|k| !crate::substitute::valid_name(k))
    {
        return Err(format!(
            "postBuild.substitute: variable name {bad:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"
        ));
    }
    if let Some(d) = &spec.decryption {
        d.validate()?;
    }
    for (i, rule) in spec.ignore.iter().enumerate() {
        if let Some(p) = rule.paths.iter().find(|p| !p.starts_with('/') || p.len() < 2) {
            return Err(format!("ignore[{i}].paths: {p:?} must be a JSON pointer such as /spec/replicas"));
        }
    }
    if spec.depends_on.contains(&spec.name) {
        return Err(format!("dependsOn: cycle {n} -> {n}"));
    }
    Ok(spec)
}

/// Parses `90s`, `1m`, `1h30m`, `500ms`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 30s, 1m, 1h30m");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(unit);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [("30s", Some(30_000)), ("1m", Some(60_000)), ("1h30m", Some(5_400_000)), ("250ms", Some(250))];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).ok().map(|d| d.as_millis() as u64), want, "{text}");
        }
        for bad in ["", "10", "m", "1d", "1.5m", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_with_defaults_and_auth_forms() {
        let text = "syncs:\n- name: dev\n  git: https://h/r.git\n  auth: codecommit-iam\n- name: prod\n  git: ssh://git@h/r\n  ref: v1.2.0\n  path: overlays/prod\n  interval: 5m\n  prune: false\n  auth: {secret: git-creds}\n- name: files\n  git: https://h/r\n  auth:\n    files: {identity: /k/id, knownHosts: /k/kh}\n";
        let syncs = parse_file(text, "syncs.yaml").unwrap();
        assert_eq!(syncs.len(), 3);
        assert_eq!((syncs[0].reference.as_str(), syncs[0].path.as_str(), syncs[0].prune), ("main", ".", true));
        assert_eq!(syncs[0].auth, SyncAuth::CodecommitIam);
        assert_eq!(syncs[1].auth, SyncAuth::Secret("git-creds".into()));
        assert_eq!((syncs[1].interval, syncs[1].prune), (Duration::from_secs(300), false));
        assert!(matches!(&syncs[2].auth, SyncAuth::Files(f) if f.known_hosts.as_deref() == Some(Path::new("/k/kh"))));
    }

    #[test]
    fn file_errors_name_the_field() {
        let cases = [
            ("syncs: []\n", "syncs: the list is empty"),
            ("syncs:\n- name: a\n  git: x\n  intervl: 1m\n", "intervl"),
            ("syncs:\n- name: a\n  git: x\n- name: a\n  git: y\n", "syncs[1] (a): name: used by an earlier sync"),
            ("syncs:\n- name: A_b\n  git: x\n", "name: \"A_b\""),
            ("syncs:\n- name: a\n  git: x\n  path: ../../etc\n", "path: \"../../etc\" must be relative"),
            ("syncs:\n- name: a\n  git: x\n  interval: soon\n", "interval: \"soon\""),
            ("syncs:\n- name: a\n  git: x\n  auth: {files: {identity: /a}}\n", "SSH needs both"),
            ("syncs:\n- name: a\n  git: x\n  auth: password\n", "password"),
            ("syncs:\n- name: a\n  git: x\n  dependsOn: [b]\n", "dependsOn: no sync is named \"b\""),
            (
                "syncs:\n- name: a\n  git: x\n  dependsOn: [b]\n- name: b\n  git: x\n  dependsOn: [a]\n",
                "dependsOn: cycle a -> b -> a",
            ),
            ("syncs:\n- name: a\n  git: x\n  postBuild: {substitute: {a-b: x}}\n", "variable name \"a-b\""),
            ("syncs:\n- name: a\n  git: x\n  postBuild: {substitut: {}}\n", "substitut"),
            ("syncs:\n- name: a\n  git: x\n  ignore: [{paths: [spec.replicas]}]\n", "ignore[0].paths"),
            ("syncs:\n- name: a\n  git: x\n  deletionPolicy: Destroy\n", "Destroy"),
        ];
        for (text, want) in cases {
            let err = parse_file(text, "s.yaml").unwrap_err().to_string();
            assert!(err.starts_with("s.yaml: ") && err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn flux_fields_and_dependency_order() {
        let text = "syncs:\n- name: apps\n  git: g\n  dependsOn: [infra]\n  suspend: true\n  deletionPolicy: Delete\n  postBuild:\n    substitute: {env: prod}\n    substituteFrom: [{kind: Secret, name: vars, optional: true}]\n  healthChecks: [{apiVersion: apps/v1, kind: Deployment, name: op, namespace: infra}]\n  ignore: [{paths: [/spec/replicas], target: {kind: Deployment}}]\n- name: infra\n  git: g\n";
        let syncs = parse_file(text, "s.yaml").unwrap();
        assert_eq!(syncs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["infra", "apps"]);
        let apps = &syncs[1];
        assert!(apps.suspend);
        assert_eq!(apps.deletion_policy, DeletionPolicy::Delete);
        let pb = apps.post_build.as_ref().unwrap();
        assert_eq!(pb.substitute["env"], "prod");
        assert!(pb.substitute_from[0].optional);
        assert_eq!(apps.health_checks[0].name, "op");
        assert_eq!(apps.ignore[0].paths, ["/spec/replicas"]);
        assert_eq!(syncs[0].deletion_policy, DeletionPolicy::Orphan);
    }

    #[test]
    fn flags_default_the_name_from_the_url() {
        let flags = SyncFlags {
            git: "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/Micro_Services.git".into(),
            prune: true,
            wait: true,
            ..Default::default()
        };
        let spec = from_flags(&flags).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.reference.as_str(), spec.namespace.as_str()),
            ("micro-services", "main", "default")
        );
        let err = from_flags(&SyncFlags { path: Some("/abs".into()), ..flags }).unwrap_err().to_string();
        assert!(err.starts_with("flags: --path: "), "{err}");
    }
}
