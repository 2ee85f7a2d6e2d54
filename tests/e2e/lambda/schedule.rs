//! The schedule (issue 14, item 7): the function, run with the payload the template's EventBridge
//! Scheduler schedule sends, updates every policy from the tags ministack's ECR lists, and agrees
//! with the push-event path (never backwards, no second commit for the same image).

use serde_json::{Value, json};
use shipline_e2e::{GitServer, service_env, unique_name};

use super::retag::{ecr, put_manifest};
use super::{ACCOUNT, Lambda, REGISTRY, function_env, image_of, seed};

fn push(repository: &str, tag: &str, digest: &str) -> Value {
    json!({
        "version": "0", "id": unique_name("event"), "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": ACCOUNT, "time": "2026-11-30T21:30:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": repository, "image-digest": digest,
                   "action-type": "PUSH", "image-tag": tag}
    })
}

#[tokio::test]
async fn scheduled_scan_catches_lost_events_and_agrees_with_the_event_path() {
    let ecr = ecr().await;
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let name = format!("{prefix}/svc-0");
    let (_, old) = put_manifest(&ecr, &name, "build 3", "main-1f49071-3", true).await;
    let (_, newest) = put_manifest(&ecr, &name, "build 5", "main-abcdef0-5", false).await;
    put_manifest(&ecr, &name, "latest", "latest", false).await;
    let lambda = Lambda::new();
    let mut env = function_env(&server, &repo.http_url);
    env.insert("AWS_ENDPOINT_URL_ECR", service_env("SHIPLINE_TEST_MINISTACK_URL"));
    let function = lambda.create(&env).await;
    let scan: Value = serde_json::from_str(shipline_lambda_scan_payload()).unwrap();

    // No event was seen for either build: the schedule rolls out the newest.
    let first = lambda.invoke(&function, &scan).await;
    assert_eq!(first.function_error, None, "{}", first.body);
    assert_eq!(first.body["status"], "updated", "{}", first.body);
    assert_eq!(image_of(&repo, "svc-0"), format!("{REGISTRY}/{name}:main-abcdef0-5@{newest}"));
    assert_eq!(repo.commits_on_main(), 2);

    // The events arriving late change nothing, nor does the schedule again.
    for (event, status) in [
        (push(&name, "main-abcdef0-5", &newest), "unchanged"),
        (push(&name, "main-1f49071-3", &old), "unchanged"),
        (scan.clone(), "unchanged"),
    ] {
        let answer = lambda.invoke(&function, &event).await;
        assert_eq!(answer.body["status"], status, "{event}: {}", answer.body);
    }
    assert_eq!(repo.commits_on_main(), 2, "one commit for build 5, whichever path saw it first");

    // A newer build whose push event was lost: the next run catches it.
    let (_, six) = put_manifest(&ecr, &name, "build 6", "main-0123456-6", false).await;
    let caught = lambda.invoke(&function, &scan).await;
    assert_eq!(caught.body["status"], "updated", "{}", caught.body);
    assert_eq!(image_of(&repo, "svc-0"), format!("{REGISTRY}/{name}:main-0123456-6@{six}"));
    assert_eq!(repo.commits_on_main(), 3);
    lambda.delete(&function).await;
}

/// The payload the template's schedule sends (kept equal to `events::SCAN_PAYLOAD`, which
/// `template_schedule_sends_the_scan_payload` checks against the template).
fn shipline_lambda_scan_payload() -> &'static str {
    r#"{"shipline":"scan"}"#
}

#[test]
fn template_schedule_sends_the_scan_payload() {
    let template =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambda/template.yaml"))
            .expect("read the template");
    assert!(template.contains(&format!("Input: '{}'", shipline_lambda_scan_payload())), "the schedule's Input");
}
