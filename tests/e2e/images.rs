//! Pushing and re-tagging images against real registries: Debian's docker-registry with basic
//! auth (strict about missing blobs; skopeo reads the result back) and ministack's ECR (API and
//! `/v2` on one store).

use std::process::Command;

use shipline_core::image::ecr_images::{self, EcrImageError, ImageSelector, TagOutcome};
use shipline_core::image::oci::{self, layout};
use shipline_core::image::push::{self, PushOptions};
use shipline_core::image::registry::{RegistryAuth, RegistryClient, RepositoryAddress};
use shipline_core::secret::Secret;
use shipline_e2e::{Registry, cutting_proxy, oci as images, require_local_aws, service_env, unique_name};

fn registry_client(reg: &Registry, name: &str) -> RegistryClient {
    let address = RepositoryAddress::parse(&format!("http://{}/{name}", reg.host)).unwrap();
    let auth = RegistryAuth::Basic { username: reg.user.clone(), password: Secret::new(reg.password.clone()) };
    RegistryClient::new(address, auth).unwrap()
}

fn options(tags: &[&str]) -> PushOptions {
    PushOptions { tags: tags.iter().map(|t| t.to_string()).collect(), concurrency: 4, mount_from: None }
}

/// `skopeo inspect` of an image on the test registry: (digest skopeo computes from the raw
/// manifest it fetched, the Digest field it reports).
fn skopeo_digests(reg: &Registry, reference: &str) -> (String, String) {
    let run = |raw: bool| {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--tls-verify=false", "--creds", &format!("{}:{}", reg.user, reg.password)]);
        if raw {
            cmd.arg("--raw");
        }
        let out = cmd.arg(format!("docker://{}/{reference}", reg.host)).output().expect("skopeo is installed");
        assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let raw_digest = shipline_core::digest::sha256_digest(&run(true));
    let inspected: serde_json::Value = serde_json::from_slice(&run(false)).unwrap();
    (raw_digest, inspected["Digest"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn push_oci_layout_then_repush_uploads_nothing() {
    let reg = Registry::from_env();
    let dir = tempfile::tempdir().unwrap();
    let digest = images::single_arch_layout(dir.path(), 1, 3, 64 * 1024);
    let bundle = layout::read_dir(dir.path(), None).unwrap();
    assert_eq!(bundle.top.digest, digest);
    let name = unique_name("push/app");
    let client = registry_client(&reg, &name);

    let first = push::push(&client, &bundle, &options(&["v1", "main-1f49071-1"]), &|_| {}).await.expect("push");
    assert_eq!((first.uploaded, first.present), (4, 0), "3 layers and the config");
    assert_eq!(first.digest, digest);
    assert_eq!(
        skopeo_digests(&reg, &format!("{name}:v1")),
        (digest.clone(), digest.clone()),
        "skopeo reads the same digest"
    );

    let again = push::push(&client, &bundle, &options(&["v1"]), &|_| {}).await.expect("re-push");
    assert_eq!((again.uploaded, again.uploaded_bytes, again.present), (0, 0, 4), "re-push uploads no blob");
}

#[tokio::test]
async fn push_multi_arch_index_keeps_its_digest() {
    let reg = Registry::from_env();
    let dir = tempfile::tempdir().unwrap();
    let digest = images::multi_arch_layout(dir.path(), 10);
    let bundle = layout::read_dir(dir.path(), None).unwrap();
    assert_eq!(bundle.children.len(), 2);
    let name = unique_name("push/multi");
    let report = push::push(&registry_client(&reg, &name), &bundle, &options(&["v1"]), &|_| {}).await.expect("push");
    assert_eq!(report.digest, digest);
    assert_eq!(skopeo_digests(&reg, &format!("{name}:v1")).0, digest);
}

#[tokio::test]
async fn push_docker_archive() {
    let reg = Registry::from_env();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    images::docker_archive(&archive, 20, 2, 32 * 1024);
    let bundle = oci::archive::read_docker_archive(&archive, None).unwrap();
    let name = unique_name("push/archive");
    let report = push::push(&registry_client(&reg, &name), &bundle, &options(&["v1"]), &|_| {}).await.expect("push");
    assert_eq!(report.uploaded, 3);
    assert_eq!(skopeo_digests(&reg, &format!("{name}:v1")).1, report.digest);
}

#[tokio::test]
async fn interrupted_push_leaves_no_tag_and_a_retry_succeeds() {
    let reg = Registry::from_env();
    let dir = tempfile::tempdir().unwrap();
    images::single_arch_layout(dir.path(), 30, 4, 256 * 1024);
    let bundle = layout::read_dir(dir.path(), None).unwrap();
    let name = unique_name("push/interrupted");

    // The registry "dies" after 300 KiB of a 1 MiB push.
    let target: std::net::SocketAddr = reg.host.parse().unwrap();
    let proxy = cutting_proxy(target, 300 * 1024).await;
    let via_proxy = Registry { host: proxy.to_string(), ..reg.clone() };
    let err = push::push(&registry_client(&via_proxy, &name), &bundle, &options(&["v1"]), &|_| {}).await.unwrap_err();
    assert!(err.to_string().contains(&name), "the error names the repository: {err}");

    let direct = registry_client(&reg, &name);
    assert_eq!(direct.get_manifest("v1").await.unwrap(), None, "no tag points at a half-pushed image");
    let report = push::push(&direct, &bundle, &options(&["v1"]), &|_| {}).await.expect("retry");
    assert_eq!(report.uploaded + report.present, 5);
    assert!(direct.get_manifest("v1").await.unwrap().is_some());
}

#[tokio::test]
async fn registry_errors_name_registry_and_repository() {
    let reg = Registry::from_env();
    let dir = tempfile::tempdir().unwrap();
    images::single_arch_layout(dir.path(), 40, 1, 1024);
    let bundle = layout::read_dir(dir.path(), None).unwrap();
    let bad = Registry { password: "wrong".into(), ..reg.clone() };
    let err = push::push(&registry_client(&bad, "denied/app"), &bundle, &options(&["v1"]), &|_| {}).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&reg.host) && msg.contains("denied/app") && msg.contains("401"), "{msg}");
    assert!(!err.is_transient(), "4xx is not retried");
}

async fn ecr() -> aws_sdk_ecr::Client {
    require_local_aws();
    aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await)
}

/// A registry client for an ECR repository URI, talking to ministack's `/v2` with the
/// credentials GetAuthorizationToken hands out.
async fn ministack_client(ecr: &aws_sdk_ecr::Client, uri: &str) -> RegistryClient {
    let (auth, _) = ecr_images::registry_auth(ecr, uri).await.expect("GetAuthorizationToken");
    let mut address = RepositoryAddress::parse(uri).unwrap();
    address.base = service_env("SHIPLINE_TEST_MINISTACK_URL");
    RegistryClient::new(address, auth).unwrap()
}

/// Pushes a layout to ministack's registry as `tag`; returns the repository URI and the digest.
async fn push_to_ministack(
    ecr: &aws_sdk_ecr::Client,
    name: &str,
    layout_dir: &std::path::Path,
    tag: &str,
    immutable: bool,
) -> (String, String) {
    let mut create = ecr.create_repository().repository_name(name);
    if immutable {
        create = create.image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable);
    }
    let uri = create.send().await.expect("CreateRepository").repository().unwrap().repository_uri().unwrap().to_owned();
    let bundle = layout::read_dir(layout_dir, None).unwrap();
    let report = push::push(&ministack_client(ecr, &uri).await, &bundle, &options(&[tag]), &|_| {})
        .await
        .expect("push to ministack");
    (uri, report.digest)
}

#[tokio::test]
async fn ecr_retag_keeps_a_multi_arch_index_and_is_idempotent() {
    let ecr = ecr().await;
    let dir = tempfile::tempdir().unwrap();
    let index_digest = images::multi_arch_layout(dir.path(), 50);
    let name = unique_name("retag/multi");
    let (uri, pushed) = push_to_ministack(&ecr, &name, dir.path(), "1f49071c2e5d", false).await;
    assert_eq!(pushed, index_digest);

    let new_tags = vec!["main-1f49071-24".to_owned()];
    let report =
        ecr_images::retag(&ecr, &uri, &ImageSelector::Tag("1f49071c2e5d".into()), &new_tags).await.expect("retag");
    assert_eq!(report.digest, index_digest, "the index digest is kept");
    assert_eq!(report.media_type, oci::OCI_INDEX);
    assert_eq!(report.tags, vec![("main-1f49071-24".to_owned(), TagOutcome::Created)]);

    let got = ecr
        .batch_get_image()
        .repository_name(&name)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("main-1f49071-24").build())
        .send()
        .await
        .unwrap();
    let manifest = got.images()[0].image_manifest().unwrap();
    assert_eq!(
        shipline_core::digest::sha256_digest(manifest.as_bytes()),
        index_digest,
        "exact manifest bytes under the new tag"
    );

    let again = ecr_images::retag(&ecr, &uri, &ImageSelector::Digest(index_digest.clone()), &new_tags)
        .await
        .expect("retag again");
    assert_eq!(again.tags, vec![("main-1f49071-24".to_owned(), TagOutcome::AlreadyThere)], "idempotent");

    let err = ecr_images::retag(&ecr, &uri, &ImageSelector::Tag("absent".into()), &new_tags).await.unwrap_err();
    assert!(matches!(err, EcrImageError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(&name), "{err}");
}

#[tokio::test]
async fn ecr_retag_onto_an_immutable_tag_of_another_image_is_a_clear_error() {
    let ecr = ecr().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    images::single_arch_layout(a.path(), 60, 1, 1024);
    images::single_arch_layout(b.path(), 61, 1, 1024);
    let name = unique_name("retag/immutable");
    let (uri, digest_a) = push_to_ministack(&ecr, &name, a.path(), "taken", true).await;
    let bundle_b = layout::read_dir(b.path(), None).unwrap();
    let digest_b =
        push::push(&ministack_client(&ecr, &uri).await, &bundle_b, &options(&["other"]), &|_| {}).await.unwrap().digest;

    let err =
        ecr_images::retag(&ecr, &uri, &ImageSelector::Tag("other".into()), &["taken".to_owned()]).await.unwrap_err();
    assert!(matches!(err, EcrImageError::TagTaken { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("taken") && text.contains(&name), "{err}");
    assert!(text.contains(&digest_a) && text.contains(&digest_b), "both digests are named: {err}");
}

#[tokio::test]
async fn cross_repository_mount_skips_uploads() {
    let reg = Registry::from_env();
    let dir = tempfile::tempdir().unwrap();
    images::single_arch_layout(dir.path(), 70, 3, 16 * 1024);
    let bundle = layout::read_dir(dir.path(), None).unwrap();
    let source = unique_name("mount/source");
    push::push(&registry_client(&reg, &source), &bundle, &options(&["v1"]), &|_| {}).await.expect("push source");
    let target = unique_name("mount/target");
    let opts = PushOptions { tags: vec!["v1".into()], concurrency: 4, mount_from: Some(source) };
    let report = push::push(&registry_client(&reg, &target), &bundle, &opts, &|_| {}).await.expect("push with mount");
    assert_eq!((report.mounted, report.uploaded), (4, 0), "every blob mounted, none uploaded");
    assert_eq!(skopeo_digests(&reg, &format!("{target}:v1")).1, bundle.top.digest);
}
