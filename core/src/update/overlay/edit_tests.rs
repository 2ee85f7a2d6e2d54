//! Tests of [`super::edit_file`]: byte preservation, quoting, downgrades, `images:` entries.

use proptest::prelude::*;

use super::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn policy(s: &str) -> PolicyRef {
    PolicyRef::parse(s).unwrap()
}

fn by_policy(pairs: &[(&str, &str)]) -> Updates {
    Updates {
        by_policy: pairs.iter().map(|(p, r)| (policy(p), ImageRef::parse(r).unwrap())).collect(),
        ..Updates::default()
    }
}

fn by_name(pairs: &[(&str, &str)]) -> Updates {
    Updates {
        by_image_name: pairs.iter().map(|(n, r)| (n.to_string(), ImageRef::parse(r).unwrap())).collect(),
        ..Updates::default()
    }
}

fn allow_all(_: &Target, _: &str, _: &str) -> bool {
    true
}

fn apply(text: &str, updates: &Updates) -> FileEdit {
    edit_file(text, updates, true, &allow_all).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn only_marked_scalars_change() {
    let before = r#"# Deployment of the front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: front-end   # keep this comment

  annotations:
    note: |
      a block scalar: keep
        its indentation
spec:
  template:
    spec:
      containers:
      - name: front-end
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end:master-1f49071-1" # {"$imagepolicy": "flux-system:front-end"}
        ports: [ {containerPort: 8079} ]
      - name: sidecar
        image: 'reg/sidecar:v1'   # {"$imagepolicy": "flux-system:sidecar:tag"}
---
# second document, untouched
apiVersion: v1
kind: ConfigMap
data: {x: "1"}
"#;
    let updates = by_policy(&[
        ("flux-system:front-end", "123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end:master-abcdef0-2"),
        ("flux-system:sidecar", "reg/sidecar:v2"),
    ]);
    let edit = apply(before, &updates);
    let after = before
        .replace("front-end:master-1f49071-1\"", "front-end:master-abcdef0-2\"")
        .replace("image: 'reg/sidecar:v1'", "image: 'v2'");
    assert_eq!(edit.text, after);
    assert_eq!(edit.changes.len(), 2);
    assert_eq!(edit.changes[0].line, 16);
    assert_eq!(edit.changes[1].field, "tag");
    assert_eq!(edit.changes[1].old.as_deref(), Some("reg/sidecar:v1"));
}

#[test]
fn crlf_bom_and_quoting_are_kept() {
    let before = "\u{feff}images:\r\n- name: app\r\n  newTag: \"v1\" # {\"$imagepolicy\": \"ns:app:tag\"}\r\n\r\n";
    let edit = apply(before, &by_policy(&[("ns:app", "reg/app:v2")]));
    assert_eq!(edit.text, before.replace("\"v1\"", "\"v2\""));
}

#[test]
fn values_that_need_quoting_are_quoted() {
    let before = "newTag: v1 # {\"$imagepolicy\": \"ns:app:tag\"}\n";
    for (tag, want) in [("1.10", "\"1.10\""), ("on", "\"on\""), ("2024-01-01", "\"2024-01-01\""), ("v2", "v2")] {
        let edit = apply(before, &by_policy(&[("ns:app", &format!("reg/app:{tag}"))]));
        assert_eq!(edit.text, format!("newTag: {want} # {{\"$imagepolicy\": \"ns:app:tag\"}}\n"), "{tag}");
    }
}

#[test]
fn downgrades_are_refused_by_the_guard() {
    let before = "image: reg/app:main-1f49071-24 # {\"$imagepolicy\": \"ns:app\"}\n";
    let never_down = |_: &Target, old: &str, new: &str| {
        let build = |t: &str| crate::image::tag::ImageTag::parse(t).map(|t| t.build()).unwrap_or(0);
        build(new) > build(old)
    };
    let older = by_policy(&[("ns:app", "reg/app:main-abcdef0-23")]);
    let edit = edit_file(before, &older, false, &never_down).unwrap();
    assert_eq!(edit.text, before);
    assert!(edit.changes.is_empty());
    assert_eq!(edit.skipped.len(), 1);
    assert!(edit.skipped[0].reason.contains("not downgrading"), "{:?}", edit.skipped);

    let newer = by_policy(&[("ns:app", "reg/app:main-abcdef0-25")]);
    let edit = edit_file(before, &newer, false, &never_down).unwrap();
    assert_eq!(edit.text, "image: reg/app:main-abcdef0-25 # {\"$imagepolicy\": \"ns:app\"}\n");
}

#[test]
fn digest_markers_need_a_digest() {
    let before = "digest: sha256:old # {\"$imagepolicy\": \"ns:app:digest\"}\n";
    let edit = apply(before, &by_policy(&[("ns:app", "reg/app:v2")]));
    assert_eq!(edit.text, before);
    assert!(edit.skipped[0].reason.contains("no digest"));
    let edit = apply(before, &by_policy(&[("ns:app", &format!("reg/app:v2@{DIGEST}"))]));
    assert_eq!(edit.text, format!("digest: {DIGEST} # {{\"$imagepolicy\": \"ns:app:digest\"}}\n"));
}

#[test]
fn images_entries_by_name() {
    let before =
        "resources:\n- ../../base\nimages:\n- name: front-end\n  newTag: v1 # keep\n- name: other\n  newTag: v9\n";
    let edit = apply(before, &by_name(&[("front-end", "front-end:v2")]));
    assert_eq!(edit.text, before.replace("newTag: v1 # keep", "newTag: v2 # keep"));

    // Missing keys are inserted below the entry's keys, with its indentation.
    let before = "images:\n  -   name: app\n      newTag: v1\nnamespace: x\n";
    let edit = apply(before, &by_name(&[("app", &format!("123.dkr.ecr.us-east-1.amazonaws.com/app:v2@{DIGEST}"))]));
    assert_eq!(
        edit.text,
        format!(
            "images:\n  -   name: app\n      newTag: v2\n      newName: 123.dkr.ecr.us-east-1.amazonaws.com/app\n      digest: {DIGEST}\nnamespace: x\n"
        )
    );
    let fields: Vec<(&str, Option<&str>)> = edit.changes.iter().map(|c| (c.field.as_str(), c.old.as_deref())).collect();
    assert_eq!(fields, [("newName", None), ("newTag", Some("v1")), ("digest", None)]);
}

#[test]
fn images_entry_insertions_keep_crlf() {
    let before = "images:\r\n- name: app\r\n";
    let edit = apply(before, &by_name(&[("app", "app:v2")]));
    assert_eq!(edit.text, "images:\r\n- name: app\r\n  newTag: v2\r\n");
}

#[test]
fn images_entries_that_cannot_be_edited_safely() {
    let flow = "images:\n- {name: app}\n";
    let err = edit_file(flow, &by_name(&[("app", "app:v2")]), true, &allow_all).unwrap_err();
    assert!(matches!(err, EditError::Unsupported { line: 2, .. }), "{err}");

    let pinned = format!("images:\n- name: app\n  newTag: v1\n  digest: {DIGEST}\n");
    let edit = apply(&pinned, &by_name(&[("app", "app:v2")]));
    assert_eq!(edit.text, pinned, "a pinned digest would override the tag: leave it and say so");
    assert!(edit.skipped[0].reason.contains("digest"));
}

#[test]
fn markers_win_over_images_entries_by_name() {
    let before = "images:\n- name: app\n  newTag: v1 # {\"$imagepolicy\": \"ns:app:tag\"}\n";
    let mut updates = by_policy(&[("ns:app", "app:v3")]);
    updates.by_image_name = by_name(&[("app", "app:v2")]).by_image_name;
    let edit = apply(before, &updates);
    assert_eq!(edit.text, before.replace("v1", "v3"));
    assert_eq!(edit.changes.len(), 1);
}

#[test]
fn broken_yaml_is_an_error_with_a_position() {
    let err = edit_file(
        "a: [b\nimage: x # {\"$imagepolicy\": \"ns:a\"}\n",
        &by_policy(&[("ns:a", "x:1")]),
        false,
        &allow_all,
    )
    .unwrap_err();
    assert!(matches!(err, EditError::Syntax(_)), "{err}");
}

/// A random YAML file: documents of `key: value` lines, some values marked, with comments,
/// blank lines, quoting styles and CRLF.
fn yaml_file() -> impl Strategy<Value = String> {
    let value = prop_oneof!["[a-z][a-z0-9./-]{0,12}:[a-z0-9][a-z0-9.-]{0,8}", "[a-z]{1,8}", "[0-9]{1,3}\\.[0-9]{1,2}"];
    let quote = prop_oneof![Just(""), Just("'"), Just("\"")];
    let line =
        ("[a-z]{1,6}", value, quote, prop::option::of(0..4usize), prop::option::of("[ a-z]{0,10}"), any::<bool>())
            .prop_map(|(key, value, q, marker, comment, blank)| {
                let mut l = format!("{key}: {q}{value}{q}");
                match (marker, comment) {
                    (Some(p), _) => l.push_str(&format!(" # {{\"$imagepolicy\": \"ns:p{p}\"}}")),
                    (None, Some(c)) => l.push_str(&format!("  #{c}")),
                    (None, None) => {}
                }
                if blank {
                    l.push('\n');
                }
                l
            });
    let doc = prop::collection::vec(line, 1..12).prop_map(|lines| {
        let mut seen = std::collections::HashSet::new();
        lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                // Unique keys per document.
                let (key, rest) = l.split_once(':').unwrap();
                let key = if seen.insert(key.to_owned()) { key.to_owned() } else { format!("{key}{i}") };
                seen.insert(key.clone());
                format!("{key}:{rest}\n")
            })
            .collect::<String>()
    });
    (prop::collection::vec(doc, 1..3), any::<bool>()).prop_map(|(docs, crlf)| {
        let text = docs.join("---\n");
        if crlf { text.replace('\n', "\r\n") } else { text }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn only_marked_lines_change_and_edits_are_idempotent(
        text in yaml_file(),
        policies in prop::collection::btree_set(0..4usize, 0..4),
        tag in "[a-z0-9][a-z0-9.-]{0,10}",
    ) {
        let pairs: Vec<(String, String)> = policies.iter().map(|p| (format!("ns:p{p}"), format!("reg/new{p}:{tag}"))).collect();
        let pairs_ref: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let updates = by_policy(&pairs_ref);
        let edit = edit_file(&text, &updates, false, &allow_all).expect("edit");
        let old_lines: Vec<&str> = text.split('\n').collect();
        let new_lines: Vec<&str> = edit.text.split('\n').collect();
        prop_assert_eq!(old_lines.len(), new_lines.len());
        for (old, new) in old_lines.iter().zip(&new_lines) {
            let updated = policies.iter().any(|p| old.contains(&format!("\"ns:p{p}\"")));
            if !updated {
                prop_assert_eq!(old, new);
            } else {
                // The key and the comment are untouched.
                let key = old.split(':').next().unwrap();
                prop_assert!(new.starts_with(&format!("{key}: ")), "{} -> {}", old, new);
                let comment = old.rsplit_once(" # ").unwrap().1;
                prop_assert!(new.ends_with(&format!(" # {comment}")), "{} -> {}", old, new);
            }
        }
        let again = edit_file(&edit.text, &updates, false, &allow_all).expect("second edit");
        prop_assert_eq!(&again.text, &edit.text);
        prop_assert!(again.changes.is_empty());
    }
}
