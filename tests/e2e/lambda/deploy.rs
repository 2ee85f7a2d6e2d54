//! Deployment check (issue 14, item 8): `lambda/template.yaml` deployed as a user would, into
//! ministack's CloudFormation (zip in S3, function, EventBridge rule, queue, role, invoke
//! config), with the AWS CLI from the test venv.
//!
//! What the emulator can and cannot do, and so what this covers:
//! - Covered: the stack creates; the function runs the zip (`provided.al2023`, `bootstrap`);
//!   the rule's pattern matches an ECR push event (`TestEventPattern`) and not a `DELETE`, and
//!   targets the function with the queue as its dead-letter queue; an ECR push event invoked the
//!   way EventBridge invokes Lambda (asynchronously) commits to the test git server; a malformed
//!   event fails three times (two retries) and lands in the queue through the on-failure
//!   destination, with the error; with `ScanSchedule` set, the EventBridge Scheduler schedule
//!   targets the function with the scan payload.
//! - Not covered: EventBridge delivering an `aws.ecr` event to the function. ministack refuses
//!   `PutEvents` with an `aws.*` source (`NotAuthorizedForSourceException`, as AWS does) and its
//!   ECR emits no events, so no ECR-shaped event can be put on the bus.
//! - Adapted: the template points the function at CodeCommit with IAM auth; ministack has no
//!   CodeCommit git endpoint, so after deploying, the test sets the function's git variables to
//!   the test git server (`UpdateFunctionConfiguration`), as the only change.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shipline_e2e::{GitServer, require_local_aws, service_env, unique_name};

use super::{ACCOUNT, DIGEST, REGISTRY, bootstrap_zip, function_env, image_of, seed};

/// Runs the AWS CLI against ministack; returns its JSON answer.
fn aws(args: &[&str]) -> Value {
    let out = Command::new(service_env("SHIPLINE_TEST_AWS_CLI"))
        .args([
            "--endpoint-url",
            &service_env("SHIPLINE_TEST_MINISTACK_URL"),
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .output()
        .expect("run the AWS CLI from the test venv");
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("aws {args:?}: {e}"))
}

/// Polls `probe` every 200 ms until it gives a value or `limit` passes.
fn poll<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ecr_event(repository: &str, tag: &str, action: &str) -> Value {
    json!({
        "version": "0", "id": unique_name("event"), "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": ACCOUNT, "time": "2026-11-30T21:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": repository, "image-digest": DIGEST,
                   "action-type": action, "image-tag": tag}
    })
}

#[test]
fn template_deploys_and_the_function_commits_and_dead_letters() {
    require_local_aws();
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("function.zip");
    std::fs::write(&zip, bootstrap_zip()).unwrap();
    let bucket = unique_name("shipline-code").to_lowercase();
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    aws(&["s3api", "put-object", "--bucket", &bucket, "--key", "function.zip", "--body", &zip.display().to_string()]);

    let stack = unique_name("shipline");
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambda/template.yaml");
    let repository = format!("{prefix}/svc-0");
    aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        &stack,
        "--capabilities",
        "CAPABILITY_IAM",
        "--template-body",
        &format!("file://{}", template.display()),
        "--parameters",
        &format!("ParameterKey=CodeS3Bucket,ParameterValue={bucket}"),
        "ParameterKey=CodeS3Key,ParameterValue=function.zip",
        "ParameterKey=CodeCommitRepositoryName,ParameterValue=microservices",
        &format!("ParameterKey=EcrRepositoryNames,ParameterValue={repository}"),
        "ParameterKey=ScanSchedule,ParameterValue=rate(15 minutes)",
    ]);
    let described = poll("the stack", Duration::from_secs(60), || {
        let d = aws(&["cloudformation", "describe-stacks", "--stack-name", &stack]);
        let status = d["Stacks"][0]["StackStatus"].as_str().unwrap_or_default().to_owned();
        (!status.ends_with("IN_PROGRESS")).then_some(d)
    });
    let stack_info = &described["Stacks"][0];
    assert_eq!(stack_info["StackStatus"], "CREATE_COMPLETE", "{described}");
    let output = |key: &str| {
        stack_info["Outputs"]
            .as_array()
            .and_then(|o| o.iter().find(|x| x["OutputKey"] == key))
            .and_then(|x| x["OutputValue"].as_str())
            .unwrap_or_else(|| panic!("output {key}: {stack_info}"))
            .to_owned()
    };
    let (function, queue, rule) = (output("FunctionArn"), output("DeadLetterQueueUrl"), output("EcrPushRuleArn"));

    // The function as deployed: the runtime, and the CodeCommit URL the template gives it.
    let config = aws(&["lambda", "get-function-configuration", "--function-name", &function]);
    assert_eq!(config["Runtime"], "provided.al2023");
    assert_eq!(config["Environment"]["Variables"]["SHIPLINE_GIT_AUTH"], "iam");
    assert!(
        config["Environment"]["Variables"]["SHIPLINE_GIT_URL"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/v1/repos/microservices")
    );

    // The rule: its pattern takes a push of the named repository and not a DELETE; it targets
    // the function, with the queue for what it cannot deliver.
    let rule_name = rule.rsplit('/').next().unwrap_or_default();
    let pattern =
        aws(&["events", "describe-rule", "--name", rule_name])["EventPattern"].as_str().unwrap_or_default().to_owned();
    for (event, want) in
        [(ecr_event(&repository, "main-1f49071-24", "PUSH"), true), (ecr_event(&repository, "x", "DELETE"), false)]
    {
        let tested = aws(&["events", "test-event-pattern", "--event-pattern", &pattern, "--event", &event.to_string()]);
        assert_eq!(tested["Result"], want, "{event}");
    }
    let targets = aws(&["events", "list-targets-by-rule", "--rule", rule_name]);
    assert_eq!(targets["Targets"][0]["Arn"], function.as_str(), "{targets}");
    let queue_arn = aws(&["sqs", "get-queue-attributes", "--queue-url", &queue, "--attribute-names", "QueueArn"])["Attributes"]["QueueArn"].clone();
    assert_eq!(targets["Targets"][0]["DeadLetterConfig"]["Arn"], queue_arn, "{targets}");

    // The schedule (item 7) sends the scan payload to the function. (Whether ministack's
    // Scheduler fires it is not tested: the scan itself is, in `schedule.rs`, by invoking.)
    let resources = aws(&["cloudformation", "describe-stack-resources", "--stack-name", &stack]);
    let schedule = resources["StackResources"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["LogicalResourceId"] == "ScanScheduleResource"))
        .and_then(|x| x["PhysicalResourceId"].as_str())
        .unwrap_or_else(|| panic!("the schedule resource: {resources}"))
        .to_owned();
    let schedule = aws(&["scheduler", "get-schedule", "--name", &schedule]);
    assert_eq!(schedule["ScheduleExpression"], "rate(15 minutes)");
    assert_eq!(schedule["Target"]["Arn"], function.as_str(), "{schedule}");
    assert_eq!(schedule["Target"]["Input"], r#"{"shipline":"scan"}"#, "{schedule}");

    // The only adaptation: the test git server instead of CodeCommit.
    let mut variables = config["Environment"]["Variables"].as_object().cloned().unwrap_or_default();
    for (k, v) in function_env(&server, &repo.http_url) {
        variables.insert(k.to_owned(), Value::String(v));
    }
    aws(&[
        "lambda",
        "update-function-configuration",
        "--function-name",
        &function,
        "--environment",
        &json!({"Variables": variables}).to_string(),
    ]);

    // An ECR push, invoked as EventBridge invokes Lambda (asynchronously): the commit lands.
    let payload = work.path().join("push.json");
    std::fs::write(&payload, ecr_event(&repository, "main-1f49071-24", "PUSH").to_string()).unwrap();
    // As EventBridge invokes Lambda: asynchronously ("Event"), the payload from a file.
    let invoke_async = |payload: &std::path::Path, out: &str| {
        aws(&[
            "lambda",
            "invoke",
            "--function-name",
            &function,
            "--invocation-type",
            "Event",
            "--payload",
            &format!("fileb://{}", payload.display()),
            &work.path().join(out).display().to_string(),
        ])
    };
    let invoked = invoke_async(&payload, "out.json");
    assert_eq!(invoked["StatusCode"], 202);
    poll("the commit on the test git server", Duration::from_secs(60), || (repo.commits_on_main() == 2).then_some(()));
    assert_eq!(image_of(&repo, "svc-0"), format!("{REGISTRY}/{repository}:main-1f49071-24@{DIGEST}"));

    // A malformed event: retried twice, then the queue, with the error.
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, json!({"source": "aws.ecr", "detail-type": "ECR Image Action"}).to_string()).unwrap();
    invoke_async(&bad, "out2.json");
    let message = poll("the dead letter", Duration::from_secs(60), || {
        let got = aws(&["sqs", "receive-message", "--queue-url", &queue, "--wait-time-seconds", "1"]);
        got["Messages"][0]["Body"].as_str().map(str::to_owned)
    });
    let record: Value = serde_json::from_str(&message).expect("a destination record");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted", "{record}");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3, "two retries: {record}");
    assert_eq!(record["responsePayload"]["errorType"], "Shipline.Permanent", "{record}");
    assert!(
        record["responsePayload"]["errorMessage"].as_str().unwrap_or_default().contains("detail: missing"),
        "{record}"
    );
    assert_eq!(repo.commits_on_main(), 2, "the malformed event committed nothing");

    aws(&["cloudformation", "delete-stack", "--stack-name", &stack]);
}
