//! Filling in tag parts the environment lacks by asking CodeBuild and CodePipeline: a build run
//! by a pipeline sees `CODEBUILD_SOURCE_VERSION` as an artifact ARN, not a branch, and some
//! build images do not export every variable.
//!
//! The result is a set of `CODEBUILD_*` values that [`crate::image::build_info::resolve_tag`] reads
//! like the environment, so the precedence rules stay in one place.

use std::collections::BTreeMap;
use std::path::Path;

use crate::image::build_info::{self, ResolveError, ResolvedTag, TagFlags};

/// Why a lookup failed. Messages name the build or pipeline.
#[derive(Debug, thiserror::Error)]
pub enum CiContextError {
    /// The API call failed.
    #[error("{service} {operation} for {subject}: {message}")]
    Api {
        /// `CodeBuild` or `CodePipeline`.
        service: &'static str,
        /// The operation.
        operation: &'static str,
        /// Build id or pipeline name.
        subject: String,
        /// The service's message.
        message: String,
    },
    /// The build does not exist.
    #[error("CodeBuild has no build {0} (CODEBUILD_BUILD_ID)")]
    NoSuchBuild(String),
    /// The parts found do not make a tag.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// Whether to ask CodeBuild/CodePipeline for tag parts that flags and environment leave open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Ask, when running in CodeBuild (`CODEBUILD_BUILD_ID` set).
    WhenInCodeBuild,
    /// Never ask (`--no-lookup`, dry runs off CI).
    Never,
}

/// Names the current build's image: each tag part from the flag, then the environment `env`
/// (CodeBuild's variables), then (with [`Lookup::WhenInCodeBuild`]) CodeBuild and CodePipeline,
/// then the git checkout at `repo`. The one call the CLI's `tag`/`push` and the Lambda share.
pub async fn resolve_build_tag<E>(
    flags: &TagFlags,
    env: E,
    repo: &Path,
    lookup: Lookup,
) -> Result<ResolvedTag, CiContextError>
where
    E: Fn(&str) -> Option<String>,
{
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let looked_up = match lookup {
        Lookup::WhenInCodeBuild => looked_up_variables(flags, &env).await?,
        Lookup::Never => BTreeMap::new(),
    };
    let resolved = build_info::resolve_tag(
        flags,
        |name| env(name).or_else(|| looked_up.get(name).cloned()),
        || crate::git::read_checkout(repo).map_err(|e| e.to_string()),
    )?;
    Ok(resolved)
}

/// When running in CodeBuild (`CODEBUILD_BUILD_ID`) and flags plus environment leave a part
/// open, asks CodeBuild (BatchGetBuilds) and, for pipeline builds, CodePipeline (the source
/// action's branch; the execution's revision when `CODEPIPELINE_EXECUTION_ID` is set).
async fn looked_up_variables<E>(flags: &TagFlags, env: &E) -> Result<BTreeMap<String, String>, CiContextError>
where
    E: Fn(&str) -> Option<String>,
{
    let is_branch_ref = |v: Option<String>| v.is_some_and(|v| v.starts_with("refs/heads/"));
    let branch_missing = flags.branch.is_none()
        && !is_branch_ref(env("CODEBUILD_WEBHOOK_HEAD_REF"))
        && !is_branch_ref(env("CODEBUILD_SOURCE_VERSION"));
    let commit_missing = flags.commit.is_none() && env("CODEBUILD_RESOLVED_SOURCE_VERSION").is_none();
    let build_missing = flags.build.is_none() && env("CODEBUILD_BUILD_NUMBER").is_none();
    let Some(build_id) = env("CODEBUILD_BUILD_ID") else { return Ok(BTreeMap::new()) };
    if !(branch_missing || commit_missing || build_missing) {
        return Ok(BTreeMap::new());
    }
    let sdk = crate::aws::load_sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let mut vars = codebuild_variables(&codebuild, &build_id).await?;
    let initiator = env("CODEBUILD_INITIATOR").or_else(|| vars.get("CODEBUILD_INITIATOR").cloned()).unwrap_or_default();
    if let Some(pipeline) = pipeline_of_initiator(&initiator) {
        let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);
        if branch_missing && let Some(branch) = pipeline_branch(&codepipeline, pipeline).await? {
            vars.insert("CODEBUILD_SOURCE_VERSION".into(), branch);
        }
        if let (true, Some(execution)) = (commit_missing, env("CODEPIPELINE_EXECUTION_ID"))
            && let Some(revision) = pipeline_revision(&codepipeline, pipeline, &execution).await?
        {
            vars.insert("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), revision);
        }
    }
    Ok(vars)
}

/// Looks up build `build_id` (`project:uuid`) and returns the variables it answers for:
/// `CODEBUILD_BUILD_NUMBER`, `CODEBUILD_SOURCE_VERSION`, `CODEBUILD_RESOLVED_SOURCE_VERSION`,
/// `CODEBUILD_INITIATOR`, and `CODEBUILD_BUILD_ARN`.
pub async fn codebuild_variables(
    client: &aws_sdk_codebuild::Client,
    build_id: &str,
) -> Result<BTreeMap<String, String>, CiContextError> {
    let out = client.batch_get_builds().ids(build_id).send().await.map_err(|e| CiContextError::Api {
        service: "CodeBuild",
        operation: "BatchGetBuilds",
        subject: build_id.to_owned(),
        message: aws_sdk_codebuild::error::DisplayErrorContext(&e).to_string(),
    })?;
    let build = out.builds().first().ok_or_else(|| CiContextError::NoSuchBuild(build_id.to_owned()))?;
    let mut vars = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            vars.insert(k.to_owned(), v);
        }
    };
    put("CODEBUILD_BUILD_NUMBER", build.build_number().map(|n| n.to_string()));
    put("CODEBUILD_SOURCE_VERSION", build.source_version().map(str::to_owned));
    put("CODEBUILD_RESOLVED_SOURCE_VERSION", build.resolved_source_version().map(str::to_owned));
    put("CODEBUILD_INITIATOR", build.initiator().map(str::to_owned));
    put("CODEBUILD_BUILD_ARN", build.arn().map(str::to_owned));
    Ok(vars)
}

/// The pipeline name of a build started by CodePipeline (`CODEBUILD_INITIATOR` is
/// `codepipeline/<name>`).
pub fn pipeline_of_initiator(initiator: &str) -> Option<&str> {
    initiator.strip_prefix("codepipeline/").filter(|n| !n.is_empty())
}

/// The branch the pipeline's source action tracks (`BranchName` of the first source action:
/// CodeCommit, CodeStar connections, GitHub), as `refs/heads/<branch>` so it reads like
/// `CODEBUILD_SOURCE_VERSION`.
pub async fn pipeline_branch(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
) -> Result<Option<String>, CiContextError> {
    let out = client.get_pipeline().name(pipeline).send().await.map_err(|e| CiContextError::Api {
        service: "CodePipeline",
        operation: "GetPipeline",
        subject: pipeline.to_owned(),
        message: aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string(),
    })?;
    let Some(decl) = out.pipeline() else { return Ok(None) };
    let branch = decl
        .stages()
        .iter()
        .flat_map(|s| s.actions())
        .filter(|a| a.action_type_id().is_some_and(|t| t.category().as_str() == "Source"))
        .find_map(|a| a.configuration().and_then(|c| c.get("BranchName")).cloned());
    Ok(branch.map(|b| format!("refs/heads/{b}")))
}

/// The source revision (commit) of a pipeline execution, from `GetPipelineExecution`.
pub async fn pipeline_revision(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    execution_id: &str,
) -> Result<Option<String>, CiContextError> {
    let out = client
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .map_err(|e| CiContextError::Api {
            service: "CodePipeline",
            operation: "GetPipelineExecution",
            subject: format!("{pipeline} execution {execution_id}"),
            message: aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string(),
        })?;
    Ok(out
        .pipeline_execution()
        .and_then(|e| e.artifact_revisions().first())
        .and_then(|r| r.revision_id())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiator_table() {
        assert_eq!(pipeline_of_initiator("codepipeline/shop-pipeline"), Some("shop-pipeline"));
        assert_eq!(pipeline_of_initiator("codepipeline/"), None);
        assert_eq!(pipeline_of_initiator("GitHub-Hookshot/abc"), None);
        assert_eq!(pipeline_of_initiator("arn:aws:iam::123456789012:user/ci"), None);
    }
}
