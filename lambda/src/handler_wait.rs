//! The closed loop's side of a CodePipeline job: after the push of commit C, the job is kept
//! running with continuation tokens until the sync reports C applied and healthy (success with
//! output variables), unhealthy or stuck (failure naming the objects), or the deadline passes.
//! The decisions are `closed_loop`'s pure functions; this file reads the cluster and reports.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_codepipeline::types::FailureType;

use super::Handler;
use crate::closed_loop::{self, Continuation, SyncSeen, Verdict};
use crate::cluster::{self, KubeAuth};
use crate::codepipeline::{self, JobFailure, JobSuccess};
use crate::decision::{Report, Status};
use crate::error::LambdaError;
use crate::events::{self, CodePipelineJob};

/// How many commits of the branch the ancestry check clones.
const ANCESTRY_DEPTH: u32 = 200;

/// What one job waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WaitSpec {
    /// The sync.
    pub sync: String,
    /// Seconds from the first invocation.
    pub timeout: u64,
}

/// Seconds since the Unix epoch.
pub(super) fn now_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Handler {
    /// The wait this job asks for: `UserParameters` first, then the function's settings; `None`
    /// when the job does not wait (no sync named anywhere).
    pub(super) fn wait_spec(&self, job: &CodePipelineJob) -> Result<Option<WaitSpec>, LambdaError> {
        let params = events::parse_wait_parameters(job.user_parameters.as_deref())?;
        let cluster = self.settings.as_ref().ok().and_then(|s| s.cluster.as_ref());
        let Some(sync) = params.sync.or_else(|| cluster.and_then(|c| c.default_sync.clone())) else {
            if job.continuation_token.is_some() {
                return Err(LambdaError::Settings(
                    "the job came back with a continuation token, but no sync to wait for is configured \
                     (UserParameters.waitForSync or SHIPLINE_WAIT_SYNC)"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let Some(cluster) = cluster else {
            return Err(LambdaError::Settings(format!(
                "UserParameters.waitForSync={sync:?} needs the cluster: set SHIPLINE_EKS_ENDPOINT, SHIPLINE_EKS_CA_DATA \
                 and SHIPLINE_EKS_CLUSTER"
            )));
        };
        Ok(Some(WaitSpec { sync, timeout: params.timeout_seconds.unwrap_or(cluster.timeout_seconds) }))
    }

    /// A later invocation of a waiting job: no update, only a look at the cluster.
    pub(super) async fn continue_wait(
        &self,
        job: &CodePipelineJob,
        wait: &WaitSpec,
        token: &str,
    ) -> Result<Report, LambdaError> {
        match Continuation::decode(token, &wait.sync, now_seconds()) {
            Ok(continuation) => {
                let image = events::parse_user_parameters(job.user_parameters.as_deref())
                    .map(|i| format!("{}:{}", i.repository, i.tag))
                    .ok();
                self.check(job, wait, &continuation, image).await
            }
            Err(problem) => {
                let message = format!(
                    "shipline: the job's continuation token is not one this function gave: {problem}. \
                     CodePipeline hands the token back unchanged; retry the stage to start a new wait"
                );
                let failure = JobFailure { kind: FailureType::JobFailed, message };
                codepipeline::put_failure(self.pipeline().await, &job.id, &failure).await?;
                tracing::warn!(decision = "job-failed", job_id = %job.id, reason = %failure.message);
                Ok(Report::simple(Status::Failed, failure.message, None))
            }
        }
    }

    /// Reads the sync's status, decides, and reports to CodePipeline: the final result, or a
    /// success with a continuation token while waiting.
    pub(super) async fn check(
        &self,
        job: &CodePipelineJob,
        wait: &WaitSpec,
        continuation: &Continuation,
        image: Option<String>,
    ) -> Result<Report, LambdaError> {
        let now = now_seconds();
        let commit = &continuation.commit;
        let short = &commit[..commit.len().min(12)];
        let verdict = match self.read_sync(&wait.sync).await {
            Ok(seen) => {
                let later = seen.as_ref().and_then(|s| closed_loop::descendant_to_check(commit, s));
                let contains = match (later, &continuation.branch) {
                    (Some(tip), Some(branch)) => self.applied_contains(branch, tip, commit).await,
                    _ => false,
                };
                closed_loop::assess(
                    commit,
                    seen.as_ref(),
                    contains,
                    continuation.started,
                    now,
                    wait.timeout,
                    shipline_core::utc::parse_rfc3339,
                )
            }
            Err(e) if !e.is_transient() => {
                let failure = JobFailure::from_error(&e);
                codepipeline::put_failure(self.pipeline().await, &job.id, &failure).await?;
                tracing::error!(decision = "job-failed", job_id = %job.id, error = %e);
                return Ok(Report::simple(Status::Failed, failure.message, image));
            }
            // The API server may be briefly unreachable: keep waiting, and say so if it lasts.
            Err(e) => closed_loop::assess(
                commit,
                None,
                false,
                continuation.started,
                now,
                wait.timeout,
                shipline_core::utc::parse_rfc3339,
            )
            .map_seen(format!("the status could not be read: {e}")),
        };
        let client = self.pipeline().await;
        let sync = &wait.sync;
        let fail = |kind: FailureType, message: String| JobFailure { kind, message };
        let (status, reason) = match &verdict {
            Verdict::Healthy { revision, seconds, .. } => {
                let mut variables = closed_loop::output_variables(commit, sync, &verdict);
                if let Some(image) = &image {
                    variables.insert("image".into(), image.clone());
                }
                let summary = format!(
                    "shipline: commit {short} is applied and healthy on sync {sync} (revision {}, {seconds}s after the push)",
                    &revision[..revision.len().min(12)]
                );
                let success = JobSuccess { summary: summary.clone(), variables, continuation_token: None };
                codepipeline::put_success(client, &job.id, &success).await?;
                (Status::Healthy, summary)
            }
            Verdict::Waiting(seen) => {
                let waited = now.saturating_sub(continuation.started);
                let summary = format!(
                    "shipline: waiting for sync {sync} to apply commit {short} and report it healthy \
                     ({waited}s of {}s): {seen}",
                    wait.timeout
                );
                let success = JobSuccess {
                    summary: summary.clone(),
                    variables: Default::default(),
                    continuation_token: Some(continuation.encode()),
                };
                codepipeline::put_success(client, &job.id, &success).await?;
                (Status::Waiting, summary)
            }
            Verdict::Unhealthy { objects, reason } => {
                let message = format!("shipline: commit {short} is unhealthy on sync {sync} ({reason}): {objects}");
                codepipeline::put_failure(client, &job.id, &fail(FailureType::JobFailed, message.clone())).await?;
                (Status::Failed, message)
            }
            Verdict::Failed { reason, message } => {
                let kind =
                    if reason == "HealthNotChecked" { FailureType::ConfigurationError } else { FailureType::JobFailed };
                let message = format!("shipline: sync {sync} cannot make commit {short} healthy ({reason}): {message}");
                codepipeline::put_failure(client, &job.id, &fail(kind, message.clone())).await?;
                (Status::Failed, message)
            }
            Verdict::TimedOut { waited, seen } => {
                let message = format!(
                    "shipline: timed out after {waited}s (timeoutSeconds {}) waiting for sync {sync} to apply commit \
                     {short} and report it healthy; last seen: {seen}",
                    wait.timeout
                );
                codepipeline::put_failure(client, &job.id, &fail(FailureType::JobFailed, message.clone())).await?;
                (Status::Failed, message)
            }
        };
        tracing::info!(decision = status.as_str(), job_id = %job.id, sync = %sync, commit = %commit, reason = %reason);
        Ok(Report { commit: Some(commit.clone()), ..Report::simple(status, reason, image) })
    }

    /// Whether `tip` (applied by the sync) contains `commit`, from a shallow clone of `branch`:
    /// a later push often reaches the cluster before the reconciler saw `commit` alone. Any
    /// failure answers `false` (the job keeps waiting) and is logged.
    async fn applied_contains(&self, branch: &str, tip: &str, commit: &str) -> bool {
        let Ok(settings) = self.settings.as_ref() else { return false };
        let auth = match self.trust_ca(settings) {
            Ok(()) => self.git_auth(settings).await,
            Err(e) => Err(e),
        };
        let auth = match auth {
            Ok(auth) => auth,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check whether the applied revision contains the commit");
                return false;
            }
        };
        let (url, branch, tip_owned, commit_owned) =
            (settings.git_url.clone(), branch.to_owned(), tip.to_owned(), commit.to_owned());
        let answer = tokio::task::spawn_blocking(move || {
            shipline_core::git::ancestry::contains(&url, &auth, &branch, &tip_owned, &commit_owned, ANCESTRY_DEPTH)
        })
        .await;
        match answer {
            Ok(Ok(Some(contains))) => contains,
            Ok(Ok(None)) => {
                tracing::info!(tip, commit, depth = ANCESTRY_DEPTH, "applied revision or commit not within the clone");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot check whether the applied revision contains the commit");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "ancestry check task failed");
                false
            }
        }
    }

    /// The sync's status ConfigMap, read with the configured token.
    async fn read_sync(&self, sync: &str) -> Result<Option<SyncSeen>, LambdaError> {
        let settings = self.settings.as_ref().map_err(|e| LambdaError::Settings(e.clone()))?;
        let Some(cluster) = settings.cluster.as_ref() else {
            return Err(LambdaError::Settings("the cluster is not configured (SHIPLINE_EKS_ENDPOINT)".into()));
        };
        let http = self
            .kube_http
            .get_or_init(|| cluster::http_client(cluster).map_err(|e| e.to_string()))
            .clone()
            .map_err(LambdaError::Settings)?;
        let token = match &cluster.auth {
            KubeAuth::Static(token) => token.clone(),
            KubeAuth::Eks(name) => crate::eks_token::token_from_sdk(self.sdk().await, name).await?,
        };
        Ok(cluster::read_status(&http, cluster, &token, sync).await?.map(|data| SyncSeen::from_data(&data)))
    }
}

trait MapSeen {
    fn map_seen(self, seen: String) -> Self;
}

impl MapSeen for Verdict {
    /// The same verdict with `seen` as what was seen last (for a read that failed).
    fn map_seen(self, seen: String) -> Self {
        match self {
            Verdict::Waiting(_) => Verdict::Waiting(seen),
            Verdict::TimedOut { waited, .. } => Verdict::TimedOut { waited, seen },
            other => other,
        }
    }
}
