//! Kustomization fields are read as kustomize reads them (Go's JSON decoding with unknown fields
//! disallowed): any spelling that differs only in letter case names the same field, and any
//! other unknown field is an error naming it. Property tests over one kustomization that uses
//! fields at every nesting level, plus a differential check of a few misspellings with kubectl.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;

/// Field names of [`TEMPLATE`], in the order of their `{}` placeholders.
const FIELDS: &[&str] = &[
    "resources",
    "namePrefix",
    "labels",
    "pairs",
    "includeSelectors",
    "images",
    "name",
    "newTag",
    "replicas",
    "name",
    "count",
    "patches",
    "patch",
    "target",
    "kind",
    "configMapGenerator",
    "name",
    "literals",
    "options",
    "disableNameSuffixHash",
    "vars",
    "name",
    "objref",
    "kind",
    "name",
    "apiVersion",
    "fieldref",
    "fieldPath",
    "replacements",
    "source",
    "kind",
    "name",
    "fieldPath",
    "targets",
    "select",
    "name",
    "fieldPaths",
];

const TEMPLATE: &str = "\
{}:
- r.yaml
{}: p-
{}:
- {}:
    team: a
  {}: false
{}:
- {}: nginx
  {}: \"1.25\"
{}:
- {}: web
  {}: 2
{}:
- {}: |-
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cm
    data:
      patched: \"yes\"
  {}:
    {}: ConfigMap
{}:
- {}: gen
  {}:
  - a=b
  {}:
    {}: true
{}:
- {}: CM_NAME
  {}:
    {}: ConfigMap
    {}: cm
    {}: v1
  {}:
    {}: metadata.name
{}:
- {}:
    {}: ConfigMap
    {}: cm
    {}: data.patched
  {}:
  - {}:
      {}: gen
    {}:
    - data.a
";

const RESOURCES: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  x: \"1\"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: nginx
        args: [\"$(CM_NAME)\"]
";

fn kustomization(names: &[String]) -> String {
    let mut out = String::new();
    let mut parts = TEMPLATE.split("{}");
    out.push_str(parts.next().unwrap_or_default());
    for (part, name) in parts.zip(names) {
        out.push_str(name);
        out.push_str(part);
    }
    out
}

fn tree(names: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization(names)).expect("write");
    std::fs::write(dir.path().join("r.yaml"), RESOURCES).expect("write");
    dir
}

fn original() -> Vec<String> {
    FIELDS.iter().map(|s| s.to_string()).collect()
}

fn build(dir: &Path) -> Result<String, String> {
    shipline_kustomize::build(dir).map_err(|e| e.to_string())
}

#[test]
fn template_builds_and_uses_every_field() {
    assert_eq!(TEMPLATE.matches("{}").count(), FIELDS.len());
    let dir = tree(&original());
    let out = build(dir.path()).expect("the unmutated kustomization builds");
    for expected in ["p-cm", "nginx:1.25", "replicas: 2", "patched: \"yes\"", "team: a", "a: \"yes\"", "- p-cm"] {
        assert!(out.contains(expected), "{expected:?} missing from\n{out}");
    }
}

/// Fields of the template's structs that the template does not use.
const OTHER_FIELDS: &[&str] = &["path"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Changing the letter case of any field name changes nothing.
    #[test]
    fn field_names_match_case_insensitively(index in 0..FIELDS.len(), flips in prop::collection::vec(any::<bool>(), 32)) {
        let want = build(tree(&original()).path()).expect("builds");
        let mut names = original();
        names[index] = names[index]
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        let got = build(tree(&names).path());
        prop_assert_eq!(got, Ok(want), "field {} spelled {}", FIELDS[index], names[index]);
    }

    /// Any other spelling (a letter dropped, doubled or replaced by a digit) is an error that
    /// names the misspelled key, never a silently ignored field.
    #[test]
    fn misspelled_fields_are_errors_naming_them(index in 0..FIELDS.len(), at in 0usize..32, how in 0u8..3) {
        let mut names = original();
        let chars: Vec<char> = names[index].chars().collect();
        let at = at % chars.len();
        let mut misspelled: Vec<char> = chars.clone();
        match how {
            0 if chars.len() > 2 => {
                misspelled.remove(at);
            }
            1 => misspelled.insert(at, chars[at]),
            _ => misspelled[at] = '7',
        }
        let misspelled: String = misspelled.into_iter().collect();
        // Some misspellings are other fields of the same struct (`patch` without its `c` is
        // `path`: the inline patch becomes a file name, refused as a missing file).
        prop_assume!(!FIELDS.iter().chain(OTHER_FIELDS).any(|f| f.eq_ignore_ascii_case(&misspelled)));
        names[index] = misspelled.clone();
        let got = build(tree(&names).path());
        let err = got.expect_err("a misspelled field must not build");
        prop_assert!(err.contains(&misspelled), "error does not name {misspelled:?}: {err}");
    }
}

/// kubectl agrees: a few misspellings at different depths fail there too, and case changes
/// build the same bytes.
#[test]
fn kubectl_agrees_on_spellings() {
    let kubectl = |dir: &Path| {
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("kubectl is required for this test and could not be run: {e}"));
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let variants: &[(usize, &str, bool)] = &[
        (1, "nameprefix", true),
        (27, "FIELDPATH", true),
        (26, "fieldRef", true),
        (1, "namePrefx", false),
        (27, "fieldPth", false),
        (19, "disableNameSufixHash", false),
        (34, "selct", false),
    ];
    for (index, spelling, builds) in variants {
        let mut names = original();
        names[*index] = spelling.to_string();
        let dir = tree(&names);
        let want = kubectl(dir.path());
        let got = build(dir.path());
        assert_eq!(want.is_some(), *builds, "kubectl on {spelling}");
        match (want, got) {
            (Some(w), Ok(g)) => assert_eq!(w, g, "{spelling}"),
            (None, Err(e)) => assert!(e.contains(spelling), "error does not name {spelling}: {e}"),
            (w, g) => panic!("{spelling}: kubectl {w:?}, shipline {g:?}"),
        }
    }
}
