//! shipline's Lambda entry point: a thin adapter from Lambda events to `shipline-core`.
//!
//! Init stays tiny (no network, no client construction) so cold starts are fast; clients are
//! built on first use.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use shipline_core::tag::ImageTag;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHIPLINE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).without_time().init();
    lambda_runtime::run(service_fn(handle)).await
}

/// Classifies the event. ECR pushes are answered with the decision derived from the tag; updating
/// the overlays is wired in by the Lambda issue.
async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let source = payload.get("source").and_then(Value::as_str);
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    match (source, detail_type) {
        (Some("aws.ecr"), Some("ECR Image Action")) => {
            let detail = &payload["detail"];
            let tag = detail.get("image-tag").and_then(Value::as_str).unwrap_or_default();
            let parsed = ImageTag::parse(tag);
            let decision = if parsed.is_ok() { "branch-commit-build tag" } else { "ignored: not a branch-commit-build tag" };
            let repository = detail.get("repository-name").and_then(Value::as_str).unwrap_or_default();
            tracing::info!(repository, tag, decision);
            Ok(json!({ "tag": tag, "decision": decision }))
        }
        _ => Err(format!("unsupported event (source {source:?}, detail-type {detail_type:?}): expected an EventBridge ECR Image Action").into()),
    }
}
