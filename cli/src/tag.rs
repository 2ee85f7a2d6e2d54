//! `shipline tag`.

use std::path::PathBuf;

use clap::Args;
use shipline_core::image::build_info::TagFlags;
use shipline_core::image::ci_context::{self, Lookup};

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

/// Resolves and prints the tag.
pub fn run(args: &TagArgs) -> Result<(), String> {
    let flags = TagFlags { branch: args.branch.clone(), commit: args.commit.clone(), build: args.build.clone() };
    let lookup = if args.no_lookup { Lookup::Never } else { Lookup::WhenInCodeBuild };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let resolved = rt
        .block_on(ci_context::resolve_build_tag(&flags, |name| std::env::var(name).ok(), &args.repo, lookup))
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
        crate::out::json(&out)
    } else {
        crate::out::line(&resolved.tag.to_string())
    }
}
