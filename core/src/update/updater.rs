//! The git side of the overlay updater: clone the microservices repository, choose the newest
//! image of every policy, edit the overlays, validate, commit and push, race-safe.
//!
//! Race safety: a push that the server rejects as not a fast-forward (someone else pushed
//! first) is retried from a fresh clone of the new tip, re-evaluating every policy there, so a
//! concurrent newer update is never overwritten by an older one. There is no force push.
//!
//! Branches (Flux's `spec.git`): the checkout branch is cloned; commits go to the push branch
//! when one is set, which is created from the checkout branch when missing and updated on top of
//! itself when present. Every ref update is a compare-and-swap on the value that was read.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::git::{self, GitAuth, GitError, Remote};
use crate::image::{Candidate, ImageRef};
use crate::update::config::{self, PolicyEntry, UpdateConfig};
use crate::update::message;
use crate::update::overlay::{FileUpdate, PolicyRef, Target, TreeError, Updates, tree};

/// How many times a rejected push is retried from a fresh clone.
pub const MAX_PUSH_ATTEMPTS: u32 = 24;

/// Where the updater works and what it may consider.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// Remote URL of the microservices repository.
    pub url: String,
    /// Credentials for it.
    pub auth: GitAuth,
    /// Branch to update; `None` takes the configuration's, then [`config::DEFAULT_BRANCH`].
    pub branch: Option<String>,
    /// Configuration path inside the repository (file or directory).
    pub config_path: String,
    /// Candidate tags by image repository (as the configuration names it). Repositories that
    /// are absent are left alone.
    pub candidates: BTreeMap<String, Vec<Candidate>>,
    /// Extra `Key: value` lines for the commit message (image digest, CodeBuild build ARN).
    pub trailers: Vec<(String, String)>,
    /// Plan only: clone and edit in a scratch directory, but neither commit nor push.
    pub dry_run: bool,
    /// Commit author `(name, email)`, overriding the repository configuration's.
    pub author: Option<(String, String)>,
    /// Where commits go and how they are signed, overriding the configuration's.
    pub write: WriteOptions,
}

/// Push branch, refspec and signing for one update; `None` fields take the configuration's.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Branch the commits are pushed to (Flux's `push.branch`).
    pub push_branch: Option<String>,
    /// A refspec pushed as well (Flux's `push.refspec`).
    pub push_refspec: Option<String>,
    /// Sign every commit with this key (SSH or OpenPGP).
    pub signing_key: Option<git::SigningKey>,
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    /// The pushed commit, `None` when nothing changed or on a dry run.
    pub commit: Option<String>,
    /// The branch the commit was (or would be) pushed to.
    pub branch: String,
    /// The branch that was cloned (the same as `branch` unless a push branch is set).
    pub checkout_branch: String,
    /// The commit message (when something changed).
    pub message: Option<String>,
    /// Every changed value with its file, object and image (when something changed).
    pub records: Vec<message::ChangeRecord>,
    /// The files with changes, skips or ignored markers (relative paths).
    pub files: Vec<FileUpdate>,
    /// The new reference chosen for each policy (`NS:NAME` → reference).
    pub chosen: BTreeMap<String, String>,
    /// How many clone-edit-push rounds it took (more than 1 after concurrent pushes).
    pub attempts: u32,
}

impl UpdateOutcome {
    /// True when some file changed.
    pub fn changed(&self) -> bool {
        self.files.iter().any(FileUpdate::is_changed)
    }
}

/// Why an update failed. Nothing was pushed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Cloning, committing or pushing failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The repository's configuration is unusable.
    #[error("configuration in the repository: {0}")]
    Config(#[from] config::ConfigError),
    /// An overlay could not be edited or does not validate.
    #[error("overlay: {0}")]
    Tree(#[from] TreeError),
    /// Candidate tags could not be listed.
    #[error("listing candidate tags: {0}")]
    Candidates(String),
    /// A scratch directory could not be made.
    #[error("scratch directory: {0}")]
    Scratch(std::io::Error),
    /// A changed file no longer parses as its consumers read it.
    #[error("validation of {path} failed, nothing pushed: {message}")]
    Invalid {
        /// The file, relative to the repository.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The commit message template failed.
    #[error("commit message template in the repository's configuration: {0}")]
    CommitMessage(crate::update::template::TemplateError),
    /// Every push was rejected because others kept pushing first.
    #[error("{url}: push rejected {attempts} times because the branch kept moving; try again later")]
    Contended {
        /// The remote.
        url: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl UpdateError {
    /// Whether retrying later can succeed (network trouble, contention), as opposed to a
    /// problem a person must fix (bad configuration, authentication, broken overlay).
    pub fn is_transient(&self) -> bool {
        match self {
            UpdateError::Contended { .. } | UpdateError::Scratch(_) => true,
            UpdateError::Git(GitError::Remote { source, .. }) => {
                matches!(source.class(), git2::ErrorClass::Net | git2::ErrorClass::Os | git2::ErrorClass::Http)
            }
            _ => false,
        }
    }
}

/// Looks up candidate tags once the repository's configuration is known (e.g. from ECR), by
/// image repository. Called again on every retry, so late pushes are seen.
pub type CandidateLookup<'a> = dyn Fn(&UpdateConfig) -> Result<BTreeMap<String, Vec<Candidate>>, String> + 'a;

/// The candidates of every policy's repository listed from ECR: what a [`CandidateLookup`] over
/// ECR returns (`--from-ecr`, the Lambda's scheduled scan).
pub async fn candidates_from_ecr(
    client: &aws_sdk_ecr::Client,
    config: &UpdateConfig,
) -> Result<BTreeMap<String, Vec<Candidate>>, String> {
    let mut found = BTreeMap::new();
    for entry in &config.policies {
        let list = crate::image::ecr::list_candidates(client, &entry.repository).await.map_err(|e| e.to_string())?;
        found.insert(entry.repository.clone(), list);
    }
    Ok(found)
}

/// Runs the update: clone, choose, edit, validate, commit, push; retried on a rejected push.
/// Candidates are `req.candidates` plus, when given, what `lookup` finds.
pub fn run(req: &UpdateRequest, lookup: Option<&CandidateLookup<'_>>) -> Result<UpdateOutcome, UpdateError> {
    for (key, value) in &req.trailers {
        check_trailer(key, value)?;
    }
    let mut checkout = req.branch.clone().unwrap_or_else(|| config::DEFAULT_BRANCH.to_owned());
    let mut checkout_from_config = false;
    let remote = Remote::new(&req.url, &req.auth);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let scratch = tempfile::Builder::new().prefix("shipline-update-").tempdir().map_err(UpdateError::Scratch)?;
        let repo = remote.clone_branch(&checkout, scratch.path(), Some(1))?;
        let cloned = head_commit(&repo, &remote)?;
        let cfg = config::load(scratch.path(), &req.config_path)?;
        // The configuration names the checkout branch when the caller did not: clone that one.
        if req.branch.is_none()
            && !checkout_from_config
            && let Some(wanted) = cfg.branch.clone().filter(|b| *b != checkout)
        {
            checkout = wanted;
            checkout_from_config = true;
            attempt -= 1;
            continue;
        }
        let push_branch = req.write.push_branch.clone().or_else(|| cfg.push.branch.clone()).unwrap_or(checkout.clone());
        let expected =
            if push_branch == checkout { cloned } else { switch_to_push_branch(&remote, &repo, &push_branch, cloned)? };
        let (mut outcome, cfg) = plan_with(scratch.path(), cfg, req, lookup)?;
        outcome.branch = push_branch.clone();
        outcome.checkout_branch = checkout.clone();
        outcome.attempts = attempt;
        if !outcome.changed() {
            return Ok(outcome);
        }
        let (message, records) = commit_message(&cfg, &outcome, scratch.path(), &req.trailers)?;
        outcome.message = Some(message.clone());
        outcome.records = records;
        if req.dry_run {
            return Ok(outcome);
        }
        validate(scratch.path(), &outcome.files)?;
        let kustomizations = affected_kustomizations(scratch.path(), &cfg, &outcome.files);
        let built_before: Vec<bool> = kustomizations.iter().map(|d| crate::kustomize::build(d).is_ok()).collect();
        tree::write(&outcome.files)?;
        for (dir, _) in kustomizations.iter().zip(&built_before).filter(|(_, ok)| **ok) {
            if let Err(e) = crate::kustomize::build(dir) {
                let path = dir.strip_prefix(scratch.path()).unwrap_or(dir).display().to_string();
                return Err(UpdateError::Invalid {
                    path,
                    message: format!("kustomize build fails after the edit: {e}"),
                });
            }
        }
        let (author_name, author_email) = match &req.author {
            Some((name, email)) => (name.as_str(), email.as_str()),
            None => (cfg.commit.author_name.as_str(), cfg.commit.author_email.as_str()),
        };
        let author = git2::Signature::now(author_name, author_email).map_err(|source| GitError::Remote {
            action: "making the commit author for",
            url: remote.shown_url(),
            source,
        })?;
        let committed = match &req.write.signing_key {
            Some(key) => git::signing::commit_all_signed(&repo, &message, &author, key)?,
            None => git::commit_all(&repo, &message, &author)?,
        };
        let Some(commit) = committed else {
            return Ok(outcome);
        };
        let update = git::LeasedUpdate { commit, remote_ref: format!("refs/heads/{push_branch}"), expected };
        match remote.push_leased(&repo, &[update]) {
            Ok(()) => {
                outcome.commit = Some(commit.to_string());
                if let Some(refspec) = req.write.push_refspec.as_deref().or(cfg.push.refspec.as_deref()) {
                    push_refspec(&remote, &repo, refspec)?;
                }
                return Ok(outcome);
            }
            Err(GitError::PushRejected { .. }) if attempt < MAX_PUSH_ATTEMPTS => {
                tracing::info!(attempt, branch = push_branch, "push rejected (branch moved), retrying on the new tip");
                std::thread::sleep(backoff(attempt));
            }
            Err(GitError::PushRejected { .. }) => {
                return Err(UpdateError::Contended { url: remote.shown_url(), attempts: attempt });
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A commit trailer must be one `Key: value` line: a key of `[A-Za-z0-9-]+` and a value without
/// line breaks or control characters, or it could forge other trailers (`Signed-off-by`).
pub fn check_trailer(key: &str, value: &str) -> Result<(), UpdateError> {
    let bad = |message: String| UpdateError::Invalid { path: "commit trailer".into(), message };
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad(format!("key {key:?} must match [A-Za-z0-9-]+")));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(format!("{key}: the value must be one line without control characters, got {value:?}")));
    }
    Ok(())
}

fn head_commit(repo: &git2::Repository, remote: &Remote<'_>) -> Result<git2::Oid, UpdateError> {
    let oid = repo.head().and_then(|h| h.peel_to_commit()).map(|c| c.id());
    oid.map_err(|source| GitError::Remote { action: "reading the clone of", url: remote.shown_url(), source }.into())
}

/// Flux's switch to the push branch: when the remote has it, work on its tip (the update goes
/// on top of it); when not, start it at the checkout branch's tip. Returns the value the remote
/// branch must still have when pushed (zero: it must still be absent).
fn switch_to_push_branch(
    remote: &Remote<'_>,
    repo: &git2::Repository,
    branch: &str,
    checkout_tip: git2::Oid,
) -> Result<git2::Oid, UpdateError> {
    let tracking = format!("refs/remotes/origin/{branch}");
    remote.fetch(repo, &[&format!("+refs/heads/{branch}:{tracking}")], Some(1))?;
    let local =
        |source| GitError::Remote { action: "switching to the push branch in", url: remote.shown_url(), source };
    let (start, expected) = match repo.find_reference(&tracking).and_then(|r| r.peel_to_commit()) {
        Ok(commit) => (commit.id(), commit.id()),
        Err(_) => (checkout_tip, git2::Oid::ZERO_SHA1),
    };
    let commit = repo.find_commit(start).map_err(local)?;
    repo.branch(branch, &commit, true).map_err(local)?;
    repo.checkout_tree(commit.as_object(), Some(git2::build::CheckoutBuilder::new().force())).map_err(local)?;
    repo.set_head(&format!("refs/heads/{branch}")).map_err(local)?;
    Ok(expected)
}

/// Pushes `refspec` after the branch: a compare-and-swap on the destination's current value,
/// which must be absent or an ancestor of what is pushed (never a forced update).
fn push_refspec(remote: &Remote<'_>, repo: &git2::Repository, refspec: &str) -> Result<(), UpdateError> {
    let invalid = |message: String| UpdateError::Invalid { path: format!("push refspec {refspec:?}"), message };
    let (src, dst) = git::parse_push_refspec(refspec).map_err(invalid)?;
    let commit = repo
        .revparse_single(&src)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| invalid(format!("{src} does not name a commit here: {}", e.message())))?
        .id();
    let current = remote.list_refs(repo)?.into_iter().find(|(name, _)| *name == dst).map(|(_, oid)| oid);
    let expected = match current {
        None => git2::Oid::ZERO_SHA1,
        Some(oid) if oid == commit => return Ok(()),
        Some(oid) => {
            remote.fetch(repo, &[&format!("+{dst}:refs/shipline/lease")], None)?;
            if !repo.graph_descendant_of(commit, oid).unwrap_or(false) {
                return Err(GitError::PushRejected {
                    url: remote.shown_url(),
                    reference: dst,
                    reason: format!("{commit} is not a fast-forward of {oid}; shipline never force-pushes"),
                }
                .into());
            }
            oid
        }
    };
    remote.push_leased(repo, &[git::LeasedUpdate { commit, remote_ref: dst, expected }])?;
    Ok(())
}

/// Exponential backoff with full jitter, capped at 2 s: concurrent updaters spread out.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = (25u64 << attempt.min(7)).min(2_000);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let jitter = (u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(17)) % cap_ms.max(1);
    Duration::from_millis(jitter + 5)
}

/// Loads the configuration from a checkout and plans the edits; writes nothing.
pub fn plan_in_checkout(
    root: &Path,
    req: &UpdateRequest,
    lookup: Option<&CandidateLookup<'_>>,
) -> Result<UpdateOutcome, UpdateError> {
    plan(root, req, lookup).map(|(outcome, _)| outcome)
}

fn plan(
    root: &Path,
    req: &UpdateRequest,
    lookup: Option<&CandidateLookup<'_>>,
) -> Result<(UpdateOutcome, UpdateConfig), UpdateError> {
    plan_with(root, config::load(root, &req.config_path)?, req, lookup)
}

fn plan_with(
    root: &Path,
    cfg: UpdateConfig,
    req: &UpdateRequest,
    lookup: Option<&CandidateLookup<'_>>,
) -> Result<(UpdateOutcome, UpdateConfig), UpdateError> {
    let mut candidates = req.candidates.clone();
    if let Some(lookup) = lookup {
        for (repository, found) in lookup(&cfg).map_err(UpdateError::Candidates)? {
            candidates.entry(repository).or_default().extend(found);
        }
    }
    let (updates, chosen) = choose(&cfg, &candidates);
    let mut files = Vec::new();
    if !updates.is_empty() {
        let paths = update_roots(root, &cfg);
        for path in &paths {
            // Checked when the configuration was read; again here, as the walk starts from it.
            crate::safe_fs::check_inside(root, path).map_err(TreeError::from)?;
        }
        let allow = |target: &Target, old: &str, new: &str| allow_change(&cfg.policies, target, old, new);
        files = tree::plan(&paths, &updates, &allow)?;
    }
    let outcome = UpdateOutcome {
        commit: None,
        branch: String::new(),
        checkout_branch: String::new(),
        message: None,
        records: Vec::new(),
        files,
        chosen,
        attempts: 0,
    };
    Ok((outcome, cfg))
}

/// The newest candidate of every policy whose repository has candidates.
fn choose(cfg: &UpdateConfig, candidates: &BTreeMap<String, Vec<Candidate>>) -> (Updates, BTreeMap<String, String>) {
    let mut updates = Updates::default();
    let mut chosen = BTreeMap::new();
    for entry in &cfg.policies {
        let Some(list) = candidates.get(&entry.repository) else { continue };
        let selection = entry.policy.select(list.iter().map(|c| c.tag.as_str()));
        for skipped in &selection.skipped {
            tracing::debug!(policy = %entry.policy_ref, "{skipped}");
        }
        let Some(tag) = selection.latest else {
            tracing::info!(policy = %entry.policy_ref, "no candidate tag passes the policy");
            continue;
        };
        let digest = list.iter().find(|c| c.tag == tag).and_then(|c| c.digest.clone());
        let image = ImageRef { name: entry.repository.clone(), tag: Some(tag), digest };
        chosen.insert(entry.policy_ref.to_string(), image.to_string());
        for name in &entry.kustomize_images {
            updates.by_image_name.insert(name.clone(), image.clone());
        }
        updates.by_policy.insert(entry.policy_ref.clone(), image);
    }
    (updates, chosen)
}

/// Never downgrade: a tag replaces another only when the policy orders it strictly after. A
/// current value the policy cannot order (`latest`, a placeholder) is replaced.
fn allow_change(policies: &[PolicyEntry], target: &Target, old: &str, new: &str) -> bool {
    let entry = policies.iter().find(|p| match target {
        Target::Policy(r) => &p.policy_ref == r,
        Target::ImageName(n) => p.kustomize_images.contains(n),
    });
    match entry.and_then(|e| e.policy.compare(new, old)) {
        Some(order) => order == std::cmp::Ordering::Greater,
        None => true,
    }
}

/// The directories the configuration says to update (the whole checkout when it names none).
fn update_roots(root: &Path, cfg: &UpdateConfig) -> Vec<std::path::PathBuf> {
    if cfg.paths.is_empty() { vec![root.to_path_buf()] } else { cfg.paths.iter().map(|p| root.join(p)).collect() }
}

/// The kustomizations an edit may affect: every kustomization directory under the configured
/// paths, and those above each changed file. Only those that build before the edit are checked
/// after it, so a tree using a feature the engine refuses is still updated (YAML-checked only).
fn affected_kustomizations(root: &Path, cfg: &UpdateConfig, files: &[FileUpdate]) -> Vec<std::path::PathBuf> {
    let mut dirs = std::collections::BTreeSet::new();
    let roots = update_roots(root, cfg);
    if let Ok(found) = tree::candidate_files(&roots) {
        dirs.extend(
            found.iter().filter(|f| tree::is_kustomization(f)).filter_map(|f| f.parent().map(Path::to_path_buf)),
        );
    }
    for file in files.iter().filter(|f| f.is_changed()) {
        for dir in file.path.ancestors().skip(1).take_while(|d| d.starts_with(root)) {
            if ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|k| dir.join(k).is_file()) {
                dirs.insert(dir.to_path_buf());
            }
        }
    }
    dirs.into_iter().collect()
}

/// Every changed file must still parse as YAML documents for a strict reader.
fn validate(root: &Path, files: &[FileUpdate]) -> Result<(), UpdateError> {
    for file in files.iter().filter(|f| f.is_changed()) {
        let shown = file.path.strip_prefix(root).unwrap_or(&file.path).display().to_string();
        crate::update::yaml::parse_documents(&file.edit.text)
            .map_err(|message| UpdateError::Invalid { path: shown, message })?;
    }
    Ok(())
}

/// The commit message: Flux's template on Flux's data, or the default (only the images that
/// changed in the subject), then the trailers.
fn commit_message(
    cfg: &UpdateConfig,
    outcome: &UpdateOutcome,
    root: &Path,
    trailers: &[(String, String)],
) -> Result<(String, Vec<message::ChangeRecord>), UpdateError> {
    let mut images: BTreeMap<Target, (ImageRef, PolicyRef)> = BTreeMap::new();
    for entry in &cfg.policies {
        let Some(image) = outcome.chosen.get(&entry.policy_ref.to_string()).and_then(|r| ImageRef::parse(r).ok())
        else {
            continue;
        };
        images.insert(Target::Policy(entry.policy_ref.clone()), (image.clone(), entry.policy_ref.clone()));
        for name in &entry.kustomize_images {
            images.insert(Target::ImageName(name.clone()), (image.clone(), entry.policy_ref.clone()));
        }
    }
    let records = message::records(root, &outcome.files, &images);
    let body = match cfg.commit.message_template.as_deref() {
        Some(t) if cfg.commit.is_go_template() => {
            message::render_flux(t, &cfg.automation, &cfg.commit.message_template_values, &records)
                .map_err(UpdateError::CommitMessage)?
        }
        legacy => message::default_message(&records, legacy),
    };
    Ok((message::with_trailers(body, trailers), records))
}
