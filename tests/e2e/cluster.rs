//! shipline in a real cluster: the node started by `tests/services/ctl.sh` (kubelet, containerd,
//! runc, CNI bridge, scheduler, kube-proxy; see `tests/services/node.sh`).
//!
//! - [`image`]: the reconciler image from `scripts/build-image.sh`, reproducible and shell-free;
//! - [`install`]: `manifests/` installed with `kubectl apply -k` (both RBAC variants), the
//!   reconciler Pod Ready, syncing the sock-shop example from the test git server over HTTPS.
//!
//! Tests that install into `shipline-system` hold [`support::exclusive`] so they run one at a time.

mod flow;
mod image;
mod install;
pub mod support;
