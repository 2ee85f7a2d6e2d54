//! The token's shape against aws-iam-authenticator's documented format and its verifier's
//! checks (`pkg/token/token.go`: prefix, unpadded base64url, https, path `/`, only the
//! whitelisted query parameters, each once, `Action=GetCallerIdentity`, `x-k8s-aws-id` among the
//! signed headers, `X-Amz-Expires` within 0..=900, `X-Amz-Date` as `YYYYMMDDTHHMMSSZ`). The
//! signature itself is checked against botocore (`aws eks get-token`'s code) and the STS
//! emulator in `tests/e2e/lambda/closed_loop.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::*;

fn credentials(session: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session.map(str::to_owned),
        None,
        "test",
    )
}

/// 2026-11-30T23:29:09Z.
fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_081_349)
}

fn decode(token: &Secret) -> reqwest::Url {
    let text = token.expose();
    let body = text.strip_prefix(TOKEN_PREFIX).expect("the v1 prefix");
    assert!(!body.contains('=') && !body.contains('+') && !body.contains('/'), "base64url, no padding: {body}");
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).expect("base64url");
    reqwest::Url::parse(&String::from_utf8(url).expect("UTF-8")).expect("a URL")
}

fn query(url: &reqwest::Url) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        assert!(out.insert(k.to_lowercase(), v.into_owned()).is_none(), "parameter {k} appears once");
    }
    out
}

#[test]
fn token_has_the_documented_shape() {
    for session in [None, Some("FwoGZXIvYXdzEBY+session/token==")] {
        let url =
            presigned_url(&sts_endpoint("eu-west-1"), "eu-west-1", "prod-1", &credentials(session), at()).unwrap();
        let token = token_from_url(&url);
        let parsed = decode(&token);
        assert_eq!(parsed.as_str(), url);
        assert_eq!(parsed.scheme(), "https");
        assert_eq!(parsed.host_str(), Some("sts.eu-west-1.amazonaws.com"));
        assert_eq!(parsed.path(), "/");
        let q = query(&parsed);
        let allowed = [
            "action",
            "version",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "x-amz-expires",
            "x-amz-security-token",
            "x-amz-signature",
            "x-amz-signedheaders",
        ];
        assert!(q.keys().all(|k| allowed.contains(&k.as_str())), "only whitelisted parameters: {q:?}");
        assert_eq!(q["action"], "GetCallerIdentity");
        assert_eq!(q["version"], "2011-06-15");
        assert_eq!(q["x-amz-algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(q["x-amz-credential"], "AKIDEXAMPLE/20261130/eu-west-1/sts/aws4_request");
        assert_eq!(q["x-amz-date"], "20261130T232909Z");
        assert_eq!(q["x-amz-expires"], "60");
        assert_eq!(q["x-amz-signedheaders"], "host;x-k8s-aws-id");
        assert_eq!(q["x-amz-signature"].len(), 64);
        assert!(q["x-amz-signature"].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(q.get("x-amz-security-token").map(String::as_str), session, "the session token travels along");
        assert!(token.expose().len() < 4096, "under the verifier's 4 KiB limit");
        assert!(!format!("{token:?}").contains("k8s-aws-v1"), "the token never shows in Debug");
    }
}

#[test]
fn signature_depends_on_cluster_time_and_key() {
    let base = presigned_url(&sts_endpoint("us-east-1"), "us-east-1", "a", &credentials(None), at()).unwrap();
    let again = presigned_url(&sts_endpoint("us-east-1"), "us-east-1", "a", &credentials(None), at()).unwrap();
    assert_eq!(base, again, "deterministic for the same inputs");
    let other_cluster = presigned_url(&sts_endpoint("us-east-1"), "us-east-1", "b", &credentials(None), at()).unwrap();
    let later =
        presigned_url(&sts_endpoint("us-east-1"), "us-east-1", "a", &credentials(None), at() + Duration::from_secs(1))
            .unwrap();
    let signature = |u: &str| query(&reqwest::Url::parse(u).unwrap())["x-amz-signature"].clone();
    assert_ne!(signature(&base), signature(&other_cluster), "the cluster name is signed");
    assert_ne!(signature(&base), signature(&later));
}

#[test]
fn endpoints_and_names() {
    assert_eq!(sts_endpoint("us-east-1"), "https://sts.us-east-1.amazonaws.com");
    assert_eq!(sts_endpoint("cn-north-1"), "https://sts.cn-north-1.amazonaws.com.cn");
    let custom =
        presigned_url("http://127.0.0.1:4566/ignored?x=1", "us-east-1", "c", &credentials(None), at()).unwrap();
    assert!(custom.starts_with("http://127.0.0.1:4566/?Action=GetCallerIdentity&Version=2011-06-15&"), "{custom}");
    for good in ["a", "prod_cluster-1", &"x".repeat(100)] {
        assert!(is_cluster_name(good), "{good}");
    }
    for bad in ["", "-a", "a b", "a/b", &"x".repeat(101), "é"] {
        assert!(!is_cluster_name(bad), "{bad}");
        let err = presigned_url(&sts_endpoint("us-east-1"), "us-east-1", bad, &credentials(None), at()).unwrap_err();
        assert!(err.to_string().contains("not an EKS cluster name"), "{err}");
    }
    for bad in ["not a url", "unix:/tmp/x", "file:///etc/passwd"] {
        let err = presigned_url(bad, "us-east-1", "c", &credentials(None), at()).unwrap_err();
        assert!(err.to_string().contains("STS endpoint"), "{bad}: {err}");
    }
}
