//! AWS SDK configuration shared by every AWS client shipline makes.
//!
//! The standard provider chain applies (environment, profile, web identity for IRSA, ECS and
//! IMDS credentials), and so do the standard endpoint variables: `AWS_ENDPOINT_URL` for all
//! services and `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL_CODEBUILD`,
//! `AWS_ENDPOINT_URL_CODEPIPELINE` per service. That is how tests point the SDK at local
//! emulators, and how users reach VPC endpoints.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads the SDK configuration from the environment. HTTPS goes through rustls on ring, the same
/// TLS stack as the Kubernetes client, so one crypto library is linked.
pub async fn load_sdk_config() -> SdkConfig {
    let http =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await
}
