//! `shipline`: a thin command-line layer over `shipline-core`.

mod alloc;
mod build;
mod images;
mod out;
mod reconcile;
mod status;
mod tag;
mod update;
mod update_git;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Carries a container image from a CI build to a running Kubernetes workload, the GitOps way.
#[derive(Debug, Parser)]
#[command(name = "shipline", version, about, propagate_version = true)]
#[command(
    after_help = "Examples:\n  shipline tag                      # tag for the local checkout\n  shipline tag --json               # the same, as JSON\n  shipline update --dry-run --set flux-system:app=reg/app:main-1f49071-24 deploy/\n\nLogs go to stderr; set SHIPLINE_LOG=debug for more, SHIPLINE_LOG_FORMAT=json for JSON lines."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the image tag `branch-commit-build` for this build (e.g. `main-1f49071-24`).
    Tag(tag::TagArgs),
    /// Build a kustomization natively: the same output as `kustomize build DIR`.
    Build(build::BuildArgs),
    /// Add tags to an image in ECR by copying its manifest (no pull, multi-arch kept).
    Retag(images::RetagArgs),
    /// Push an OCI layout or `docker save` archive to ECR or any registry, without Docker.
    Push(images::PushArgs),
    /// Set image references in overlays: Flux `$imagepolicy` markers and kustomize `images:`.
    Update(update::UpdateArgs),
    /// Keep kustomize overlays from git applied: server-side apply, drift correction, prune.
    Reconcile(reconcile::ReconcileArgs),
    /// Where each build runs: per sync, the revision applied, health, and each image's commit.
    Status(status::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Tag(args) => tag::run(&args),
        Command::Update(args) => update::run(&args),
        Command::Retag(args) => images::retag(&args),
        Command::Build(args) => build::run(&args),
        Command::Push(args) => images::push(&args),
        Command::Reconcile(args) => reconcile::run(&args),
        Command::Status(args) => status::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            out::error(&message);
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHIPLINE_LOG").unwrap_or_else(|_| "warn".into());
    let json = std::env::var("SHIPLINE_LOG_FORMAT").is_ok_and(|f| f == "json");
    // Colours only for a person at a terminal: a piped log (CI, kubectl logs) stays plain text.
    let ansi = !json && out::use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(out::LogWriter { ansi, json });
    // One JSON object per line for log collectors (the reconciler's Deployment sets this).
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
