//! The reconciler image assembled by `scripts/build-image.sh` (no Docker): reproducible, what it
//! holds and what it leaves out.
//!
//! CI assembles it from the debug `shipline` (`SHIPLINE_BIN`) to save the ~10-minute fat-LTO
//! release link; the README recommends the release binary, which the same script takes.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::support::{build_reconciler_image, shipline_bin};

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).expect("blob")
}

#[test]
fn reconciler_image_is_reproducible_non_root_and_has_no_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let first = build_reconciler_image(&shipline_bin(), &a);
    let second = build_reconciler_image(&shipline_bin(), &b);
    assert_eq!(first["digest"], second["digest"], "same inputs, same manifest digest");
    eprintln!(
        "reconciler image (from {}): {} , {} bytes compressed, {} bytes unpacked; Debian packages: {}",
        shipline_bin().display(),
        first["digest"],
        first["layer_bytes"],
        first["uncompressed_bytes"],
        first["debian_packages"]
    );

    let index: Value = serde_json::from_slice(&std::fs::read(a.join("index.json")).unwrap()).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(&a, index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: Value = serde_json::from_slice(&blob(&a, manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/shipline"]));
    let packages = config["config"]["Labels"]["dev.shipline.debian-packages"].as_str().unwrap_or_default();
    assert!(packages.contains("libc6=") && packages.contains("ca-certificates="), "{packages}");

    let layer = blob(&a, manifest["layers"][0]["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(gunzip(&layer));
    let mut paths = Vec::new();
    for entry in archive.entries().expect("tar") {
        let entry = entry.expect("entry");
        assert_eq!((entry.header().uid().unwrap(), entry.header().gid().unwrap()), (0, 0));
        assert_eq!(entry.header().mtime().unwrap(), 0, "timestamps are SOURCE_DATE_EPOCH (0)");
        paths.push(entry.path().unwrap().display().to_string());
    }
    for needed in ["shipline", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "usr/lib/x86_64-linux-gnu/libc.so.6"]
    {
        assert!(paths.iter().any(|p| p == needed), "{needed} missing from {paths:?}");
    }
    assert!(paths.iter().any(|p| p.ends_with("ld-linux-x86-64.so.2")), "the loader: {paths:?}");
    for absent in ["bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/dpkg", "usr/bin/apt"] {
        assert!(!paths.iter().any(|p| p == absent), "{absent} must not be in the image");
    }
    // Every shared library the binary links is there (ldd of the binary the image was built from).
    let ldd = std::process::Command::new("ldd").arg(shipline_bin()).output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines().filter(|l| l.contains("=> /")) {
        let soname = line.split_whitespace().next().unwrap();
        assert!(paths.iter().any(|p| p.ends_with(&format!("/{soname}"))), "{soname} missing from the image");
    }
}

/// gunzip with the standard library only: the layer is read by `python3 -c` (zlib), keeping
/// the e2e crate's dependencies as they are.
fn gunzip(gz: &[u8]) -> std::io::Cursor<Vec<u8>> {
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let data = gz.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).expect("read");
    writer.join().unwrap().expect("write");
    assert!(child.wait().unwrap().success(), "gunzip");
    std::io::Cursor::new(out)
}
