//! The OCI registry accepts a blob pushed with basic auth, and refuses requests without it.

use base64::Engine as _;
use shipline_e2e::{Registry, unique_name};

use shipline_core::digest::sha256_digest;

#[tokio::test]
async fn registry_takes_a_blob_with_basic_auth() {
    shipline_core::install_crypto_provider();
    let reg = Registry::from_env();
    let http = reqwest::Client::new();
    let base = format!("http://{}/v2", reg.host);
    let auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", reg.user, reg.password)));

    let anonymous = http.get(format!("{base}/")).send().await.expect("registry unreachable");
    assert_eq!(anonymous.status(), 401, "registry must demand auth");
    let authed = http.get(format!("{base}/")).header("Authorization", &auth).send().await.unwrap();
    assert_eq!(authed.status(), 200);

    let repo = unique_name("smoke");
    let blob = format!("shipline smoke blob {repo}").into_bytes();
    let digest = sha256_digest(&blob);
    let start = http.post(format!("{base}/{repo}/blobs/uploads/")).header("Authorization", &auth).send().await.unwrap();
    assert_eq!(start.status(), 202, "start upload");
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with("http") { location } else { format!("http://{}{location}", reg.host) };
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = http
        .put(format!("{location}{sep}digest={digest}"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "finish upload: {}", put.text().await.unwrap_or_default());

    let head = http.head(format!("{base}/{repo}/blobs/{digest}")).header("Authorization", &auth).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["docker-content-digest"].to_str().unwrap(), digest);
    assert_eq!(head.headers()["content-length"].to_str().unwrap(), blob.len().to_string());

    // A blob whose bytes do not match the digest is refused: the registry is strict.
    let start = http.post(format!("{base}/{repo}/blobs/uploads/")).header("Authorization", &auth).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with("http") { location } else { format!("http://{}{location}", reg.host) };
    let sep = if location.contains('?') { '&' } else { '?' };
    let wrong = http
        .put(format!("{location}{sep}digest={}", sha256_digest(b"other")))
        .header("Authorization", &auth)
        .body(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400, "digest mismatch must be rejected");
}
