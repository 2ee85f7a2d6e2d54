//! EKS IAM authentication the way aws-iam-authenticator and `aws eks get-token` do it: the
//! bearer token is `k8s-aws-v1.` followed by the unpadded base64url of an STS
//! `GetCallerIdentity` URL presigned with SigV4, with the cluster's name in the signed header
//! `x-k8s-aws-id`. The API server GETs that URL (sending the same header) and maps the caller's
//! ARN to a Kubernetes user through the cluster's access entries or `aws-auth` ConfigMap.
//!
//! The signature comes from `aws-sigv4`, the signer the AWS SDK itself uses (already in the
//! dependency tree through `aws-config`), so nothing of SigV4 is written here. Building the URL
//! and the token is pure; [`token_from_sdk`] only asks the SDK's credential chain (the function
//! role) for credentials.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use shipline_core::secret::Secret;

use crate::error::LambdaError;

/// The token's prefix (version 1 of the scheme).
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The signed header naming the cluster the token is for.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// `X-Amz-Expires`: ignored by STS (a presigned `GetCallerIdentity` is valid 15 minutes after
/// `X-Amz-Date`), set to 60 as aws-iam-authenticator does, for servers that check it.
pub const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);
/// How long a token may be used: the 15 minutes STS honours, minus a minute of margin, as
/// aws-iam-authenticator computes its expiration.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// The query STS signs: the action and API version aws-iam-authenticator's verifier expects.
const QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// The regional STS endpoint for `region` (`https://sts.us-east-1.amazonaws.com`; China's
/// partition ends in `.amazonaws.com.cn`). aws-iam-authenticator accepts the regional hosts of
/// its partition.
pub fn sts_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://sts.{region}.{suffix}")
}

/// Whether `name` can be an EKS cluster name: 1 to 100 of `[A-Za-z0-9_-]`, starting with a
/// letter or digit.
pub fn is_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The presigned `GetCallerIdentity` URL for `cluster`, signed at `now` for `region` with
/// `credentials` (a session token, when there is one, travels as `X-Amz-Security-Token`).
pub fn presigned_url(
    endpoint: &str,
    region: &str,
    cluster: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<String, LambdaError> {
    let fail = |message: String| LambdaError::EksToken(message);
    if !is_cluster_name(cluster) {
        return Err(fail(format!("{cluster:?} is not an EKS cluster name")));
    }
    let mut url = reqwest::Url::parse(endpoint).map_err(|e| fail(format!("STS endpoint {endpoint:?}: {e}")))?;
    // The signer requires a host; a URL such as `unix:/x` parses without one.
    if url.host_str().is_none_or(str::is_empty) || !matches!(url.scheme(), "https" | "http") {
        return Err(fail(format!("STS endpoint {endpoint:?} is not an http(s) URL with a host")));
    }
    url.set_path("/");
    url.set_query(Some(QUERY));
    url.set_fragment(None);
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| fail(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once((CLUSTER_ID_HEADER, cluster)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| fail(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| fail(e.to_string()))?.into_parts();
    let (_headers, query) = instructions.into_parts();
    {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &query {
            pairs.append_pair(name, value);
        }
    }
    Ok(url.into())
}

/// The bearer token for a presigned URL: the prefix and the URL in base64url without padding.
pub fn token_from_url(url: &str) -> Secret {
    Secret::new(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)))
}

/// A token for `cluster` from the SDK's credential chain (the function role), signed for the
/// SDK's region at its regional STS endpoint, or at `AWS_ENDPOINT_URL_STS` when set (tests,
/// VPC endpoints).
pub async fn token_from_sdk(sdk: &aws_config::SdkConfig, cluster: &str) -> Result<Secret, LambdaError> {
    use aws_credential_types::provider::ProvideCredentials;
    let fail = |message: String| LambdaError::EksToken(message);
    let region = sdk.region().map(ToString::to_string).ok_or_else(|| fail("no AWS region configured".into()))?;
    let provider = sdk.credentials_provider().ok_or_else(|| fail("no AWS credentials provider".into()))?;
    let credentials =
        provider.provide_credentials().await.map_err(|e| fail(format!("credentials of the function role: {e}")))?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_STS")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| sts_endpoint(&region));
    presigned_url(&endpoint, &region, cluster, &credentials, SystemTime::now()).map(|url| token_from_url(&url))
}

#[cfg(test)]
#[path = "eks_token_tests.rs"]
mod tests;
