//! shipline's Lambda entry point (`bootstrap` for `provided.al2023`).
//!
//! Init stays tiny: read environment variables and set up logging, no network, no client
//! construction. Clients are built on the first event that needs them.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shipline_lambda::Handler;
use tracing::Instrument;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHIPLINE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .init();
    let handler: &'static Handler = Box::leak(Box::new(Handler::from_env()));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
        async move { handler.handle(&event.payload).await }.instrument(span)
    }))
    .await
}
