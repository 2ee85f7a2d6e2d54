//! `shipline update` on a local tree, as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn shipline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shipline")).args(args).current_dir(dir).output().expect("run shipline")
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: front-end # the shop\n\nspec:\n  template:\n    spec:\n      containers:\n      - name: front-end\n        image: reg/front-end:main-1f49071-1 # {\"$imagepolicy\": \"flux-system:front-end\"}\n";
const KUSTOMIZATION: &str = "resources:\n- deployment.yaml\nimages:\n- name: sidecar\n  newTag: v1\n";

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("overlays/dev")).unwrap();
    std::fs::write(dir.path().join("overlays/dev/deployment.yaml"), DEPLOYMENT).unwrap();
    std::fs::write(dir.path().join("overlays/dev/kustomization.yaml"), KUSTOMIZATION).unwrap();
    std::fs::write(dir.path().join("overlays/dev/unrelated.yaml"), "a: 1\n").unwrap();
    dir
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let dir = tree();
    let out = shipline(
        dir.path(),
        &["update", "--dry-run", "--set", "flux-system:front-end=reg/front-end:main-abcdef0-2", "overlays"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(diff.contains("--- a/overlays/dev/deployment.yaml\n+++ b/overlays/dev/deployment.yaml\n"), "{diff}");
    assert!(diff.contains("-        image: reg/front-end:main-1f49071-1 #"), "{diff}");
    assert!(diff.contains("+        image: reg/front-end:main-abcdef0-2 #"), "{diff}");
    assert_eq!(read(dir.path(), "overlays/dev/deployment.yaml"), DEPLOYMENT, "dry run wrote the file");
}

#[test]
fn update_writes_only_the_marked_bytes_and_images_entries() {
    let dir = tree();
    let out = shipline(
        dir.path(),
        &[
            "update",
            "--set",
            "flux-system:front-end=reg/front-end:main-abcdef0-2",
            "--image",
            "sidecar=sidecar:v2",
            "overlays",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("deployment.yaml:11: policy flux-system:front-end image: reg/front-end:main-1f49071-1 -> reg/front-end:main-abcdef0-2"), "{report}");
    assert_eq!(
        read(dir.path(), "overlays/dev/deployment.yaml"),
        DEPLOYMENT.replace("main-1f49071-1", "main-abcdef0-2")
    );
    assert_eq!(read(dir.path(), "overlays/dev/kustomization.yaml"), KUSTOMIZATION.replace("v1", "v2"));
    assert_eq!(read(dir.path(), "overlays/dev/unrelated.yaml"), "a: 1\n");

    // Again: nothing left to do.
    let out =
        shipline(dir.path(), &["update", "--set", "flux-system:front-end=reg/front-end:main-abcdef0-2", "overlays"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "no changes\n");
}

#[test]
fn json_report() {
    let dir = tree();
    let out = shipline(
        dir.path(),
        &["update", "--json", "--dry-run", "--set", "flux-system:front-end=reg/front-end:v9", "overlays"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["written"], false);
    assert_eq!(json["files"][0]["changes"][0]["new"], "reg/front-end:v9");
    assert_eq!(json["files"][0]["changes"][0]["line"], 11);
}

#[test]
fn bad_input_fails_before_anything_is_written() {
    let dir = tree();
    let cases: [(&[&str], &str); 4] = [
        (
            &["update", "--set", "front-end=reg/x:v2", "overlays"],
            "--set \"front-end=reg/x:v2\": \"front-end\" is not NAMESPACE:NAME",
        ),
        (&["update", "--set", "flux-system:front-end=reg/x", "overlays"], "is not an image reference"),
        (&["update", "overlays"], "nothing to set"),
        (&["update", "--set", "a:b=x:1", "missing-dir"], "missing-dir"),
    ];
    for (args, want) in cases {
        let out = shipline(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A broken file anywhere in the tree stops the whole run: the valid file is not written either.
    std::fs::write(
        dir.path().join("overlays/zz-broken.yaml"),
        "image: [x # {\"$imagepolicy\": \"flux-system:front-end\"}\n",
    )
    .unwrap();
    let out = shipline(dir.path(), &["update", "--set", "flux-system:front-end=reg/front-end:v9", "overlays"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zz-broken.yaml") && err.contains("not valid YAML"), "{err}");
    assert_eq!(read(dir.path(), "overlays/dev/deployment.yaml"), DEPLOYMENT);
}
