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

/// An untrusted tree cannot hang the build with a FIFO or read a file outside itself through a
/// linked kustomization file; a regular file and a link inside the tree still build.
#[test]
fn fifos_and_outside_links_are_refused_without_hanging() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("app");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::write(root.join("kustomization.yaml"), "resources: [cm.yaml]\n").expect("write");
    std::fs::write(root.join("cm.yaml"), cm).expect("write");
    assert!(build(&root).is_ok(), "positive control: the regular tree builds");

    // A FIFO listed as a resource: opened without blocking and refused, naming it.
    let fifo = root.join("pipe.yaml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    std::fs::write(root.join("kustomization.yaml"), "resources: [cm.yaml, pipe.yaml]\n").expect("write");
    let err = build(&root).expect_err("a FIFO is not read").to_string();
    assert!(err.contains("pipe.yaml") && err.contains("not a regular file"), "{err}");

    // A kustomization file linked to one outside its directory is not read.
    let outside = dir.path().join("outside.yaml");
    std::fs::write(&outside, "resources: [cm.yaml]\n").expect("write");
    std::fs::remove_file(root.join("kustomization.yaml")).expect("rm");
    std::os::unix::fs::symlink(&outside, root.join("kustomization.yaml")).expect("symlink");
    let err = build(&root).expect_err("an outside link is not read").to_string();
    assert!(err.contains("kustomization.yaml") && err.contains("outside its directory"), "{err}");

    // A link that stays inside the directory is followed, as kubectl does.
    std::fs::rename(&outside, root.join("real-kustomization.yaml")).expect("mv");
    std::fs::remove_file(root.join("kustomization.yaml")).expect("rm");
    std::os::unix::fs::symlink("real-kustomization.yaml", root.join("kustomization.yaml")).expect("symlink");
    assert!(build(&root).is_ok(), "a link inside the tree builds");
}
