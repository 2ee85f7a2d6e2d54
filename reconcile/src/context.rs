//! [`Context`], what every reconcile shares, and [`Mode`], whether it may write. Below the
//! reconcile function and its passes, so both use it without depending on each other.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OnceCell, RwLock};

use crate::apply::Applier;
use crate::metrics::Metrics;

/// What every reconcile shares.
pub struct Context {
    /// Discovery and apply; refreshed when a build brings new CRDs.
    pub applier: RwLock<Applier>,
    /// Namespace of the inventory and status ConfigMaps, Events and auth Secrets.
    pub namespace: String,
    /// Where clones live (one directory per sync).
    pub state_dir: PathBuf,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Create the reconciler's namespace when it is missing (`--create-reconciler-namespace`).
    pub create_namespace: bool,
    /// An undefined `postBuild` variable without a default is an error (Flux's
    /// `StrictPostBuildSubstitutions`).
    pub strict_substitution: bool,
    /// Flux `Kustomization`/`GitRepository` objects in a build become nested syncs instead of
    /// being applied (on by default when the Flux CRDs are not installed).
    pub nested_flux: bool,
    /// Hands freed heap pages back to the kernel after each reconcile. It depends on the global
    /// allocator, which the binary chooses: the default suits the system allocator
    /// ([`crate::run::trim_system_allocator`]).
    pub release_memory: fn(),
    /// Each sync's last known readiness in this process, for `dependsOn`.
    readiness: Mutex<HashMap<String, Readiness>>,
    /// Each sync's `dependsOn`, as last reconciled.
    dependencies: Mutex<HashMap<String, Vec<String>>>,
    /// Wakes a sync's loop before its interval (the HTTP trigger, a dependency becoming Ready).
    triggers: Mutex<HashMap<String, Arc<Notify>>>,
    sdk: OnceCell<aws_config::SdkConfig>,
}

/// Whether a sync is Ready at its current revision, as `dependsOn` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Ready at `revision`.
    pub ready: bool,
    /// The revision last fetched.
    pub revision: String,
    /// Why not, when not.
    pub message: String,
}

impl Context {
    /// A context over `applier`.
    pub fn new(applier: Applier, namespace: &str, state_dir: PathBuf, metrics: Arc<Metrics>) -> Self {
        Self {
            applier: RwLock::new(applier),
            namespace: namespace.into(),
            state_dir,
            metrics,
            create_namespace: false,
            strict_substitution: false,
            nested_flux: false,
            release_memory: crate::run::trim_system_allocator,
            readiness: Mutex::default(),
            dependencies: Mutex::default(),
            triggers: Mutex::default(),
            sdk: OnceCell::new(),
        }
    }

    /// Records a sync's readiness.
    pub fn set_readiness(&self, sync: &str, readiness: Readiness) {
        if let Ok(mut map) = self.readiness.lock() {
            map.insert(sync.to_owned(), readiness);
        }
    }

    /// A sync's readiness as this process knows it (`None`: not reconciled here yet).
    pub fn readiness(&self, sync: &str) -> Option<Readiness> {
        self.readiness.lock().ok().and_then(|m| m.get(sync).cloned())
    }

    /// The notifier that wakes `sync`'s loop.
    pub fn trigger(&self, sync: &str) -> Arc<Notify> {
        match self.triggers.lock() {
            Ok(mut map) => map.entry(sync.to_owned()).or_default().clone(),
            Err(_) => Arc::new(Notify::new()),
        }
    }

    /// Wakes `sync` now; false when no such sync runs here.
    pub fn wake(&self, sync: &str) -> bool {
        let found = self.triggers.lock().ok().and_then(|m| m.get(sync).cloned());
        found.map(|n| n.notify_one()).is_some()
    }

    /// The syncs whose `dependsOn` names `sync` (among those reconciled in this process).
    pub fn dependents_of(&self, sync: &str) -> Vec<String> {
        self.dependencies
            .lock()
            .map(|m| m.iter().filter(|(_, deps)| deps.iter().any(|d| d == sync)).map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Records what `sync` depends on (for [`Context::dependents_of`]).
    pub fn set_dependencies(&self, sync: &str, depends_on: &[String]) {
        if let Ok(mut map) = self.dependencies.lock() {
            map.insert(sync.to_owned(), depends_on.to_vec());
        }
    }

    /// Wakes every sync; returns how many.
    pub fn wake_all(&self) -> usize {
        let all: Vec<_> = self.triggers.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        all.iter().for_each(|n| n.notify_one());
        all.len()
    }

    pub(crate) async fn client(&self) -> kube::Client {
        self.applier.read().await.client().clone()
    }

    /// The AWS SDK configuration, loaded once on first use (CodeCommit IAM auth).
    pub(crate) async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.sdk.get_or_init(shipline_core::aws::load_sdk_config).await.clone()
    }
}

/// Whether a reconcile may write to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply, prune, record.
    Apply,
    /// Server-side dry runs only; report what would change.
    DryRun,
}
