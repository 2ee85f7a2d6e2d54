//! `shipline status`: per sync, the revision applied and when, health, and for each image its
//! workloads run the commit (and trailers) that put it there; `--image REPO:TAG` answers where a
//! build runs. The cluster side is `shipline_reconcile::running`, the history and the join
//! `shipline_core::update::provenance`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use shipline_core::git::{self, GitAuth};
use shipline_core::image::ImageRef;
use shipline_core::secret::Secret;
use shipline_core::update::provenance::{self, HistoryCommit, SyncRow, history};

use crate::out;

/// Commits walked back from each applied revision.
const HISTORY_LIMIT: usize = 2000;

/// Arguments of `shipline status`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  shipline status --repo ~/src/microservices\n  shipline status --git https://git.example.com/microservices.git --json\n  shipline status --repo . --image team/cart:main-1f49071-24   # where does this build run, since when"
)]
pub struct StatusArgs {
    /// A local clone of the microservices repository (its history must hold the applied revisions).
    #[arg(long, value_name = "DIR", conflicts_with = "git", required_unless_present = "git")]
    repo: Option<PathBuf>,
    /// Clone the microservices repository from this URL instead (HTTPS or SSH-less HTTP).
    #[arg(long, value_name = "URL")]
    git: Option<String>,
    /// Branch to clone with --git (the branch the syncs track).
    #[arg(long, default_value = "main", requires = "git")]
    branch: String,
    /// User for --git over HTTPS; the password is read from SHIPLINE_GIT_PASSWORD.
    #[arg(long, requires = "git")]
    git_username: Option<String>,
    /// Extra CA certificate (PEM) for --git.
    #[arg(long, value_name = "FILE", requires = "git")]
    ca_file: Option<PathBuf>,
    /// Only this sync.
    #[arg(long)]
    sync: Option<String>,
    /// Only where this image runs (`REPOSITORY:TAG`, registry host optional).
    #[arg(long, value_name = "REPO:TAG")]
    image: Option<String>,
    /// Namespace of shipline's status ConfigMaps.
    #[arg(long, env = "POD_NAMESPACE", default_value = "shipline-system")]
    reconciler_namespace: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `shipline status`.
pub fn run(args: &StatusArgs) -> Result<(), String> {
    let query = args.image.as_deref().map(|i| ImageRef::parse(i).map_err(|e| format!("--image: {e}"))).transpose()?;
    let rt = crate::images::runtime()?;
    let facts = rt.block_on(async {
        let client = shipline_reconcile::kube_client().await?;
        shipline_reconcile::running::sync_facts(&client, &args.reconciler_namespace, args.sync.as_deref())
            .await
            .map_err(|e| format!("reading sync status in namespace {}: {e}", args.reconciler_namespace))
    })?;
    if let Some(sync) = &args.sync
        && facts.is_empty()
    {
        return Err(format!("no sync {sync:?}: no status ConfigMap in namespace {}", args.reconciler_namespace));
    }
    let scratch = tempfile_dir()?;
    let repo = match (&args.repo, &args.git) {
        (Some(dir), _) => dir.clone(),
        (None, Some(url)) => {
            clone(args, url, scratch.path())?;
            scratch.path().join("repo")
        }
        (None, None) => return Err("give --repo DIR or --git URL".into()),
    };
    let mut histories: BTreeMap<String, Vec<HistoryCommit>> = BTreeMap::new();
    for revision in facts.iter().map(|f| &f.applied_revision).filter(|r| !r.is_empty()) {
        if !histories.contains_key(revision) {
            let walked = history::walk(&repo, revision, HISTORY_LIMIT).map_err(|e| e.to_string())?;
            histories.insert(revision.clone(), walked);
        }
    }
    let mut rows = provenance::rows(&facts, &histories);
    if let Some(query) = &query {
        rows = provenance::where_runs(&rows, query);
        if rows.is_empty() {
            return Err(format!(
                "{} runs in no workload of any sync in namespace {}",
                args.image.as_deref().unwrap_or_default(),
                args.reconciler_namespace
            ));
        }
    }
    if args.json {
        return out::json_pretty(&serde_json::json!({"syncs": rows}));
    }
    for row in &rows {
        print_row(row)?;
    }
    Ok(())
}

fn tempfile_dir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("creating a scratch directory: {e}"))
}

fn clone(args: &StatusArgs, url: &str, scratch: &std::path::Path) -> Result<(), String> {
    if let Some(ca) = &args.ca_file {
        git::trust_ca_file(ca).map_err(|e| e.to_string())?;
    }
    let auth = match (&args.git_username, std::env::var("SHIPLINE_GIT_PASSWORD")) {
        (Some(username), Ok(password)) => {
            GitAuth::UserPassword { username: username.clone(), password: Secret::new(password) }
        }
        (Some(_), Err(_)) => return Err("--git-username needs the password in SHIPLINE_GIT_PASSWORD".into()),
        (None, _) => GitAuth::Anonymous,
    };
    git::Remote::new(url, &auth).clone_branch(&args.branch, &scratch.join("repo"), None).map_err(|e| e.to_string())?;
    Ok(())
}

fn condition(name: &str, c: &Option<provenance::ConditionFacts>) -> String {
    match c {
        Some(c) => format!("{name} {} ({}, since {})", c.status, c.reason, c.since),
        None => format!("{name} unknown"),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn print_row(row: &SyncRow) -> Result<(), String> {
    let applied = if row.applied_revision.is_empty() {
        "nothing applied yet".to_owned()
    } else if row.applied_at.is_empty() {
        format!("applied {}", short(&row.applied_revision))
    } else {
        format!("applied {} at {}", short(&row.applied_revision), row.applied_at)
    };
    out::line(&format!(
        "sync {}: {applied}; {}; {}",
        row.sync,
        condition("Ready", &row.ready),
        condition("Healthy", &row.healthy)
    ))?;
    for image in &row.images {
        out::line(&format!("  {} [{}] {}", image.running.workload, image.running.container, image.running.image))?;
        match &image.commit {
            Some(c) => {
                out::line(&format!("    put there by {} at {}: {}", short(&c.id), c.time, c.summary))?;
                for (k, v) in &c.trailers {
                    out::line(&format!("      {k}: {v}"))?;
                }
            }
            None => out::line("    not introduced by a commit in the walked history")?,
        }
    }
    Ok(())
}
