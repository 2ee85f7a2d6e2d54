//! The reconcile function, its context and its error policy.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::apply::ApplyError;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::Api;
use kube::api::{DeleteParams, Preconditions};
use tokio::time::Instant;

use crate::cluster;
use crate::config::SyncSpec;
use crate::context::Readiness;
use crate::context::{Context, Mode};
use crate::drift::comparable;
use crate::error::ReconcileError;
use crate::health::{Health, is_awaited};
use crate::inventory::{self, Entry, Inventory};
use crate::metrics::Observation;
use crate::objects::to_json;
use crate::objects::{DesiredObject, desired_objects};
use crate::pass::Pass;
use crate::plan::{Action, Change, Outcome, diff};
use crate::prune;
use crate::source::{self, Revision};
use crate::status::{self, SyncStatus};

/// One sync and what the reconciler remembers of it between reconciles.
pub struct Sync {
    /// Configuration.
    pub spec: SyncSpec,
    inventory: Option<Inventory>,
    status: Option<SyncStatus>,
    build: Option<crate::build_cache::CachedBuild>,
    attempted: Option<String>,
    failures: u32,
    /// Whether this process checked that the sync's state can be recorded (see [`preflight`]).
    state_checked: bool,
    /// Nested syncs found in the cached build.
    nested: Vec<SyncSpec>,
}

impl Sync {
    /// A sync not yet reconciled.
    pub fn new(spec: SyncSpec) -> Self {
        Self {
            spec,
            inventory: None,
            status: None,
            build: None,
            attempted: None,
            failures: 0,
            state_checked: false,
            nested: Vec::new(),
        }
    }

    /// How long to wait before the next reconcile: the interval after a success; after
    /// failures, an exponential backoff from 5 s, capped at the retry interval (or the interval).
    pub fn next_delay(&self) -> Duration {
        match self.failures {
            0 => self.spec.interval,
            n => error_policy(self.spec.retry_interval.unwrap_or(self.spec.interval), n),
        }
    }
}

/// The delay before the next attempt after `failures` consecutive failures.
pub fn error_policy(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let backoff = Duration::from_secs(5).saturating_mul(1 << failures.saturating_sub(1).min(10));
    backoff.min(interval)
}

/// Reconciles one sync and reports the result: status ConfigMap (only when it changed), Events
/// (on changes and failures), metrics, logs. Never panics on cluster errors.
pub async fn reconcile_and_report(sync: &mut Sync, ctx: &Context, mode: Mode) -> Result<Outcome, ReconcileError> {
    if sync.spec.suspend {
        // Suspended: no fetch, no apply, no drift correction, no status write (as Flux).
        tracing::debug!(sync = sync.spec.name, "suspended");
        return Ok(Outcome {
            sync: sync.spec.name.clone(),
            suspended: true,
            dry_run: mode == Mode::DryRun,
            ..Default::default()
        });
    }
    let started = Instant::now();
    let result = reconcile(sync, ctx, mode).await;
    let name = sync.spec.name.clone();
    let observation = Observation {
        result: result.as_ref().map_or_else(ReconcileError::reason, |_| "success"),
        duration: started.elapsed(),
        applied: result.as_ref().map_or(0, |o| {
            (o.count(Action::Create)
                + o.count(Action::Update)
                + o.count(Action::CorrectDrift)
                + o.count(Action::Recreate)) as u64
        }),
        pruned: result.as_ref().map_or(0, |o| o.count(Action::Prune) as u64),
        drift_corrections: result.as_ref().map_or(0, |o| o.count(Action::CorrectDrift) as u64),
    };
    if mode == Mode::DryRun {
        return result;
    }
    ctx.metrics.observe(&name, observation);
    sync.failures = if result.is_ok() { 0 } else { sync.failures.saturating_add(1) };
    ctx.set_readiness(
        &name,
        Readiness {
            ready: result.is_ok(),
            revision: sync.attempted.clone().unwrap_or_default(),
            message: result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
        },
    );
    match &result {
        Ok(o) if o.changes.is_empty() => tracing::debug!(sync = name, revision = o.revision, "no change"),
        Ok(o) => tracing::info!(sync = name, revision = o.revision, summary = o.summary(), "applied"),
        Err(e) => tracing::warn!(sync = name, reason = e.reason(), error = %e, "reconcile failed"),
    }
    if matches!(result, Err(ReconcileError::StateUnrecordable { .. })) {
        // Nowhere to record it: the error says why; the logs carry it.
        return result;
    }
    if let Err(e) = report(sync, ctx, &result).await {
        tracing::warn!(sync = name, error = %e, "could not record status");
    }
    result
}

async fn report(sync: &mut Sync, ctx: &Context, result: &Result<Outcome, ReconcileError>) -> Result<(), kube::Error> {
    let client = ctx.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ctx.namespace);
    let events: Api<Event> = Api::namespaced(client, &ctx.namespace);
    let name = sync.spec.name.clone();
    let previous = match sync.status.take() {
        Some(s) => s,
        None => status::load(&cms, &name).await?,
    };
    let mut next = previous.clone();
    next.deletion_policy = format!("{:?}", sync.spec.deletion_policy);
    let now = status::now_rfc3339();
    match result {
        Ok(o) => {
            if next.last_applied_revision != o.revision || next.last_applied_at.is_empty() {
                next.last_applied_at = now.clone();
            }
            next.last_applied_revision = o.revision.clone();
            next.last_attempted_revision = o.revision.clone();
            next.inventory_size = sync.inventory.as_ref().map_or(0, Inventory::len);
            next.set_condition(
                "Ready",
                "True",
                "ReconciliationSucceeded",
                &format!("applied revision {}", o.revision),
                &now,
            );
            if sync.spec.wait {
                next.set_condition("Healthy", "True", "WorkloadsReady", "all workloads rolled out", &now);
            } else {
                next.set_condition("Healthy", "Unknown", "HealthNotChecked", "wait is off for this sync", &now);
            }
            next.set_condition("Stalled", "False", "ReconciliationSucceeded", "", &now);
        }
        Err(e) => {
            if let Some(rev) = &sync.attempted {
                next.last_attempted_revision = rev.clone();
            }
            let stalled = matches!(
                e,
                ReconcileError::Build { .. }
                    | ReconcileError::Config { .. }
                    | ReconcileError::Conflict { .. }
                    | ReconcileError::Immutable { .. }
            );
            let health = if matches!(e, ReconcileError::Unhealthy { .. }) { "False" } else { "Unknown" };
            next.set_condition("Ready", "False", e.reason(), &e.to_string(), &now);
            next.set_condition("Healthy", health, e.reason(), &e.to_string(), &now);
            next.set_condition("Stalled", if stalled { "True" } else { "False" }, e.reason(), "", &now);
        }
    }
    if next != previous {
        status::save(&cms, &name, &next).await?;
    }
    sync.status = Some(next);
    match result {
        Ok(o) if !o.changes.is_empty() => {
            let mut message = format!("revision {}: {}", o.revision, o.summary());
            for c in o.changes.iter().take(20) {
                message.push_str(&format!("\n{:?} {}", c.action, c.key));
            }
            status::event(&events, &ctx.namespace, &name, false, "ChangesApplied", &message).await?;
        }
        Ok(_) => {}
        Err(e) => status::event(&events, &ctx.namespace, &name, true, e.reason(), &e.to_string()).await?,
    }
    Ok(())
}

/// One pass over a sync: fetch, build, apply what changed or drifted, prune, wait for health.
pub async fn reconcile(sync: &mut Sync, ctx: &Context, mode: Mode) -> Result<Outcome, ReconcileError> {
    let spec = sync.spec.clone();
    let deadline = Instant::now() + spec.timeout;
    if mode == Mode::Apply {
        ctx.set_dependencies(&spec.name, &spec.depends_on);
        crate::dependencies::check(&spec, ctx).await?;
    }
    let revision = fetch(&spec, ctx).await?;
    sync.attempted = Some(revision.commit.clone());
    if let Some(known) = ctx.readiness(&spec.name)
        && known.revision != revision.commit
    {
        // A new revision: dependents wait until it is applied.
        let message = format!("reconciling revision {}", revision.commit);
        ctx.set_readiness(&spec.name, Readiness { ready: false, revision: revision.commit.clone(), message });
    }
    let vars = match &spec.post_build {
        Some(pb) => crate::vars::load(ctx.client().await, &ctx.namespace, &spec.name, pb).await?,
        None => Default::default(),
    };
    // The cached build is reused only for the same commit and the same variables.
    let build_key = format!("{}:{}", revision.commit, crate::vars::digest(&vars));
    let mut cached = sync.build.take().filter(|c| c.is_for(&build_key));
    let from_cache = cached.as_ref().and_then(|c| c.objects());
    let objects = match from_cache {
        Some(objects) => objects,
        None => {
            cached = None;
            let mut objects = crate::decrypt::build(&spec, &revision, &vars, ctx).await?;
            if ctx.nested_flux {
                sync.nested = nested_syncs(&spec, &revision, &mut objects)?;
            }
            objects
        }
    };
    let built = objects.len();
    let client = ctx.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ctx.namespace);
    let previous = match sync.inventory.take() {
        Some(inv) => inv,
        None => inventory::load(&cms, &spec.name).await.map_err(|message| ReconcileError::Inventory {
            sync: spec.name.clone(),
            name: inventory::configmap_name(&spec.name),
            message,
        })?,
    };
    let mut outcome = Outcome {
        sync: spec.name.clone(),
        revision: revision.commit.clone(),
        dry_run: mode == Mode::DryRun,
        nested: sync.nested.clone(),
        ..Default::default()
    };
    let mut pass = Pass {
        spec: &spec,
        ctx,
        mode,
        previous: &previous,
        next: Inventory::default(),
        outcome: &mut outcome,
        live_health: Vec::new(),
        namespaces_created: BTreeSet::new(),
        live_cache: Default::default(),
        state_checked: sync.state_checked,
    };
    let applied = pass.apply_all(objects, deadline).await;
    sync.state_checked = pass.state_checked;
    let next = std::mem::take(&mut pass.next);
    let live_health = std::mem::take(&mut pass.live_health);
    let (desired, targets) = match applied {
        Ok(done) => done,
        Err(e) => {
            // Keep track of everything applied so far and everything applied before: nothing is
            // pruned after a failure, and nothing is forgotten either.
            let mut merged = previous.clone();
            merged.entries.extend(next.entries);
            if mode == Mode::Apply && merged != previous {
                save_inventory(&cms, &spec.name, &merged).await?;
            }
            sync.inventory = Some(if mode == Mode::Apply { merged } else { previous });
            return Err(e);
        }
    };
    let mut next = next;
    if spec.prune {
        let keys: BTreeSet<_> = desired.iter().map(|d| d.key.clone()).collect();
        if mode == Mode::Apply && !sync.state_checked && !prune::plan(&previous, &keys).is_empty() {
            crate::preflight::ensure_state_recordable(ctx, &spec.name).await?;
            sync.state_checked = true;
        }
        prune_departed(&spec, ctx, mode, &previous, &keys, &mut outcome).await?;
    }
    if !spec.prune {
        // Not pruning: what left the build stays shipline's, to prune once pruning is on.
        let departed: Vec<Entry> =
            previous.entries.values().filter(|e| !next.entries.contains_key(&e.key)).cloned().collect();
        next.entries.extend(departed.into_iter().map(|e| (e.key.clone(), e)));
    }
    if mode == Mode::Apply && next != previous {
        save_inventory(&cms, &spec.name, &next).await?;
    }
    // A dry run changes nothing, not even what this process remembers.
    sync.inventory = Some(if mode == Mode::Apply { next } else { previous });
    let mut verdicts = if !spec.wait || mode == Mode::DryRun {
        Vec::new()
    } else if outcome.changes.is_empty() {
        live_health
    } else {
        let awaited: Vec<_> = desired
            .iter()
            .zip(&targets)
            .filter(|(d, _)| is_awaited(&d.key.group, &d.key.kind))
            .map(|(d, t)| (d.key.clone(), t))
            .collect();
        cluster::wait_healthy(&spec.name, awaited, deadline).await?
    };
    if mode == Mode::Apply && !spec.health_checks.is_empty() {
        let checks = health_check_targets(&spec, ctx).await?;
        let checks: Vec<_> = checks.iter().map(|(k, t)| (k.clone(), t)).collect();
        verdicts.extend(cluster::wait_healthy(&spec.name, checks, deadline).await?);
    }
    // A workload that is not ready says why its Pods are not running (ImagePullBackOff, ...).
    if verdicts.iter().any(|(_, h)| !matches!(h, Health::Ready)) {
        let client = ctx.client().await;
        for (key, health) in &mut verdicts {
            let (Health::Progressing(why) | Health::Failed(why)) = health else { continue };
            if let Some(d) = desired.iter().find(|d| &d.key == key)
                && let Some(problems) = cluster::pod_problems(&client, d).await
            {
                why.push_str(&format!("; {problems}"));
            }
        }
    }
    // Keep the build (namespaces filled in) for the next reconcile of this revision, unless a
    // dry run left out objects whose CRD is not installed yet.
    if desired.len() == built {
        sync.build = cached.or_else(|| crate::build_cache::CachedBuild::new(build_key, &desired));
    }
    for (key, health) in &verdicts {
        outcome.add_unhealthy(key, health);
    }
    if !outcome.unhealthy.is_empty() {
        let details = outcome.unhealthy.iter().map(|(o, why)| format!("{o}: {why}")).collect::<Vec<_>>().join("; ");
        return Err(ReconcileError::Unhealthy { sync: spec.name.clone(), timeout_s: spec.timeout.as_secs(), details });
    }
    Ok(outcome)
}

async fn save_inventory(cms: &Api<ConfigMap>, sync: &str, inv: &Inventory) -> Result<(), ReconcileError> {
    inventory::save(cms, sync, inv)
        .await
        .map_err(|e| ReconcileError::kube(sync, format!("writing inventory {}", inventory::configmap_name(sync)), e))
}

async fn fetch(spec: &SyncSpec, ctx: &Context) -> Result<Revision, ReconcileError> {
    let client = ctx.client().await;
    let secrets: Api<Secret> = Api::namespaced(client, &ctx.namespace);
    let dir = ctx.state_dir.join(&spec.name);
    let sdk = async || ctx.sdk_config().await;
    let auth = source::resolve_auth(spec, &secrets, sdk, &dir.join("auth")).await?;
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || source::fetch(&spec, &auth, &dir.join("repo")))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Builds the kustomization, substitutes `postBuild` variables (before parsing, on the YAML
/// text, as Flux does, so `replicas: ${n}` becomes a number) and strips fields left to other
/// controllers by the sync's ignore rules.
/// `hook` (sops decryption) sees the generator sources the build reads.
pub(crate) fn build(
    spec: &SyncSpec,
    revision: &Revision,
    vars: &std::collections::BTreeMap<String, String>,
    strict: bool,
    hook: Option<std::sync::Arc<dyn shipline_core::kustomize::source_hook::SourceHook>>,
) -> Result<Vec<DesiredObject>, ReconcileError> {
    let err = |message: String| ReconcileError::Build {
        sync: spec.name.clone(),
        path: spec.path.clone(),
        revision: revision.commit.clone(),
        message,
    };
    let dir = revision.root.join(&spec.path);
    let stream = match hook {
        Some(hook) => shipline_core::kustomize::build_with_hook(&dir, hook),
        None => shipline_core::kustomize::build(&dir),
    }
    .map_err(|e| err(e.to_string()))?;
    let stream = crate::substitute::substitute_stream(&stream, vars, strict)
        .map_err(|message| ReconcileError::Substitute { sync: spec.name.clone(), message })?;
    let mut objects = desired_objects(&stream).map_err(|e| err(e.to_string()))?;
    if !spec.ignore.is_empty() {
        for d in &mut objects {
            let mut value = serde_json::to_value(&d.object).unwrap_or_default();
            if crate::options::strip_ignored(&spec.ignore, &d.key, &mut value) {
                d.object = serde_json::from_value(value).map_err(|e| err(format!("{}: {e}", d.key)))?;
                d.rehash();
            }
        }
    }
    Ok(objects)
}

/// Takes the Flux Kustomizations and GitRepositories out of a build and turns them into syncs;
/// the sync itself (a `flux-system` Kustomization that lists itself) is left out.
fn nested_syncs(
    spec: &SyncSpec,
    revision: &Revision,
    objects: &mut Vec<DesiredObject>,
) -> Result<Vec<SyncSpec>, ReconcileError> {
    let (flux, rest): (Vec<_>, Vec<_>) =
        std::mem::take(objects).into_iter().partition(|d| crate::flux::is_nested_kind(&d.key.group, &d.key.kind));
    *objects = rest;
    if flux.is_empty() {
        return Ok(Vec::new());
    }
    let docs: Vec<serde_json::Value> = flux
        .iter()
        .filter(|d| d.key.name != spec.name || d.key.kind != "Kustomization")
        .map(crate::pass::to_value)
        .collect();
    let known: Vec<_> = spec.source.iter().cloned().collect();
    let nested = crate::flux::nested_syncs(docs, &known).map_err(|message| ReconcileError::Config {
        file: format!("sync {}: the build of {} at {}", spec.name, spec.path, revision.commit),
        message,
    })?;
    Ok(nested.into_iter().filter(|n| n.name != spec.name).collect())
}

/// The objects `healthChecks` names, resolved through discovery.
async fn health_check_targets(
    spec: &SyncSpec,
    ctx: &Context,
) -> Result<Vec<(crate::objects::ObjectKey, crate::apply::Target)>, ReconcileError> {
    let applier = ctx.applier.read().await;
    let mut out = Vec::with_capacity(spec.health_checks.len());
    for check in &spec.health_checks {
        let ns = check.namespace.as_deref().unwrap_or(&spec.namespace);
        let target = applier
            .target(&check.api_version, &check.kind, &check.name, Some(ns))
            .map_err(|source| ReconcileError::Apply { sync: spec.name.clone(), source })?;
        let key = crate::objects::ObjectKey {
            group: crate::apply::group_version(&check.api_version).0.to_owned(),
            kind: check.kind.clone(),
            namespace: target.namespace.clone().unwrap_or_default(),
            name: check.name.clone(),
        };
        out.push((key, target));
    }
    Ok(out)
}

/// Prunes every object of `sync`'s recorded inventory (a sync that left the configuration with
/// `deletionPolicy: Delete`), with the same safety as a normal prune (uid preconditions, the
/// opt-out annotation). Returns what was pruned.
pub async fn prune_everything(spec: &SyncSpec, ctx: &Context) -> Result<Outcome, ReconcileError> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client().await, &ctx.namespace);
    let previous = inventory::load(&cms, &spec.name).await.map_err(|message| ReconcileError::Inventory {
        sync: spec.name.clone(),
        name: inventory::configmap_name(&spec.name),
        message,
    })?;
    let mut outcome = Outcome { sync: spec.name.clone(), ..Default::default() };
    prune_departed(spec, ctx, Mode::Apply, &previous, &BTreeSet::new(), &mut outcome).await?;
    Ok(outcome)
}

async fn prune_departed(
    spec: &SyncSpec,
    ctx: &Context,
    mode: Mode,
    previous: &Inventory,
    desired: &BTreeSet<crate::objects::ObjectKey>,
    outcome: &mut Outcome,
) -> Result<(), ReconcileError> {
    let applier = ctx.applier.read().await;
    for entry in prune::plan(previous, desired) {
        let kube_err = |e: kube::Error| ReconcileError::kube(&spec.name, format!("pruning {}", entry.key), e);
        let ns = (!entry.key.namespace.is_empty()).then_some(entry.key.namespace.as_str());
        let target = match applier.target(&entry.api_version, &entry.key.kind, &entry.key.name, ns) {
            Ok(t) => t,
            // The kind is gone (its CRD was pruned first): so are its objects.
            Err(ApplyError::UnknownKind { .. }) => continue,
            Err(source) => return Err(ReconcileError::Apply { sync: spec.name.clone(), source }),
        };
        let Some(live) = target.api.get_opt(&entry.key.name).await.map_err(kube_err)? else { continue };
        if let Some(why) = prune::skip_reason(&entry, &to_json(&live)) {
            outcome.prune_skipped.push((entry.key.to_string(), why));
            continue;
        }
        if mode == Mode::Apply {
            let params = DeleteParams::background()
                .preconditions(Preconditions { uid: Some(entry.uid.clone()), resource_version: None });
            match target.api.delete(&entry.key.name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => continue,
                Err(e) => return Err(kube_err(e)),
            }
        }
        let diff = (mode == Mode::DryRun).then(|| diff(Some(&comparable(&to_json(&live))), None));
        outcome.changes.push(Change { key: entry.key.clone(), action: Action::Prune, diff });
    }
    Ok(())
}
