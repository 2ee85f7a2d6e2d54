//! The Lambda tags too (issue 14, item 9): a push tagged with a bare commit SHA is re-tagged
//! `branch-commit-build` from the CodeBuild build of that commit, and the update runs on the
//! push event of the new tag, once.
//!
//! ECR is ministack's (repositories, `PutImage`, `BatchGetImage`, immutable tags) and the
//! function is the real `bootstrap` in ministack's Lambda. ministack emits no EventBridge event
//! for a `PutImage`, so the test sends the function the event ECR sends for the new tag (same
//! repository, tag and digest) itself.
//!
//! CodeBuild: ministack and moto both serve `ListBuildsForProject` / `BatchGetBuilds`, but
//! neither returns `resolvedSourceVersion` (ministack 1.5.33 `_make_build_record`, moto 5.2.5
//! `CodeBuildProjectMetadata`), the field that ties a build started on a branch to the commit it
//! built. The tests that need such a build point the function's CodeBuild endpoint at
//! [`CodeBuildStandIn`], a small recording server answering those two calls with records shaped
//! like CodeBuild's; what the emulator can describe (a build started on a commit, which names no
//! branch; no build at all) is tested against ministack's CodeBuild.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shipline_e2e::{GitServer, require_local_aws, service_env, unique_name};

use super::http::{Request, respond, serve};
use super::{ACCOUNT, Lambda, REGISTRY, function_env, head, image_of, seed};

const SHA: &str = "1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b";
const OTHER_SHA: &str = "abcdef0123456789abcdef0123456789abcdef01";

/// A recording stand-in for CodeBuild's `ListBuildsForProject` (two pages) and
/// `BatchGetBuilds`, over a fixed list of build records (newest first).
struct CodeBuildStandIn {
    url: String,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl CodeBuildStandIn {
    fn start(builds: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind CodeBuild stand-in");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        serve(listener, move |request: &Request, stream| {
            let op = request.headers.get("x-amz-target").and_then(|t| t.rsplit('.').next()).unwrap_or("").to_owned();
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            seen.lock().unwrap().push((op.clone(), body.clone()));
            let ids: Vec<Value> = builds.iter().map(|b| b["id"].clone()).collect();
            let answer = match op.as_str() {
                // The first page holds one id, the second the rest: the function must follow nextToken.
                "ListBuildsForProject" if body.get("nextToken").is_none() => {
                    json!({"ids": ids[..1], "nextToken": "page-2"})
                }
                "ListBuildsForProject" => json!({"ids": ids[1..]}),
                "BatchGetBuilds" => {
                    let wanted = body["ids"].as_array().cloned().unwrap_or_default();
                    json!({"builds": builds.iter().filter(|b| wanted.contains(&b["id"])).collect::<Vec<_>>()})
                }
                _ => json!({}),
            };
            respond(
                stream,
                "200 OK",
                &[("Content-Type", "application/x-amz-json-1.1".into())],
                answer.to_string().as_bytes(),
            )
            .is_ok()
        });
        Self { url, calls }
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

fn build(project: &str, n: u64, source: &str, resolved: &str, start: u64) -> Value {
    json!({"id": format!("{project}:0000000{n}-uuid"), "arn": format!("arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{project}:{n}"),
           "buildNumber": n, "projectName": project, "sourceVersion": source, "resolvedSourceVersion": resolved,
           "startTime": start as f64, "buildStatus": "SUCCEEDED"})
}

/// Builds of `project`, newest first: another commit's build (on the first page), the newest
/// build of [`SHA`] (number 24) and an older rebuild of it (number 20).
fn builds_of(project: &str) -> Vec<Value> {
    vec![
        build(project, 25, "refs/heads/main", OTHER_SHA, 1_800_000_300),
        build(project, 24, "refs/heads/main", SHA, 1_800_000_200),
        build(project, 20, "refs/heads/main", SHA, 1_800_000_100),
    ]
}

pub(super) async fn ecr() -> aws_sdk_ecr::Client {
    require_local_aws();
    aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await)
}

/// Creates repository `name` and puts a manifest (unique to `seed`) tagged `tag`; returns the
/// manifest's bytes and digest.
pub(super) async fn put_manifest(
    ecr: &aws_sdk_ecr::Client,
    name: &str,
    seed: &str,
    tag: &str,
    create: bool,
) -> (String, String) {
    if create {
        ecr.create_repository().repository_name(name).send().await.expect("CreateRepository");
    }
    let layer = shipline_core::digest::sha256_digest(seed.as_bytes());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": layer, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 2}],
    })
    .to_string();
    let digest = shipline_core::digest::sha256_digest(manifest.as_bytes());
    ecr.put_image()
        .repository_name(name)
        .image_manifest(&manifest)
        .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
        .image_tag(tag)
        .send()
        .await
        .expect("PutImage");
    (manifest, digest)
}

/// The image a tag names: (manifest bytes, media type, digest), or `None`.
async fn image_at(ecr: &aws_sdk_ecr::Client, name: &str, tag: &str) -> Option<(String, String, String)> {
    let got = ecr
        .batch_get_image()
        .repository_name(name)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build())
        .accepted_media_types("application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("BatchGetImage");
    got.images().first().map(|i| {
        (
            i.image_manifest().unwrap_or_default().to_owned(),
            i.image_manifest_media_type().unwrap_or_default().to_owned(),
            i.image_id().and_then(|id| id.image_digest()).unwrap_or_default().to_owned(),
        )
    })
}

fn push(repository: &str, tag: &str, digest: &str) -> Value {
    json!({
        "version": "0", "id": unique_name("event"), "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": ACCOUNT, "time": "2026-11-30T20:30:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": repository, "image-digest": digest,
                   "action-type": "PUSH", "image-tag": tag}
    })
}

async fn function(lambda: &Lambda, server: &GitServer, url: &str, codebuild: &str, project: &str) -> String {
    let mut env = function_env(server, url);
    env.insert("SHIPLINE_RETAG_PROJECTS", project.to_owned());
    env.insert("AWS_ENDPOINT_URL_CODEBUILD", codebuild.to_owned());
    env.insert("AWS_ENDPOINT_URL_ECR", service_env("SHIPLINE_TEST_MINISTACK_URL"));
    lambda.create(&env).await
}

#[tokio::test]
async fn commit_sha_push_is_retagged_then_updated_once_from_the_new_tags_event() {
    let ecr = ecr().await;
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let name = format!("{prefix}/svc-0");
    let (manifest, digest) = put_manifest(&ecr, &name, &name, SHA, true).await;
    let project = unique_name("front-end-build");
    let codebuild = CodeBuildStandIn::start(builds_of(&project));
    let lambda = Lambda::new();
    let function = function(&lambda, &server, &repo.http_url, &codebuild.url, &project).await;
    let new_tag = "main-1f49071-24";

    // The SHA push: re-tagged from build 24 (the newest of that commit), no update.
    let first = lambda.invoke(&function, &push(&name, SHA, &digest)).await;
    assert_eq!(first.function_error, None, "{}", first.body);
    assert_eq!(first.body["status"], "retagged", "{}", first.body);
    assert_eq!(first.body["image"], format!("{name}:{new_tag}"), "{}", first.body);
    let reason = first.body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("{project}:000000024-uuid")) && reason.contains("created"), "{reason}");
    assert_eq!(repo.commits_on_main(), 1, "the SHA event itself updates nothing");
    let (bytes, media_type, tagged) = image_at(&ecr, &name, new_tag).await.expect("the new tag exists");
    assert_eq!((bytes.as_str(), tagged.as_str()), (manifest.as_str(), digest.as_str()), "same manifest bytes");
    assert_eq!(media_type, "application/vnd.oci.image.manifest.v1+json");
    let calls = codebuild.calls();
    let ops: Vec<&str> = calls.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(ops, ["ListBuildsForProject", "ListBuildsForProject", "BatchGetBuilds"], "{calls:?}");
    assert_eq!((&calls[0].1["projectName"], &calls[0].1["sortOrder"]), (&json!(project), &json!("DESCENDING")));
    assert_eq!(calls[1].1["nextToken"], "page-2", "pages are followed");

    // The SHA event again (at-least-once delivery, or a retry): the tag is there, nothing is put.
    let again = lambda.invoke(&function, &push(&name, SHA, &digest)).await;
    assert_eq!(again.body["status"], "retagged", "{}", again.body);
    assert!(again.body["reason"].as_str().unwrap_or_default().contains("already there"), "{}", again.body);
    assert_eq!(repo.commits_on_main(), 1);

    // The event ECR sends for the PutImage: the one update.
    let update = lambda.invoke(&function, &push(&name, new_tag, &digest)).await;
    assert_eq!(update.body["status"], "updated", "{}", update.body);
    assert_eq!(update.body["commit"], head(&repo).0.as_str());
    assert_eq!(image_of(&repo, "svc-0"), format!("{REGISTRY}/{name}:{new_tag}@{digest}"));
    let duplicate = lambda.invoke(&function, &push(&name, new_tag, &digest)).await;
    assert_eq!(duplicate.body["status"], "unchanged", "{}", duplicate.body);
    assert_eq!(repo.commits_on_main(), 2, "exactly one commit for the SHA push");
    lambda.delete(&function).await;
}

#[tokio::test]
async fn retag_onto_an_immutable_tag_of_another_image_names_repository_tag_and_both_digests() {
    let ecr = ecr().await;
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let name = format!("{prefix}/svc-0");
    ecr.create_repository()
        .repository_name(&name)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await
        .expect("CreateRepository");
    let (_, holder) = put_manifest(&ecr, &name, "the image that holds the tag", "main-1f49071-24", false).await;
    let (_, pushed) = put_manifest(&ecr, &name, &name, SHA, false).await;
    let project = unique_name("front-end-build");
    let codebuild = CodeBuildStandIn::start(builds_of(&project));
    let lambda = Lambda::new();
    let function = function(&lambda, &server, &repo.http_url, &codebuild.url, &project).await;

    let answer = lambda.invoke(&function, &push(&name, SHA, &pushed)).await;
    assert_eq!(answer.function_error, None, "a permanent error is not retried: {}", answer.body);
    assert_eq!(answer.body["status"], "failed", "{}", answer.body);
    let reason = answer.body["reason"].as_str().unwrap_or_default();
    for part in [name.as_str(), "main-1f49071-24", &holder, &pushed, "immutable"] {
        assert!(reason.contains(part), "{part} missing from: {reason}");
    }
    assert_eq!(image_at(&ecr, &name, "main-1f49071-24").await.map(|i| i.2), Some(holder), "the tag did not move");
    assert_eq!(repo.commits_on_main(), 1);
    lambda.delete(&function).await;
}

#[tokio::test]
async fn emulator_builds_without_a_branch_or_without_the_commit_are_clear_failures() {
    let ecr = ecr().await;
    let sdk = shipline_core::aws::load_sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let project = unique_name("cart-build");
    use aws_sdk_codebuild::types::*;
    codebuild
        .create_project()
        .name(&project)
        .source(ProjectSource::builder().r#type(SourceType::NoSource).buildspec("version: 0.2").build().unwrap())
        .artifacts(ProjectArtifacts::builder().r#type(ArtifactsType::NoArtifacts).build().unwrap())
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .unwrap(),
        )
        .service_role(format!("arn:aws:iam::{ACCOUNT}:role/codebuild"))
        .send()
        .await
        .expect("CreateProject");
    // A build started on the commit itself: CodeBuild knows the commit, but no branch.
    let started = codebuild.start_build().project_name(&project).source_version(SHA).send().await.expect("StartBuild");
    let build_id = started.build_value().and_then(|b| b.id()).expect("build id").to_owned();

    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let name = format!("{prefix}/svc-0");
    let (_, digest) = put_manifest(&ecr, &name, &name, SHA, true).await;
    let lambda = Lambda::new();
    let function =
        function(&lambda, &server, &repo.http_url, &service_env("SHIPLINE_TEST_MINISTACK_URL"), &project).await;

    let no_branch = lambda.invoke(&function, &push(&name, SHA, &digest)).await;
    assert_eq!(no_branch.body["status"], "failed", "{}", no_branch.body);
    let reason = no_branch.body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&build_id) && reason.contains("names no branch"), "{reason}");

    let (_, other) = put_manifest(&ecr, &name, "another commit", OTHER_SHA, false).await;
    let no_build = lambda.invoke(&function, &push(&name, OTHER_SHA, &other)).await;
    assert_eq!(no_build.body["status"], "failed", "{}", no_build.body);
    let reason = no_build.body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(OTHER_SHA) && reason.contains(&project), "{reason}");

    let tags = ecr.list_images().repository_name(&name).send().await.expect("ListImages");
    let mut tags: Vec<&str> = tags.image_ids().iter().filter_map(|i| i.image_tag()).collect();
    tags.sort_unstable();
    assert_eq!(tags, [SHA, OTHER_SHA], "no tag was put");
    assert_eq!(repo.commits_on_main(), 1);
    lambda.delete(&function).await;
}
