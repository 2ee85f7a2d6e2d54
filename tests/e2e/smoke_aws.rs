//! The AWS emulators answer the SDK through the standard endpoint variables: ECR in ministack,
//! CodeBuild in ministack, CodePipeline in moto.

use base64::Engine as _;
use shipline_e2e::{require_local_aws, unique_name};

#[tokio::test]
async fn ecr_in_ministack_creates_describes_and_authorizes() {
    require_local_aws();
    let config = shipline_core::aws::load_sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let name = unique_name("smoke/app");
    let created = ecr.create_repository().repository_name(&name).send().await.expect("CreateRepository on ministack");
    let uri = created.repository().and_then(|r| r.repository_uri()).expect("repository URI").to_owned();
    assert!(uri.ends_with(&name), "{uri}");

    let described = ecr.describe_repositories().repository_names(&name).send().await.expect("DescribeRepositories");
    assert_eq!(described.repositories().len(), 1);
    assert_eq!(described.repositories()[0].repository_name(), Some(name.as_str()));

    let missing = ecr.describe_repositories().repository_names(unique_name("absent")).send().await;
    let err = missing.expect_err("unknown repository must be an error");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_repository_not_found_exception()),
        "expected RepositoryNotFoundException, got {err:?}"
    );

    let auth = ecr.get_authorization_token().send().await.expect("GetAuthorizationToken");
    let token = auth.authorization_data()[0].authorization_token().expect("token");
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).expect("base64")).unwrap();
    assert!(decoded.starts_with("AWS:"), "ECR tokens are AWS:<password>, got a token of {} bytes", decoded.len());
}

#[tokio::test]
async fn codebuild_in_ministack_and_codepipeline_in_moto_answer() {
    require_local_aws();
    let config = shipline_core::aws::load_sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&config);
    let absent = unique_name("absent-build");
    let builds =
        codebuild.batch_get_builds().ids(format!("{absent}:0")).send().await.expect("BatchGetBuilds on ministack");
    assert!(builds.builds().is_empty(), "an unknown build id returns no build");

    let codepipeline = aws_sdk_codepipeline::Client::new(&config);
    let err =
        codepipeline.get_pipeline().name(unique_name("absent-pipeline")).send().await.expect_err("unknown pipeline");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_pipeline_not_found_exception()),
        "expected PipelineNotFoundException from moto, got {err:?}"
    );
}
