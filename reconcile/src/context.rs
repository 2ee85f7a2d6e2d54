//! [`Context`], what every reconcile shares, and [`Mode`], whether it may write. Below the
//! reconcile function and its passes, so both use it without depending on each other.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{OnceCell, RwLock};

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
    sdk: OnceCell<aws_config::SdkConfig>,
}

impl Context {
    /// A context over `applier`.
    pub fn new(applier: Applier, namespace: &str, state_dir: PathBuf, metrics: Arc<Metrics>) -> Self {
        Self { applier: RwLock::new(applier), namespace: namespace.into(), state_dir, metrics, sdk: OnceCell::new() }
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
