//! Which policies an image feeds, and what the function did about it: pure functions over the
//! repository's configuration and the updater's outcome.

use std::collections::BTreeMap;

use serde::Serialize;
use shipline_core::image::Candidate;
use shipline_core::image::ecr::split_repository_uri;
use shipline_core::update::config::UpdateConfig;
use shipline_core::update::updater::UpdateOutcome;

use crate::events::ImageSpec;

/// The policies of the configuration that an image's repository feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyMatch {
    /// Candidates for the updater, by the repository URI the configuration uses.
    pub candidates: BTreeMap<String, Vec<Candidate>>,
    /// Policies (`NS:NAME`) whose repository is the image's.
    pub fed: Vec<String>,
    /// Of those, the policies that accept the tag.
    pub wanting: Vec<String>,
    /// Of those, the policies that refuse it, with the reason.
    pub refused: Vec<String>,
}

/// Whether a policy's repository (`123456789012.dkr.ecr.REGION.amazonaws.com/team/app`) is the
/// image's. A full URI must match exactly; a bare name (ECR events give `team/app`) matches the
/// URI's path, and the account too when both are known.
pub fn repository_matches(policy_repository: &str, image: &ImageSpec) -> bool {
    let policy_repository = policy_repository.trim_end_matches('/');
    let first = image.repository.split('/').next().unwrap_or_default();
    if image.repository.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        return policy_repository == image.repository.trim_end_matches('/');
    }
    let (registry, name) = split_repository_uri(policy_repository);
    name == image.repository
        && match (&registry, &image.account) {
            (Some(r), Some(a)) => r == a,
            _ => true,
        }
}

/// Finds the policies `image` feeds and whether each wants its tag.
pub fn match_policies(config: &UpdateConfig, image: &ImageSpec) -> PolicyMatch {
    let mut out = PolicyMatch::default();
    for entry in config.policies.iter().filter(|e| repository_matches(&e.repository, image)) {
        let name = entry.policy_ref.to_string();
        let selection = entry.policy.select([image.tag.as_str()]);
        if selection.latest.is_some() {
            out.wanting.push(name.clone());
        } else {
            let reason = selection.skipped.first().map_or_else(|| "not a candidate".into(), |s| s.reason.to_string());
            out.refused.push(format!("{name}: {reason}"));
        }
        out.fed.push(name);
        let list = out.candidates.entry(entry.repository.clone()).or_default();
        if list.is_empty() {
            list.push(Candidate { tag: image.tag.clone(), digest: image.digest.clone() });
        }
    }
    out
}

/// What the function decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A commit was pushed.
    Updated,
    /// The overlays already hold this tag or a newer one: nothing to do.
    Unchanged,
    /// The image is not for this function (not a push, untagged, no policy wants it).
    Ignored,
    /// Dry run: the edits were planned, nothing was pushed.
    Planned,
    /// A commit-SHA push was tagged `branch-commit-build`; the update runs on that tag's push.
    Retagged,
    /// A permanent error (logged; a retry cannot fix it).
    Failed,
    /// Closed loop: the commit is pushed and the job keeps running until the cluster reports it.
    Waiting,
    /// Closed loop: the cluster applied the commit and its workloads are healthy.
    Healthy,
}

impl Status {
    /// The name used in logs, reports and CodePipeline output variables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Ignored => "ignored",
            Self::Planned => "planned",
            Self::Retagged => "retagged",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
            Self::Healthy => "healthy",
        }
    }
}

/// The decision, as logged and returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What happened.
    pub status: Status,
    /// Why, for a person.
    pub reason: String,
    /// The image (`REPOSITORY:TAG`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The pushed commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The branch updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Policies the image fed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Clone-edit-push rounds (more than 1 after concurrent pushes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

impl Report {
    /// A report without an update.
    pub fn simple(status: Status, reason: impl Into<String>, image: Option<String>) -> Self {
        Self { status, reason: reason.into(), image, commit: None, branch: None, policies: Vec::new(), attempts: None }
    }
}

/// The decision from the updater's outcome and what the policies said about the image.
pub fn decide(image: &ImageSpec, found: &PolicyMatch, outcome: &UpdateOutcome, config_path: &str) -> Report {
    let shown = format!("{}:{}", image.repository, image.tag);
    let (status, reason) = if found.fed.is_empty() {
        (Status::Ignored, format!("no policy in {config_path} takes images of repository {:?}", image.repository))
    } else if found.wanting.is_empty() {
        (Status::Ignored, format!("no policy wants tag {:?}: {}", image.tag, found.refused.join("; ")))
    } else if let Some(commit) = &outcome.commit {
        (Status::Updated, format!("pushed {} to {}", short(commit), outcome.branch))
    } else if outcome.changed() {
        (Status::Planned, "dry run: edits planned, nothing pushed".to_owned())
    } else {
        (Status::Unchanged, "the overlays already hold this tag or a newer one".to_owned())
    };
    Report {
        status,
        reason,
        image: Some(shown),
        commit: outcome.commit.clone(),
        branch: Some(outcome.branch.clone()),
        policies: found.fed.clone(),
        attempts: Some(outcome.attempts),
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
