//! One error type for the reconciler, with messages that say what to fix.

use crate::apply::ApplyError;
use shipline_core::git::GitError;

/// Why a reconcile (or the reconciler's set-up) failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The configuration file or flags are wrong.
    #[error("{file}: {message}")]
    Config {
        /// The file, or `flags`.
        file: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// Fetching the git source failed.
    #[error("sync {sync}: fetching {reference} of {url}: {source}")]
    Fetch {
        /// Sync name.
        sync: String,
        /// URL without credentials.
        url: String,
        /// Branch, tag or commit.
        reference: String,
        /// The git error (boxed: it is large and this enum travels in Results).
        source: Box<GitError>,
    },
    /// The ref is not in the repository.
    #[error("sync {sync}: {url} has no branch, tag or commit named {reference:?}")]
    RefNotFound {
        /// Sync name.
        sync: String,
        /// URL without credentials.
        url: String,
        /// The ref asked for.
        reference: String,
    },
    /// Reading credentials (Secret, files) failed.
    #[error("sync {sync}: credentials: {message}")]
    Auth {
        /// Sync name.
        sync: String,
        /// What is missing.
        message: String,
    },
    /// The kustomize build failed; nothing was applied or pruned.
    #[error("sync {sync}: build of {path} at {revision}: {message}")]
    Build {
        /// Sync name.
        sync: String,
        /// Path in the repository.
        path: String,
        /// Commit.
        revision: String,
        /// The engine's error.
        message: String,
    },
    /// Applying an object failed.
    #[error("sync {sync}: {source}")]
    Apply {
        /// Sync name.
        sync: String,
        /// What the API server said, naming the object.
        source: ApplyError,
    },
    /// Another declarative owner (a server-side apply field manager) holds fields shipline wants
    /// to set.
    #[error(
        "sync {sync}: {object}: field manager(s) {managers} also apply {fields}; shipline does not take fields from another declarative owner: remove them from one of the two sources"
    )]
    Conflict {
        /// Sync name.
        sync: String,
        /// `Kind namespace/name`.
        object: String,
        /// The other managers.
        managers: String,
        /// The contested fields.
        fields: String,
    },
    /// A change hits an immutable field and the object does not opt in to re-creation.
    #[error(
        "sync {sync}: {object}: {message}; add the annotation `shipline.dev/recreate: \"true\"` to the object in git to let shipline delete and re-create it"
    )]
    Immutable {
        /// Sync name.
        sync: String,
        /// `Kind namespace/name`.
        object: String,
        /// The API server's message.
        message: String,
    },
    /// A Kubernetes request outside apply failed.
    #[error("sync {sync}: {action}: {}", crate::apply::api_message(source))]
    Kube {
        /// Sync name.
        sync: String,
        /// What we were doing.
        action: String,
        /// The client error.
        source: Box<kube::Error>,
    },
    /// Workloads did not become healthy within the sync's timeout.
    #[error("sync {sync}: not healthy after {timeout_s}s: {details}")]
    Unhealthy {
        /// Sync name.
        sync: String,
        /// The timeout.
        timeout_s: u64,
        /// Which objects and why.
        details: String,
    },
    /// The inventory ConfigMap cannot be read.
    #[error("sync {sync}: inventory {name}: {message}")]
    Inventory {
        /// Sync name.
        sync: String,
        /// ConfigMap name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The sync's state (inventory, status) cannot be recorded; nothing was applied.
    #[error("sync {sync}: cannot record state in namespace {namespace}, so nothing was applied: {message}")]
    StateUnrecordable {
        /// Sync name.
        sync: String,
        /// The reconciler's namespace.
        namespace: String,
        /// What is missing and how to fix it.
        message: String,
    },
    /// A sync this one `dependsOn` is not Ready at its current revision; nothing was applied.
    #[error("sync {sync}: dependency {dependency} is not ready: {reason}")]
    DependencyNotReady {
        /// Sync name.
        sync: String,
        /// The dependency.
        dependency: String,
        /// Its state.
        reason: String,
    },
    /// `postBuild` substitution failed; nothing was applied.
    #[error("sync {sync}: postBuild substitution: {message}")]
    Substitute {
        /// Sync name.
        sync: String,
        /// What failed, naming the object, the variable or the source.
        message: String,
    },
    /// sops decryption failed; nothing was applied.
    #[error("sync {sync}: sops decryption: {message}")]
    Decrypt {
        /// Sync name.
        sync: String,
        /// What failed, naming the object or file and the key; never a value.
        message: String,
    },
}

impl ReconcileError {
    /// A failed Kubernetes request of `sync` while doing `action` (e.g. `reading ConfigMap x/y`).
    pub fn kube(sync: &str, action: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube { sync: sync.to_owned(), action: action.into(), source: Box::new(source) }
    }

    /// A short machine-readable reason, used in conditions, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Config { .. } => "ConfigInvalid",
            Self::Fetch { .. } | Self::RefNotFound { .. } => "FetchFailed",
            Self::Auth { .. } => "AuthFailed",
            Self::Build { .. } => "BuildFailed",
            Self::Apply { .. } => "ApplyFailed",
            Self::Conflict { .. } => "FieldConflict",
            Self::Immutable { .. } => "ImmutableField",
            Self::Kube { .. } | Self::Inventory { .. } => "ClusterError",
            Self::Unhealthy { .. } => "HealthCheckFailed",
            Self::StateUnrecordable { .. } => "StateUnrecordable",
            Self::DependencyNotReady { .. } => "DependencyNotReady",
            Self::Substitute { .. } => "SubstitutionFailed",
            Self::Decrypt { .. } => "DecryptionFailed",
        }
    }
}
