//! `shipline push` and `shipline retag` dry runs and input errors: no registry, no AWS account.

use std::path::Path;
use std::process::{Command, Output};

fn shipline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shipline")).args(args).current_dir(dir).output().expect("run shipline")
}

fn sha256(data: &[u8]) -> String {
    use std::fmt::Write;
    // A tiny SHA-256 is not worth a dependency here: use the system's sha256sum.
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut s = String::new();
    write!(s, "{}", String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap()).unwrap();
    s
}

/// A one-layer OCI layout; returns the manifest digest.
fn layout(dir: &Path) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let hex = sha256(data);
        std::fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let (layer, layer_size) = put(b"layer bytes");
    let (config, config_size) = put(br#"{"architecture":"amd64","os":"linux"}"#);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (digest, size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size}}}]}}"#),
    )
    .unwrap();
    digest
}

#[test]
fn push_dry_run_lists_the_plan_and_contacts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let digest = layout(&dir.path().join("img"));
    // An unroutable registry: a dry run must not try it.
    let out = shipline(
        dir.path(),
        &["push", "--dry-run", "--oci-layout", "img", "--repository", "registry.invalid/app", "--tag", "v1"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("would push {digest} (2 blobs, ")), "{text}");
    assert!(text.contains("to registry.invalid/app as v1"), "{text}");
}

#[test]
fn push_input_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    layout(&dir.path().join("img"));
    std::fs::remove_file(dir.path().join("img/oci-layout")).unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["push", "--dry-run", "--oci-layout", "img", "--repository", "h/app", "--tag", "v1"], "no oci-layout file"),
        (&["push", "--dry-run", "--oci-layout", "missing", "--repository", "h/app", "--tag", "v1"], "missing"),
        (&["push", "--dry-run", "--docker-archive", "nope.tar", "--repository", "h/app", "--tag", "v1"], "nope.tar"),
    ];
    for (args, want) in cases {
        let out = shipline(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn retag_dry_run_and_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipline(
        dir.path(),
        &["retag", "--dry-run", "--repository", "front-end", "--tag", "1f49071c2e5d", "--new-tag", "main-1f49071-24"],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("BatchGetImage repository=front-end tag 1f49071c2e5d"), "{text}");
    assert!(text.contains("PutImage repository=front-end imageTag=main-1f49071-24"), "{text}");

    let out =
        shipline(dir.path(), &["retag", "--dry-run", "--repository", "r", "--digest", "sha256:xyz", "--new-tag", "v1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--digest \"sha256:xyz\""));
    let out = shipline(dir.path(), &["retag", "--dry-run", "--repository", "r", "--tag", "a", "--new-tag", "bad tag"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--new-tag \"bad tag\""));
}
