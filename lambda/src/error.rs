//! The Lambda's one error type, split into what a retry can fix and what a person must fix.

use shipline_core::git::codecommit::CodeCommitError;
use shipline_core::update::updater::UpdateError;

use crate::events::EventError;

/// Why an invocation failed. [`LambdaError::is_transient`] decides whether the invocation fails
/// (so Lambda retries it and the dead-letter queue catches the rest) or is logged and dropped.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The event is malformed or of an unsupported kind.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    /// An environment variable of the function is missing or invalid.
    #[error("function configuration: {0} (fix the function's environment variables; see the README, Lambda section)")]
    Settings(String),
    /// No git credentials could be made from the function's IAM role.
    #[error("CodeCommit IAM credentials: {0}")]
    CodeCommit(#[from] CodeCommitError),
    /// The update of the microservices repository failed.
    #[error("update: {0}")]
    Update(#[from] UpdateError),
    /// CodePipeline did not accept the job result.
    #[error("CodePipeline {call} for job {job_id}: {message}")]
    JobResult {
        /// `PutJobSuccessResult` or `PutJobFailureResult`.
        call: &'static str,
        /// The job.
        job_id: String,
        /// What the service or the connection said.
        message: String,
    },
    /// Re-tagging a commit-SHA push as `branch-commit-build` failed.
    #[error("re-tag: {0}")]
    Retag(#[from] shipline_core::image::commit_build::CommitRetagError),
    /// No EKS token could be made (the function role's credentials, the STS endpoint).
    #[error("EKS token: {0}")]
    EksToken(String),
    /// The sync's status could not be read from the cluster this time (network, API server).
    #[error("cluster: {0}")]
    Cluster(String),
    /// The cluster refused the function: its role is not mapped to a user, or the user may not
    /// read the status ConfigMap.
    #[error("cluster access: {0}")]
    ClusterAccess(String),
    /// The blocking update task died (a bug: it panicked).
    #[error("update task failed: {0}")]
    Task(String),
}

impl LambdaError {
    /// True when retrying later can succeed: the git host or an AWS API was unreachable or
    /// throttled, or the branch kept moving. False for what a person must fix.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Update(e) => e.is_transient(),
            // The credential chain failing is network trouble (IMDS, STS) or throttling.
            Self::CodeCommit(CodeCommitError::NoCredentials(_)) => true,
            Self::JobResult { .. } => true,
            Self::Retag(e) => e.is_transient(),
            Self::EksToken(_) | Self::Cluster(_) => true,
            Self::Event(_) | Self::Settings(_) | Self::CodeCommit(_) | Self::ClusterAccess(_) | Self::Task(_) => false,
        }
    }
}

impl From<LambdaError> for lambda_runtime::Diagnostic {
    fn from(error: LambdaError) -> Self {
        let error_type = if error.is_transient() { "Shipline.Transient" } else { "Shipline.Permanent" };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: error.to_string() }
    }
}
