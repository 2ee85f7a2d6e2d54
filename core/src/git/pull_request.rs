//! Pull requests from the push branch: one open request per push branch, found again on the
//! next run and its description brought up to date, behind [`PullRequestHost`] so another host
//! (GitHub, GitLab) is one more implementation; the updater knows none of them.
//!
//! [`CodeCommit`] speaks CodeCommit's JSON API (`ListPullRequests`, `GetPullRequest`,
//! `CreatePullRequest`, `UpdatePullRequestDescription`) with SigV4-signed requests over
//! reqwest, so no SDK crate is built for four calls.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::codecommit::{SigningCredentials, sigv4_timestamp};
use crate::secret::Secret;

/// CodeCommit's limit on a description; older entries are dropped to stay under it.
pub const MAX_DESCRIPTION: usize = 10_240;

/// An open pull request as a host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// The host's id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
}

/// What [`open_or_update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestAction {
    /// A new request was opened.
    Created,
    /// The open request's description was updated.
    Updated,
    /// The open request already said this.
    Unchanged,
}

/// Why a host call failed.
#[derive(Debug, thiserror::Error)]
#[error("pull request on {host}: {operation}: {message}")]
pub struct PullRequestError {
    /// The host kind, e.g. `CodeCommit`.
    pub host: &'static str,
    /// The call.
    pub operation: &'static str,
    /// What the host said (never credentials).
    pub message: String,
}

/// A git host that keeps pull requests.
#[allow(async_fn_in_trait)]
pub trait PullRequestHost {
    /// The open request from `source` into `destination` (branch names), if any.
    async fn find_open(&self, source: &str, destination: &str) -> Result<Option<PullRequest>, PullRequestError>;
    /// Opens a request.
    async fn create(
        &self,
        title: &str,
        description: &str,
        source: &str,
        destination: &str,
    ) -> Result<PullRequest, PullRequestError>;
    /// Replaces an open request's description.
    async fn update_description(&self, id: &str, description: &str) -> Result<(), PullRequestError>;
}

/// Opens the request from `source` into `destination`, or updates the one that is open:
/// `describe` makes the description from the current one (`None` when opening).
pub async fn open_or_update<H: PullRequestHost>(
    host: &H,
    source: &str,
    destination: &str,
    title: &str,
    describe: impl Fn(Option<&str>) -> String,
) -> Result<(PullRequest, PullRequestAction), PullRequestError> {
    match host.find_open(source, destination).await? {
        Some(mut open) => {
            let description = describe(Some(&open.description));
            if description == open.description {
                return Ok((open, PullRequestAction::Unchanged));
            }
            host.update_description(&open.id, &description).await?;
            open.description = description;
            Ok((open, PullRequestAction::Updated))
        }
        None => {
            let created = host.create(title, &describe(None), source, destination).await?;
            Ok((created, PullRequestAction::Created))
        }
    }
}

/// A description that keeps one entry per pushed commit: `entry` (which must name `commit`) is
/// added unless the previous description already has it; the oldest entries go first when the
/// host's limit is reached.
pub fn accumulate_description(previous: Option<&str>, header: &str, commit: &str, entry: &str) -> String {
    let mut entries: Vec<String> =
        previous.map(|p| p.split("\n\n---\n\n").skip(1).map(str::to_owned).collect()).unwrap_or_default();
    if !entries.iter().any(|e| e.contains(commit)) {
        entries.push(entry.trim_end().to_owned());
    }
    loop {
        let text = std::iter::once(header.trim_end().to_owned())
            .chain(entries.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n\n---\n\n");
        if text.len() <= MAX_DESCRIPTION || entries.len() <= 1 {
            let mut text = text;
            if text.len() > MAX_DESCRIPTION {
                let mut cut = MAX_DESCRIPTION;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            return text;
        }
        entries.remove(0);
    }
}

/// AWS CodeCommit's pull requests for one repository.
#[derive(Debug, Clone)]
pub struct CodeCommit {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    repository: String,
    credentials: SigningCredentials,
}

impl CodeCommit {
    /// A client for `repository` in `region` at `endpoint` (`https://codecommit.REGION.amazonaws.com`
    /// unless `AWS_ENDPOINT_URL_CODECOMMIT` or `AWS_ENDPOINT_URL` say otherwise); `AWS_CA_BUNDLE`
    /// adds a private CA, as for the AWS CLI.
    pub fn new(
        repository: &str,
        region: &str,
        endpoint: Option<String>,
        credentials: SigningCredentials,
    ) -> Result<Self, PullRequestError> {
        crate::install_crypto_provider();
        let fail = |message: String| PullRequestError { host: "CodeCommit", operation: "client", message };
        let endpoint = endpoint
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_CODECOMMIT").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .unwrap_or_else(|| format!("https://codecommit.{region}.amazonaws.com"));
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("shipline/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30));
        if let Ok(bundle) = std::env::var("AWS_CA_BUNDLE") {
            let pem = std::fs::read(&bundle).map_err(|e| fail(format!("AWS_CA_BUNDLE {bundle}: {e}")))?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|e| fail(format!("AWS_CA_BUNDLE {bundle}: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: region.to_owned(),
            repository: repository.to_owned(),
            credentials,
        })
    }

    /// A client with the SDK configuration's region and credentials.
    pub async fn from_sdk(repository: &str, sdk: &aws_config::SdkConfig) -> Result<Self, PullRequestError> {
        use aws_credential_types::provider::ProvideCredentials;
        let fail = |message: String| PullRequestError { host: "CodeCommit", operation: "credentials", message };
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| fail("no AWS region configured".into()))?;
        let provider = sdk.credentials_provider().ok_or_else(|| fail("no AWS credentials provider".into()))?;
        let c = provider.provide_credentials().await.map_err(|e| fail(e.to_string()))?;
        let credentials = SigningCredentials {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: Secret::new(c.secret_access_key()),
            session_token: c.session_token().map(Secret::new),
        };
        Self::new(repository, &region, None, credentials)
    }

    async fn call(&self, operation: &'static str, body: Value) -> Result<Value, PullRequestError> {
        let fail = |message: String| PullRequestError { host: "CodeCommit", operation, message };
        let body = serde_json::to_vec(&body).map_err(|e| fail(e.to_string()))?;
        let target = format!("CodeCommit_20150413.{operation}");
        let host = self.endpoint.split("://").nth(1).unwrap_or(&self.endpoint).split('/').next().unwrap_or_default();
        let signed = sign_json_request(host, &self.region, &target, &body, &self.credentials, SystemTime::now());
        let mut request = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target)
            .header("x-amz-date", &signed.date)
            .header("authorization", &signed.authorization);
        if let Some(token) = &self.credentials.session_token {
            request = request.header("x-amz-security-token", token.expose());
        }
        let response = request.body(body).send().await.map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| fail(e.to_string()))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let kind = json.get("__type").and_then(Value::as_str).unwrap_or("error");
            let message = json.get("message").or_else(|| json.get("Message")).and_then(Value::as_str).unwrap_or("");
            return Err(fail(format!("HTTP {status}: {kind}: {message}")));
        }
        Ok(json)
    }
}

fn pull_request_from(v: &Value) -> Option<PullRequest> {
    let pr = v.get("pullRequest")?;
    Some(PullRequest {
        id: pr.get("pullRequestId")?.as_str()?.to_owned(),
        title: pr.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
        description: pr.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
    })
}

impl PullRequestHost for CodeCommit {
    async fn find_open(&self, source: &str, destination: &str) -> Result<Option<PullRequest>, PullRequestError> {
        let (source, destination) = (format!("refs/heads/{source}"), format!("refs/heads/{destination}"));
        let mut token: Option<String> = None;
        // Bounded: 100 pages of open requests is far beyond any repository's.
        for _ in 0..100 {
            let mut body = json!({"repositoryName": self.repository, "pullRequestStatus": "OPEN"});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = self.call("ListPullRequests", body).await?;
            for id in
                page.get("pullRequestIds").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
            {
                let got = self.call("GetPullRequest", json!({"pullRequestId": id})).await?;
                let targets = got.pointer("/pullRequest/pullRequestTargets").and_then(Value::as_array);
                let matches = targets.into_iter().flatten().any(|t| {
                    t.get("sourceReference").and_then(Value::as_str) == Some(source.as_str())
                        && t.get("destinationReference").and_then(Value::as_str) == Some(destination.as_str())
                        && t.get("repositoryName").and_then(Value::as_str) == Some(self.repository.as_str())
                });
                let open = got.pointer("/pullRequest/pullRequestStatus").and_then(Value::as_str) == Some("OPEN");
                if matches && open {
                    return Ok(pull_request_from(&got));
                }
            }
            token = page.get("nextToken").and_then(Value::as_str).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(None)
    }

    async fn create(
        &self,
        title: &str,
        description: &str,
        source: &str,
        destination: &str,
    ) -> Result<PullRequest, PullRequestError> {
        let body = json!({
            "title": title,
            "description": description,
            "targets": [{
                "repositoryName": self.repository,
                "sourceReference": format!("refs/heads/{source}"),
                "destinationReference": format!("refs/heads/{destination}"),
            }],
        });
        let created = self.call("CreatePullRequest", body).await?;
        pull_request_from(&created).ok_or_else(|| PullRequestError {
            host: "CodeCommit",
            operation: "CreatePullRequest",
            message: "the answer has no pullRequest.pullRequestId".into(),
        })
    }

    async fn update_description(&self, id: &str, description: &str) -> Result<(), PullRequestError> {
        self.call("UpdatePullRequestDescription", json!({"pullRequestId": id, "description": description})).await?;
        Ok(())
    }
}

/// The signed parts of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// `X-Amz-Date`.
    pub date: String,
    /// `Authorization`.
    pub authorization: String,
}

/// SigV4 for a `POST /` JSON 1.1 request to CodeCommit (service `codecommit`).
pub fn sign_json_request(
    host: &str,
    region: &str,
    target: &str,
    body: &[u8],
    creds: &SigningCredentials,
    now: SystemTime,
) -> SignedRequest {
    let date = sigv4_timestamp(now);
    let day = &date[..8];
    let mut headers = vec![
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        ("host", host.to_owned()),
        ("x-amz-date", date.clone()),
        ("x-amz-target", target.to_owned()),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token", token.expose().to_owned()));
    }
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let signed_headers = headers.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(";");
    let canonical = format!("POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}", crate::digest::sha256_hex(body));
    let scope = format!("{day}/{region}/codecommit/aws4_request");
    let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", crate::digest::sha256_hex(canonical.as_bytes()));
    let mut key = hmac(format!("AWS4{}", creds.secret_access_key.expose()).as_bytes(), day.as_bytes());
    for part in [region, "codecommit", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = crate::digest::hex(&hmac(&key, to_sign.as_bytes()));
    SignedRequest {
        date,
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_one_entry_per_commit_within_the_limit() {
        let first = accumulate_description(None, "Images", "c1", "- a: 1 -> 2 (c1)");
        assert_eq!(first, "Images\n\n---\n\n- a: 1 -> 2 (c1)");
        let second = accumulate_description(Some(&first), "Images", "c2", "- a: 2 -> 3 (c2)");
        assert_eq!(second, "Images\n\n---\n\n- a: 1 -> 2 (c1)\n\n---\n\n- a: 2 -> 3 (c2)");
        assert_eq!(accumulate_description(Some(&second), "Images", "c2", "- a: 2 -> 3 (c2)"), second);
        let mut text = None::<String>;
        for i in 0..400 {
            let entry = format!("- commit c{i:04}: {}", "x".repeat(60));
            text = Some(accumulate_description(text.as_deref(), "Images", &format!("c{i:04}"), &entry));
        }
        let text = text.unwrap();
        assert!(text.len() <= MAX_DESCRIPTION && text.contains("c0399") && !text.contains("c0000"), "{}", text.len());
    }

    #[test]
    fn signature_shape() {
        let creds = SigningCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        };
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let s = sign_json_request("codecommit.us-east-1.amazonaws.com", "us-east-1", "T.Op", b"{}", &creds, at);
        assert_eq!(s.date, "20150830T123600");
        assert!(s.authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/codecommit/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
        ));
        let again = sign_json_request("codecommit.us-east-1.amazonaws.com", "us-east-1", "T.Op", b"{}", &creds, at);
        assert_eq!(s, again);
        let other = sign_json_request("codecommit.us-east-1.amazonaws.com", "us-east-1", "T.Op", b"{ }", &creds, at);
        assert_ne!(s.authorization, other.authorization, "the body is signed");
    }
}
