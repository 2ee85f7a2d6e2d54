//! `shipline reconcile`: keeps kustomize overlays from git applied to a cluster.
//!
//! The loop per sync (see [`reconciler::reconcile`]): fetch the ref ([`source`]), build natively
//! (`shipline_core::kustomize`), server-side apply what changed or drifted ([`drift`]), prune what
//! left the build ([`inventory`], [`prune`]), wait for workloads ([`health`]), and report
//! ([`status`], [`metrics`], [`server`]). Pure logic (drift comparison, health assessment, prune
//! planning, configuration) is plain functions over data; the Kubernetes and git I/O sits in
//! [`reconciler`], [`source`] and [`status`].

#![warn(missing_docs)]

pub mod apply;
mod build_cache;
pub mod cluster;
pub mod config;
pub mod context;
pub mod decrypt;
pub mod departed;
pub mod dependencies;
pub mod drift;
pub mod error;
pub mod flux;
pub mod health;
pub mod inventory;
pub mod metrics;
pub mod objects;
pub mod options;
mod pass;
pub mod plan;
pub mod preflight;
pub mod prune;
pub mod reconciler;
pub mod run;
pub mod running;
pub mod server;
pub mod sops;
pub mod source;
pub mod status;
pub mod substitute;
pub mod vars;

pub use error::ReconcileError;

/// The field manager of every server-side apply: `kubectl get -o yaml --show-managed-fields`
/// shows which fields shipline owns.
pub const FIELD_MANAGER: &str = "shipline";

/// Annotation on an object (in git or in the cluster) that stops shipline from pruning it:
/// `shipline.dev/prune: disabled`.
pub const PRUNE_ANNOTATION: &str = "shipline.dev/prune";

/// Annotation on an object in git that lets shipline delete and re-create it when a change hits
/// an immutable field (a Job's template, a Service's clusterIP...): `shipline.dev/recreate: "true"`.
pub const RECREATE_ANNOTATION: &str = "shipline.dev/recreate";

/// A Kubernetes client from KUBECONFIG, `~/.kube/config` or the pod's service account, that
/// sends `User-Agent: shipline/VERSION` so audit logs tell shipline's requests apart.
pub async fn kube_client() -> Result<kube::Client, String> {
    let mut config = kube::Config::infer().await.map_err(|e| format!("finding the cluster: {e}"))?;
    config.headers.push((
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_static(concat!("shipline/", env!("CARGO_PKG_VERSION"))),
    ));
    kube::Client::try_from(config).map_err(|e| format!("connecting to the cluster: {e}"))
}
