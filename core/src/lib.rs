//! shipline's library: everything the `shipline` CLI and the Lambda share.
//!
//! Pure logic ([`tag`], [`build_info`], [`known_hosts`]) is plain functions over data; I/O
//! ([`git`], [`aws`]) sits at the edges and is thin.

#![warn(missing_docs)]

pub mod apply;
pub mod aws;
pub mod build_info;
pub mod ci_context;
pub mod codecommit;
pub mod config;
pub mod ecr;
pub mod ecr_images;
pub mod git;
pub mod known_hosts;
pub mod oci;
pub mod overlay;
pub mod policy;
pub mod push;
pub mod registry;
pub mod tag;
pub mod updater;

/// The native kustomize build engine (`shipline build`), byte-identical to kustomize v5.
pub use shipline_kustomize as kustomize;

/// Installs ring as the process-wide rustls crypto provider. Call once at start-up, before any
/// TLS client (Kubernetes, registry) is built; later calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
