//! The `build_tree` fuzz target (`fuzz/fuzz_targets/build_tree.rs`) run on stable Rust inside
//! `cargo test`, bounded: every seed of `fuzz/seeds/build_tree/` as it is, then mutated byte by
//! byte (insert, delete, replace, splice) by a fixed-seed generator, so CI runs the same cases
//! every time. `SHIPLINE_FUZZ_CASES` raises the count for a longer local run. The body is the
//! fuzz target's: any input builds or fails with an `Error`, never a panic.

use std::path::Path;

const DEFAULT_KUSTOMIZATION: &str = "resources:\n- res.yaml\nnamePrefix: p-\nnameSuffix: -s\nnamespace: ns\n\
commonLabels:\n  app: x\ncommonAnnotations:\n  note: y\nimages:\n- name: nginx\n  newTag: \"1.2\"\n\
replicas:\n- name: web\n  count: 3\npatches:\n- path: patch.yaml\n  target:\n    kind: Deployment\n";

const DEFAULT_PATCH: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx\n";

/// The fuzz target's body, over one scratch directory.
fn build_tree(dir: &Path, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, "\n%%\n");
    let first = parts.next().unwrap_or_default();
    let (kustomization, resource, patch) = match (parts.next(), parts.next()) {
        (None, _) => (DEFAULT_KUSTOMIZATION, first, DEFAULT_PATCH),
        (Some(r), None) => (first, r, DEFAULT_PATCH),
        (Some(r), Some(p)) => (first, r, p),
    };
    std::fs::write(dir.join("kustomization.yaml"), kustomization).expect("write");
    std::fs::write(dir.join("res.yaml"), resource).expect("write");
    std::fs::write(dir.join("patch.yaml"), patch).expect("write");
    let _ = shipline_kustomize::build(dir);
}

/// xorshift64*: a fixed-seed generator, so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\n\r\t #:{}[]\"'&*!|>-$@.\\%0";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        let byte = if rng.below(2) == 0 { INTERESTING[rng.below(INTERESTING.len())] } else { rng.next() as u8 };
        match rng.below(4) {
            0 => data.insert(at, byte),
            1 if at < data.len() => {
                data.remove(at);
            }
            2 if at < data.len() => data[at] = byte,
            _ => {
                // Splice: repeat a slice of the input somewhere else (grows structure, anchors).
                let from = rng.below(data.len());
                let len = rng.below(64).min(data.len() - from.min(data.len()));
                let piece = data[from..from + len].to_vec();
                data.splice(at..at, piece);
            }
        }
    }
    data
}

#[test]
fn build_tree_fuzz_body_over_mutated_seeds() {
    let seeds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/build_tree");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&seeds_dir)
        .unwrap_or_else(|e| panic!("the fuzz seeds must be at {}: {e}", seeds_dir.display()))
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read seed"))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "expected the seed corpus, found {} files", seeds.len());
    let cases: usize = std::env::var("SHIPLINE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("tempdir");
    for seed in &seeds {
        build_tree(dir.path(), seed);
    }
    let mut rng = Rng(0x005e_ed0f_b01d_7ee5);
    for _ in 0..cases {
        let seed = &seeds[rng.below(seeds.len())];
        build_tree(dir.path(), &mutate(&mut rng, seed));
    }
}
