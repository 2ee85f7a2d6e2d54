//! Candidate tags from ECR (ministack): DescribeImages through the SDK paginator, digests included.

use shipline_e2e::{require_local_aws, unique_name};

#[tokio::test]
async fn list_candidates_lists_every_tag_with_its_digest() {
    require_local_aws();
    let config = shipline_core::aws::load_sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let name = unique_name("cand/app");
    let repo = ecr.create_repository().repository_name(&name).send().await.expect("CreateRepository");
    let uri = repo.repository().and_then(|r| r.repository_uri()).unwrap().to_owned();
    let mut pushed = Vec::new();
    for build in 1..=5 {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                       "digest": format!("sha256:{:064x}", build)},
            "layers": []
        })
        .to_string();
        let tag = format!("main-1f49071-{build}");
        let put = ecr
            .put_image()
            .repository_name(&name)
            .image_manifest(&manifest)
            .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
            .image_tag(&tag)
            .send()
            .await
            .expect("PutImage");
        pushed.push((tag, put.image().and_then(|i| i.image_id()).and_then(|id| id.image_digest()).unwrap().to_owned()));
    }
    // Neither ministack 1.5.33 nor moto 5.2.5 honours maxResults (measured: 5 images with
    // maxResults=2 come back in one page without nextToken), so this checks the listing, digests
    // and the paginator's single-page path; multi-page responses are not exercised here.
    let mut found = shipline_core::image::ecr::list_candidates_paged(&ecr, &uri, Some(2)).await.expect("list");
    found.sort_by(|a, b| a.tag.cmp(&b.tag));
    let found: Vec<(String, String)> = found.into_iter().map(|c| (c.tag, c.digest.unwrap())).collect();
    pushed.sort();
    assert_eq!(found, pushed, "every tag, with its digest");

    let err =
        shipline_core::image::ecr::list_candidates(&ecr, &format!("{uri}-missing")).await.unwrap_err().to_string();
    assert!(err.contains(&format!("{name}-missing")), "{err}");
}
