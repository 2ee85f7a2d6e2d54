//! CodeCommit HTTPS access with IAM credentials and no stored secret: the SigV4 scheme of
//! `aws codecommit credential-helper`, so a Lambda role or an IRSA service account can push.
//!
//! The user name is the access key id (`%` and the session token appended for temporary
//! credentials); the password is `<timestamp>Z<signature>`, a SigV4 signature of a `GIT`
//! request for the repository path, valid for a few minutes.

use std::time::SystemTime;

use crate::git::GitAuth;
use crate::secret::Secret;

/// AWS credentials for signing.
#[derive(Debug, Clone)]
pub struct SigningCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token of temporary credentials.
    pub session_token: Option<Secret>,
}

/// Why no credentials could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeCommitError {
    /// The URL is not `https://HOST/PATH`.
    #[error("{0:?} is not an https:// CodeCommit URL")]
    NotHttps(String),
    /// The region is neither in the host name nor configured.
    #[error("no AWS region for {0}: use a git-codecommit.REGION.amazonaws.com URL or set AWS_REGION")]
    NoRegion(String),
    /// The AWS credential chain gave nothing.
    #[error("no AWS credentials for CodeCommit: {0}")]
    NoCredentials(String),
}

/// The region in a CodeCommit host name: `git-codecommit.REGION.amazonaws.com`, also the FIPS
/// and VPC endpoint forms (`vpce-...git-codecommit.REGION.vpce.amazonaws.com`).
pub fn region_from_host(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels.iter().position(|l| *l == "git-codecommit" || *l == "git-codecommit-fips")?;
    let region = labels.get(at + 1)?;
    let rest = &labels[at + 2..];
    let is_aws = rest == ["amazonaws", "com"] || rest == ["vpce", "amazonaws", "com"];
    (is_aws && !region.is_empty()).then_some(*region)
}

/// `YYYYMMDDTHHMMSS` in UTC.
pub fn sigv4_timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day, h, min, s) = crate::utc::civil(i64::try_from(secs).unwrap_or(i64::MAX));
    format!("{year:04}{month:02}{day:02}T{h:02}{min:02}{s:02}")
}

/// The user name and password `aws codecommit credential-helper` would produce for `url` at
/// `timestamp` (`YYYYMMDDTHHMMSS`).
pub fn credentials_at(
    url: &str,
    region: &str,
    creds: &SigningCredentials,
    timestamp: &str,
) -> Result<(String, Secret), CodeCommitError> {
    let rest = url.strip_prefix("https://").ok_or_else(|| CodeCommitError::NotHttps(url.to_owned()))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hostname = host.split(':').next().unwrap_or(host);
    let canonical_request = format!("GIT\n{path}\n\nhost:{hostname}\n\nhost\n");
    let date = &timestamp[..8.min(timestamp.len())];
    let scope = format!("{date}/{region}/codecommit/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{}", crate::digest::sha256_hex(canonical_request.as_bytes()));
    let mut key = hmac(format!("AWS4{}", creds.secret_access_key.expose()).as_bytes(), date.as_bytes());
    for part in [region, "codecommit", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = crate::digest::hex(&hmac(&key, string_to_sign.as_bytes()));
    let username = match &creds.session_token {
        Some(token) => format!("{}%{}", creds.access_key_id, token.expose()),
        None => creds.access_key_id.clone(),
    };
    Ok((username, Secret::new(format!("{timestamp}Z{signature}"))))
}

/// Git credentials for `url` from the AWS SDK's credential chain (environment, IRSA web
/// identity, ECS/Lambda role, instance profile), signed now.
pub async fn git_auth(url: &str, sdk: &aws_config::SdkConfig) -> Result<GitAuth, CodeCommitError> {
    use aws_credential_types::provider::ProvideCredentials;
    let host = url
        .strip_prefix("https://")
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| CodeCommitError::NotHttps(url.to_owned()))?;
    let region = region_from_host(host)
        .map(str::to_owned)
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| CodeCommitError::NoRegion(url.to_owned()))?;
    let provider =
        sdk.credentials_provider().ok_or_else(|| CodeCommitError::NoCredentials("no provider configured".into()))?;
    let c = provider.provide_credentials().await.map_err(|e| CodeCommitError::NoCredentials(e.to_string()))?;
    let creds = SigningCredentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: c.session_token().map(Secret::new),
    };
    let (username, password) = credentials_at(url, &region, &creds, &sigv4_timestamp(SystemTime::now()))?;
    Ok(GitAuth::UserPassword { username, password })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_credentials(token: Option<&str>) -> SigningCredentials {
        SigningCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: token.map(Secret::new),
        }
    }

    /// Expected value computed with botocore's SigV4Auth exactly as awscli 1.46.3's
    /// `codecommit credential-helper` calls it (tests/e2e compares against the CLI itself).
    #[test]
    fn signature_matches_the_aws_cli_vector() {
        let (user, password) = credentials_at(
            "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/microservices",
            "us-east-1",
            &example_credentials(None),
            "20261121T193000",
        )
        .unwrap();
        assert_eq!(user, "AKIDEXAMPLE");
        assert_eq!(
            password.expose(),
            "20261121T193000Zb90ecce6e20c4f75df0def5ad8e84355d31c312f785671d3a2bd209615a80f99"
        );
    }

    #[test]
    fn port_is_not_signed_and_session_tokens_join_the_user_name() {
        let creds = example_credentials(Some("TOKEN"));
        let with_port = credentials_at(
            "https://git-codecommit.us-east-1.amazonaws.com:443/v1/repos/microservices",
            "us-east-1",
            &creds,
            "20261121T193000",
        )
        .unwrap();
        let without = credentials_at(
            "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/microservices",
            "us-east-1",
            &creds,
            "20261121T193000",
        )
        .unwrap();
        assert_eq!(with_port.1, without.1);
        assert_eq!(with_port.0, "AKIDEXAMPLE%TOKEN");
        assert!(credentials_at("ssh://x/y", "us-east-1", &creds, "20261121T193000").is_err());
    }

    #[test]
    fn region_from_host_table() {
        let cases = [
            ("git-codecommit.us-east-1.amazonaws.com", Some("us-east-1")),
            ("git-codecommit-fips.us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("vpce-0123-abcd.git-codecommit.eu-west-1.vpce.amazonaws.com", Some("eu-west-1")),
            ("git-codecommit.us-east-1.example.com", None),
            ("github.com", None),
        ];
        for (host, want) in cases {
            assert_eq!(region_from_host(host), want, "{host}");
        }
    }

    #[test]
    fn timestamps() {
        use std::time::Duration;
        let at = |secs| sigv4_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "19700101T000000");
        assert_eq!(at(951_782_400), "20000229T000000");
        assert_eq!(at(1_795_289_400), "20261121T193000");
        assert_eq!(at(4_102_444_799), "20991231T235959");
    }
}
