//! The Lambda's `bootstrap` binary under a real Lambda Runtime API: ministack's Lambda runs the
//! `provided.al2023` zip natively (a warm worker process per function). Events are fed through
//! ministack's `Invoke` API; the function updates a repository on the local git server; results
//! are asserted in that repository.
//!
//! CodePipeline's `PutJobSuccessResult` / `PutJobFailureResult` are implemented by no local
//! emulator (neither moto nor ministack), so the CodePipeline tests point the function's
//! `AWS_ENDPOINT_URL_CODEPIPELINE` at a small recording HTTP server ([`http::Recorder`]) and
//! assert the recorded calls.
//!
//! The zip is built by the test itself (`cargo build -p shipline-lambda --bin bootstrap`, the
//! `dev` profile unless `SHIPLINE_LAMBDA_PROFILE` says otherwise; `SHIPLINE_LAMBDA_BOOTSTRAP`
//! names a prebuilt binary instead) and zipped with Python's zipfile module.

mod bench;
mod closed_loop;
mod deploy;
mod http;
mod retag;
mod schedule;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Value, json};
use shipline_e2e::{GitServer, SeededRepo, service_env, unique_name};

const ACCOUNT: &str = "123456789012";
const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const DIGEST: &str = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";

/// Builds the `bootstrap` binary (once per test process) and returns its path.
pub fn bootstrap_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(prebuilt) = std::env::var("SHIPLINE_LAMBDA_BOOTSTRAP") {
            return PathBuf::from(prebuilt);
        }
        let profile = std::env::var("SHIPLINE_LAMBDA_PROFILE").unwrap_or_else(|_| "dev".into());
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(&workspace)
            .args(["build", "-p", "shipline-lambda", "--bin", "bootstrap", "--message-format=json"])
            .args(["--profile", &profile])
            .output()
            .expect("running cargo build for the Lambda");
        assert!(
            output.status.success(),
            "cargo build -p shipline-lambda failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|m| m.get("executable").and_then(Value::as_str).map(PathBuf::from))
            .find(|p| p.file_name().is_some_and(|n| n == "bootstrap"))
            .expect("cargo reported the bootstrap executable")
    })
}

/// The deployment package: a zip with `bootstrap` at its root, executable.
fn bootstrap_zip() -> &'static [u8] {
    static ZIP: OnceLock<Vec<u8>> = OnceLock::new();
    ZIP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let zip = dir.path().join("function.zip");
        let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], 'bootstrap')";
        let status = Command::new("python3")
            .args(["-c", script])
            .arg(&zip)
            .arg(bootstrap_binary())
            .status()
            .expect("python3 (needed to zip the function)");
        assert!(status.success(), "zipping the bootstrap failed");
        std::fs::read(&zip).expect("read zip")
    })
}

/// ministack's Lambda API.
#[derive(Clone)]
pub(crate) struct Lambda {
    url: String,
    http: reqwest::Client,
}

/// One invocation's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `X-Amz-Function-Error` (`Unhandled` when the handler returned an error).
    pub(crate) function_error: Option<String>,
    pub(crate) body: Value,
    /// The tail of the function's logs (`LogType: Tail`).
    pub(crate) log: String,
}

impl Lambda {
    pub(crate) fn new() -> Self {
        shipline_core::install_crypto_provider();
        Self { url: service_env("SHIPLINE_TEST_MINISTACK_URL"), http: reqwest::Client::new() }
    }

    fn auth() -> &'static str {
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0"
    }

    /// Creates a `provided.al2023` function from the bootstrap zip with `env`.
    pub(crate) async fn create(&self, env: &BTreeMap<&str, String>) -> String {
        let name = unique_name("shipline-fn");
        let body = json!({
            "FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap", "Timeout": 60,
            "Role": format!("arn:aws:iam::{ACCOUNT}:role/shipline-lambda"), "MemorySize": 256,
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(bootstrap_zip())},
            "Environment": {"Variables": env},
        });
        let response = self
            .http
            .post(format!("{}/2015-03-31/functions", self.url))
            .header("Authorization", Self::auth())
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("CreateFunction on ministack");
        let status = response.status();
        assert!(status.is_success(), "CreateFunction: {status} {}", response.text().await.unwrap_or_default());
        name
    }

    /// Deletes the function, which also stops ministack's worker processes for it.
    pub(crate) async fn delete(&self, function: &str) {
        let response = self
            .http
            .delete(format!("{}/2015-03-31/functions/{function}", self.url))
            .header("Authorization", Self::auth())
            .send()
            .await
            .expect("DeleteFunction on ministack");
        assert!(response.status().is_success(), "DeleteFunction: {}", response.status());
    }

    pub(crate) async fn invoke(&self, function: &str, event: &Value) -> Answer {
        let response = self
            .http
            .post(format!("{}/2015-03-31/functions/{function}/invocations", self.url))
            .header("Authorization", Self::auth())
            .header("X-Amz-Log-Type", "Tail")
            .body(event.to_string())
            .send()
            .await
            .expect("Invoke on ministack");
        assert!(response.status().is_success(), "Invoke: {}", response.status());
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let function_error = header("x-amz-function-error");
        let log = header("x-amz-log-result")
            .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let bytes = response.bytes().await.expect("Invoke answer");
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        Answer { function_error, body, log }
    }
}

fn deployment(service: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {service}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {REGISTRY}/x/{service}:main-0000000-1 # {{\"$imagepolicy\": \"apps:{service}\"}}\n"
    )
}

/// A microservices repository whose policies take `PREFIX/svc-N` (N < services) from the ECR
/// registry, branch-commit-build on main. Returns the repository and the prefix.
fn seed(server: &GitServer, services: usize) -> (SeededRepo, String) {
    let prefix = unique_name("lambda");
    let mut config = String::from(
        "paths: [overlays]\ncommit: {authorName: shipline-lambda, authorEmail: lambda@example.invalid}\npolicies:\n",
    );
    let mut files = Vec::new();
    for n in 0..services {
        let service = format!("svc-{n}");
        config.push_str(&format!(
            "- name: apps:{service}\n  image: {REGISTRY}/{prefix}/{service}\n  policy: {{branchCommitBuild: {{branch: main}}}}\n"
        ));
        files.push((format!("overlays/{service}.yaml"), deployment(&service).replace("/x/", &format!("/{prefix}/"))));
    }
    files.push(("shipline.yaml".into(), config));
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    (server.seed_repo(&prefix, &refs), prefix)
}

fn push_event(repository: &str, tag: Option<&str>, action: &str, result: &str) -> Value {
    json!({
        "version": "0", "id": unique_name("event"), "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": ACCOUNT, "time": "2026-11-21T19:30:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": result, "repository-name": repository, "image-digest": DIGEST,
                   "action-type": action, "image-tag": tag}
    })
}

fn job_event(job_id: &str, user_parameters: &str) -> Value {
    json!({"CodePipeline.job": {
        "id": job_id, "accountId": ACCOUNT,
        "data": {
            "actionConfiguration": {"configuration": {"FunctionName": "shipline", "UserParameters": user_parameters}},
            "inputArtifacts": [], "outputArtifacts": [],
            "artifactCredentials": {"accessKeyId": "AKIAJOBKEY", "secretAccessKey": "job-secret-key", "sessionToken": "job-token"}
        }
    }})
}

fn function_env(server: &GitServer, url: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("SHIPLINE_GIT_URL", url.to_owned()),
        ("SHIPLINE_GIT_AUTH", "password".to_owned()),
        ("SHIPLINE_GIT_USERNAME", server.user.clone()),
        ("SHIPLINE_GIT_PASSWORD", server.password.clone()),
        ("SHIPLINE_LOG", "info".to_owned()),
    ])
}

fn head(repo: &SeededRepo) -> (String, String) {
    let bare = git2::Repository::open_bare(&repo.path).expect("open bare");
    let commit = bare.find_reference("refs/heads/main").and_then(|r| r.peel_to_commit()).expect("main");
    (commit.id().to_string(), commit.message().unwrap_or_default().to_owned())
}

fn image_of(repo: &SeededRepo, service: &str) -> String {
    let file = repo.file_on_main(&format!("overlays/{service}.yaml")).expect("overlay on main");
    let line = file.lines().find(|l| l.contains("image:")).expect("image line");
    line.trim().trim_start_matches("image: ").split(' ').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn ecr_push_event_updates_the_repository_once_and_ignores_the_rest() {
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 2);
    let lambda = Lambda::new();
    let function = lambda.create(&function_env(&server, &repo.http_url)).await;
    let svc0 = format!("{prefix}/svc-0");

    let first = lambda.invoke(&function, &push_event(&svc0, Some("main-1f49071-24"), "PUSH", "SUCCESS")).await;
    assert_eq!(first.function_error, None, "{:?}", first.body);
    assert_eq!(first.body["status"], "updated", "{}", first.body);
    let (commit, message) = head(&repo);
    assert_eq!(first.body["commit"], commit.as_str(), "the reported commit is the tip of main");
    assert_eq!(image_of(&repo, "svc-0"), format!("{REGISTRY}/{svc0}:main-1f49071-24@{DIGEST}"));
    assert!(message.contains(&format!("Image-Digest: {DIGEST}")), "{message}");
    assert!(message.contains("Shipline-Source: lambda ecr-push"), "{message}");
    assert_eq!(repo.commits_on_main(), 2);
    let decision = first.log.lines().find(|l| l.contains("\"decision\":\"updated\"")).expect("a JSON decision line");
    serde_json::from_str::<Value>(decision).expect("the decision line is JSON");
    assert!(!first.log.contains(&server.password), "no credential in the logs");

    // The same event again (EventBridge delivers at least once): no second commit.
    let again = lambda.invoke(&function, &push_event(&svc0, Some("main-1f49071-24"), "PUSH", "SUCCESS")).await;
    assert_eq!(again.body["status"], "unchanged", "{}", again.body);
    // What is ignored, each with its reason; nothing is committed.
    let ignored = [
        (push_event(&svc0, Some("main-abcdef0-23"), "PUSH", "SUCCESS"), "unchanged", "already hold"),
        (push_event(&svc0, Some("main-abcdef0-30"), "DELETE", "SUCCESS"), "ignored", "not PUSH"),
        (push_event(&svc0, Some("main-abcdef0-30"), "PUSH", "FAILURE"), "ignored", "not SUCCESS"),
        (push_event(&svc0, None, "PUSH", "SUCCESS"), "ignored", "untagged"),
        (push_event(&svc0, Some("latest"), "PUSH", "SUCCESS"), "ignored", "no policy wants tag"),
        (push_event(&svc0, Some("feature-x-abcdef0-30"), "PUSH", "SUCCESS"), "ignored", "no policy wants tag"),
        (push_event(&format!("{prefix}/other"), Some("main-abcdef0-30"), "PUSH", "SUCCESS"), "ignored", "no policy"),
    ];
    for (event, status, reason) in ignored {
        let answer = lambda.invoke(&function, &event).await;
        assert_eq!(answer.function_error, None, "{event}: {:?}", answer.body);
        assert_eq!(answer.body["status"], status, "{event}: {}", answer.body);
        assert!(answer.body["reason"].as_str().unwrap_or_default().contains(reason), "{}", answer.body);
    }
    assert_eq!(repo.commits_on_main(), 2, "one commit for all of the above");

    // A newer build of the other service lands on top.
    let newer = lambda
        .invoke(&function, &push_event(&format!("{prefix}/svc-1"), Some("main-abcdef0-2"), "PUSH", "SUCCESS"))
        .await;
    assert_eq!(newer.body["status"], "updated", "{}", newer.body);
    assert_eq!(repo.commits_on_main(), 3);
    lambda.delete(&function).await;
}

#[tokio::test]
async fn malformed_events_fail_without_side_effects() {
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let lambda = Lambda::new();
    let function = lambda.create(&function_env(&server, &repo.http_url)).await;
    let huge_tag = "a".repeat(200_000);
    let cases = [
        (json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}), "unsupported event"),
        (json!({"hello": "world"}), "unsupported event"),
        (json!([1, 2, 3]), "expected a JSON object"),
        (json!({"source": "aws.ecr", "detail-type": "ECR Image Action"}), "detail: missing"),
        (
            json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {"action-type": 5}}),
            "detail.action-type",
        ),
        (push_event(&format!("{prefix}/svc-0"), Some(&huge_tag), "PUSH", "SUCCESS"), "detail.image-tag"),
        (json!({"CodePipeline.job": {"data": {}}}), "CodePipeline.job.id: missing"),
    ];
    for (event, message) in cases {
        let answer = lambda.invoke(&function, &event).await;
        assert_eq!(answer.function_error.as_deref(), Some("Unhandled"), "{:?}", answer.body);
        assert_eq!(answer.body["errorType"], "Shipline.Permanent", "{}", answer.body);
        let text = answer.body["errorMessage"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{text}");
    }
    // The function is still alive and working after all that.
    let ok = lambda
        .invoke(&function, &push_event(&format!("{prefix}/svc-0"), Some("main-1f49071-3"), "PUSH", "SUCCESS"))
        .await;
    assert_eq!(ok.body["status"], "updated", "{}", ok.body);
    assert_eq!(repo.commits_on_main(), 2);
    lambda.delete(&function).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_on_one_repository_all_land() {
    const SERVICES: usize = 4;
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, SERVICES);
    let lambda = Lambda::new();
    let function = lambda.create(&function_env(&server, &repo.http_url)).await;
    let events: Vec<Value> = (0..SERVICES)
        .map(|n| push_event(&format!("{prefix}/svc-{n}"), Some(&format!("main-abcdef{n}-7")), "PUSH", "SUCCESS"))
        .collect();
    let handles: Vec<_> = events
        .into_iter()
        .map(|event| {
            let (lambda, function) = (lambda.clone(), function.clone());
            tokio::spawn(async move { lambda.invoke(&function, &event).await })
        })
        .collect();
    for handle in handles {
        let answer = handle.await.expect("invocation task");
        assert_eq!(answer.body["status"], "updated", "{}", answer.body);
    }
    for n in 0..SERVICES {
        assert!(image_of(&repo, &format!("svc-{n}")).ends_with(&format!(":main-abcdef{n}-7@{DIGEST}")), "svc-{n}");
    }
    assert_eq!(repo.commits_on_main(), SERVICES + 1, "one commit per event, none lost");
    lambda.delete(&function).await;
}

#[tokio::test]
async fn codepipeline_job_reports_success_and_failure_to_a_recording_server() {
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let recorder = http::Recorder::start();
    let lambda = Lambda::new();
    let mut env = function_env(&server, &repo.https_url);
    env.insert("SHIPLINE_GIT_CA_FILE", server.ca_file.display().to_string());
    env.insert("AWS_ENDPOINT_URL_CODEPIPELINE", recorder.url.clone());
    let function = lambda.create(&env).await;

    let image = format!("{REGISTRY}/{prefix}/svc-0:main-1f49071-24");
    let ok = lambda.invoke(&function, &job_event("job-ok-1", &json!({"image": image}).to_string())).await;
    assert_eq!(ok.function_error, None, "{}", ok.body);
    assert_eq!(ok.body["status"], "updated", "{}", ok.body);
    let (commit, _) = head(&repo);
    let bad_params = lambda.invoke(&function, &job_event("job-bad-2", "deploy front-end please")).await;
    assert_eq!(bad_params.body["status"], "failed", "{}", bad_params.body);
    let unknown = json!({"repositoryName": "nobody/uses-this", "imageTag": "main-1f49071-24"}).to_string();
    let unwanted = lambda.invoke(&function, &job_event("job-unwanted-3", &unknown)).await;
    assert_eq!(unwanted.body["status"], "ignored", "{}", unwanted.body);
    assert!(!ok.log.contains("job-secret-key") && !ok.log.contains(&server.password), "no credential in the logs");

    let calls = recorder.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    let (op, body) = &calls[0];
    assert_eq!(op, "PutJobSuccessResult");
    assert_eq!(body["jobId"], "job-ok-1");
    assert_eq!(body["outputVariables"]["commitId"], commit.as_str(), "{body}");
    assert_eq!(body["outputVariables"]["status"], "updated");
    assert_eq!(body["outputVariables"]["image"], image.as_str());
    assert!(body["executionDetails"]["summary"].as_str().unwrap_or_default().contains("pushed"), "{body}");
    let (op, body) = &calls[1];
    assert_eq!((op.as_str(), &body["jobId"]), ("PutJobFailureResult", &json!("job-bad-2")));
    assert_eq!(body["failureDetails"]["type"], "ConfigurationError");
    let message = body["failureDetails"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("UserParameters") && message.contains("REPOSITORY_URI:TAG"), "{message}");
    let (op, body) = &calls[2];
    assert_eq!((op.as_str(), &body["jobId"]), ("PutJobFailureResult", &json!("job-unwanted-3")));
    assert!(body["failureDetails"]["message"].as_str().unwrap_or_default().contains("no policy"), "{body}");
    assert_eq!(repo.commits_on_main(), 2, "only the good job committed");
    lambda.delete(&function).await;
}

/// The deployable template passes cfn-lint (plain CloudFormation; SAM CLI is not needed).
#[test]
fn template_passes_cfn_lint() {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambda/template.yaml");
    let out = std::process::Command::new(shipline_e2e::service_env("SHIPLINE_TEST_CFN_LINT"))
        .arg(&template)
        .output()
        .expect("run cfn-lint from the test venv");
    assert!(
        out.status.success(),
        "cfn-lint {}:\n{}{}",
        template.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
