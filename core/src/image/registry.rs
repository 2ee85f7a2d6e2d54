//! A minimal OCI distribution (registry v2) client: blobs (HEAD, cross-repository mount,
//! streamed upload with digest verification), manifests (GET, PUT with exact bytes).
//!
//! Auth: HTTP basic (ECR's `AWS:<token>`, htpasswd registries) and the bearer-token challenge
//! flow. Retries with exponential backoff on 429, 5xx and connection errors; never on other 4xx.
//! Every error names the registry, repository and object.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::TryStreamExt;
use reqwest::{RequestBuilder, Response, StatusCode, Url, header};

use crate::image::oci::{self, BlobSource, Manifest};
use crate::secret::Secret;

/// How many times a request is tried when the registry is throttling or failing.
const MAX_TRIES: u32 = 5;

/// A registry and repository: `https://123456789012.dkr.ecr.us-east-1.amazonaws.com` + `team/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryAddress {
    /// `scheme://host[:port]`, no trailing slash.
    pub base: String,
    /// Repository name (`team/app`).
    pub name: String,
}

impl RepositoryAddress {
    /// Parses `[http://|https://]host[:port]/name`; without a scheme, HTTPS.
    pub fn parse(uri: &str) -> Result<Self, RegistryError> {
        let bad = |reason: &str| RegistryError::Address(format!("{uri:?}: {reason}"));
        let (scheme, rest) = match uri.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (s, rest),
            Some(_) => return Err(bad("scheme must be http or https")),
            None => ("https", uri),
        };
        if rest.split('/').next().unwrap_or_default().contains('@') {
            // Never repeat the input: it holds a credential.
            return Err(RegistryError::Address(crate::image::reference::CREDENTIALS_IN_URL.to_owned()));
        }
        let (host, name) = rest.split_once('/').ok_or_else(|| bad("expected HOST/REPOSITORY"))?;
        if host.is_empty() || name.is_empty() || name.contains([':', '@']) {
            return Err(bad("expected HOST/REPOSITORY without tag or digest"));
        }
        crate::image::reference::check_registry_host(host).map_err(bad)?;
        crate::image::reference::check_repository_name(name.trim_end_matches('/')).map_err(bad)?;
        Ok(Self { base: format!("{scheme}://{host}"), name: name.trim_end_matches('/').to_owned() })
    }

    /// The registry host (with port), for messages.
    pub fn host(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, h)| h)
    }
}

impl std::fmt::Display for RepositoryAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host(), self.name)
    }
}

/// Registry credentials.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// No credentials.
    Anonymous,
    /// User and password (for ECR: `AWS` and the authorization token's password).
    Basic {
        /// User.
        username: String,
        /// Password.
        password: Secret,
    },
}

/// What went wrong. Messages name the registry and repository.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A malformed repository address.
    #[error("repository address {0}")]
    Address(String),
    /// The registry answered with an error status.
    #[error("{registry}: {action} {object} in {repository}: HTTP {status}: {body}")]
    Status {
        /// Registry host.
        registry: String,
        /// Repository.
        repository: String,
        /// What we were doing, e.g. `uploading blob`.
        action: &'static str,
        /// The blob digest or manifest reference.
        object: String,
        /// HTTP status.
        status: u16,
        /// The start of the response body (the registry's error codes).
        body: String,
    },
    /// The registry could not be reached (after retries).
    #[error("{registry}: {action} {object} in {repository}: {message}")]
    Transport {
        /// Registry host.
        registry: String,
        /// Repository.
        repository: String,
        /// What we were doing.
        action: &'static str,
        /// The object.
        object: String,
        /// The transport error.
        message: String,
    },
    /// The source content is not what its digest says.
    #[error("{0}")]
    Content(String),
    /// Reading the source failed.
    #[error(transparent)]
    Source(#[from] oci::OciError),
}

impl RegistryError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A client for one repository.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    repo: RepositoryAddress,
    auth: RegistryAuth,
    bearer: Arc<Mutex<Option<String>>>,
}

/// Outcome of trying to mount a blob from another repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob: no upload needed.
    Mounted,
    /// The registry declined; the blob must be uploaded.
    Declined,
}

impl RegistryClient {
    /// A client for `repo` with `auth`. TLS is verified with the system's roots.
    pub fn new(repo: RepositoryAddress, auth: RegistryAuth) -> Result<Self, RegistryError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipline/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RegistryError::Address(format!("{repo}: {e}")))?;
        Ok(Self { http, repo, auth, bearer: Arc::new(Mutex::new(None)) })
    }

    /// The repository this client talks to.
    pub fn repository(&self) -> &RepositoryAddress {
        &self.repo
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.repo.base, self.repo.name)
    }

    fn authorize(&self, req: RequestBuilder) -> RequestBuilder {
        if let Some(token) = self.bearer.lock().map(|b| b.clone()).unwrap_or_default() {
            return req.bearer_auth(token);
        }
        match &self.auth {
            RegistryAuth::Anonymous => req,
            RegistryAuth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
        }
    }

    fn status_error(&self, action: &'static str, object: &str, status: StatusCode, body: String) -> RegistryError {
        RegistryError::Status {
            registry: self.repo.host().to_owned(),
            repository: self.repo.name.clone(),
            action,
            object: object.to_owned(),
            status: status.as_u16(),
            body: body.chars().take(300).collect(),
        }
    }

    /// The error for a response with an unexpected status, carrying the start of its body (the
    /// registry's error codes).
    async fn unexpected(&self, action: &'static str, object: &str, resp: Response) -> RegistryError {
        let status = resp.status();
        self.status_error(action, object, status, resp.text().await.unwrap_or_default())
    }

    /// Sends the request `make` builds, with auth, the bearer challenge and retries. Returns the
    /// response whatever its status; callers decide what is success.
    async fn send(
        &self,
        action: &'static str,
        object: &str,
        make: impl Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut tries = 0;
        let mut challenged = false;
        loop {
            tries += 1;
            let result = self.authorize(make()?).send().await;
            match result {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let challenge = resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if challenge.to_ascii_lowercase().starts_with("bearer ") {
                        self.fetch_bearer(&challenge, action, object).await?;
                        continue;
                    }
                    return Ok(resp);
                }
                Ok(resp)
                    if (resp.status() == StatusCode::TOO_MANY_REQUESTS || resp.status().is_server_error())
                        && tries < MAX_TRIES =>
                {
                    tracing::debug!(status = resp.status().as_u16(), tries, "registry busy, retrying");
                }
                Ok(resp) => return Ok(resp),
                Err(e) if tries < MAX_TRIES && (e.is_connect() || e.is_timeout() || e.is_request()) => {
                    tracing::debug!(error = %e, tries, "registry unreachable, retrying");
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        registry: self.repo.host().to_owned(),
                        repository: self.repo.name.clone(),
                        action,
                        object: object.to_owned(),
                        message: error_chain(&e),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100 << tries.min(5))).await;
        }
    }

    async fn fetch_bearer(&self, challenge: &str, action: &'static str, object: &str) -> Result<(), RegistryError> {
        let params = parse_challenge(&challenge[7..]);
        let realm = params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v.clone()).ok_or_else(|| {
            self.status_error(
                action,
                object,
                StatusCode::UNAUTHORIZED,
                format!("bearer challenge without realm: {challenge}"),
            )
        })?;
        let query: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k == "service" || k == "scope").collect();
        let url = Url::parse_with_params(&realm, &query).map_err(|e| {
            self.status_error(action, object, StatusCode::UNAUTHORIZED, format!("bad token realm {realm:?}: {e}"))
        })?;
        let mut req = self.http.get(url);
        if let RegistryAuth::Basic { username, password } = &self.auth {
            req = req.basic_auth(username, Some(password.expose()));
        }
        let resp = req.send().await.map_err(|e| RegistryError::Transport {
            registry: self.repo.host().to_owned(),
            repository: self.repo.name.clone(),
            action: "fetching a token for",
            object: object.to_owned(),
            message: error_chain(&e),
        })?;
        if !resp.status().is_success() {
            return Err(self.unexpected("fetching a token for", object, resp).await);
        }
        let bytes = resp.bytes().await.map_err(|e| RegistryError::Content(format!("token response: {e}")))?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Content(format!("token response: {e}")))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned();
        *self.bearer.lock().expect("bearer lock") = Some(token);
        Ok(())
    }

    /// Whether the repository has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let resp =
            self.send("checking blob", digest, || Ok(self.http.head(self.url(&format!("blobs/{digest}"))))).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.status_error("checking blob", digest, s, String::new())),
        }
    }

    /// Asks the registry to link `digest` from repository `from` (same registry).
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<Mount, RegistryError> {
        let url = Url::parse_with_params(&self.url("blobs/uploads/"), &[("mount", digest), ("from", from)])
            .map_err(|e| RegistryError::Address(format!("{}: {e}", self.repo)))?;
        let resp = self.send("mounting blob", digest, || Ok(self.http.post(url.clone()))).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Declined),
            _ => Err(self.unexpected("mounting blob", digest, resp).await),
        }
    }

    /// Uploads a blob from `source` (streamed, hashed on the way) and checks its digest.
    pub async fn upload_blob(&self, digest: &str, size: u64, source: &BlobSource) -> Result<(), RegistryError> {
        let start =
            self.send("starting upload of blob", digest, || Ok(self.http.post(self.url("blobs/uploads/")))).await?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(self.unexpected("starting upload of blob", digest, start).await);
        }
        let location =
            start.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
        let location = if location.starts_with("http") { location } else { format!("{}{location}", self.repo.base) };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{sep}digest={digest}");
        let hasher = Arc::new(Mutex::new(ring::digest::Context::new(&ring::digest::SHA256)));
        let resp = self
            .send("uploading blob", digest, || {
                *hasher.lock().expect("hasher") = ring::digest::Context::new(&ring::digest::SHA256);
                let body = blob_body(source, size, hasher.clone())?;
                Ok(self
                    .http
                    .put(&put_url)
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(body))
            })
            .await?;
        let actual = format!("sha256:{}", crate::digest::hex(hasher.lock().expect("hasher").clone().finish().as_ref()));
        if actual != digest {
            return Err(RegistryError::Content(format!(
                "blob {digest} of {}: the source's bytes hash to {actual}",
                self.repo
            )));
        }
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            _ => Err(self.unexpected("uploading blob", digest, resp).await),
        }
    }

    /// Puts a manifest under `reference` (a tag or its digest), with its exact bytes.
    pub async fn put_manifest(&self, reference: &str, manifest: &Manifest) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send("putting manifest", reference, || {
                Ok(self.http.put(&url).header(header::CONTENT_TYPE, &manifest.media_type).body(manifest.bytes.clone()))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.unexpected("putting manifest", reference, resp).await);
        }
        if let Some(returned) = resp.headers().get("docker-content-digest").and_then(|d| d.to_str().ok())
            && returned != manifest.digest
        {
            return Err(RegistryError::Content(format!(
                "{}: manifest {reference} stored as {returned}, expected {}",
                self.repo, manifest.digest
            )));
        }
        Ok(())
    }

    /// The manifest at `reference`, with its exact bytes, or `None` when absent.
    pub async fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let accept = oci::MANIFEST_TYPES.join(", ");
        let resp = self
            .send("getting manifest", reference, || Ok(self.http.get(&url).header(header::ACCEPT, &accept)))
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let media_type = resp
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|c| c.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| RegistryError::Content(format!("{}: manifest {reference}: {e}", self.repo)))?;
                Ok(Some(Manifest::new(bytes.to_vec(), media_type)))
            }
            _ => Err(self.unexpected("getting manifest", reference, resp).await),
        }
    }
}

fn blob_body(
    source: &BlobSource,
    size: u64,
    hasher: Arc<Mutex<ring::digest::Context>>,
) -> Result<reqwest::Body, RegistryError> {
    let reader = oci::archive::open_source(source, size)?;
    // A blocking reader on a small thread-pool task per chunk would be overkill: read in 256 KiB
    // chunks from a blocking task and stream them.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.lock().expect("hasher").update(&buf[..n]);
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(reqwest::Body::wrap_stream(stream.map_ok(bytes::Bytes::from)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `key="value", key2="value2"` pairs of a `WWW-Authenticate` challenge.
fn parse_challenge(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (quoted[..end].to_owned(), quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((key, value));
        rest = remaining.trim_start_matches([',', ' ']);
    }
    out
}

/// Basic credentials from an ECR authorization token (`base64("AWS:<password>")`).
pub fn ecr_token_auth(token: &str) -> Result<RegistryAuth, RegistryError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| RegistryError::Content("ECR authorization token is not base64 text".into()))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| RegistryError::Content("ECR authorization token is not USER:PASSWORD".into()))?;
    Ok(RegistryAuth::Basic { username: username.to_owned(), password: Secret::new(password) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_address_table() {
        let ok = [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "team/app",
            ),
            ("http://127.0.0.1:5000/app", "http://127.0.0.1:5000", "app"),
            ("https://localhost:5000/a/b/", "https://localhost:5000", "a/b"),
        ];
        for (uri, base, name) in ok {
            let a = RepositoryAddress::parse(uri).unwrap();
            assert_eq!((a.base.as_str(), a.name.as_str()), (base, name), "{uri}");
        }
        for bad in ["app", "ftp://host/app", "host/app:tag", "host/app@sha256:00", "/app"] {
            assert!(RepositoryAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn challenge_parsing() {
        let got = parse_challenge(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            got,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
    }

    #[test]
    fn ecr_token() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:secret-pass");
        let RegistryAuth::Basic { username, password } = ecr_token_auth(&token).unwrap() else { panic!() };
        assert_eq!((username.as_str(), password.expose()), ("AWS", "secret-pass"));
        assert!(ecr_token_auth("!!!").is_err());
    }
}
