//! Hostile input: YAML alias bombs and deep nesting fail with an error naming the file, in any
//! file the engine reads; inputs the fuzzer found are kept here as regression cases.

use shipline_kustomize::{Error, build};

/// Builds a kustomization made of the given files; returns the build result.
fn build_files(files: &[(&str, &str)]) -> Result<String, Error> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    build(dir.path())
}

fn billion_laughs() -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    text
}

fn assert_yaml_error(result: Result<String, Error>, file: &str, what: &str) {
    match result {
        Err(Error::Yaml { path, message }) => {
            assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(file), "{message}");
            assert!(message.contains(what), "{message}");
            let shown = Error::Yaml { path: path.clone(), message }.to_string();
            assert!(shown.contains(file), "the message names the file: {shown}");
        }
        other => panic!("expected a YAML error in {file}, got {other:?}"),
    }
}

#[test]
fn alias_bomb_in_a_resource_is_refused() {
    let bomb = billion_laughs();
    let result = build_files(&[("kustomization.yaml", "resources:\n- bomb.yaml\n"), ("bomb.yaml", &bomb)]);
    assert_yaml_error(result, "bomb.yaml", "excessive aliasing");
}

#[test]
fn alias_bomb_in_a_kustomization_or_patch_is_refused() {
    let bomb = billion_laughs();
    // The kustomization file itself.
    let k = bomb.replace("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n", "metadata:\n");
    assert_yaml_error(build_files(&[("kustomization.yaml", &k)]), "kustomization.yaml", "excessive aliasing");
    // A patch file.
    let result = build_files(&[
        ("kustomization.yaml", "resources:\n- cm.yaml\npatches:\n- path: patch.yaml\n"),
        ("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\n"),
        ("patch.yaml", &bomb),
    ]);
    match result {
        Err(e) => assert!(e.to_string().contains("excessive aliasing") && e.to_string().contains("patch"), "{e}"),
        Ok(_) => panic!("a patch alias bomb must fail"),
    }
}

#[test]
fn deep_nesting_is_refused() {
    for deep in [
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x: {}{}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        ),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nspec: {}1{}\n",
            "{a: ".repeat(300),
            "}".repeat(300)
        ),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nspec:\n{}", "- ".repeat(300)),
    ] {
        let result = build_files(&[("kustomization.yaml", "resources:\n- deep.yaml\n"), ("deep.yaml", &deep)]);
        assert_yaml_error(result, "deep.yaml", "nested more than");
    }
}

#[test]
fn nesting_within_the_limit_builds() {
    let depth = 200;
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let out = build_files(&[("kustomization.yaml", "resources:\n- deep.yaml\nnamePrefix: p-\n"), ("deep.yaml", &deep)]);
    assert!(out.is_ok(), "{out:?}");
}
