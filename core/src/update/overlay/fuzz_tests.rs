//! The marker/edit fuzz target, run as a bounded property test inside `cargo test` on stable
//! Rust: seed files (`core/fuzz-seeds/marker_edit/`) mutated byte by byte (insert, delete,
//! replace, splice), each fed to the marker grammar and the editor. The body is what a
//! libFuzzer target would run; proptest drives it for a fixed number of cases so CI time is
//! bounded (`PROPTEST_CASES` raises it for a longer local run).

use proptest::prelude::*;

use super::{Target, Updates, edit_file};
use crate::image::ImageRef;
use crate::update::overlay::marker::{MarkerParse, parse_marker};

const SEEDS: [&str; 3] = [
    include_str!("../../../fuzz-seeds/marker_edit/deployment.yaml"),
    include_str!("../../../fuzz-seeds/marker_edit/kustomization.yaml"),
    include_str!("../../../fuzz-seeds/marker_edit/odd.yaml"),
];

fn updates() -> Updates {
    let image = ImageRef::parse("reg.example/new:v2").expect("valid");
    let mut u = Updates::default();
    u.by_policy.insert(crate::update::overlay::PolicyRef::parse("ns:app").expect("valid"), image.clone());
    u.by_image_name.insert("app".into(), image);
    u
}

/// The fuzz body: any text gives an edit or an error, never a panic; a successful edit is a
/// fixed point (editing its output again changes nothing) and leaves the text unchanged when
/// it reports no change.
pub(crate) fn marker_edit_body(text: &str) {
    for line in text.lines() {
        if let Some((_, comment)) = line.split_once('#')
            && let MarkerParse::Invalid(reason) = parse_marker(comment)
        {
            assert!(!reason.is_empty());
        }
    }
    let allow = |_: &Target, _: &str, _: &str| true;
    let updates = updates();
    for with_images in [false, true] {
        if let Ok(edit) = edit_file(text, &updates, with_images, &allow) {
            if edit.changes.is_empty() {
                assert_eq!(edit.text, text, "no change reported, text changed");
            }
            let again = edit_file(&edit.text, &updates, with_images, &allow).expect("an edited file edits again");
            assert_eq!(again.text, edit.text, "edits are idempotent");
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Splice(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(b"\n\r\t #:{}[]\"'&*!|>-$@.\\\x00\x1b".to_vec());
    let byte = prop_oneof![interesting, any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(a, b, c)| Mutation::Splice(a, b, c)),
    ]
}

fn mutate(seed: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for m in mutations {
        let n = bytes.len().max(1);
        match *m {
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            Mutation::Replace(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Mutation::Splice(from, len, to) if !bytes.is_empty() => {
                let start = from % n;
                let end = (start + len % 64).min(bytes.len());
                let piece = bytes[start..end].to_vec();
                let at = to % (bytes.len() + 1);
                bytes.splice(at..at, piece);
            }
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_marker_edit(seed in 0..SEEDS.len(), mutations in prop::collection::vec(mutation(), 0..8)) {
        let bytes = mutate(SEEDS[seed], &mutations);
        marker_edit_body(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn seeds_pass_the_body_unmutated() {
    for seed in SEEDS {
        marker_edit_body(seed);
    }
    // Positive control: the seeds do reach the editing path (a change is made).
    let allow = |_: &Target, _: &str, _: &str| true;
    let edit = edit_file(SEEDS[0], &updates(), false, &allow).expect("seed edits");
    assert!(!edit.changes.is_empty());
}
