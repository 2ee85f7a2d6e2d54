//! The invocation handler: event in, one logged decision and a JSON report out.
//!
//! Nothing here touches the network until an event needs it: the AWS SDK configuration and the
//! CodePipeline client are built on first use and kept for later (warm) invocations.

use std::sync::{Mutex, OnceLock};

use aws_config::SdkConfig;
use serde_json::Value;
use shipline_core::git::{self, GitAuth};
use shipline_core::image::commit_build;
use shipline_core::image::ecr_images::TagOutcome;
use shipline_core::update::updater::{self, UpdateRequest, WriteOptions};
use tokio::sync::OnceCell;

use crate::closed_loop;
use crate::codepipeline::{self, JobFailure, JobSuccess};
use crate::decision::{self, PolicyMatch, Report, Status};
use crate::error::LambdaError;
use crate::events::{self, CodePipelineJob, EcrImageAction, Event, ImageSpec};
use crate::settings::{AuthMode, Settings};

/// The function's state across invocations.
pub struct Handler {
    settings: Result<Settings, String>,
    sdk: OnceCell<SdkConfig>,
    pipeline: OnceCell<aws_sdk_codepipeline::Client>,
    ca_trusted: OnceLock<Result<(), String>>,
    /// The closed loop's HTTPS client for the API server (trusting only the cluster's CA).
    kube_http: OnceLock<Result<reqwest::Client, String>>,
}

#[path = "handler_wait.rs"]
mod wait;

impl Handler {
    /// A handler over `settings`. Invalid settings are kept and reported on every event (as a
    /// permanent error) rather than failing init, so a misconfigured function says why.
    pub fn new(settings: Result<Settings, LambdaError>) -> Self {
        Self {
            settings: settings.map_err(|e| e.to_string()),
            sdk: OnceCell::new(),
            pipeline: OnceCell::new(),
            ca_trusted: OnceLock::new(),
            kube_http: OnceLock::new(),
        }
    }

    /// A handler configured from the process environment (no I/O).
    pub fn from_env() -> Self {
        Self::new(Settings::from_env())
    }

    /// Handles one event. `Err` means the invocation fails: for an unusable event, and for
    /// transient errors so that Lambda retries them (then the dead-letter queue). Permanent
    /// update errors are logged and answered with `status: failed`, not retried.
    pub async fn handle(&self, event: &Value) -> Result<Value, LambdaError> {
        let report = match events::parse(event) {
            Err(e) => {
                tracing::error!(decision = "rejected", error = %e, "unusable event, nothing done");
                return Err(e.into());
            }
            Ok(Event::Ecr(action)) => self.on_ecr(&action).await?,
            Ok(Event::Job(job)) => self.on_job(&job).await?,
            Ok(Event::Scan) => self.on_scan().await?,
        };
        Ok(serde_json::to_value(&report).unwrap_or(Value::Null))
    }

    async fn on_ecr(&self, action: &EcrImageAction) -> Result<Report, LambdaError> {
        let image = match action.image() {
            Ok(image) => image,
            Err(why) => {
                let report = Report::simple(Status::Ignored, why.to_string(), None);
                tracing::info!(
                    decision = "ignored",
                    repository = %action.repository_name,
                    tag = action.image_tag.as_deref().unwrap_or(""),
                    reason = %report.reason,
                );
                return Ok(report);
            }
        };
        if let Ok(settings) = &self.settings
            && !settings.retag_projects.is_empty()
            && commit_build::needs_build_tag(&image.tag)
        {
            return self.retag(&image, &settings.retag_projects).await;
        }
        let trailers = trailers(&image, "ecr-push");
        match self.update(&image, trailers).await {
            Ok(report) => {
                log_report(&report, &image);
                Ok(report)
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(decision = "retry", repository = %image.repository, tag = %image.tag, error = %e,
                    "transient failure: failing the invocation so Lambda retries it");
                Err(e)
            }
            Err(e) => {
                tracing::error!(decision = "failed", repository = %image.repository, tag = %image.tag, error = %e,
                    "permanent failure: not retried; fix the cause and push again");
                Ok(Report::simple(Status::Failed, e.to_string(), Some(format!("{}:{}", image.repository, image.tag))))
            }
        }
    }

    /// Tags a commit-SHA push `branch-commit-build` and runs no update: ECR's push event for the
    /// new tag does, so the update happens once, on the tag the policies know. A retried or
    /// duplicated SHA event finds the tag already on the image, puts nothing and so causes no
    /// second push event; a duplicated tag event finds the overlays already updated.
    async fn retag(&self, image: &ImageSpec, projects: &[String]) -> Result<Report, LambdaError> {
        let shown = format!("{}:{}", image.repository, image.tag);
        let sdk = self.sdk().await;
        let result =
            commit_build::retag_commit_image(sdk, &image.repository, &image.tag, image.digest.as_deref(), projects)
                .await;
        match result {
            Ok(done) => {
                let created = done.report.tags.iter().any(|(_, o)| *o == TagOutcome::Created);
                let reason = format!(
                    "{shown} ({}) is CodeBuild build {}: tagged {} ({}); the update runs on that tag's push event",
                    done.report.digest,
                    done.build.id,
                    done.tag,
                    if created { "created" } else { "already there, nothing put" },
                );
                let report =
                    Report::simple(Status::Retagged, reason, Some(format!("{}:{}", image.repository, done.tag)));
                tracing::info!(decision = "retagged", repository = %image.repository, tag = %image.tag,
                    new_tag = %done.tag, build = %done.build.id, digest = %done.report.digest, created,
                    reason = %report.reason);
                Ok(report)
            }
            Err(e) => {
                let e = LambdaError::from(e);
                if e.is_transient() {
                    tracing::warn!(decision = "retry", repository = %image.repository, tag = %image.tag, error = %e,
                        "transient failure: failing the invocation so Lambda retries it");
                    return Err(e);
                }
                tracing::error!(decision = "failed", repository = %image.repository, tag = %image.tag, error = %e,
                    "permanent failure: not retried; fix the cause and push again");
                Ok(Report::simple(Status::Failed, e.to_string(), Some(shown)))
            }
        }
    }

    async fn on_job(&self, job: &CodePipelineJob) -> Result<Report, LambdaError> {
        let started = wait::now_seconds();
        let wait = match self.wait_spec(job) {
            Ok(wait) => wait,
            Err(e) => {
                let failure = JobFailure::from_error(&e);
                codepipeline::put_failure(self.pipeline().await, &job.id, &failure).await?;
                tracing::error!(decision = "job-failed", job_id = %job.id, error = %e);
                return Ok(Report::simple(Status::Failed, failure.message, None));
            }
        };
        // A job that came back (closed loop) only looks at the cluster; the push was done.
        if let (Some(wait), Some(token)) = (&wait, &job.continuation_token) {
            return self.continue_wait(job, wait, token).await;
        }
        let result = match events::parse_user_parameters(job.user_parameters.as_deref()) {
            Ok(image) => self.update(&image, trailers(&image, "codepipeline")).await.map(|r| (image, r)),
            Err(e) => Err(e.into()),
        };
        let client = self.pipeline().await;
        let report = match result {
            Ok((image, report)) if report.status != Status::Ignored => {
                log_report(&report, &image);
                if let (Some(wait), Some(commit), Status::Updated) = (&wait, &report.commit, report.status) {
                    let continuation =
                        closed_loop::Continuation::new(commit, &wait.sync, started).on_branch(report.branch.as_deref());
                    return self.check(job, wait, &continuation, report.image.clone()).await;
                }
                let mut variables = std::collections::BTreeMap::new();
                variables.insert("status".to_owned(), report.status.as_str().to_owned());
                variables.insert("image".to_owned(), report.image.clone().unwrap_or_default());
                if let Some(commit) = &report.commit {
                    variables.insert("commitId".to_owned(), commit.clone());
                }
                if let Some(branch) = &report.branch {
                    variables.insert("branch".to_owned(), branch.clone());
                }
                // Closed loop, but nothing pushed (unchanged, dry run): no commit to wait for.
                let not_waiting = if wait.is_some() { " (nothing pushed, so not waiting for the cluster)" } else { "" };
                let summary = format!("shipline: {}{not_waiting}", report.reason);
                let success = JobSuccess { summary, variables, continuation_token: None };
                codepipeline::put_success(client, &job.id, &success).await?;
                tracing::info!(decision = "job-succeeded", job_id = %job.id, status = report.status.as_str());
                report
            }
            Ok((_, report)) => {
                let message = format!(
                    "shipline: {} (check the image named in UserParameters and the policies of the repository)",
                    report.reason
                );
                let failure =
                    JobFailure { kind: aws_sdk_codepipeline::types::FailureType::ConfigurationError, message };
                codepipeline::put_failure(client, &job.id, &failure).await?;
                tracing::warn!(decision = "job-failed", job_id = %job.id, reason = %failure.message);
                report
            }
            Err(e) => {
                let failure = JobFailure::from_error(&e);
                codepipeline::put_failure(client, &job.id, &failure).await?;
                tracing::error!(decision = "job-failed", job_id = %job.id, transient = e.is_transient(), error = %e);
                Report::simple(Status::Failed, failure.message, None)
            }
        };
        Ok(report)
    }

    /// The update request every path shares: the function's repository, auth and write options.
    async fn request(&self, trailers: Vec<(String, String)>) -> Result<(UpdateRequest, &Settings), LambdaError> {
        let settings = self.settings.as_ref().map_err(|e| LambdaError::Settings(e.clone()))?;
        self.trust_ca(settings)?;
        let auth = self.git_auth(settings).await?;
        let request = UpdateRequest {
            url: settings.git_url.clone(),
            auth,
            branch: settings.branch.clone(),
            config_path: settings.config_path.clone(),
            candidates: Default::default(),
            trailers,
            dry_run: settings.dry_run,
            author: settings.author.clone(),
            write: WriteOptions {
                push_branch: settings.push_branch.clone(),
                push_refspec: settings.push_refspec.clone(),
                signing_key: match &settings.signing_key {
                    Some((source, text, passphrase)) => Some(
                        git::SigningKey::parse(text.expose(), source, passphrase.clone())
                            .map_err(|e| LambdaError::Settings(e.to_string()))?,
                    ),
                    None => None,
                },
            },
        };
        Ok((request, settings))
    }

    /// Runs the updater for one image on a blocking thread (git2 is synchronous).
    async fn update(&self, image: &ImageSpec, trailers: Vec<(String, String)>) -> Result<Report, LambdaError> {
        let (request, settings) = self.request(trailers).await?;
        let owned = image.clone();
        let (outcome, found) = tokio::task::spawn_blocking(move || {
            let found = Mutex::new(PolicyMatch::default());
            let lookup = |config: &shipline_core::update::config::UpdateConfig| {
                let matched = decision::match_policies(config, &owned);
                let candidates = matched.candidates.clone();
                *found.lock().unwrap_or_else(|p| p.into_inner()) = matched;
                Ok(candidates)
            };
            let outcome = updater::run(&request, Some(&lookup));
            (outcome, found.into_inner().unwrap_or_else(|p| p.into_inner()))
        })
        .await
        .map_err(|e| LambdaError::Task(e.to_string()))?;
        Ok(decision::decide(image, &found, &outcome?, &settings.config_path))
    }

    /// The schedule's run: every policy of the repository gets the candidates ECR lists for its
    /// repository (`DescribeImages`, as `shipline update --from-ecr`), through the same
    /// never-backwards updater as the push events, so a run after an event (or an event after a
    /// run) finds nothing to do.
    async fn on_scan(&self) -> Result<Report, LambdaError> {
        let result = self.scan().await;
        match result {
            Ok(report) => {
                tracing::info!(decision = report.status.as_str(), source = "schedule",
                    commit = report.commit.as_deref().unwrap_or(""), reason = %report.reason);
                Ok(report)
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(decision = "retry", source = "schedule", error = %e);
                Err(e)
            }
            Err(e) => {
                tracing::error!(decision = "failed", source = "schedule", error = %e);
                Ok(Report::simple(Status::Failed, e.to_string(), None))
            }
        }
    }

    async fn scan(&self) -> Result<Report, LambdaError> {
        let trailers = vec![("Shipline-Source".to_owned(), "lambda schedule".to_owned())];
        let (request, _) = self.request(trailers).await?;
        let ecr = shipline_core::image::ecr::client(self.sdk().await);
        // The updater is synchronous; its lookup runs on a blocking thread and waits for the ECR
        // calls on this runtime, which the invocation's own thread keeps driving meanwhile.
        let runtime = tokio::runtime::Handle::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let lookup = |config: &shipline_core::update::config::UpdateConfig| {
                runtime.block_on(updater::candidates_from_ecr(&ecr, config))
            };
            updater::run(&request, Some(&lookup))
        })
        .await
        .map_err(|e| LambdaError::Task(e.to_string()))??;
        let (status, reason) = match &outcome.commit {
            Some(commit) => {
                (Status::Updated, format!("pushed {} to {}", &commit[..commit.len().min(12)], outcome.branch))
            }
            None if outcome.changed() => (Status::Planned, "dry run: edits planned, nothing pushed".to_owned()),
            None => (Status::Unchanged, "every policy already holds the newest image ECR lists".to_owned()),
        };
        Ok(Report {
            commit: outcome.commit.clone(),
            branch: Some(outcome.branch.clone()),
            attempts: Some(outcome.attempts),
            ..Report::simple(status, reason, None)
        })
    }

    fn trust_ca(&self, settings: &Settings) -> Result<(), LambdaError> {
        let Some(ca) = &settings.ca_file else { return Ok(()) };
        self.ca_trusted
            .get_or_init(|| git::trust_ca_file(ca).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| LambdaError::Settings(format!("SHIPLINE_GIT_CA_FILE: {e}")))
    }

    async fn git_auth(&self, settings: &Settings) -> Result<GitAuth, LambdaError> {
        Ok(match &settings.auth {
            AuthMode::Iam => shipline_core::git::codecommit::git_auth(&settings.git_url, self.sdk().await).await?,
            AuthMode::Password { username, password } => {
                GitAuth::UserPassword { username: username.clone(), password: password.clone() }
            }
            AuthMode::None => GitAuth::Anonymous,
        })
    }

    async fn sdk(&self) -> &SdkConfig {
        self.sdk.get_or_init(shipline_core::aws::load_sdk_config).await
    }

    async fn pipeline(&self) -> &aws_sdk_codepipeline::Client {
        let sdk = self.sdk().await;
        self.pipeline.get_or_init(|| async { aws_sdk_codepipeline::Client::new(sdk) }).await
    }
}

/// Commit trailers recording where the change came from.
fn trailers(image: &ImageSpec, source: &str) -> Vec<(String, String)> {
    let mut out = vec![("Shipline-Source".to_owned(), format!("lambda {source}"))];
    if let Some(digest) = &image.digest {
        out.push(("Image-Digest".to_owned(), digest.clone()));
    }
    out
}

/// The one log line per update decision.
fn log_report(report: &Report, image: &ImageSpec) {
    tracing::info!(
        decision = report.status.as_str(),
        repository = %image.repository,
        tag = %image.tag,
        commit = report.commit.as_deref().unwrap_or(""),
        branch = report.branch.as_deref().unwrap_or(""),
        policies = ?report.policies,
        attempts = report.attempts.unwrap_or(0),
        reason = %report.reason,
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn push(action: &str, tag: &str) -> Value {
        json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "account": "123456789012",
               "detail": {"action-type": action, "result": "SUCCESS", "repository-name": "app", "image-tag": tag}})
    }

    fn misconfigured() -> Handler {
        Handler::new(Settings::from_lookup(|_| None))
    }

    #[tokio::test]
    async fn ignored_events_need_no_configuration_and_no_network() {
        let answer = misconfigured().handle(&push("DELETE", "v1")).await.unwrap();
        assert_eq!(answer, json!({"status": "ignored", "reason": "action-type \"DELETE\" is not PUSH"}));
    }

    #[tokio::test]
    async fn bad_function_configuration_is_permanent_and_not_retried() {
        let answer = misconfigured().handle(&push("PUSH", "main-1f49071-24")).await.unwrap();
        assert_eq!(answer["status"], "failed");
        assert!(answer["reason"].as_str().unwrap().contains("SHIPLINE_GIT_URL is not set"), "{answer}");
    }

    #[tokio::test]
    async fn malformed_events_are_errors() {
        let err = misconfigured().handle(&json!({"source": "aws.ecr"})).await.unwrap_err();
        assert!(matches!(err, LambdaError::Event(_)) && !err.is_transient(), "{err}");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "Shipline.Permanent");
        assert!(diagnostic.error_message.starts_with("invalid event: payload: unsupported event"));
    }

    #[tokio::test]
    async fn unreachable_git_host_is_transient() {
        let handler = Handler::new(Settings::from_lookup(|name| match name {
            "SHIPLINE_GIT_URL" => Some("http://127.0.0.1:9/v1/repos/nowhere".into()),
            "SHIPLINE_GIT_AUTH" => Some("none".into()),
            _ => None,
        }));
        let err = handler.handle(&push("PUSH", "main-1f49071-24")).await.unwrap_err();
        assert!(err.is_transient(), "a refused connection is retried: {err}");
    }
}
