//! The closed loop with CodePipeline (issue 14, item 5): after its push, a job is kept running
//! with continuation tokens until the sync reports the commit applied and healthy.
//!
//! - The function is the real `bootstrap` in ministack's Lambda; it updates a repository on the
//!   test git server.
//! - The test API server stands in for EKS. The function reaches it with a static token of the
//!   user `shipline-lambda` in group `shipline-lambda` (`tests/services/ctl.sh` writes it into
//!   `tokens.csv`), bound by the shipped `manifests/lambda` RBAC only, so the test also proves
//!   that RBAC is enough, and not more than a `get` of the one status ConfigMap.
//! - The real reconciler (`shipline reconcile --once`) applies the commit and records the status.
//!   No node runs Pods here (`SHIPLINE_NODE=0` too): a Deployment with `replicas: 0` becomes
//!   healthy through the controller-manager alone; one with `replicas: 1` never does.
//! - CodePipeline's job-result calls go to the recording server ([`super::http::Recorder`]: no
//!   emulator implements `PutJobSuccessResult` / `PutJobFailureResult`); the test plays
//!   CodePipeline by invoking the function again with the `continuationToken` it recorded.
//! - The EKS token: the presigned URL is compared, signature included, with the one botocore
//!   signs for `aws eks get-token` (awscli in the services' venv, clock frozen to the same
//!   second), and a GET of it is answered with the caller identity by the STS emulator
//!   (ministack's: moto sends a query-signed request without an `Authorization` header to its S3).
//!   Neither emulator checks signatures; the comparison with botocore is what proves it.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};
use shipline_e2e::{GitServer, SeededRepo, kube_client, service_env, unique_name};
use shipline_lambda::eks_token;
use shipline_reconcile::apply::{Applier, parse_objects};

use super::http::Recorder;
use super::{ACCOUNT, Lambda, REGISTRY, function_env, head, job_event};

/// The API server's URL and CA (base64 PEM) from the services' kubeconfig.
fn cluster() -> (String, String) {
    let path = service_env("KUBECONFIG");
    let config = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let cluster = config.clusters[0].cluster.clone().expect("a cluster");
    (cluster.server.expect("server"), cluster.certificate_authority_data.expect("CA data"))
}

fn shipline(args: &[&str]) -> Output {
    Command::new(service_env("SHIPLINE_BIN"))
        .args(args)
        .env("KUBECONFIG", service_env("KUBECONFIG"))
        .env_remove("POD_NAMESPACE")
        .output()
        .expect("run shipline")
}

/// One loop scenario: a repository whose Deployment has `replicas`, the reconciler's state
/// namespace with the shipped RBAC for `sync`, and a function configured for the loop.
struct Scenario {
    repo: SeededRepo,
    prefix: String,
    ns: String,
    state_ns: String,
    sync: String,
    recorder: Recorder,
    lambda: Lambda,
    function: String,
}

impl Scenario {
    async fn start(replicas: u32) -> Self {
        Self::start_as(replicas, service_env("SHIPLINE_TEST_KUBE_LAMBDA_TOKEN")).await
    }

    /// The same with `token` as the function's bearer token.
    async fn start_as(replicas: u32, token: String) -> Self {
        let client = kube_client().await; // fails loudly when the API server is missing
        let server = GitServer::from_env();
        let prefix = unique_name("loop");
        let ns = unique_name("loop-app");
        let state_ns = unique_name("loop-state");
        let sync = unique_name("loop");
        let image = format!("{REGISTRY}/{prefix}/cart:main-0000000-1 # {{\"$imagepolicy\": \"apps:cart\"}}");
        let files = [
            (
                "shipline.yaml".to_owned(),
                format!(
                    "paths: [overlays]\ncommit: {{authorName: ci, authorEmail: ci@example.invalid}}\npolicies:\n- name: apps:cart\n  image: {REGISTRY}/{prefix}/cart\n  policy: {{branchCommitBuild: {{branch: main}}}}\n"
                ),
            ),
            ("overlays/kustomization.yaml".to_owned(), "resources:\n- ns.yaml\n- cart.yaml\n".to_owned()),
            ("overlays/ns.yaml".to_owned(), format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")),
            (
                "overlays/cart.yaml".to_owned(),
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: cart}}\n  template:\n    metadata:\n      labels: {{app: cart}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"
                ),
            ),
        ];
        let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let repo = server.seed_repo(&prefix, &refs);

        // The shipped RBAC, for this test's namespace and sync, applied by the admin.
        let manifests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/lambda");
        let built = shipline_core::kustomize::build(&manifests).expect("manifests/lambda builds");
        assert!(built.contains("namespace: shipline-system") && built.contains("- shipline-status-apps"), "{built}");
        let rbac = built
            .replace("namespace: shipline-system", &format!("namespace: {state_ns}"))
            .replace("- shipline-status-apps", &format!("- shipline-status-{sync}"));
        let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {state_ns}\n---\n{rbac}");
        let applier = Applier::new(client, "default").await.expect("discovery");
        applier.apply_all(&parse_objects(&namespace).unwrap(), "shipline-test", false).await.expect("apply RBAC");

        let recorder = Recorder::start();
        let (endpoint, ca) = cluster();
        let mut env = function_env(&server, &repo.http_url);
        env.insert("AWS_ENDPOINT_URL_CODEPIPELINE", recorder.url.clone());
        env.insert("SHIPLINE_EKS_ENDPOINT", endpoint);
        env.insert("SHIPLINE_EKS_CA_DATA", ca);
        env.insert("SHIPLINE_KUBE_TOKEN", token);
        env.insert("SHIPLINE_WAIT_NAMESPACE", state_ns.clone());
        let lambda = Lambda::new();
        let function = lambda.create(&env).await;
        Self { repo, prefix, ns, state_ns, sync, recorder, lambda, function }
    }

    fn parameters(&self, tag: &str, timeout: u64) -> String {
        self.parameters_for(&self.sync, tag, timeout)
    }

    fn parameters_for(&self, sync: &str, tag: &str, timeout: u64) -> String {
        json!({"image": format!("{REGISTRY}/{}/cart:{tag}", self.prefix), "waitForSync": sync, "timeoutSeconds": timeout})
            .to_string()
    }

    /// Invokes the job (with `token` as CodePipeline's `continuationToken`) and returns the one
    /// job-result call it made.
    async fn invoke(&self, job: &str, parameters: &str, token: Option<&str>) -> (String, Value) {
        let before = self.recorder.calls().len();
        let mut event = job_event(job, parameters);
        if let Some(token) = token {
            event["CodePipeline.job"]["data"]["continuationToken"] = json!(token);
        }
        let answer = self.lambda.invoke(&self.function, &event).await;
        assert_eq!(answer.function_error, None, "{}", answer.body);
        assert!(!answer.log.contains(&service_env("SHIPLINE_TEST_KUBE_LAMBDA_TOKEN")), "no token in the logs");
        let calls = self.recorder.calls();
        assert_eq!(calls.len(), before + 1, "one job result per invocation: {calls:?}");
        calls[before].clone()
    }

    fn reconcile(&self, timeout: &str) -> Output {
        let path = self.repo.path.display().to_string();
        shipline(&[
            "reconcile",
            "--once",
            "--git",
            &path,
            "--path",
            "overlays",
            "--name",
            &self.sync,
            "--reconciler-namespace",
            &self.state_ns,
            "--timeout",
            timeout,
        ])
    }

    async fn finish(self) {
        self.lambda.delete(&self.function).await;
    }
}

fn token_of(body: &Value) -> String {
    body["continuationToken"].as_str().unwrap_or_else(|| panic!("a continuation token: {body}")).to_owned()
}

#[tokio::test]
async fn closed_loop_succeeds_after_continuations_once_the_reconciler_reports_the_commit_healthy() {
    let s = Scenario::start(0).await;
    let parameters = s.parameters("main-1f49071-24", 600);

    // First invocation: push, look once (nothing recorded yet), keep the job running.
    let (op, first) = s.invoke("job-loop-1", &parameters, None).await;
    assert_eq!(op, "PutJobSuccessResult", "{first}");
    let (commit, _) = head(&s.repo);
    let token = token_of(&first);
    let carried: Value = serde_json::from_str(&token).expect("the token is JSON");
    assert_eq!(carried["commit"], commit.as_str(), "the token carries the pushed commit");
    assert!(first.get("outputVariables").is_none(), "no output variables while waiting: {first}");
    let summary = first["executionDetails"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("waiting for sync") && summary.contains("no status ConfigMap yet"), "{summary}");

    // CodePipeline comes back with the token before the reconciler ran: still waiting.
    let (op, second) = s.invoke("job-loop-1", &parameters, Some(&token)).await;
    assert_eq!(op, "PutJobSuccessResult", "{second}");
    assert_eq!(token_of(&second), token, "the same token again");
    assert_eq!(s.repo.commits_on_main(), 2, "a continuation pushes nothing");

    // The reconciler applies the commit; the Deployment (0 replicas) rolls out.
    let reconciled = s.reconcile("60s");
    assert!(reconciled.status.success(), "reconcile: {}", String::from_utf8_lossy(&reconciled.stderr));
    let (op, last) = s.invoke("job-loop-1", &parameters, Some(&token)).await;
    assert_eq!(op, "PutJobSuccessResult", "{last}");
    assert!(last.get("continuationToken").is_none(), "the job ends: {last}");
    let vars = &last["outputVariables"];
    assert_eq!(vars["commitId"], commit.as_str(), "{last}");
    assert_eq!(vars["revision"], commit.as_str());
    assert_eq!(vars["sync"], s.sync.as_str());
    assert_eq!(vars["status"], "healthy");
    let seconds: u64 = vars["timeToHealthySeconds"].as_str().and_then(|t| t.parse().ok()).expect("seconds");
    assert!(seconds < 600, "{seconds}");
    assert!(last["executionDetails"]["summary"].as_str().unwrap_or_default().contains("applied and healthy"), "{last}");
    s.finish().await;
}

#[tokio::test]
async fn a_later_revision_that_contains_the_commit_completes_the_earlier_job() {
    let s = Scenario::start(0).await;
    // Two pipelines push one after the other before the reconciler runs: it applies only the
    // second commit, which contains the first.
    let first_parameters = s.parameters("main-1f49071-24", 600);
    let (op, first) = s.invoke("job-loop-7", &first_parameters, None).await;
    assert_eq!(op, "PutJobSuccessResult", "{first}");
    let (c1, _) = head(&s.repo);
    let first_token = token_of(&first);
    let (op, second) = s.invoke("job-loop-8", &s.parameters("main-abcdef0-25", 600), None).await;
    assert_eq!(op, "PutJobSuccessResult", "{second}");
    let (c2, _) = head(&s.repo);
    assert_ne!(c1, c2);
    let reconciled = s.reconcile("60s");
    assert!(reconciled.status.success(), "reconcile: {}", String::from_utf8_lossy(&reconciled.stderr));
    let (op, done) = s.invoke("job-loop-7", &first_parameters, Some(&first_token)).await;
    assert_eq!(op, "PutJobSuccessResult", "{done}");
    assert!(done.get("continuationToken").is_none(), "the earlier job ends: {done}");
    assert_eq!(done["outputVariables"]["commitId"], c1.as_str(), "{done}");
    assert_eq!(done["outputVariables"]["revision"], c2.as_str(), "applied as part of the later revision");
    let (op, done) = s.invoke("job-loop-8", &s.parameters("main-abcdef0-25", 600), Some(&token_of(&second))).await;
    assert_eq!((op.as_str(), &done["outputVariables"]["commitId"]), ("PutJobSuccessResult", &json!(c2)), "{done}");
    s.finish().await;
}

#[tokio::test]
async fn closed_loop_fails_naming_the_unhealthy_object() {
    let s = Scenario::start(1).await;
    let parameters = s.parameters("main-1f49071-24", 600);
    let (op, first) = s.invoke("job-loop-2", &parameters, None).await;
    assert_eq!(op, "PutJobSuccessResult", "{first}");
    let token = token_of(&first);
    // No node runs the Pod: the reconciler gives up after its timeout and records why.
    let reconciled = s.reconcile("3s");
    assert!(!reconciled.status.success(), "the reconcile fails on health");
    let (op, failed) = s.invoke("job-loop-2", &parameters, Some(&token)).await;
    assert_eq!(op, "PutJobFailureResult", "{failed}");
    assert_eq!(failed["failureDetails"]["type"], "JobFailed");
    let message = failed["failureDetails"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("Deployment.apps {}/cart", s.ns)), "names the object: {message}");
    assert!(message.contains("HealthCheckFailed") && message.contains("unhealthy"), "{message}");
    s.finish().await;
}

#[tokio::test]
async fn closed_loop_times_out_with_what_it_saw_and_refuses_forged_tokens() {
    let s = Scenario::start(0).await;
    // The seed commit is applied; the job's commit never will be (no reconcile after the push).
    let seeded = head(&s.repo).0;
    let reconciled = s.reconcile("60s");
    assert!(reconciled.status.success(), "reconcile: {}", String::from_utf8_lossy(&reconciled.stderr));
    let parameters = s.parameters("main-1f49071-24", 1);
    let (op, first) = s.invoke("job-loop-3", &parameters, None).await;
    let token = match op.as_str() {
        "PutJobSuccessResult" => token_of(&first),
        _ => String::new(), // the first look already passed the 1-second deadline
    };
    // Poll (bounded) until the deadline has passed.
    let mut result = (op, first);
    for _ in 0..30 {
        if result.0 == "PutJobFailureResult" {
            break;
        }
        result = s.invoke("job-loop-3", &parameters, Some(&token)).await;
    }
    let (op, failed) = result;
    assert_eq!(op, "PutJobFailureResult", "{failed}");
    let message = failed["failureDetails"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("timed out after") && message.contains("timeoutSeconds 1"), "{message}");
    assert!(message.contains(&format!("last seen: applied {}", &seeded[..12])), "what it saw: {message}");

    // Tokens this function did not give: garbage, another sync, a start time in the future.
    let (commit, _) = head(&s.repo);
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let forged = [
        "\u{1b}[31mgarbage".to_owned(),
        json!({"v": 1, "commit": commit, "sync": "another-sync", "started": now}).to_string(),
        json!({"v": 1, "commit": commit, "sync": s.sync, "started": now + 86_400}).to_string(),
        "x".repeat(2048),
    ];
    let commits = s.repo.commits_on_main();
    for token in forged {
        let (op, failed) = s.invoke("job-loop-4", &parameters, Some(&token)).await;
        assert_eq!(op, "PutJobFailureResult", "{failed}");
        let message = failed["failureDetails"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("continuation token is not one this function gave"), "{message}");
        assert!(!message.contains('\u{1b}'), "no control characters echoed: {message:?}");
    }
    assert_eq!(s.repo.commits_on_main(), commits, "a forged token pushes nothing");
    s.finish().await;
}

#[tokio::test]
async fn refused_tokens_and_missing_rbac_fail_the_job_as_permission_errors() {
    // A token the API server does not know (a role mapped to no user): 401.
    let s = Scenario::start_as(0, "not-a-token-of-this-cluster".into()).await;
    let (op, failed) = s.invoke("job-loop-5", &s.parameters("main-1f49071-24", 600), None).await;
    assert_eq!(op, "PutJobFailureResult", "{failed}");
    assert_eq!(failed["failureDetails"]["type"], "PermissionError", "{failed}");
    let message = failed["failureDetails"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("401 Unauthorized") && message.contains("access entry"), "{message}");
    assert!(!message.contains("not-a-token-of-this-cluster"), "the token is not shown: {message}");
    s.finish().await;

    // The right user, a sync the RBAC does not list: 403, with the API server's words.
    let s = Scenario::start(0).await;
    let (op, failed) = s.invoke("job-loop-6", &s.parameters_for("unlisted", "main-1f49071-24", 600), None).await;
    assert_eq!(op, "PutJobFailureResult", "{failed}");
    assert_eq!(failed["failureDetails"]["type"], "PermissionError", "{failed}");
    let message = failed["failureDetails"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("403 Forbidden") && message.contains("shipline-status-unlisted"), "{message}");
    assert!(message.contains("manifests/lambda/rbac.yaml"), "{message}");
    s.finish().await;
}

#[tokio::test]
async fn the_lambda_user_may_read_the_status_configmap_and_nothing_else() {
    let s = Scenario::start(0).await;
    let reconciled = s.reconcile("60s");
    assert!(reconciled.status.success(), "reconcile: {}", String::from_utf8_lossy(&reconciled.stderr));
    let (endpoint, ca) = cluster();
    shipline_core::install_crypto_provider();
    let pem = base64::engine::general_purpose::STANDARD.decode(ca).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .build()
        .unwrap();
    let token = service_env("SHIPLINE_TEST_KUBE_LAMBDA_TOKEN");
    let get = |path: String| {
        let request = http.get(format!("{endpoint}{path}")).bearer_auth(&token);
        async move { request.send().await.expect("GET").status().as_u16() }
    };
    let ns = &s.state_ns;
    assert_eq!(get(format!("/api/v1/namespaces/{ns}/configmaps/shipline-status-{}", s.sync)).await, 200);
    assert_eq!(get(format!("/api/v1/namespaces/{ns}/configmaps/shipline-inventory-{}", s.sync)).await, 403);
    assert_eq!(get(format!("/api/v1/namespaces/{ns}/configmaps")).await, 403, "no list");
    assert_eq!(get(format!("/api/v1/namespaces/{ns}/secrets")).await, 403);
    assert_eq!(get(format!("/apis/apps/v1/namespaces/{}/deployments/cart", s.ns)).await, 403);
    s.finish().await;
}

/// `aws eks get-token`'s token for the same credentials, cluster and second (botocore signs it;
/// its clock is frozen to `epoch`).
fn botocore_token(endpoint: &str, region: &str, cluster: &str, session: &str, epoch: u64) -> String {
    let aws = std::path::PathBuf::from(service_env("SHIPLINE_TEST_AWS_CLI"));
    let python = aws.with_file_name("python");
    let script = r#"
import sys, datetime
from unittest import mock
import botocore.session, botocore.auth
from awscli.customizations.eks.get_token import TokenGenerator, STSClientFactory
endpoint, region, cluster, session_token, epoch = sys.argv[1:6]
when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).replace(tzinfo=None)
session = botocore.session.get_session()
sts = session.create_client('sts', region_name=region, endpoint_url=endpoint, aws_access_key_id='AKIDEXAMPLE',
                            aws_secret_access_key='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', aws_session_token=session_token or None)
STSClientFactory(session)._register_k8s_aws_id_handlers(sts)
with mock.patch.object(botocore.auth, 'get_current_datetime', return_value=when):
    print(TokenGenerator(sts).get_token(cluster))
"#;
    let out = Command::new(&python)
        .args(["-c", script, endpoint, region, cluster, session, &epoch.to_string()])
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(out.status.success(), "botocore: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn query_of(token: &str) -> (String, BTreeMap<String, String>) {
    let body = token.strip_prefix(eks_token::TOKEN_PREFIX).expect("prefix");
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).expect("base64url without padding");
    let url = reqwest::Url::parse(std::str::from_utf8(&url).unwrap()).unwrap();
    let query = url.query_pairs().map(|(k, v)| (k.to_lowercase(), v.into_owned())).collect();
    (format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path()), query)
}

#[test]
fn eks_token_is_the_one_aws_eks_get_token_signs() {
    let epoch = 1_796_081_349;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    for (region, session) in [("us-east-1", ""), ("eu-west-1", "FwoGZXIvYXdzEBY+session/token==")] {
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some(session.to_owned()).filter(|s| !s.is_empty()),
            None,
            "test",
        );
        let endpoint = eks_token::sts_endpoint(region);
        let ours = eks_token::presigned_url(&endpoint, region, "prod-cluster", &credentials, at).unwrap();
        let ours = eks_token::token_from_url(&ours);
        let theirs = botocore_token(&endpoint, region, "prod-cluster", session, epoch);
        assert_eq!(query_of(ours.expose()), query_of(&theirs), "{region}: same URL, same signature");
    }
}

#[tokio::test]
async fn presigned_get_caller_identity_is_answered_by_the_sts_emulator() {
    shipline_core::install_crypto_provider();
    let sts = service_env("SHIPLINE_TEST_MINISTACK_URL");
    let credentials = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let url = eks_token::presigned_url(&sts, "us-east-1", "prod-cluster", &credentials, SystemTime::now()).unwrap();
    // What aws-iam-authenticator's verifier sends: the URL, the cluster header, JSON wanted.
    let response = reqwest::Client::new()
        .get(&url)
        .header(eks_token::CLUSTER_ID_HEADER, "prod-cluster")
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET the presigned URL");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {body}");
    assert!(body.contains("GetCallerIdentity") && body.contains("Arn") && body.contains(ACCOUNT), "{body}");
}
