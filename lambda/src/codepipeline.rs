//! Reporting a CodePipeline job's result: `PutJobSuccessResult` with output variables, or
//! `PutJobFailureResult` with a message a person can act on.

use std::collections::BTreeMap;

use aws_sdk_codepipeline::Client;
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};

use crate::error::LambdaError;

/// Longest failure message CodePipeline accepts.
pub const MAX_FAILURE_MESSAGE: usize = 5000;
/// Longest execution summary CodePipeline accepts.
pub const MAX_SUMMARY: usize = 2048;

/// What a successful job reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSuccess {
    /// One line shown in the console (`pushed 1f49071 to main: ...`).
    pub summary: String,
    /// Output variables for later actions (`commitId`, `status`, `image`).
    pub variables: BTreeMap<String, String>,
    /// Keeps the job running: CodePipeline invokes the function again with this token in
    /// `data.continuationToken` (closed loop). CodePipeline accepts output variables only on the
    /// final result, so they are not sent with a token.
    pub continuation_token: Option<String>,
}

/// What a failed job reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// CodePipeline's failure category.
    pub kind: FailureType,
    /// The message shown in the console.
    pub message: String,
}

impl JobFailure {
    /// The failure to report for `error`: the category says who must act, the message says
    /// what to do.
    pub fn from_error(error: &LambdaError) -> Self {
        let (kind, hint) = match error {
            e if e.is_transient() => {
                (FailureType::SystemUnavailable, "temporary failure: retry the stage (Release change or Retry)")
            }
            LambdaError::Event(_) => (
                FailureType::ConfigurationError,
                "fix the action's UserParameters, e.g. {\"image\": \"REPOSITORY_URI:TAG\"}",
            ),
            LambdaError::Settings(_) => (FailureType::ConfigurationError, "fix the function's environment variables"),
            LambdaError::CodeCommit(_) => {
                (FailureType::PermissionError, "check the function role and SHIPLINE_GIT_URL")
            }
            LambdaError::ClusterAccess(_) => (
                FailureType::PermissionError,
                "give the function's role read access to the sync's status (README, Lambda: closed loop)",
            ),
            _ => (FailureType::JobFailed, "fix the repository configuration or overlays named above, then retry"),
        };
        Self { kind, message: truncate(&format!("shipline: {error}. {hint}"), MAX_FAILURE_MESSAGE) }
    }
}

/// Reports success for `job_id`.
pub async fn put_success(client: &Client, job_id: &str, result: &JobSuccess) -> Result<(), LambdaError> {
    let mut call = client
        .put_job_success_result()
        .job_id(job_id)
        .execution_details(ExecutionDetails::builder().summary(truncate(&result.summary, MAX_SUMMARY)).build());
    match &result.continuation_token {
        Some(token) => call = call.continuation_token(token),
        None => {
            for (key, value) in &result.variables {
                call = call.output_variables(key, value);
            }
        }
    }
    call.send().await.map_err(|e| LambdaError::JobResult {
        call: "PutJobSuccessResult",
        job_id: job_id.to_owned(),
        message: aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string(),
    })?;
    Ok(())
}

/// Reports failure for `job_id`.
pub async fn put_failure(client: &Client, job_id: &str, failure: &JobFailure) -> Result<(), LambdaError> {
    let fail =
        |message: String| LambdaError::JobResult { call: "PutJobFailureResult", job_id: job_id.to_owned(), message };
    let details = FailureDetails::builder()
        .r#type(failure.kind.clone())
        .message(&failure.message)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    client
        .put_job_failure_result()
        .job_id(job_id)
        .failure_details(details)
        .send()
        .await
        .map_err(|e| fail(aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string()))?;
    Ok(())
}

/// At most `max` bytes of `text`, cut at a character boundary, with `...` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventError;

    #[test]
    fn failures_say_who_acts() {
        let event = LambdaError::Event(EventError { field: "UserParameters".into(), problem: "missing".into() });
        let f = JobFailure::from_error(&event);
        assert_eq!(f.kind, FailureType::ConfigurationError);
        assert!(f.message.contains("UserParameters: missing") && f.message.contains("fix the action"), "{}", f.message);
        let settings = JobFailure::from_error(&LambdaError::Settings("SHIPLINE_GIT_URL is not set".into()));
        assert_eq!(settings.kind, FailureType::ConfigurationError);
        let transient = JobFailure::from_error(&LambdaError::JobResult {
            call: "PutJobSuccessResult",
            job_id: "j".into(),
            message: "throttled".into(),
        });
        assert_eq!(transient.kind, FailureType::SystemUnavailable);
        assert!(transient.message.contains("retry the stage"));
    }

    #[test]
    fn truncation_respects_characters_and_limits() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"é".repeat(3000), MAX_FAILURE_MESSAGE);
        assert!(cut.len() <= MAX_FAILURE_MESSAGE && cut.ends_with("..."));
        let long = JobFailure::from_error(&LambdaError::Settings("x".repeat(10_000)));
        assert!(long.message.len() <= MAX_FAILURE_MESSAGE);
    }
}
