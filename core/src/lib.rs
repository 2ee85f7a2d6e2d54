//! shipline's library: everything the `shipline` CLI, the Lambda and the reconciler share about
//! images and the microservices repository.
//!
//! Arranged by concept, each module allowed to use only those listed before it:
//!
//! 1. foundations: [`secret`] (credentials that never print), [`digest`] (SHA-256 forms),
//!    [`aws`] (SDK configuration), [`safe_fs`] (reading untrusted trees: regular files only, no
//!    links), [`show`] (redacted, terminal-safe text), [`utc`] (calendar fields of a timestamp, RFC 3339 parsing);
//! 2. [`git`]: the local checkout and remote repositories (clone, commit, push; HTTPS, SSH,
//!    CodeCommit IAM credentials, host keys);
//! 3. [`image`]: naming an image (`branch-commit-build`), reading and pushing it, ECR;
//! 4. [`update`]: editing kustomize overlays to newer images and pushing the change.
//!
//! Pure logic (tags, policies, YAML edits) is plain functions over data; I/O sits at the edges.
//! Applying to Kubernetes is the reconciler's (`shipline-reconcile`), not this crate's.

#![warn(missing_docs)]

pub mod aws;
pub mod digest;
pub mod git;
pub mod image;
pub mod safe_fs;
pub mod secret;
pub mod show;
pub mod update;
pub mod utc;

/// The native kustomize build engine (`shipline build`), byte-identical to kustomize v5.
pub use shipline_kustomize as kustomize;

/// Installs ring as the process-wide rustls crypto provider. Call once at start-up, before any
/// TLS client (Kubernetes, registry) is built; later calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
