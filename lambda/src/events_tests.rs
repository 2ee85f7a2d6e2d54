use serde_json::json;

use super::*;

const DIGEST: &str = "sha256:0b5c1c1a4e9ce3ab7f31fd5a4d9c3b1e6c0d8c2b0e8c6f6f1a2b3c4d5e6f7a8b";

fn ecr(detail: Value) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "region": "us-east-1", "detail": detail
    })
}

fn push(tag: Value) -> Value {
    ecr(json!({
        "result": "SUCCESS", "repository-name": "team/front-end", "image-digest": DIGEST,
        "action-type": "PUSH", "image-tag": tag
    }))
}

fn job(user_parameters: Value) -> Value {
    json!({"CodePipeline.job": {
        "id": "11111111-abcd-1111-abcd-111111111111", "accountId": "123456789012",
        "data": {
            "actionConfiguration": {"configuration": {"FunctionName": "shipline", "UserParameters": user_parameters}},
            "artifactCredentials": {"accessKeyId": "AKIA", "secretAccessKey": "secret", "sessionToken": "token"}
        }
    }})
}

#[test]
fn ecr_push_is_parsed_and_handled() {
    let Event::Ecr(action) = parse(&push(json!("main-1f49071-24"))).unwrap() else { panic!("not ECR") };
    assert_eq!(
        action.image().unwrap(),
        ImageSpec {
            repository: "team/front-end".into(),
            account: Some("123456789012".into()),
            tag: "main-1f49071-24".into(),
            digest: Some(DIGEST.into()),
        }
    );
}

#[test]
fn ecr_ignore_table() {
    let cases = [
        (
            json!({"action-type": "DELETE", "result": "SUCCESS", "repository-name": "a", "image-tag": "t"}),
            Ignored::NotAPush("DELETE".into()),
        ),
        (
            json!({"action-type": "PUSH", "result": "FAILURE", "repository-name": "a", "image-tag": "t"}),
            Ignored::NotSuccessful("FAILURE".into()),
        ),
        (json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "a"}), Ignored::Untagged),
        (
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "a", "image-tag": ""}),
            Ignored::Untagged,
        ),
        (
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "a", "image-tag": null}),
            Ignored::Untagged,
        ),
    ];
    for (detail, want) in cases {
        let Event::Ecr(action) = parse(&ecr(detail.clone())).unwrap() else { panic!("not ECR") };
        assert_eq!(action.image().unwrap_err(), want, "{detail}");
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn malformed_events_name_the_field() {
    let long = "a".repeat(300);
    let cases: Vec<(Value, &str)> = vec![
        (json!([1, 2]), "payload"),
        (json!("text"), "payload"),
        (json!({"source": "aws.s3", "detail-type": "Object Created"}), "payload"),
        (json!({}), "payload"),
        (json!({"source": "aws.ecr", "detail-type": "ECR Image Action"}), "detail"),
        (ecr(json!("push")), "detail"),
        (ecr(json!({"result": "SUCCESS", "repository-name": "a"})), "detail.action-type"),
        (ecr(json!({"action-type": 1, "result": "SUCCESS", "repository-name": "a"})), "detail.action-type"),
        (ecr(json!({"action-type": "PUSH", "repository-name": "a"})), "detail.result"),
        (ecr(json!({"action-type": "PUSH", "result": "SUCCESS"})), "detail.repository-name"),
        (ecr(json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": long})), "detail.repository-name"),
        (
            ecr(json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "Upper"})),
            "detail.repository-name",
        ),
        (
            ecr(json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "a", "image-tag": ["t"]})),
            "detail.image-tag",
        ),
        (
            ecr(json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "a", "image-tag": "-bad"})),
            "detail.image-tag",
        ),
        (
            ecr(json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "a", "image-digest": "md5"})),
            "detail.image-digest",
        ),
        (json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "account": 12, "detail": {}}), "account"),
        (json!({"CodePipeline.job": []}), "CodePipeline.job"),
        (json!({"CodePipeline.job": {}}), "CodePipeline.job.id"),
        (json!({"CodePipeline.job": {"id": "a b"}}), "CodePipeline.job.id"),
        (job(json!({"image": "x"})), "CodePipeline.job.data.actionConfiguration.configuration.UserParameters"),
        (job(json!("x".repeat(1001))), "CodePipeline.job.data.actionConfiguration.configuration.UserParameters"),
    ];
    for (event, field) in cases {
        let err = parse(&event).unwrap_err();
        assert_eq!(err.field, field, "{event}: {err}");
    }
}

#[test]
fn huge_and_invalid_bytes_are_refused() {
    let huge = vec![b' '; MAX_EVENT_BYTES + 1];
    assert!(parse_slice(&huge).unwrap_err().problem.contains("limit"));
    assert!(parse_slice(b"{not json").unwrap_err().problem.starts_with("not JSON"));
    let big_tag = push(json!("t".repeat(200_000)));
    assert_eq!(parse_slice(big_tag.to_string().as_bytes()).unwrap_err().field, "detail.image-tag");
    let deep = "[".repeat(100_000);
    assert!(parse_slice(deep.as_bytes()).is_err(), "deep nesting is refused by serde_json's recursion limit");
}

#[test]
fn jobs_are_parsed_without_their_credentials() {
    let Event::Job(parsed) = parse(&job(json!(r#"{"image": "reg/app:v1"}"#))).unwrap() else { panic!("not a job") };
    assert_eq!(parsed.id, "11111111-abcd-1111-abcd-111111111111");
    assert_eq!(parsed.user_parameters.as_deref(), Some(r#"{"image": "reg/app:v1"}"#));
    assert!(!format!("{parsed:?}").contains("secret"));
    let Event::Job(bare) = parse(&json!({"CodePipeline.job": {"id": "abc-1"}})).unwrap() else { panic!() };
    assert_eq!(bare.user_parameters, None);
}

#[test]
fn user_parameters_table() {
    let spec = |repository: &str, tag: &str, digest: Option<&str>| ImageSpec {
        repository: repository.into(),
        account: None,
        tag: tag.into(),
        digest: digest.map(Into::into),
    };
    let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app";
    let ok = [
        (format!(r#"{{"image": "{uri}:main-1f49071-24"}}"#), spec(uri, "main-1f49071-24", None)),
        (format!(r#"{{"image": "{uri}:v1@{DIGEST}"}}"#), spec(uri, "v1", Some(DIGEST))),
        (
            format!(r#"{{"image": "localhost:4566/app:v2", "imageDigest": "{DIGEST}"}}"#),
            spec("localhost:4566/app", "v2", Some(DIGEST)),
        ),
        (
            r#"{"repositoryName": "team/app", "imageTag": "main-1f49071-24"}"#.to_owned(),
            spec("team/app", "main-1f49071-24", None),
        ),
    ];
    for (text, want) in ok {
        assert_eq!(parse_user_parameters(Some(&text)).unwrap(), want, "{text}");
    }
    let bad = [
        (None, "UserParameters"),
        (Some(""), "UserParameters"),
        (Some("not json"), "UserParameters"),
        (Some("[1]"), "UserParameters"),
        (Some(r#"{"image": 5}"#), "UserParameters.image"),
        (Some(r#"{"image": "localhost:4566/app"}"#), "UserParameters.image"),
        (Some(r#"{"image": ":v1"}"#), "UserParameters.image"),
        (Some(r#"{"image": "app:v1@nope"}"#), "UserParameters.image"),
        (Some(r#"{"repositoryName": "app"}"#), "UserParameters.imageTag"),
        (Some(r#"{"imageTag": "v1"}"#), "UserParameters.repositoryName"),
        (Some(r#"{"repositoryName": "app", "imageTag": "v 1"}"#), "UserParameters.imageTag"),
    ];
    for (text, field) in bad {
        let err = parse_user_parameters(text).unwrap_err();
        assert_eq!(err.field, field, "{text:?}: {err}");
    }
}

#[test]
fn the_schedule_payload_is_a_scan_and_nothing_else_is() {
    let payload: Value = serde_json::from_str(SCAN_PAYLOAD).unwrap();
    assert_eq!(parse(&payload), Ok(Event::Scan));
    let cases = [
        (json!({"shipline": "scna"}), "shipline: expected \"scan\", got \"scna\""),
        (json!({"shipline": 1}), "shipline: expected \"scan\", got a number"),
        (json!({"shipline": "x".repeat(10_000)}), "shipline: expected \"scan\""),
    ];
    for (event, want) in cases {
        let err = parse(&event).unwrap_err().to_string();
        assert!(err.starts_with(want) && err.len() < 120, "{err}");
    }
}

#[test]
fn the_template_schedule_sends_the_scan_payload() {
    let template = include_str!("../template.yaml");
    assert!(template.contains(&format!("Input: '{SCAN_PAYLOAD}'")), "the schedule's Input is SCAN_PAYLOAD");
}

#[test]
fn continuation_tokens_and_wait_parameters() {
    let mut event = job(json!(r#"{"image": "reg/app:v1", "waitForSync": "apps", "timeoutSeconds": 600}"#));
    event["CodePipeline.job"]["data"]["continuationToken"] = json!("{\"v\":1}");
    let Event::Job(parsed) = parse(&event).unwrap() else { panic!("not a job") };
    assert_eq!(parsed.continuation_token.as_deref(), Some("{\"v\":1}"));
    let wait = parse_wait_parameters(parsed.user_parameters.as_deref()).unwrap();
    assert_eq!(wait, WaitParameters { sync: Some("apps".into()), timeout_seconds: Some(600) });
    assert_eq!(parse_user_parameters(parsed.user_parameters.as_deref()).unwrap().tag, "v1", "the image still parses");
    assert_eq!(parse_wait_parameters(Some(r#"{"image": "reg/app:v1"}"#)).unwrap(), WaitParameters::default());
    assert_eq!(parse_wait_parameters(None).unwrap(), WaitParameters::default());

    event["CodePipeline.job"]["data"]["continuationToken"] = json!("x".repeat(MAX_CONTINUATION_TOKEN_LEN + 1));
    let err = parse(&event).unwrap_err();
    assert_eq!(err.field, "CodePipeline.job.data.continuationToken");
    event["CodePipeline.job"]["data"]["continuationToken"] = json!(42);
    assert!(parse(&event).unwrap_err().problem.contains("expected a string"));

    let cases = [
        (r#"{"waitForSync": "Apps"}"#, "UserParameters.waitForSync"),
        (r#"{"waitForSync": ""}"#, "UserParameters.waitForSync"),
        (r#"{"waitForSync": 5}"#, "UserParameters.waitForSync"),
        (r#"{"timeoutSeconds": 0}"#, "got 0"),
        (r#"{"timeoutSeconds": 99999}"#, "got 99999"),
        (r#"{"timeoutSeconds": "600"}"#, "got a string"),
        (r#"{"timeoutSeconds": 1.5}"#, "got 1.5"),
    ];
    for (text, want) in cases {
        let err = parse_wait_parameters(Some(text)).unwrap_err();
        assert!(err.to_string().contains(want), "{text}: {err}");
    }
}
