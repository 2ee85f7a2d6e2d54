//! Benchmark: push a 50 MB, 5-layer image to the local registry (Debian docker-registry, basic
//! auth) cold, compared with `skopeo copy` of the same OCI layout in the same run; re-push; and
//! ECR re-tag time for a small and a large image (ministack). Needs the test services
//! (`tests/services/ctl.sh up`, then `source /tmp/shipline-services/env`).
//!
//! `cargo bench -p shipline-e2e --bench push` prints figures; it asserts correctness only.

use std::process::Command;
use std::time::{Duration, Instant};

use shipline_core::image::ecr_images::{self, ImageSelector};
use shipline_core::image::oci::layout;
use shipline_core::image::push::{self, PushOptions};
use shipline_core::image::registry::{RegistryAuth, RegistryClient, RepositoryAddress};
use shipline_core::secret::Secret;
use shipline_e2e::{Registry, oci as images, service_env, unique_name};

const LAYER: usize = 10 * 1024 * 1024;

fn client(reg: &Registry, name: &str) -> RegistryClient {
    let address = RepositoryAddress::parse(&format!("http://{}/{name}", reg.host)).unwrap();
    RegistryClient::new(
        address,
        RegistryAuth::Basic { username: reg.user.clone(), password: Secret::new(reg.password.clone()) },
    )
    .unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let reg = Registry::from_env();
    // Every push gets layers the registry has never seen, and skopeo a fresh HOME (its blob-info
    // cache would otherwise mount blobs from earlier pushes): both are truly cold.
    let layout_of = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        images::single_arch_layout(dir.path(), seed, 5, LAYER);
        dir
    };
    let run_seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() * 100;
    let dir = layout_of(run_seed);
    let bundle = layout::read_dir(dir.path(), None).unwrap();
    println!("image: 5 layers x {} MiB = {} bytes", LAYER / (1024 * 1024), bundle.blob_bytes());
    let opts = PushOptions { tags: vec!["v1".into()], concurrency: 4, mount_from: None };

    let (mut ours, mut skopeo, mut repush) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3u64 {
        let ours_dir = layout_of(run_seed + 10 + round);
        let bundle = layout::read_dir(ours_dir.path(), None).unwrap();
        let name = unique_name(&format!("bench/ours{round}"));
        let c = client(&reg, &name);
        let t = Instant::now();
        let report = push::push(&c, &bundle, &opts, &|_| {}).await.expect("push");
        ours.push(t.elapsed());
        assert_eq!(report.uploaded, 6);

        let t = Instant::now();
        let report = push::push(&c, &bundle, &opts, &|_| {}).await.expect("re-push");
        repush.push(t.elapsed());
        assert_eq!(report.uploaded, 0);

        let skopeo_dir = layout_of(run_seed + 50 + round);
        let home = tempfile::tempdir().unwrap();
        let name = unique_name(&format!("bench/skopeo{round}"));
        let t = Instant::now();
        let status = Command::new("skopeo")
            .env("HOME", home.path())
            .args([
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--dest-creds",
                &format!("{}:{}", reg.user, reg.password),
            ])
            .arg(format!("oci:{}", skopeo_dir.path().display()))
            .arg(format!("docker://{}/{name}:v1", reg.host))
            .status()
            .expect("skopeo");
        skopeo.push(t.elapsed());
        assert!(status.success());
    }
    let (ours, skopeo, repush) = (median(ours), median(skopeo), median(repush));
    for concurrency in [1, 2, 8] {
        let fresh = layout_of(run_seed + 90 + concurrency as u64);
        let bundle = layout::read_dir(fresh.path(), None).unwrap();
        let name = unique_name("bench/concurrency");
        let t = Instant::now();
        let o = PushOptions { tags: vec!["v1".into()], concurrency, mount_from: None };
        push::push(&client(&reg, &name), &bundle, &o, &|_| {}).await.expect("push");
        println!("cold push, shipline, concurrency {concurrency}: {:?}", t.elapsed());
    }
    let t = Instant::now();
    for (size, source) in bundle.blobs.values() {
        let mut r = shipline_core::image::oci::archive::open_source(source, *size).unwrap();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = std::io::Read::read(&mut r, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
        }
        ctx.finish();
    }
    println!("read + sha256 of all blobs, one thread: {:?}", t.elapsed());
    println!("cold push, shipline:   {ours:?} (median of 3)");
    println!("cold push, skopeo copy: {skopeo:?} (median of 3)");
    println!("ratio shipline/skopeo: {:.2}", ours.as_secs_f64() / skopeo.as_secs_f64());
    println!("re-push (all present): {repush:?} (median of 3)");

    // Re-tag cost must not depend on image size: one manifest round-trip.
    let ecr = aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await);
    for (label, layers, size) in [("1 KiB image", 1usize, 1024usize), ("50 MiB image", 5, LAYER)] {
        let d = tempfile::tempdir().unwrap();
        images::single_arch_layout(d.path(), 99 + size as u64, layers, size);
        let b = layout::read_dir(d.path(), None).unwrap();
        let name = unique_name("bench/retag");
        let uri = ecr
            .create_repository()
            .repository_name(&name)
            .send()
            .await
            .unwrap()
            .repository()
            .unwrap()
            .repository_uri()
            .unwrap()
            .to_owned();
        let mut address = RepositoryAddress::parse(&uri).unwrap();
        address.base = service_env("SHIPLINE_TEST_MINISTACK_URL");
        let (auth, _) = ecr_images::registry_auth(&ecr, &uri).await.unwrap();
        let c = RegistryClient::new(address, auth).unwrap();
        push::push(&c, &b, &PushOptions { tags: vec!["src".into()], concurrency: 4, mount_from: None }, &|_| {})
            .await
            .unwrap();
        let mut times = Vec::new();
        for i in 0..5 {
            let t = Instant::now();
            ecr_images::retag(&ecr, &uri, &ImageSelector::Tag("src".into()), &[format!("main-1f49071-{}", i + 1)])
                .await
                .unwrap();
            times.push(t.elapsed());
        }
        println!("ECR retag, {label}: {:?} (median of 5)", median(times));
    }
}
