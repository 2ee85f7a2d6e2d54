//! The cluster the closed loop reads: its settings (from environment variables, no I/O) and the
//! one call it makes, a `GET` of the sync's status ConfigMap, authenticated with an EKS token
//! ([`crate::eks_token`]) or a static bearer token.
//!
//! One read of one object does not warrant linking the Kubernetes client (`kube`) into the
//! Lambda: the call is a plain HTTPS `GET` trusting only the cluster's CA.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use shipline_core::secret::Secret;

use crate::closed_loop::{self, DEFAULT_NAMESPACE, DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS};
use crate::eks_token;
use crate::error::LambdaError;

/// Largest status ConfigMap read (a ConfigMap holds at most 1 MiB).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// How the function authenticates to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeAuth {
    /// An EKS token for this cluster name, signed with the function role's credentials.
    Eks(String),
    /// `SHIPLINE_KUBE_TOKEN`: a fixed bearer token (a cluster that is not EKS, tests).
    Static(Secret),
}

/// Where the cluster is and how the loop waits on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `SHIPLINE_EKS_ENDPOINT`: the API server's URL (`https://...eks.amazonaws.com`).
    pub endpoint: String,
    /// `SHIPLINE_EKS_CA_DATA`: the cluster's CA certificates, PEM (given base64-encoded, as
    /// `eks:DescribeCluster` and kubeconfig's `certificate-authority-data` give them).
    pub ca_pem: Vec<u8>,
    /// `SHIPLINE_EKS_CLUSTER` or `SHIPLINE_KUBE_TOKEN`.
    pub auth: KubeAuth,
    /// `SHIPLINE_WAIT_SYNC`: the sync every job waits for unless its `UserParameters` name one.
    pub default_sync: Option<String>,
    /// `SHIPLINE_WAIT_NAMESPACE`: the reconciler's namespace (`shipline-system`).
    pub namespace: String,
    /// `SHIPLINE_WAIT_TIMEOUT_SECONDS`: how long a job waits unless its `UserParameters` say.
    pub timeout_seconds: u64,
}

impl ClusterSettings {
    /// Reads the settings through `get` (values already trimmed, empty as unset). `None` when
    /// nothing of the closed loop is configured.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, LambdaError> {
        let bad = |message: String| LambdaError::Settings(message);
        // The namespace and timeout have defaults (the template always sets them): alone, they
        // turn nothing on.
        let names = [
            "SHIPLINE_EKS_ENDPOINT",
            "SHIPLINE_EKS_CLUSTER",
            "SHIPLINE_EKS_CA_DATA",
            "SHIPLINE_KUBE_TOKEN",
            "SHIPLINE_WAIT_SYNC",
        ];
        if names.iter().all(|&n| get(n).is_none()) {
            return Ok(None);
        }
        let endpoint = match (get("SHIPLINE_EKS_ENDPOINT"), get("SHIPLINE_EKS_CLUSTER")) {
            (Some(e), _) => e,
            (None, Some(cluster)) => {
                return Err(bad(format!(
                    "SHIPLINE_EKS_CLUSTER={cluster:?} without SHIPLINE_EKS_ENDPOINT: set SHIPLINE_EKS_ENDPOINT and \
                     SHIPLINE_EKS_CA_DATA to the cluster's endpoint and certificateAuthority.data \
                     (aws eks describe-cluster --name {cluster})"
                )));
            }
            (None, None) => {
                return Err(bad(
                    "the closed loop (SHIPLINE_WAIT_*, SHIPLINE_KUBE_TOKEN) needs the cluster: set SHIPLINE_EKS_ENDPOINT, \
                     SHIPLINE_EKS_CA_DATA and SHIPLINE_EKS_CLUSTER"
                        .into(),
                ));
            }
        };
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| bad(format!("SHIPLINE_EKS_ENDPOINT={endpoint:?} is not a URL: {e}")))?;
        if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) || !url.username().is_empty() {
            return Err(bad(format!(
                "SHIPLINE_EKS_ENDPOINT={endpoint:?}: expected https://HOST (the token is a credential, never sent in clear)"
            )));
        }
        let ca = get("SHIPLINE_EKS_CA_DATA").ok_or_else(|| {
            bad("SHIPLINE_EKS_CA_DATA is not set: give the cluster's certificateAuthority.data (base64 PEM)".into())
        })?;
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(ca.as_bytes())
            .ok()
            .filter(|pem| pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----"))
            .ok_or_else(|| bad("SHIPLINE_EKS_CA_DATA is not base64 of PEM certificates".into()))?;
        reqwest::Certificate::from_pem_bundle(&ca_pem)
            .map_err(|e| bad(format!("SHIPLINE_EKS_CA_DATA: unreadable certificate: {e}")))?;
        let auth = match (get("SHIPLINE_KUBE_TOKEN"), get("SHIPLINE_EKS_CLUSTER")) {
            (Some(token), _) => KubeAuth::Static(Secret::new(token)),
            (None, Some(cluster)) if eks_token::is_cluster_name(&cluster) => KubeAuth::Eks(cluster),
            (None, Some(cluster)) => {
                return Err(bad(format!("SHIPLINE_EKS_CLUSTER={cluster:?} is not an EKS cluster name")));
            }
            (None, None) => {
                return Err(bad("SHIPLINE_EKS_CLUSTER is not set: the EKS token names the cluster it is for".into()));
            }
        };
        let default_sync = get("SHIPLINE_WAIT_SYNC");
        if let Some(sync) = default_sync.as_deref().filter(|s| !closed_loop::is_sync_name(s)) {
            return Err(bad(format!(
                "SHIPLINE_WAIT_SYNC={sync:?} is not a sync name (lower-case letters, digits, '-')"
            )));
        }
        let namespace = get("SHIPLINE_WAIT_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        if !closed_loop::is_dns_label(&namespace) {
            return Err(bad(format!("SHIPLINE_WAIT_NAMESPACE={namespace:?} is not a namespace name")));
        }
        let timeout_seconds = match get("SHIPLINE_WAIT_TIMEOUT_SECONDS") {
            None => DEFAULT_TIMEOUT_SECONDS,
            Some(t) => parse_timeout(&t).map_err(|e| bad(format!("SHIPLINE_WAIT_TIMEOUT_SECONDS={t:?}: {e}")))?,
        };
        Ok(Some(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            ca_pem,
            auth,
            default_sync,
            namespace,
            timeout_seconds,
        }))
    }
}

/// A wait deadline in seconds: 1 to [`MAX_TIMEOUT_SECONDS`].
pub fn parse_timeout(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(t) if (1..=MAX_TIMEOUT_SECONDS).contains(&t) => Ok(t),
        _ => Err(format!("expected whole seconds from 1 to {MAX_TIMEOUT_SECONDS}")),
    }
}

/// The HTTPS client for the API server: only the cluster's CA is trusted.
pub fn http_client(settings: &ClusterSettings) -> Result<reqwest::Client, LambdaError> {
    shipline_core::install_crypto_provider();
    let bad = |e: reqwest::Error| LambdaError::Settings(format!("SHIPLINE_EKS_CA_DATA: {e}"));
    let roots = reqwest::Certificate::from_pem_bundle(&settings.ca_pem).map_err(bad)?;
    reqwest::Client::builder()
        .user_agent(concat!("shipline-lambda/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .tls_certs_only(roots)
        .build()
        .map_err(bad)
}

/// The `data` of the sync's status ConfigMap, `None` when it does not exist (yet). A refused
/// token or missing permission is [`LambdaError::ClusterAccess`] (a person must act); anything
/// else is [`LambdaError::Cluster`] (the loop keeps waiting).
pub async fn read_status(
    http: &reqwest::Client,
    settings: &ClusterSettings,
    token: &Secret,
    sync: &str,
) -> Result<Option<BTreeMap<String, String>>, LambdaError> {
    let name = closed_loop::configmap_name(sync);
    let url = format!("{}/api/v1/namespaces/{}/configmaps/{name}", settings.endpoint, settings.namespace);
    let object = format!("ConfigMap {}/{name} on {}", settings.namespace, settings.endpoint);
    let response = http
        .get(&url)
        .bearer_auth(token.expose())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| LambdaError::Cluster(format!("reading {object}: {}", error_chain(&e))))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| LambdaError::Cluster(format!("reading {object}: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(LambdaError::Cluster(format!(
            "reading {object}: {} bytes is more than a ConfigMap holds",
            body.len()
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let said = value
        .get("message")
        .and_then(|m| m.as_str())
        .map(|m| shipline_core::show::escape_controls(&m.chars().take(300).collect::<String>()).into_owned());
    match status.as_u16() {
        200 => {}
        404 => return Ok(None),
        401 => {
            return Err(LambdaError::ClusterAccess(format!(
                "reading {object}: 401 Unauthorized: the API server refused the token; map the function's role to a \
                 Kubernetes user (an EKS access entry, or the aws-auth ConfigMap; see manifests/lambda/rbac.yaml)"
            )));
        }
        403 => {
            return Err(LambdaError::ClusterAccess(format!(
                "reading {object}: 403 Forbidden: {}; apply manifests/lambda/rbac.yaml for the function's user",
                said.unwrap_or_default()
            )));
        }
        code => {
            return Err(LambdaError::Cluster(format!("reading {object}: HTTP {code}: {}", said.unwrap_or_default())));
        }
    }
    let data = value.get("data").and_then(|d| d.as_object()).cloned().unwrap_or_default();
    Ok(Some(data.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect::<BTreeMap<_, _>>()))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(&format!(": {e}"));
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway self-signed certificate (not a secret; only its PEM shape matters here).
    const PEM: &str = include_str!("../testdata/test-ca.pem");

    fn settings(vars: &[(&str, &str)]) -> Result<Option<ClusterSettings>, LambdaError> {
        ClusterSettings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    fn ca() -> String {
        base64::engine::general_purpose::STANDARD.encode(PEM)
    }

    #[test]
    fn nothing_set_is_no_loop() {
        assert_eq!(settings(&[]).unwrap(), None);
        let defaults = [("SHIPLINE_WAIT_NAMESPACE", "shipline-system"), ("SHIPLINE_WAIT_TIMEOUT_SECONDS", "1800")];
        assert_eq!(settings(&defaults).unwrap(), None, "the template's defaults alone turn nothing on");
    }

    #[test]
    fn eks_and_static_token_settings() {
        let ca = ca();
        let eks = settings(&[
            ("SHIPLINE_EKS_ENDPOINT", "https://ABC.gr7.us-east-1.eks.amazonaws.com/"),
            ("SHIPLINE_EKS_CA_DATA", &ca),
            ("SHIPLINE_EKS_CLUSTER", "prod"),
            ("SHIPLINE_WAIT_SYNC", "apps"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(eks.endpoint, "https://ABC.gr7.us-east-1.eks.amazonaws.com");
        assert_eq!(eks.auth, KubeAuth::Eks("prod".into()));
        assert_eq!((eks.default_sync.as_deref(), eks.namespace.as_str()), (Some("apps"), "shipline-system"));
        assert_eq!(eks.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
        let fixed = settings(&[
            ("SHIPLINE_EKS_ENDPOINT", "https://127.0.0.1:16443"),
            ("SHIPLINE_EKS_CA_DATA", &ca),
            ("SHIPLINE_KUBE_TOKEN", "hunter2"),
            ("SHIPLINE_WAIT_NAMESPACE", "state"),
            ("SHIPLINE_WAIT_TIMEOUT_SECONDS", "90"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(fixed.auth, KubeAuth::Static(Secret::new("hunter2")));
        assert_eq!((fixed.namespace.as_str(), fixed.timeout_seconds), ("state", 90));
        assert!(!format!("{fixed:?}").contains("hunter2"), "the token never shows");
        assert!(http_client(&fixed).is_ok());
    }

    #[test]
    fn invalid_settings_name_the_variable() {
        let ca = ca();
        let base = [("SHIPLINE_EKS_ENDPOINT", "https://k.example"), ("SHIPLINE_EKS_CA_DATA", ca.as_str())];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v: Vec<(&str, &str)> = base.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("SHIPLINE_WAIT_SYNC", "apps")], "needs the cluster"),
            (vec![("SHIPLINE_EKS_CLUSTER", "prod")], "aws eks describe-cluster --name prod"),
            (
                vec![("SHIPLINE_EKS_ENDPOINT", "http://k.example"), ("SHIPLINE_KUBE_TOKEN", "t")],
                "expected https://HOST",
            ),
            (
                vec![("SHIPLINE_EKS_ENDPOINT", "https://k.example"), ("SHIPLINE_KUBE_TOKEN", "t")],
                "SHIPLINE_EKS_CA_DATA is not set",
            ),
            (
                vec![
                    ("SHIPLINE_EKS_ENDPOINT", "https://k.example"),
                    ("SHIPLINE_EKS_CA_DATA", "bm90IGEgY2VydA=="),
                    ("SHIPLINE_KUBE_TOKEN", "t"),
                ],
                "not base64 of PEM",
            ),
            (with(&[]), "SHIPLINE_EKS_CLUSTER is not set"),
            (with(&[("SHIPLINE_EKS_CLUSTER", "a b")]), "not an EKS cluster name"),
            (with(&[("SHIPLINE_EKS_CLUSTER", "p"), ("SHIPLINE_WAIT_SYNC", "Apps")]), "SHIPLINE_WAIT_SYNC=\"Apps\""),
            (with(&[("SHIPLINE_EKS_CLUSTER", "p"), ("SHIPLINE_WAIT_NAMESPACE", "a_b")]), "SHIPLINE_WAIT_NAMESPACE"),
            (with(&[("SHIPLINE_EKS_CLUSTER", "p"), ("SHIPLINE_WAIT_TIMEOUT_SECONDS", "0")]), "from 1 to 43200"),
            (
                with(&[("SHIPLINE_EKS_CLUSTER", "p"), ("SHIPLINE_WAIT_TIMEOUT_SECONDS", "1h")]),
                "SHIPLINE_WAIT_TIMEOUT_SECONDS",
            ),
        ];
        for (vars, want) in cases {
            let err = settings(&vars).unwrap_err();
            assert!(err.to_string().contains(want), "{vars:?}: {err}");
            assert!(!err.is_transient());
        }
    }
}
