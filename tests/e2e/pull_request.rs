//! Pull requests on CodeCommit from the push branch, end to end through the CLI.
//!
//! No emulator serves CodeCommit's pull-request calls (moto and ministack do not), so
//! `AWS_ENDPOINT_URL_CODECOMMIT` points at [`FakeCodeCommit`] below: a small recording HTTPS
//! server (the git server's private-CA certificate, trusted through `AWS_CA_BUNDLE` as the AWS
//! CLI does) that keeps pull requests in memory and answers `ListPullRequests`,
//! `GetPullRequest`, `CreatePullRequest` and `UpdatePullRequestDescription` in CodeCommit's JSON
//! shape. Every request is recorded and checked for a SigV4 `Authorization` header. The git side
//! is the real git server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use shipline_e2e::{GitServer, service_env, unique_name};

#[derive(Debug, Default)]
struct State {
    /// `(operation, body, authorization)` of every request, in order.
    calls: Vec<(String, Value, String)>,
    /// Pull requests: id, title, description, source, destination, status.
    prs: Vec<Value>,
}

struct FakeCodeCommit {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FakeCodeCommit {
    fn start(cert_dir: &Path) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_dir.join("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certificate");
        let key = PrivateKeyDer::from_pem_file(cert_dir.join("server.key")).expect("server.key");
        let config = Arc::new(
            rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("TLS config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, state) = (config.clone(), shared.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    while serve_one(&mut tls, &state).is_some() {}
                });
            }
        });
        Self { url, state }
    }
}

/// Reads one HTTP/1.1 request and answers it; `None` when the connection ends.
fn serve_one<S: Read + Write>(stream: &mut S, state: &Mutex<State>) -> Option<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let (mut length, mut target, mut auth) = (0usize, String::new(), String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-amz-target" => target = value.trim().to_owned(),
            "authorization" => auth = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let operation = target.strip_prefix("CodeCommit_20150413.").unwrap_or(&target).to_owned();
    let (status, answer) = {
        let mut s = state.lock().unwrap();
        s.calls.push((operation.clone(), body.clone(), auth));
        answer(&mut s.prs, &operation, &body)
    };
    let text = answer.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    );
    stream.write_all(response.as_bytes()).ok()?;
    stream.flush().ok()
}

fn answer(prs: &mut Vec<Value>, operation: &str, body: &Value) -> (&'static str, Value) {
    let find = |prs: &mut Vec<Value>, id: &Value| prs.iter().position(|p| p["pullRequestId"] == *id);
    match operation {
        "ListPullRequests" => {
            let ids: Vec<Value> =
                prs.iter().filter(|p| p["pullRequestStatus"] == "OPEN").map(|p| p["pullRequestId"].clone()).collect();
            ("200 OK", json!({"pullRequestIds": ids}))
        }
        "GetPullRequest" => match find(prs, &body["pullRequestId"]) {
            Some(i) => ("200 OK", json!({"pullRequest": prs[i]})),
            None => ("400 Bad Request", json!({"__type": "PullRequestDoesNotExistException", "message": "no such"})),
        },
        "CreatePullRequest" => {
            let pr = json!({
                "pullRequestId": (prs.len() + 1).to_string(),
                "title": body["title"],
                "description": body["description"],
                "pullRequestStatus": "OPEN",
                "pullRequestTargets": body["targets"],
            });
            prs.push(pr.clone());
            ("200 OK", json!({"pullRequest": pr}))
        }
        "UpdatePullRequestDescription" => match find(prs, &body["pullRequestId"]) {
            Some(i) => {
                prs[i]["description"] = body["description"].clone();
                ("200 OK", json!({"pullRequest": prs[i]}))
            }
            None => ("400 Bad Request", json!({"__type": "PullRequestDoesNotExistException", "message": "no such"})),
        },
        _ => ("400 Bad Request", json!({"__type": "UnknownOperationException", "message": operation})),
    }
}

fn run_update(server: &GitServer, fake: &FakeCodeCommit, url: &str, tag: &str) -> Value {
    let out = Command::new(service_env("SHIPLINE_BIN"))
        .args(["update", "--git", url, "--git-username", &server.user, "--ca-file"])
        .arg(&server.ca_file)
        .args(["--config", "shipline.yaml", "--push-branch", "image-updates", "--pull-request", "codecommit", "--json"])
        .args(["--candidate", &format!("reg.example/a:{tag}")])
        .args(["--trailer", "CodeBuild-Build-Arn=arn:aws:codebuild:us-east-1:123456789012:build/app:7"])
        .env("SHIPLINE_GIT_PASSWORD", &server.password)
        .env("AWS_ENDPOINT_URL_CODECOMMIT", &fake.url)
        .env("AWS_CA_BUNDLE", &server.ca_file)
        .output()
        .expect("run shipline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).expect("json report")
}

#[test]
fn one_pull_request_per_push_branch_opened_then_updated_with_provenance() {
    let server = GitServer::from_env();
    let fake = FakeCodeCommit::start(server.ca_file.parent().expect("tls dir"));
    let config = "policies:\n- {name: 'apps:a', image: reg.example/a, policy: {semver: {range: '>=1.0.0'}}}\n";
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: reg.example/a:1.0.0 # {\"$imagepolicy\": \"apps:a\"}\n";
    let name = unique_name("pr");
    let repo = server.seed_repo(&name, &[("shipline.yaml", config), ("apps/a.yaml", deployment)]);

    let first = run_update(&server, &fake, &repo.https_url, "1.1.0");
    let c1 = first["commit"].as_str().expect("first commit").to_owned();
    assert_eq!(first["pull_request"], json!({"id": "1", "action": "created"}), "{first}");
    let second = run_update(&server, &fake, &repo.https_url, "1.2.0");
    let c2 = second["commit"].as_str().expect("second commit").to_owned();
    assert_eq!(second["pull_request"], json!({"id": "1", "action": "updated"}), "found again, not a second one");

    let state = fake.state.lock().unwrap();
    assert_eq!(state.prs.len(), 1);
    let pr = &state.prs[0];
    assert_eq!(pr["title"], "Image updates from image-updates");
    assert_eq!(
        pr["pullRequestTargets"],
        json!([{"repositoryName": name, "sourceReference": "refs/heads/image-updates", "destinationReference": "refs/heads/main"}])
    );
    let description = pr["description"].as_str().unwrap();
    for want in [
        format!("Commit {c1}"),
        format!("Commit {c2}"),
        "- apps/a.yaml (Deployment a): reg.example/a:1.0.0 -> reg.example/a:1.1.0".to_owned(),
        "- apps/a.yaml (Deployment a): reg.example/a:1.1.0 -> reg.example/a:1.2.0".to_owned(),
        "CodeBuild-Build-Arn: arn:aws:codebuild:us-east-1:123456789012:build/app:7".to_owned(),
    ] {
        assert!(description.contains(&want), "{want:?} missing from:\n{description}");
    }
    let operations: Vec<&str> = state.calls.iter().map(|(op, _, _)| op.as_str()).collect();
    assert_eq!(
        operations,
        ["ListPullRequests", "CreatePullRequest", "ListPullRequests", "GetPullRequest", "UpdatePullRequestDescription"]
    );
    for (op, _, auth) in &state.calls {
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=") && auth.contains("/codecommit/aws4_request"),
            "{op}: {auth}"
        );
    }
    assert_eq!(repo.commits_on_main(), 1, "main is only changed by merging the request");
}
