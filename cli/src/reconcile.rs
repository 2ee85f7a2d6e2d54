//! `shipline reconcile`: keep kustomize overlays from git applied to the cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use shipline_reconcile::apply::Applier;
use shipline_reconcile::config::{self, SyncFlags};
use shipline_reconcile::context::{Context, Mode};
use shipline_reconcile::metrics::Metrics;
use shipline_reconcile::reconciler::Sync;
use shipline_reconcile::server::{self, Probe};
use shipline_reconcile::{ReconcileError, run};

/// Arguments of `shipline reconcile`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each sync: fetch the ref (shallow, reusing the previous clone), build the kustomization natively,
server-side apply (field manager `shipline`) what is new, changed in git or drifted in the cluster,
prune what left the build (inventory ConfigMap `shipline-inventory-SYNC`), wait for rollouts, and
record status (ConfigMap `shipline-status-SYNC`, Events). A reconcile that finds nothing to do makes
no write requests.

Objects opt out of pruning with the annotation `shipline.dev/prune: disabled`, and into
delete-and-recreate on immutable-field changes with `shipline.dev/recreate: \"true\"`.

Examples:
  # what would change, without writing (laptop, CI):
  shipline reconcile --once --dry-run --git https://host/microservices.git --path deploy/overlays/dev
  # one pass from a pipeline step, then exit non-zero on failure:
  shipline reconcile --once --prune --git https://host/microservices.git --path deploy/overlays/dev
  # in the cluster (manifests/), several syncs from a file:
  shipline reconcile --config /etc/shipline/syncs.yaml --listen 0.0.0.0:8080

The cluster comes from KUBECONFIG, ~/.kube/config, or the pod's service account.")]
pub struct ReconcileArgs {
    /// A syncs file (see README: `syncs:` with name, git, ref, path, interval, timeout, prune,
    /// wait, namespace, auth, dependsOn, healthChecks, postBuild, suspend, ignore...), or Flux
    /// GitRepository + Kustomization manifests. Conflicts with --git.
    #[arg(long, value_name = "FILE", conflicts_with = "git")]
    config: Option<PathBuf>,
    /// Git URL of one sync (HTTPS, SSH or a local path).
    #[arg(long, value_name = "URL", required_unless_present = "config")]
    git: Option<String>,
    /// Branch, tag or full commit id.
    #[arg(long = "ref", value_name = "REF", default_value = config::defaults::REF)]
    reference: String,
    /// Kustomization directory inside the repository.
    #[arg(long, default_value = ".")]
    path: String,
    /// Sync name (names the inventory and status ConfigMaps); default: the repository name.
    #[arg(long)]
    name: Option<String>,
    /// How often to fetch and check for drift, e.g. 30s, 1m, 1h.
    #[arg(long, default_value = config::defaults::INTERVAL)]
    interval: String,
    /// Bound on apply plus health waiting.
    #[arg(long, default_value = config::defaults::TIMEOUT)]
    timeout: String,
    /// Delete objects that left the build (only ones this sync applied).
    #[arg(long)]
    prune: bool,
    /// Do not wait for Deployments, StatefulSets, DaemonSets and Jobs to roll out.
    #[arg(long)]
    no_wait: bool,
    /// Namespace for namespaced objects the build leaves without one.
    #[arg(long, default_value = config::defaults::NAMESPACE)]
    namespace: String,
    /// Secret (in --reconciler-namespace) with git credentials: username + password, or
    /// identity + known_hosts (Flux's keys).
    #[arg(long, value_name = "SECRET")]
    auth_secret: Option<String>,
    /// Namespace of shipline's own ConfigMaps, Events and auth Secrets.
    #[arg(long, env = "POD_NAMESPACE", default_value = "shipline-system")]
    reconciler_namespace: String,
    /// Where clones are kept between reconciles.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Extra PEM CA bundle for HTTPS git servers.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Reconcile each sync once and exit (non-zero when any failed).
    #[arg(long)]
    once: bool,
    /// Write nothing: show what would be created, updated and pruned, as diffs. Implies --once.
    #[arg(long)]
    dry_run: bool,
    /// With --once: print the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// Serve /healthz, /readyz and /metrics on this address (long-running mode).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Create --reconciler-namespace when it is missing (otherwise a sync whose inventory cannot
    /// be recorded applies nothing and says how to fix it).
    #[arg(long)]
    create_reconciler_namespace: bool,
    /// A `postBuild` variable referenced without a default and defined nowhere is an error
    /// (Flux's StrictPostBuildSubstitutions); otherwise it becomes empty.
    #[arg(long)]
    strict_substitution: bool,
    /// File holding the bearer token of the reconcile-now trigger (`POST /reconcile[/SYNC]` on
    /// --listen); the trigger is off without it.
    #[arg(long, value_name = "FILE", requires = "listen")]
    trigger_token_file: Option<PathBuf>,
    /// Flux Kustomization and GitRepository objects in a build: `nested` reconciles them as syncs
    /// of this reconciler (the flux-system -> apps pattern), `apply` applies them as custom
    /// resources, `auto` nests them unless the Flux CRDs are installed.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "nested", "apply"])]
    flux_objects: String,
}

/// Runs `shipline reconcile`.
pub fn run(args: &ReconcileArgs) -> Result<(), String> {
    let specs = match (&args.config, &args.git) {
        (Some(file), _) => config::load_file(file),
        (None, Some(git)) => config::from_flags(&SyncFlags {
            name: args.name.clone(),
            git: git.clone(),
            reference: Some(args.reference.clone()),
            path: Some(args.path.clone()),
            interval: Some(args.interval.clone()),
            timeout: Some(args.timeout.clone()),
            prune: args.prune,
            wait: !args.no_wait,
            namespace: Some(args.namespace.clone()),
            auth_secret: args.auth_secret.clone(),
        })
        .map(|s| vec![s]),
        (None, None) => unreachable!("clap requires --config or --git"),
    }
    .map_err(|e| e.to_string())?;
    if let Some(ca) = &args.ca_file {
        shipline_core::git::trust_ca_file(ca).map_err(|e| e.to_string())?;
    }
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("--state-dir {}: {e}", state_dir.display()))?;
    shipline_core::install_crypto_provider();
    // One thread runs every sync and the HTTP endpoints (the work is I/O-bound); git fetches
    // run on the blocking pool. Fewer threads, fewer malloc arenas: a smaller idle footprint.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = match args.listen {
            Some(addr) => Some(server::bind(addr).await.map_err(|e| format!("--listen {addr}: {e}"))?),
            None => None,
        };
        let client = shipline_reconcile::kube_client().await?;
        let applier = Applier::new(client, &args.namespace).await.map_err(|e| e.to_string())?;
        let flux_installed =
            applier.target("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "probe", Some("flux-system")).is_ok();
        let nested_flux = match args.flux_objects.as_str() {
            "nested" => true,
            "apply" => false,
            _ => !flux_installed,
        };
        let metrics = Arc::new(Metrics::default());
        let mut ctx = Context::new(applier, &args.reconciler_namespace, state_dir, metrics.clone());
        ctx.create_namespace = args.create_reconciler_namespace;
        ctx.strict_substitution = args.strict_substitution;
        ctx.nested_flux = nested_flux;
        ctx.release_memory = crate::alloc::release_free_memory;
        let ctx = Arc::new(ctx);
        let syncs: Vec<Sync> = specs.into_iter().map(Sync::new).collect();
        if args.once || args.dry_run {
            let mode = if args.dry_run { Mode::DryRun } else { Mode::Apply };
            let results = run::once(syncs, &ctx, mode).await;
            return print_results(&results, args.json);
        }
        let trigger = match &args.trigger_token_file {
            Some(file) => {
                let token = std::fs::read_to_string(file)
                    .map_err(|e| format!("--trigger-token-file {}: {e}", file.display()))?;
                let token = token.trim();
                if token.len() < 16 {
                    return Err(format!(
                        "--trigger-token-file {}: the token must be at least 16 characters",
                        file.display()
                    ));
                }
                Some(server::Trigger { ctx: ctx.clone(), token: shipline_core::secret::Secret::new(token) })
            }
            None => None,
        };
        let probe = Arc::new(Probe { ready: AtomicBool::new(false), metrics, trigger });
        let shutdown = run::shutdown_signal();
        let server = listener.map(|l| {
            let mut stop = shutdown.clone();
            tokio::spawn(server::serve(l, probe.clone(), async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        });
        run::forever(syncs, ctx, probe, shutdown).await;
        if let Some(server) = server {
            let _ = server.await;
        }
        Ok(())
    })
}

fn print_results(
    results: &[Result<shipline_reconcile::plan::Outcome, ReconcileError>],
    json: bool,
) -> Result<(), String> {
    let failures: Vec<String> = results.iter().filter_map(|r| r.as_ref().err()).map(ToString::to_string).collect();
    if json {
        let values: Vec<serde_json::Value> = results
            .iter()
            .map(|r| match r {
                Ok(o) => serde_json::json!({"ok": true, "outcome": o}),
                Err(e) => serde_json::json!({"ok": false, "reason": e.reason(), "error": e.to_string()}),
            })
            .collect();
        crate::out::json_pretty(&serde_json::Value::Array(values))?;
    } else {
        for o in results.iter().filter_map(|r| r.as_ref().ok()) {
            if o.suspended {
                crate::out::line(&format!("sync {}: suspended, nothing done", o.sync))?;
            } else {
                crate::out::text(&o.render())?;
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        _ => Err(failures.join("\nerror: ")),
    }
}

fn default_state_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("shipline/reconcile")
}
