//! From a commit back to the CodeBuild build that produced it, and from that build to the image's
//! `branch-commit-build` tag: what a CI that pushes images tagged only with the commit SHA leaves
//! for the Lambda to finish.
//!
//! The build's answers (`sourceVersion`, `resolvedSourceVersion`, `buildNumber`, an exported
//! `CODEBUILD_WEBHOOK_HEAD_REF`) are fed to [`build_info::resolve_tag`] as the CodeBuild variables
//! they are, so the precedence rules and the tag naming stay in one place
//! ([`crate::image::ci_context::resolve_build_tag`] reads them the same way inside a build).
//! Choosing the build is pure ([`choose_build`]); the look-ups are [`find_build_of_commit`].

use std::collections::BTreeMap;

use crate::image::build_info::{self, ResolvedTag, TagFlags};
use crate::image::ci_context::CiContextError;
use crate::image::ecr_images::{self, ImageSelector, RetagReport};
use crate::image::tag::{ImageTag, SHORT_COMMIT_LEN};

/// Builds read per project, newest first: an image is pushed by a recent build, and the bound
/// keeps one event's look-ups to a few calls.
pub const MAX_BUILDS_PER_PROJECT: usize = 100;

/// What a CodeBuild build says about its source, as `BatchGetBuilds` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFacts {
    /// `project:uuid`.
    pub id: String,
    /// `buildNumber`.
    pub number: Option<i64>,
    /// `sourceVersion`: what the build was asked to build (`refs/heads/main`, a commit, `pr/7`).
    pub source_version: Option<String>,
    /// `resolvedSourceVersion`: the commit it built.
    pub resolved_source_version: Option<String>,
    /// `CODEBUILD_WEBHOOK_HEAD_REF` among `exportedEnvironmentVariables` (webhook builds name
    /// their branch only there; the buildspec must export it).
    pub webhook_head_ref: Option<String>,
    /// `startTime`, seconds since the epoch.
    pub start_time: Option<i64>,
}

/// Whether an image tag is a bare commit SHA (7 to 40 lower-case hex digits), the tag CIs push
/// when they do not name images `branch-commit-build`.
pub fn is_commit_tag(tag: &str) -> bool {
    (SHORT_COMMIT_LEN..=40).contains(&tag.len()) && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a tag should be re-tagged: a commit SHA that is not already a `branch-commit-build`
/// tag.
pub fn needs_build_tag(tag: &str) -> bool {
    is_commit_tag(tag) && ImageTag::parse(tag).is_err()
}

/// The commit a build built: `resolvedSourceVersion`, or its `sourceVersion` when that is itself
/// a full commit SHA (a build started on a commit; CodeBuild resolves it to the same value).
pub fn built_commit(build: &BuildFacts) -> Option<&str> {
    build
        .resolved_source_version
        .as_deref()
        .or_else(|| build.source_version.as_deref().filter(|v| v.len() == 40 && is_commit_tag(v)))
}

/// The newest build (latest start, then highest number) whose commit starts with `commit` (a
/// full or abbreviated SHA, case-insensitive).
pub fn choose_build<'a>(builds: &'a [BuildFacts], commit: &str) -> Option<&'a BuildFacts> {
    let commit = commit.to_ascii_lowercase();
    builds
        .iter()
        .filter(|b| built_commit(b).is_some_and(|c| c.to_ascii_lowercase().starts_with(&commit)))
        .max_by_key(|b| (b.start_time, b.number))
}

/// The `branch-commit-build` tag of a build, named by [`build_info::resolve_tag`] from the
/// build's answers read as CodeBuild's variables. There is no checkout to fall back on: a build
/// that names no branch is an error naming the build and what it said.
pub fn tag_of_build(build: &BuildFacts) -> Result<ResolvedTag, CiContextError> {
    let mut vars = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            vars.insert(k.to_owned(), v);
        }
    };
    put("CODEBUILD_SOURCE_VERSION", build.source_version.clone());
    put("CODEBUILD_WEBHOOK_HEAD_REF", build.webhook_head_ref.clone());
    put("CODEBUILD_RESOLVED_SOURCE_VERSION", built_commit(build).map(str::to_owned));
    put("CODEBUILD_BUILD_NUMBER", build.number.map(|n| n.to_string()));
    let resolved = build_info::resolve_tag(
        &TagFlags::default(),
        |name| vars.get(name).cloned(),
        || {
            Err(format!(
                "CodeBuild build {} names no branch: its sourceVersion is {:?} (not refs/heads/...) and it \
                 exports no CODEBUILD_WEBHOOK_HEAD_REF (add it to the buildspec's env.exported-variables)",
                build.id,
                build.source_version.as_deref().unwrap_or("")
            ))
        },
    )?;
    Ok(resolved)
}

fn api(operation: &'static str, subject: &str, e: impl std::error::Error) -> CiContextError {
    CiContextError::Api {
        service: "CodeBuild",
        operation,
        subject: subject.to_owned(),
        message: aws_sdk_codebuild::error::DisplayErrorContext(e).to_string(),
    }
}

/// Reads the newest [`MAX_BUILDS_PER_PROJECT`] builds of each project (`ListBuildsForProject`,
/// `BatchGetBuilds`) and returns the newest that built `commit`, or `None`.
pub async fn find_build_of_commit(
    client: &aws_sdk_codebuild::Client,
    projects: &[String],
    commit: &str,
) -> Result<Option<BuildFacts>, CiContextError> {
    let mut found = Vec::new();
    for project in projects {
        let mut ids: Vec<String> = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = client
                .list_builds_for_project()
                .project_name(project)
                .sort_order(aws_sdk_codebuild::types::SortOrderType::Descending)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| api("ListBuildsForProject", project, e))?;
            ids.extend(page.ids().iter().cloned());
            next = page.next_token().map(str::to_owned);
            if next.is_none() || ids.len() >= MAX_BUILDS_PER_PROJECT {
                break;
            }
        }
        ids.truncate(MAX_BUILDS_PER_PROJECT);
        if ids.is_empty() {
            continue;
        }
        let out =
            client.batch_get_builds().set_ids(Some(ids)).send().await.map_err(|e| api("BatchGetBuilds", project, e))?;
        found.extend(out.builds().iter().map(facts));
    }
    Ok(choose_build(&found, commit).cloned())
}

fn facts(build: &aws_sdk_codebuild::types::Build) -> BuildFacts {
    let non_empty = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_owned);
    BuildFacts {
        id: build.id().unwrap_or_default().to_owned(),
        number: build.build_number(),
        source_version: non_empty(build.source_version()),
        resolved_source_version: non_empty(build.resolved_source_version()),
        webhook_head_ref: non_empty(
            build
                .exported_environment_variables()
                .iter()
                .find(|v| v.name() == Some("CODEBUILD_WEBHOOK_HEAD_REF"))
                .and_then(|v| v.value()),
        ),
        start_time: build.start_time().map(|t| t.secs()),
    }
}

/// What [`retag_commit_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRetag {
    /// The build the commit came from.
    pub build: BuildFacts,
    /// The tag it names.
    pub tag: ImageTag,
    /// The re-tag (digest, media type, whether the tag was created or already there).
    pub report: RetagReport,
}

/// Why [`retag_commit_image`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitRetagError {
    /// Looking up the build, or naming its tag, failed.
    #[error(transparent)]
    Build(#[from] CiContextError),
    /// No build of the configured projects built the commit.
    #[error(
        "no CodeBuild build of project(s) {projects} built commit {commit} (among the newest {MAX_BUILDS_PER_PROJECT} builds of each)"
    )]
    NoBuild {
        /// The projects searched, comma-separated.
        projects: String,
        /// The commit (the pushed tag).
        commit: String,
    },
    /// The re-tag failed.
    #[error(transparent)]
    Ecr(#[from] ecr_images::EcrImageError),
}

impl CommitRetagError {
    /// True when a retry can succeed (an API call failed), false for what a person must fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Build(CiContextError::Api { .. }) | Self::Ecr(ecr_images::EcrImageError::Api { .. }))
    }
}

/// Finds the build of the image pushed to repository `repository` as `commit_tag` (by
/// `digest` when known, else by that tag) and tags the same manifest `branch-commit-build`
/// (idempotent: a tag already on the image is not put again, so no second push event follows).
pub async fn retag_commit_image(
    sdk: &aws_config::SdkConfig,
    repository: &str,
    commit_tag: &str,
    digest: Option<&str>,
    projects: &[String],
) -> Result<CommitRetag, CommitRetagError> {
    let codebuild = aws_sdk_codebuild::Client::new(sdk);
    let build = find_build_of_commit(&codebuild, projects, commit_tag)
        .await?
        .ok_or_else(|| CommitRetagError::NoBuild { projects: projects.join(","), commit: commit_tag.to_owned() })?;
    let tag = tag_of_build(&build)?.tag;
    let ecr = aws_sdk_ecr::Client::new(sdk);
    let selector = match digest {
        Some(d) => ImageSelector::Digest(d.to_owned()),
        None => ImageSelector::Tag(commit_tag.to_owned()),
    };
    let report = ecr_images::retag(&ecr, repository, &selector, &[tag.to_string()]).await?;
    Ok(CommitRetag { build, tag, report })
}

#[cfg(test)]
#[path = "commit_build_tests.rs"]
mod tests;
