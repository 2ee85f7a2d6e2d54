//! `shipline tag`.

use std::path::PathBuf;

use std::collections::BTreeMap;

use clap::Args;
use shipline_core::build_info::{self, TagFlags};
use shipline_core::ci_context;
use shipline_core::git;

/// Arguments of `shipline tag`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each part comes from the first source that has it: the flag, then CodeBuild's environment
(CODEBUILD_WEBHOOK_HEAD_REF or CODEBUILD_SOURCE_VERSION when it is refs/heads/..., 
CODEBUILD_RESOLVED_SOURCE_VERSION, CODEBUILD_BUILD_NUMBER), then the git checkout at --repo
(current branch, HEAD, and the number of commits on HEAD as build number).
Inside CodeBuild (CODEBUILD_BUILD_ID set), parts still missing are looked up with CodeBuild
BatchGetBuilds and, for pipeline builds, the pipeline's source branch (GetPipeline) and, with
CODEPIPELINE_EXECUTION_ID, the execution's revision (GetPipelineExecution); --no-lookup skips that.

Examples:
  shipline tag --branch feature/Login-Page --commit 1f49071c2e --build 24
      feature-login-page-1f49071-24
  shipline tag --json
      {\"tag\":\"main-1f49071-24\",\"branch\":\"main\",\"commit\":\"1f49071\",\"build\":24,...}")]
pub struct TagArgs {
    /// Branch name (`refs/heads/` optional); sanitised into a tag fragment.
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// Commit SHA, at least 7 hex characters; the tag keeps 7.
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// Build number, a positive integer.
    #[arg(long, value_name = "N")]
    build: Option<String>,
    /// Git checkout to read missing parts from.
    #[arg(long, value_name = "PATH", default_value = ".")]
    repo: PathBuf,
    /// Print `{tag, branch, commit, build, origins}` as JSON.
    #[arg(long)]
    json: bool,
    /// Never ask CodeBuild/CodePipeline for parts the environment lacks.
    #[arg(long)]
    no_lookup: bool,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// When running in CodeBuild (`CODEBUILD_BUILD_ID`) and flags plus environment leave a part
/// open, asks CodeBuild (BatchGetBuilds) and, for pipeline builds, CodePipeline (the source
/// action's branch; the execution's revision when `CODEPIPELINE_EXECUTION_ID` is set).
fn looked_up(flags: &TagFlags) -> Result<BTreeMap<String, String>, String> {
    let is_branch_ref = |v: Option<String>| v.is_some_and(|v| v.starts_with("refs/heads/"));
    let branch_missing = flags.branch.is_none()
        && !is_branch_ref(env_var("CODEBUILD_WEBHOOK_HEAD_REF"))
        && !is_branch_ref(env_var("CODEBUILD_SOURCE_VERSION"));
    let commit_missing = flags.commit.is_none() && env_var("CODEBUILD_RESOLVED_SOURCE_VERSION").is_none();
    let build_missing = flags.build.is_none() && env_var("CODEBUILD_BUILD_NUMBER").is_none();
    let Some(build_id) = env_var("CODEBUILD_BUILD_ID") else { return Ok(BTreeMap::new()) };
    if !(branch_missing || commit_missing || build_missing) {
        return Ok(BTreeMap::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let sdk = shipline_core::aws::load_sdk_config().await;
        let codebuild = aws_sdk_codebuild::Client::new(&sdk);
        let mut vars = ci_context::codebuild_variables(&codebuild, &build_id).await.map_err(|e| e.to_string())?;
        let initiator =
            env_var("CODEBUILD_INITIATOR").or_else(|| vars.get("CODEBUILD_INITIATOR").cloned()).unwrap_or_default();
        if let Some(pipeline) = ci_context::pipeline_of_initiator(&initiator) {
            let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);
            if branch_missing
                && let Some(branch) =
                    ci_context::pipeline_branch(&codepipeline, pipeline).await.map_err(|e| e.to_string())?
            {
                vars.insert("CODEBUILD_SOURCE_VERSION".into(), branch);
            }
            if let (true, Some(execution)) = (commit_missing, env_var("CODEPIPELINE_EXECUTION_ID"))
                && let Some(revision) = ci_context::pipeline_revision(&codepipeline, pipeline, &execution)
                    .await
                    .map_err(|e| e.to_string())?
            {
                vars.insert("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), revision);
            }
        }
        Ok(vars)
    })
}

/// Resolves and prints the tag.
pub fn run(args: &TagArgs) -> Result<(), String> {
    let flags = TagFlags { branch: args.branch.clone(), commit: args.commit.clone(), build: args.build.clone() };
    let lookup = if args.no_lookup { BTreeMap::new() } else { looked_up(&flags)? };
    let resolved = build_info::resolve_tag(
        &flags,
        |name| env_var(name).or_else(|| lookup.get(name).cloned()),
        || git::read_checkout(&args.repo).map_err(|e| e.to_string()),
    )
    .map_err(|e| e.to_string())?;
    if args.json {
        let tag = &resolved.tag;
        let out = serde_json::json!({
            "tag": tag.to_string(),
            "branch": tag.branch(),
            "commit": tag.commit(),
            "build": tag.build(),
            "origins": resolved.origins,
        });
        println!("{out}");
    } else {
        println!("{}", resolved.tag);
    }
    Ok(())
}
