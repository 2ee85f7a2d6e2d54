//! `shipline update`: set image references in a local tree of overlays.

use std::path::PathBuf;

use clap::Args;
use shipline_core::image::ImageRef;
use shipline_core::update::local;
use shipline_core::update::overlay::{self, PolicyRef, Target, Updates, tree};

/// Arguments of `shipline update`.
#[derive(Debug, Args)]
#[command(after_help = "\
Edits, byte for byte, the scalars marked with Flux setter comments
  image: reg/app:v1 # {\"$imagepolicy\": \"flux-system:app\"}        (whole reference)
  newTag: v1 # {\"$imagepolicy\": \"flux-system:app:tag\"}            (:tag, :name, :digest)
and, with --image, the `images:` entries of kustomization files by name. Nothing else in a file
changes; a file that cannot be edited safely stops the run before anything is written.

With --git URL: clone the repository, read its configuration (shipline.yaml or Flux image
manifests), choose the newest tag of each policy among the candidates (never older than what
the overlays hold), edit, validate, commit and push; a push that loses a race is redone on the
new tip.

Examples:
  shipline update --set flux-system:app=reg/app:main-1f49071-24 deploy/overlays/dev
  shipline update --image front-end=123.dkr.ecr.us-east-1.amazonaws.com/front-end:v2 --dry-run deploy/
  SHIPLINE_GIT_PASSWORD=... shipline update --git https://git-codecommit.us-east-1.amazonaws.com/v1/repos/microservices \\
      --git-username ci-at-123456789012 --candidate 123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end:main-1f49071-24")]
pub struct UpdateArgs {
    /// Set every value marked with policy NS:NAME to REF (`name:tag`, `name@sha256:...`, or both).
    #[arg(long = "set", value_name = "NS:NAME=REF")]
    set: Vec<String>,
    /// Set kustomization `images:` entries whose `name` is NAME to REF (newName/newTag/digest).
    #[arg(long = "image", value_name = "NAME=REF")]
    image: Vec<String>,
    /// Print a unified diff of what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the changes as JSON.
    #[arg(long)]
    json: bool,
    /// Files or directories to update (`*.yaml`, `*.yml`, `Kustomization`).
    #[arg(required_unless_present = "git", conflicts_with = "git", value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    git: crate::update_git::GitArgs,
}

fn parse_pair(flag: &str, raw: &str) -> Result<(String, ImageRef), String> {
    let (key, value) = raw.split_once('=').ok_or_else(|| format!("{flag} {raw:?}: expected KEY=REF"))?;
    let image = ImageRef::parse(value).map_err(|e| format!("{flag} {raw:?}: {e}"))?;
    Ok((key.to_owned(), image))
}

/// Builds the updates from the flags, rejecting malformed ones before any file is read.
fn updates(args: &UpdateArgs) -> Result<Updates, String> {
    let mut updates = Updates::default();
    for raw in &args.set {
        let (policy, image) = parse_pair("--set", raw)?;
        let policy = PolicyRef::parse(&policy).map_err(|e| format!("--set {raw:?}: {e}"))?;
        updates.by_policy.insert(policy, image);
    }
    for raw in &args.image {
        let (name, image) = parse_pair("--image", raw)?;
        updates.by_image_name.insert(name, image);
    }
    if updates.is_empty() {
        return Err("nothing to set: pass --set NS:NAME=REF or --image NAME=REF".into());
    }
    Ok(updates)
}

/// Plans the edits, reports them, and writes them unless `--dry-run`.
pub fn run(args: &UpdateArgs) -> Result<(), String> {
    if let Some(url) = &args.git.git {
        return crate::update_git::run(&args.git, url, args.dry_run, args.json);
    }
    let updates = updates(args)?;
    // Explicit references are applied as given: a manual promotion may go back on purpose.
    let allow = |_: &Target, _: &str, _: &str| true;
    let files = tree::plan(&args.paths, &updates, &allow).map_err(|e| e.to_string())?;
    for file in &files {
        for ignored in &file.edit.ignored {
            tracing::warn!("{}:{}: ignored marker: {}", file.path.display(), ignored.line, ignored.reason);
        }
        for skipped in &file.edit.skipped {
            tracing::warn!("{}:{}: {}: {}", file.path.display(), skipped.line, skipped.target, skipped.reason);
        }
    }
    if args.dry_run {
        // The same checks a write makes, so a dry run that passes predicts a write that does.
        local::check_yaml(&files).map_err(|e| e.to_string())?;
    } else {
        local::write_checked(&args.paths, &files).map_err(|e| e.to_string())?;
    }
    if args.json {
        crate::out::json(&report_json(&files, !args.dry_run))?;
    } else if args.dry_run {
        let base = std::env::current_dir().unwrap_or_default();
        for file in files.iter().filter(|f| f.is_changed()) {
            crate::out::text(&file.unified_diff(&base))?;
        }
    } else {
        let changes: usize = files.iter().map(|f| f.edit.changes.len()).sum();
        for file in &files {
            for c in &file.edit.changes {
                let old = c.old.as_deref().unwrap_or("(added)");
                crate::out::line(&format!(
                    "{}:{}: {} {}: {old} -> {}",
                    file.path.display(),
                    c.line,
                    c.target,
                    c.field,
                    c.new
                ))?;
            }
        }
        if changes == 0 {
            crate::out::line("no changes")?;
        }
    }
    Ok(())
}

fn report_json(files: &[overlay::FileUpdate], written: bool) -> serde_json::Value {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path.display().to_string(),
                "changed": f.is_changed(),
                "changes": f.edit.changes.iter().map(|c| serde_json::json!({
                    "line": c.line, "target": c.target.to_string(), "field": c.field, "old": c.old, "new": c.new,
                })).collect::<Vec<_>>(),
                "skipped": f.edit.skipped.iter().map(|s| serde_json::json!({
                    "line": s.line, "target": s.target.to_string(), "reason": s.reason,
                })).collect::<Vec<_>>(),
                "ignored_markers": f.edit.ignored.iter().map(|i| serde_json::json!({
                    "line": i.line, "reason": i.reason,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "written": written, "files": files })
}
