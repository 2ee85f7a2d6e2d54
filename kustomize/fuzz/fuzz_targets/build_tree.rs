//! Fuzz target: any input must build or fail with an `Error`, never panic, overflow the stack
//! or exhaust memory (YAML alias bombs, deep nesting).
//!
//! The input is split on the first two `\n%%\n` separators into up to three files:
//! `kustomization.yaml`, `res.yaml` and `patch.yaml`. With no separator the input is the
//! resource file, built under a fixed kustomization that runs most transformers over it.
//!
//! Run: `cargo +nightly fuzz run build_tree fuzz/seeds/build_tree` from `kustomize/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

const DEFAULT_KUSTOMIZATION: &str = "resources:\n- res.yaml\nnamePrefix: p-\nnameSuffix: -s\nnamespace: ns\n\
commonLabels:\n  app: x\ncommonAnnotations:\n  note: y\nimages:\n- name: nginx\n  newTag: \"1.2\"\n\
replicas:\n- name: web\n  count: 3\npatches:\n- path: patch.yaml\n  target:\n    kind: Deployment\n";

const DEFAULT_PATCH: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, "\n%%\n");
    let first = parts.next().unwrap_or_default();
    let (kustomization, resource, patch) = match (parts.next(), parts.next()) {
        (None, _) => (DEFAULT_KUSTOMIZATION, first, DEFAULT_PATCH),
        (Some(r), None) => (first, r, DEFAULT_PATCH),
        (Some(r), Some(p)) => (first, r, p),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization).expect("write");
    std::fs::write(dir.path().join("res.yaml"), resource).expect("write");
    std::fs::write(dir.path().join("patch.yaml"), patch).expect("write");
    let _ = shipline_kustomize::build(dir.path());
});
