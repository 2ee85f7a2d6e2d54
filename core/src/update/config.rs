//! The updater's configuration, read from the microservices repository: shipline's own
//! `shipline.yaml` and, as a migration path, Flux's `ImageRepository`, `ImagePolicy` and
//! `ImageUpdateAutomation` manifests as they are.
//!
//! `--config` names a file or a directory; every YAML document in it is read and classified by
//! `kind`. Other kinds are ignored, so a Flux `clusters/` directory can be named directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::update::message::Automation;
use crate::update::overlay::PolicyRef;
use crate::update::overlay::tree;
use crate::update::policy::flux::{ImagePolicySpec, NamespacedObjectReference};
use crate::update::policy::{Choice, ImagePolicy, PolicyError};

/// Default branch when neither the configuration nor the caller names one.
pub const DEFAULT_BRANCH: &str = "main";

/// Everything the updater needs to know, resolved.
#[derive(Debug, Clone)]
pub struct UpdateConfig {
    /// The policies, by the `NS:NAME` that markers use.
    pub policies: Vec<PolicyEntry>,
    /// Paths (relative to the repository root) whose files are updated.
    pub paths: Vec<String>,
    /// The branch to clone and update (Flux's `checkout.ref.branch`), when configured.
    pub branch: Option<String>,
    /// Where commits go when not to `branch` (Flux's `push`).
    pub push: PushSettings,
    /// Commit author and message.
    pub commit: CommitSettings,
    /// The automation object a Flux `messageTemplate` sees as `.AutomationObject`.
    pub automation: Automation,
}

/// Where the updater pushes (Flux's `spec.git.push`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSettings {
    /// Branch that receives the commits: created from the checkout branch when missing, updated
    /// on top of itself when present. `None` pushes to the checkout branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// A refspec (`SRC:DST`, no leading `+`) pushed as well, e.g. `refs/heads/auto:refs/heads/review`.
    #[serde(default)]
    pub refspec: Option<String>,
}

/// One image policy and what it updates.
#[derive(Debug, Clone)]
pub struct PolicyEntry {
    /// `NS:NAME`, as markers name it.
    pub policy_ref: PolicyRef,
    /// The image repository, without tag (`123456789012.dkr.ecr.us-east-1.amazonaws.com/app`).
    pub repository: String,
    /// How the newest tag is chosen.
    pub policy: ImagePolicy,
    /// Kustomization `images:` entry names to update without markers.
    pub kustomize_images: Vec<String>,
}

/// Commit author and message template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitSettings {
    /// Author and committer name.
    #[serde(default = "default_author_name")]
    pub author_name: String,
    /// Author and committer e-mail.
    #[serde(default = "default_author_email")]
    pub author_email: String,
    /// The message. With `{{`, a Go template on Flux's data (see [`crate::update::message`]);
    /// otherwise the subject, `{images}` replaced by the changed references, comma-separated.
    #[serde(default)]
    pub message_template: Option<String>,
    /// Flux's `messageTemplateValues`: `.Values` in the template.
    #[serde(default)]
    pub message_template_values: BTreeMap<String, String>,
    /// The template came from a Flux `ImageUpdateAutomation`: always a Go template.
    #[serde(skip)]
    pub flux_template: bool,
}

impl CommitSettings {
    /// True when the message template is a Go template (always for Flux's, and for
    /// shipline.yaml's when it has an action).
    pub fn is_go_template(&self) -> bool {
        self.message_template.as_deref().is_some_and(|t| self.flux_template || t.contains("{{"))
    }
}

impl Default for CommitSettings {
    fn default() -> Self {
        Self {
            author_name: default_author_name(),
            author_email: default_author_email(),
            message_template: None,
            message_template_values: BTreeMap::new(),
            flux_template: false,
        }
    }
}

fn default_author_name() -> String {
    "shipline".into()
}

fn default_author_email() -> String {
    "shipline@users.noreply.invalid".into()
}

/// Why the configuration cannot be used. Messages name the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// A document is not valid YAML or does not have the expected fields.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the field.
        message: String,
    },
    /// A policy cannot be built.
    #[error("{path}: policy {policy}: {source}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// The policy.
        policy: String,
        /// What is wrong.
        source: PolicyError,
    },
    /// Nothing usable was found.
    #[error(
        "{path}: no image policies found (expected a shipline.yaml with `policies:` or Flux ImagePolicy manifests)"
    )]
    Empty {
        /// What was searched.
        path: PathBuf,
    },
    /// A path escapes the repository.
    #[error("{path}: {field} {value:?} points outside the repository")]
    OutsideRepo {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ShiplineFile {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    push: Option<PushSettings>,
    #[serde(default)]
    commit: Option<CommitSettings>,
    #[serde(default)]
    policies: Vec<ShiplinePolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ShiplinePolicy {
    /// `NS:NAME` used by markers.
    name: String,
    /// Image repository.
    image: String,
    #[serde(default)]
    kustomize_images: Vec<String>,
    #[serde(default)]
    policy: Option<PolicyChoiceConfig>,
    #[serde(default)]
    filter_tags: Option<crate::update::policy::flux::TagFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyChoiceConfig {
    #[serde(default)]
    branch_commit_build: Option<BranchCommitBuild>,
    #[serde(default)]
    semver: Option<crate::update::policy::flux::SemVerPolicy>,
    #[serde(default)]
    alphabetical: Option<crate::update::policy::flux::AlphabeticalPolicy>,
    #[serde(default)]
    numerical: Option<crate::update::policy::flux::NumericalPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchCommitBuild {
    #[serde(default)]
    branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FluxObject<S> {
    #[serde(default)]
    metadata: Metadata,
    spec: S,
}

#[derive(Debug, Deserialize)]
struct ImageRepositorySpec {
    image: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutomationSpec {
    #[serde(default)]
    git: AutomationGit,
    #[serde(default)]
    update: Option<AutomationUpdate>,
}

#[derive(Debug, Default, Deserialize)]
struct AutomationGit {
    #[serde(default)]
    checkout: Option<AutomationCheckout>,
    #[serde(default)]
    commit: Option<AutomationCommit>,
    #[serde(default)]
    push: Option<AutomationPush>,
}

#[derive(Debug, Default, Deserialize)]
struct AutomationCheckout {
    #[serde(default, rename = "ref")]
    reference: Option<AutomationRef>,
}

#[derive(Debug, Default, Deserialize)]
struct AutomationRef {
    #[serde(default)]
    branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutomationCommit {
    #[serde(default)]
    author: Option<AutomationAuthor>,
    #[serde(default)]
    message_template: Option<String>,
    #[serde(default)]
    message_template_values: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AutomationAuthor {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AutomationPush {
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    refspec: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AutomationUpdate {
    #[serde(default)]
    path: Option<String>,
}

/// Flux's default namespace for objects without one.
const FLUX_DEFAULT_NAMESPACE: &str = "flux-system";

/// Reads the configuration at `config` (a file or directory, relative to `repo_root`).
pub fn load(repo_root: &Path, config: &str) -> Result<UpdateConfig, ConfigError> {
    let start = checked_join(repo_root, config, Path::new(config), "--config")?;
    let files = tree::candidate_files(std::slice::from_ref(&start)).map_err(|e| match e {
        tree::TreeError::Io { path, source } => ConfigError::Io { path, source },
        other => ConfigError::Invalid { path: start.clone(), message: other.to_string() },
    })?;
    let mut out = UpdateConfig {
        policies: Vec::new(),
        paths: Vec::new(),
        branch: None,
        push: PushSettings::default(),
        commit: CommitSettings::default(),
        automation: Automation::default(),
    };
    let mut repositories: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut flux_policies: Vec<(PathBuf, FluxObject<ImagePolicySpec>)> = Vec::new();
    for file in files {
        let invalid = |message: String| ConfigError::Invalid { path: file.clone(), message };
        let text = crate::safe_fs::read_regular_text(&file)
            .map_err(|e| invalid(e.to_string()))?
            .ok_or_else(|| invalid("not UTF-8 text".into()))?;
        let docs: Vec<serde_json::Value> = crate::update::yaml::parse_documents(&text).map_err(invalid)?;
        for doc in docs.into_iter().filter(|d| d.is_object()) {
            let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
            let api = doc.get("apiVersion").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
            let flux = api.starts_with("image.toolkit.fluxcd.io/");
            let typed = |what: &str, e: serde_json::Error| invalid(format!("{what}: {e}"));
            match kind.as_str() {
                "ImageRepository" if flux => {
                    let o: FluxObject<ImageRepositorySpec> =
                        serde_json::from_value(doc).map_err(|e| typed("ImageRepository", e))?;
                    let ns = o.metadata.namespace.unwrap_or_else(|| FLUX_DEFAULT_NAMESPACE.into());
                    repositories.insert((ns, o.metadata.name), o.spec.image);
                }
                "ImagePolicy" if flux => {
                    let o: FluxObject<ImagePolicySpec> =
                        serde_json::from_value(doc).map_err(|e| typed("ImagePolicy", e))?;
                    flux_policies.push((file.clone(), o));
                }
                "ImageUpdateAutomation" if flux => {
                    let o: FluxObject<AutomationSpec> =
                        serde_json::from_value(doc).map_err(|e| typed("ImageUpdateAutomation", e))?;
                    out.automation = Automation {
                        namespace: o.metadata.namespace.clone().unwrap_or_else(|| FLUX_DEFAULT_NAMESPACE.into()),
                        name: o.metadata.name.clone(),
                    };
                    apply_automation(repo_root, &file, o.spec, &mut out)?;
                }
                "ShiplineConfig" | "" if doc.get("policies").is_some() || kind == "ShiplineConfig" => {
                    let f: ShiplineFile = serde_json::from_value(doc).map_err(|e| typed("shipline config", e))?;
                    apply_shipline(repo_root, &file, f, &mut out)?;
                }
                _ => {}
            }
        }
    }
    for (file, o) in flux_policies {
        let ns = o.metadata.namespace.clone().unwrap_or_else(|| FLUX_DEFAULT_NAMESPACE.into());
        let NamespacedObjectReference { name: repo_name, namespace: repo_ns } = &o.spec.image_repository_ref;
        let repo_key = (repo_ns.clone().unwrap_or_else(|| ns.clone()), repo_name.clone());
        let shown = format!("{ns}:{}", o.metadata.name);
        let repository = repositories.get(&repo_key).cloned().ok_or_else(|| ConfigError::Invalid {
            path: file.clone(),
            message: format!(
                "ImagePolicy {shown}: spec.imageRepositoryRef {}:{} names no ImageRepository in the configuration",
                repo_key.0, repo_key.1
            ),
        })?;
        let policy = o.spec.to_policy().map_err(|source| ConfigError::Policy {
            path: file.clone(),
            policy: shown.clone(),
            source,
        })?;
        let policy_ref =
            PolicyRef::parse(&shown).map_err(|message| ConfigError::Invalid { path: file.clone(), message })?;
        crate::image::reference::check_name(&repository).map_err(|e| ConfigError::Invalid {
            path: file.clone(),
            message: format!("ImagePolicy {shown}: its ImageRepository's spec.image {repository:?}: {e}"),
        })?;
        out.policies.push(PolicyEntry { policy_ref, repository, policy, kustomize_images: Vec::new() });
    }
    if out.policies.is_empty() {
        return Err(ConfigError::Empty { path: start });
    }
    out.policies.sort_by(|a, b| a.policy_ref.cmp(&b.policy_ref));
    Ok(out)
}

fn apply_shipline(root: &Path, file: &Path, f: ShiplineFile, out: &mut UpdateConfig) -> Result<(), ConfigError> {
    if let Some(api) = &f.api_version
        && api != "shipline.dev/v1alpha1"
    {
        return Err(ConfigError::Invalid {
            path: file.into(),
            message: format!("apiVersion {api:?}: expected shipline.dev/v1alpha1"),
        });
    }
    let _ = f.kind;
    for p in f.paths {
        checked_join(root, &p, file, "paths")?;
        out.paths.push(p);
    }
    out.branch = f.branch.or(out.branch.take());
    if let Some(push) = f.push {
        check_push(file, &push, "push")?;
        out.push = push;
    }
    if let Some(commit) = f.commit {
        check_template(file, &commit, "commit.messageTemplate")?;
        out.commit = commit;
    }
    for p in f.policies {
        let invalid = |message: String| ConfigError::Invalid { path: file.into(), message };
        let policy_ref = PolicyRef::parse(&p.name).map_err(|e| invalid(format!("policies[].name: {e}")))?;
        let choice = p.policy.unwrap_or_default();
        let filter = p.filter_tags.as_ref();
        let chosen: Vec<Choice> = [
            choice.branch_commit_build.map(|b| Choice::BranchCommitBuild { branch: b.branch }),
            choice.semver.map(|s| Choice::Semver { range: s.range }),
            choice.alphabetical.map(|a| Choice::Alphabetical(a.order)),
            choice.numerical.map(|n| Choice::Numerical(n.order)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let choice = match chosen.len() {
            0 => Choice::BranchCommitBuild { branch: None },
            1 => chosen.into_iter().next().expect("one"),
            _ => {
                return Err(invalid(format!(
                    "policies[{}].policy: set only one of branchCommitBuild, semver, alphabetical, numerical",
                    p.name
                )));
            }
        };
        let policy = ImagePolicy::new(choice, filter.map(|f| f.pattern.as_str()), filter.map(|f| f.extract.as_str()))
            .map_err(|source| ConfigError::Policy { path: file.into(), policy: p.name.clone(), source })?;
        if p.image.contains('@') || p.image.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            return Err(invalid(format!(
                "policies[{}].image {:?}: give the repository without tag or digest",
                p.name, p.image
            )));
        }
        crate::image::reference::check_name(&p.image)
            .map_err(|e| invalid(format!("policies[{}].image {:?}: {e}", p.name, p.image)))?;
        out.policies.push(PolicyEntry {
            policy_ref,
            repository: p.image,
            policy,
            kustomize_images: p.kustomize_images,
        });
    }
    Ok(())
}

fn apply_automation(root: &Path, file: &Path, spec: AutomationSpec, out: &mut UpdateConfig) -> Result<(), ConfigError> {
    if let Some(path) = spec.update.and_then(|u| u.path) {
        let path = path.trim_start_matches("./").to_owned();
        checked_join(root, &path, file, "spec.update.path")?;
        out.paths.push(path);
    }
    // Flux: `checkout.ref` is what is cloned, `push.branch` where commits go.
    if let Some(branch) = spec.git.checkout.and_then(|c| c.reference).and_then(|r| r.branch) {
        out.branch.get_or_insert(branch);
    }
    if let Some(push) = spec.git.push {
        let push = PushSettings { branch: push.branch, refspec: push.refspec };
        check_push(file, &push, "spec.git.push")?;
        out.push = push;
    }
    if let Some(commit) = spec.git.commit {
        if let Some(author) = commit.author {
            if let Some(name) = author.name {
                out.commit.author_name = name;
            }
            if let Some(email) = author.email {
                out.commit.author_email = email;
            }
        }
        if let Some(template) = commit.message_template {
            // Flux's template is always a Go template, with or without actions.
            out.commit.message_template = Some(template);
            out.commit.flux_template = true;
            out.commit.message_template_values = commit.message_template_values;
            check_template(file, &out.commit, "spec.git.commit.messageTemplate")?;
        }
    }
    Ok(())
}

/// A Go message template must parse; the error names the file, the field and the line.
fn check_template(file: &Path, commit: &CommitSettings, field: &str) -> Result<(), ConfigError> {
    match commit.message_template.as_deref() {
        Some(t) if commit.is_go_template() => crate::update::template::Template::parse(t)
            .map(|_| ())
            .map_err(|e| ConfigError::Invalid { path: file.into(), message: format!("{field}: {e}") }),
        _ => Ok(()),
    }
}

/// A push branch must be a plain branch name and a refspec must not force.
fn check_push(file: &Path, push: &PushSettings, field: &str) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { path: file.into(), message };
    if let Some(branch) = &push.branch
        && !crate::git::is_valid_branch_name(branch)
    {
        return Err(invalid(format!("{field}.branch {branch:?}: not a valid branch name")));
    }
    if let Some(refspec) = &push.refspec {
        crate::git::parse_push_refspec(refspec).map_err(|e| invalid(format!("{field}.refspec {refspec:?}: {e}")))?;
    }
    Ok(())
}

/// Joins a relative path to the repository root, refusing absolute paths and `..` escapes.
fn checked_join(root: &Path, rel: &str, file: &Path, field: &'static str) -> Result<PathBuf, ConfigError> {
    let rel_path = Path::new(rel);
    let escapes = rel_path.is_absolute()
        || rel_path
            .components()
            .try_fold(0i32, |depth, c| match c {
                std::path::Component::ParentDir => (depth > 0).then_some(depth - 1),
                std::path::Component::Normal(_) => Some(depth + 1),
                _ => Some(depth),
            })
            .is_none();
    if escapes {
        return Err(ConfigError::OutsideRepo { path: file.into(), field, value: rel.to_owned() });
    }
    let joined = root.join(rel_path);
    // A committed symlink on the way would lead the updater out of the clone.
    crate::safe_fs::check_inside(root, &joined)
        .map_err(|e| ConfigError::Invalid { path: file.into(), message: format!("{field} {rel:?}: {e}") })?;
    Ok(joined)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
