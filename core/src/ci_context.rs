//! Filling in tag parts the environment lacks by asking CodeBuild and CodePipeline: a build run
//! by a pipeline sees `CODEBUILD_SOURCE_VERSION` as an artifact ARN, not a branch, and some
//! build images do not export every variable.
//!
//! The result is a set of `CODEBUILD_*` values that [`crate::build_info::resolve_tag`] reads
//! like the environment, so the precedence rules stay in one place.

use std::collections::BTreeMap;

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
