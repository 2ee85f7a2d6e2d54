//! Tag context from CodeBuild (ministack: sequential build numbers) and CodePipeline (moto).

use shipline_core::image::ci_context;
use shipline_e2e::{require_local_aws, unique_name};

#[tokio::test]
async fn codebuild_build_numbers_and_sources() {
    require_local_aws();
    let sdk = shipline_core::aws::load_sdk_config().await;
    let codebuild = aws_sdk_codebuild::Client::new(&sdk);
    let project = unique_name("shop-build");
    codebuild
        .create_project()
        .name(&project)
        .source(
            aws_sdk_codebuild::types::ProjectSource::builder()
                .r#type(aws_sdk_codebuild::types::SourceType::NoSource)
                .buildspec("version: 0.2")
                .build()
                .unwrap(),
        )
        .artifacts(
            aws_sdk_codebuild::types::ProjectArtifacts::builder()
                .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(
            aws_sdk_codebuild::types::ProjectEnvironment::builder()
                .r#type(aws_sdk_codebuild::types::EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
                .build()
                .unwrap(),
        )
        .service_role("arn:aws:iam::123456789012:role/codebuild")
        .send()
        .await
        .expect("CreateProject");
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let build = codebuild
            .start_build()
            .project_name(&project)
            .source_version("refs/heads/main")
            .send()
            .await
            .expect("StartBuild");
        let id = build.build_value().and_then(|b| b.id()).expect("build id").to_owned();
        let vars = ci_context::codebuild_variables(&codebuild, &id).await.expect("BatchGetBuilds");
        assert!(vars["CODEBUILD_BUILD_ARN"].contains(&project), "{vars:?}");
        numbers.push(vars["CODEBUILD_BUILD_NUMBER"].parse::<u64>().expect("a build number"));
    }
    assert_eq!(numbers[1], numbers[0] + 1, "sequential build numbers: {numbers:?}");

    let err = ci_context::codebuild_variables(&codebuild, &format!("{project}:00000000-0000-0000-0000-000000000000"))
        .await
        .unwrap_err();
    assert!(matches!(err, ci_context::CiContextError::NoSuchBuild(_)), "{err}");
}

#[tokio::test]
async fn codepipeline_source_branch() {
    require_local_aws();
    use aws_sdk_codepipeline::types::*;
    let sdk = shipline_core::aws::load_sdk_config().await;
    let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);
    let name = unique_name("shop-pipeline");
    // moto checks that CodePipeline may assume the role: create it through moto's IAM query API
    // (no IAM SDK crate is a dependency for this one call).
    let role = unique_name("codepipeline");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    shipline_core::install_crypto_provider();
    let url = reqwest::Url::parse_with_params(
        &format!("{}/", shipline_e2e::service_env("SHIPLINE_TEST_MOTO_URL")),
        &[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", role.as_str()),
            ("AssumeRolePolicyDocument", trust),
        ],
    )
    .unwrap();
    let created = reqwest::Client::new()
        .post(url)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send()
        .await
        .expect("moto IAM");
    assert!(created.status().is_success(), "CreateRole on moto: {}", created.text().await.unwrap_or_default());
    let action = |stage: &str, category: ActionCategory, provider: &str, config: &[(&str, &str)]| {
        let mut a = ActionDeclaration::builder().name(format!("{stage}Action")).action_type_id(
            ActionTypeId::builder()
                .category(category)
                .owner(ActionOwner::Aws)
                .provider(provider)
                .version("1")
                .build()
                .unwrap(),
        );
        for (k, v) in config {
            a = a.configuration(*k, *v);
        }
        if stage == "Source" {
            a = a.output_artifacts(OutputArtifact::builder().name("src").build().unwrap());
        } else {
            a = a.input_artifacts(InputArtifact::builder().name("src").build().unwrap());
        }
        StageDeclaration::builder().name(stage).actions(a.build().unwrap()).build().unwrap()
    };
    let pipeline = PipelineDeclaration::builder()
        .name(&name)
        .role_arn(format!("arn:aws:iam::123456789012:role/{role}"))
        .artifact_store(ArtifactStore::builder().r#type(ArtifactStoreType::S3).location("artifacts").build().unwrap())
        .stages(action(
            "Source",
            ActionCategory::Source,
            "CodeCommit",
            &[("RepositoryName", "shop"), ("BranchName", "release/2.0")],
        ))
        .stages(action("Build", ActionCategory::Build, "CodeBuild", &[("ProjectName", "shop-build")]))
        .build()
        .unwrap();
    codepipeline.create_pipeline().pipeline(pipeline).send().await.expect("CreatePipeline on moto");
    let branch = ci_context::pipeline_branch(&codepipeline, &name).await.expect("GetPipeline");
    assert_eq!(branch.as_deref(), Some("refs/heads/release/2.0"));
    let err = ci_context::pipeline_branch(&codepipeline, "absent-pipeline").await.unwrap_err();
    assert!(err.to_string().contains("absent-pipeline"), "{err}");
}
