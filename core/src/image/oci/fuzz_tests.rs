//! The OCI archive reader's fuzz target, run as a bounded property test inside `cargo test` on
//! stable Rust: a valid `docker save` archive (legacy and OCI forms) mutated byte by byte, and
//! tar headers with hostile names and sizes, read by [`super::archive::read_docker_archive`].
//! The body must give a bundle or an error, never a panic, and never allocate what a header
//! merely claims.

use proptest::prelude::*;

use super::archive::read_docker_archive;

fn add(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, data).expect("append");
}

/// A small legacy `docker save` archive: one layer, its config, `manifest.json`.
fn seed_archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let layer = b"layer bytes".repeat(40);
    let diff_id = super::sha256_digest(&layer);
    add(&mut b, "layer0/layer.tar", &layer);
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{diff_id}\"]}}}}"
    );
    add(&mut b, "config.json", config.as_bytes());
    add(
        &mut b,
        "manifest.json",
        br#"[{"Config":"config.json","RepoTags":["app:latest"],"Layers":["layer0/layer.tar"]}]"#,
    );
    b.into_inner().expect("finish")
}

/// The fuzz body.
fn archive_body(bytes: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("image.tar");
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    match read_docker_archive(&path, None) {
        Ok(bundle) => {
            assert!(bundle.top.digest.starts_with("sha256:"));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_archive_mutated(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
        let mut bytes = seed_archive();
        for (at, b) in edits {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        let _ = archive_body(&bytes);
    }

    #[test]
    fn fuzz_archive_names(name in "\\PC{0,80}", manifest_name in prop::sample::select(vec!["manifest.json", "./manifest.json", "index.json"])) {
        let mut b = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        let _ = header.set_path(&name);
        header.set_cksum();
        let _ = b.append(&header, &b"{}"[..]);
        add(&mut b, manifest_name, format!("[{{\"Config\":{name:?},\"Layers\":[]}}]").as_bytes());
        let _ = archive_body(&b.into_inner().expect("finish"));
    }
}

#[test]
fn the_seed_archive_reads_and_a_lying_size_is_refused_without_allocating_it() {
    // Positive control: the unmutated seed is a valid image.
    archive_body(&seed_archive()).expect("seed reads");
    // A manifest.json whose header claims 1 TiB but whose data is missing: an error.
    let mut header = tar::Header::new_gnu();
    header.set_path("manifest.json").unwrap();
    header.set_size(1 << 40);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0; 1024]);
    assert!(archive_body(&bytes).is_err());
    // One that is really larger than metadata may be (65 MiB, a sparse file): refused by its size
    // before a buffer of that size is made.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.tar");
    let size = crate::safe_fs::MAX_FILE_BYTES + (1 << 20);
    header.set_size(size);
    header.set_cksum();
    std::fs::write(&path, header.as_bytes()).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(512 + size + 1024).unwrap();
    let err = read_docker_archive(&path, None).unwrap_err().to_string();
    assert!(err.contains("\"manifest.json\" claims") && err.contains("67108864 bytes"), "{err}");
}
