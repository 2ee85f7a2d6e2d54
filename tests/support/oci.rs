//! Test images written as OCI layouts and `docker save` archives, made here from random bytes so
//! no registry or daemon is needed to get them.

use std::path::Path;

use serde_json::json;

use shipline_core::digest::sha256_hex;

/// Deterministic pseudo-random bytes (xorshift), so layers differ per seed.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn put_blob(dir: &Path, data: &[u8]) -> (String, u64) {
    let hex = sha256_hex(data);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&hex), data).unwrap();
    (format!("sha256:{hex}"), data.len() as u64)
}

/// Writes one platform's image (config + `layers` layers of `layer_size` bytes) into the layout's
/// blobs; returns the manifest descriptor.
fn image(dir: &Path, seed: u64, arch: &str, layers: usize, layer_size: usize) -> serde_json::Value {
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let data = pseudo_random(seed * 1000 + i as u64, layer_size);
        let (digest, size) = put_blob(dir, &data);
        diff_ids.push(digest.clone());
        layer_descs
            .push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}));
    }
    let config =
        json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}});
    let (config_digest, config_size) = put_blob(dir, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layer_descs,
    });
    let (digest, size) = put_blob(dir, &serde_json::to_vec(&manifest).unwrap());
    json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
           "platform": {"architecture": arch, "os": "linux"}})
}

fn finish(dir: &Path, top: serde_json::Value) -> String {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#).unwrap();
    let mut top = top;
    top.as_object_mut().unwrap().remove("platform");
    let digest = top["digest"].as_str().unwrap().to_owned();
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digest
}

/// A single-platform OCI layout; returns the manifest digest.
pub fn single_arch_layout(dir: &Path, seed: u64, layers: usize, layer_size: usize) -> String {
    let desc = image(dir, seed, "amd64", layers, layer_size);
    finish(dir, desc)
}

/// A two-platform (amd64, arm64) OCI layout whose top is an index; returns the index digest.
pub fn multi_arch_layout(dir: &Path, seed: u64) -> String {
    let amd = image(dir, seed, "amd64", 2, 4096);
    let arm = image(dir, seed + 1, "arm64", 2, 4096);
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm]});
    let (digest, size) = put_blob(dir, &serde_json::to_vec(&index).unwrap());
    finish(dir, json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size}))
}

/// A legacy `docker save` archive (manifest.json, config, uncompressed layer tars).
pub fn docker_archive(path: &Path, seed: u64, layers: usize, layer_size: usize) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    };
    let mut layer_names = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let data = pseudo_random(seed * 1000 + i as u64, layer_size);
        let name = format!("layer{i}/layer.tar");
        diff_ids.push(format!("sha256:{}", sha256_hex(&data)));
        add(&name, &data);
        layer_names.push(name);
    }
    let config = serde_json::to_vec(
        &json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}),
    )
    .unwrap();
    let config_name = format!("{}.json", sha256_hex(&config));
    add(&config_name, &config);
    let manifest = json!([{"Config": config_name, "RepoTags": ["app:latest"], "Layers": layer_names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    builder.finish().unwrap();
}
