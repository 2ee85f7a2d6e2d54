//! Local trees (`shipline update PATH...`): classes 1 (links, FIFOs), 2 (all or nothing,
//! validated like git updates), 5 (bounded alias expansion) and 8 (malformed markers).

use std::path::Path;

use super::{checksums, deployment, shipline};

const SET: &str = "apps:front=reg.example/front:v2";

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

#[test]
fn a_symlink_given_as_path_is_refused_and_stays_a_link() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("host.yaml"), deployment("front", "v1")).unwrap();
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("real.yaml"), deployment("front", "v1")).unwrap();
    std::os::unix::fs::symlink(host.path().join("host.yaml"), tree.path().join("link.yaml")).unwrap();
    let (tree_before, host_before) = (checksums(tree.path()), checksums(host.path()));

    let run = shipline(tree.path(), &["update", "--set", SET, "link.yaml"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("link.yaml: is a symbolic link"), "names the file and why: {}", run.stderr);
    assert_eq!(checksums(tree.path()), tree_before, "the link is still a link, nothing written");
    assert_eq!(checksums(host.path()), host_before, "the file behind the link is untouched");

    // Positive control: the same command on a regular file writes it.
    let run = shipline(tree.path(), &["update", "--set", SET, "real.yaml"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(std::fs::read_to_string(tree.path().join("real.yaml")).unwrap(), deployment("front", "v2"));
}

#[test]
fn links_fifos_in_a_walked_tree_are_skipped_with_a_warning() {
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("dir")).unwrap();
    std::fs::write(host.path().join("host.yaml"), deployment("front", "v1")).unwrap();
    std::fs::write(host.path().join("dir/inner.yaml"), deployment("front", "v1")).unwrap();
    let tree = tempfile::tempdir().unwrap();
    let overlays = tree.path().join("overlays");
    std::fs::create_dir(&overlays).unwrap();
    std::fs::write(overlays.join("real.yaml"), deployment("front", "v1")).unwrap();
    std::os::unix::fs::symlink(host.path().join("host.yaml"), overlays.join("file-link.yaml")).unwrap();
    std::os::unix::fs::symlink(host.path().join("dir"), overlays.join("dir-link")).unwrap();
    mkfifo(&overlays.join("fifo.yaml"));
    let host_before = checksums(host.path());

    let run = shipline(tree.path(), &["update", "--set", SET, "overlays"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    for (name, kind) in [("file-link.yaml", "symbolic link"), ("dir-link", "symbolic link"), ("fifo.yaml", "FIFO")] {
        assert!(run.stderr.contains(&format!("{name}: skipped, a {kind}")), "warns about {name}: {}", run.stderr);
    }
    assert_eq!(checksums(host.path()), host_before, "nothing outside the tree was read into an edit or written");
    // Positive control: the regular file in the same walk was edited.
    assert_eq!(std::fs::read_to_string(overlays.join("real.yaml")).unwrap(), deployment("front", "v2"));
    assert!(std::fs::symlink_metadata(overlays.join("file-link.yaml")).unwrap().file_type().is_symlink());
}

#[test]
fn fifos_and_devices_given_as_inputs_are_refused_without_hanging() {
    let tree = tempfile::tempdir().unwrap();
    mkfifo(&tree.path().join("fifo.yaml"));
    mkfifo(&tree.path().join("image.tar"));
    let run = shipline(tree.path(), &["update", "--set", SET, "fifo.yaml"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("fifo.yaml: not a regular file (FIFO); refused"), "{}", run.stderr);
    for archive in ["image.tar", "/dev/zero"] {
        let run = shipline(
            tree.path(),
            &["push", "--dry-run", "--docker-archive", archive, "--repository", "127.0.0.1:1/app", "--tag", "v1"],
            &[],
        );
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("not a regular file"), "{archive}: {}", run.stderr);
        assert!(run.max_rss_kib < 100 * 1024, "{archive}: peak RSS {} KiB, bound 100 MiB", run.max_rss_kib);
    }
    // Positive control: a regular file gets as far as being read as an archive.
    std::fs::write(tree.path().join("empty.tar"), b"").unwrap();
    let run = shipline(
        tree.path(),
        &["push", "--dry-run", "--docker-archive", "empty.tar", "--repository", "127.0.0.1:1/app", "--tag", "v1"],
        &[],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(!run.stderr.contains("not a regular file") && run.stderr.contains("empty.tar"), "{}", run.stderr);
}

/// Makes `path` impossible to replace (or, for a directory, to create files in), even for root:
/// the immutable attribute when running as root, else no write permission on the directory.
struct Locked(std::path::PathBuf, bool);

impl Locked {
    fn new(path: &Path) -> Self {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            let ok = std::process::Command::new("chattr").arg("+i").arg(path).status().expect("chattr");
            assert!(ok.success(), "chattr +i {} (the test needs the immutable attribute as root)", path.display());
        } else {
            let dir = if path.is_dir() { path } else { path.parent().unwrap() };
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        }
        Self(path.to_owned(), root)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("chattr").arg("-i").arg(&self.0).status();
        } else {
            let dir = if self.0.is_dir() { self.0.clone() } else { self.0.parent().unwrap().to_owned() };
            let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
    }
}

#[test]
fn a_multi_file_update_that_fails_part_way_leaves_every_file_as_it_was() {
    for lock_dir in [false, true] {
        let tree = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            std::fs::create_dir(tree.path().join(d)).unwrap();
            std::fs::write(tree.path().join(d).join("deploy.yaml"), deployment("front", "v1")).unwrap();
        }
        let before = checksums(tree.path());
        let target = if lock_dir { tree.path().join("b") } else { tree.path().join("b/deploy.yaml") };
        let lock = Locked::new(&target);
        let run = shipline(tree.path(), &["update", "--set", SET, "a", "b"], &[]);
        assert_eq!(run.code, Some(1), "lock_dir={lock_dir}: {run:?}");
        assert!(run.stderr.contains("b/deploy.yaml"), "names the file: {}", run.stderr);
        assert_eq!(checksums(tree.path()), before, "lock_dir={lock_dir}: a/deploy.yaml was put back or never written");
        // Positive control: unlocked, the same command writes both.
        drop(lock);
        let run = shipline(tree.path(), &["update", "--set", SET, "a", "b"], &[]);
        assert_eq!(run.code, Some(0), "{run:?}");
        for d in ["a", "b"] {
            assert_eq!(
                std::fs::read_to_string(tree.path().join(d).join("deploy.yaml")).unwrap(),
                deployment("front", "v2")
            );
        }
    }
}

#[test]
fn a_local_edit_that_breaks_the_build_is_refused_and_nothing_changes() {
    let tree = tempfile::tempdir().unwrap();
    let kustomization = "resources:\n- deployment.yaml\n";
    // `!!int` on a marked scalar: the new tag is not an integer, so the file no longer reads.
    let tagged = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: front\nspec:\n  template:\n    metadata:\n      labels:\n        version: !!int 1 # {\"$imagepolicy\": \"apps:front:tag\"}\n";
    std::fs::write(tree.path().join("kustomization.yaml"), kustomization).unwrap();
    std::fs::write(tree.path().join("deployment.yaml"), tagged).unwrap();
    let before = checksums(tree.path());
    let run = shipline(tree.path(), &["update", "--set", SET, "."], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("deployment.yaml") || run.stderr.contains("kustomize build fails"), "{}", run.stderr);
    assert!(run.stderr.contains("every file was left as it was"), "{}", run.stderr);
    assert_eq!(checksums(tree.path()), before);
    // Positive control: without the explicit tag the same edit builds and is written.
    std::fs::write(tree.path().join("deployment.yaml"), tagged.replace("!!int 1", "\"1\"")).unwrap();
    let run = shipline(tree.path(), &["update", "--set", SET, "."], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(std::fs::read_to_string(tree.path().join("deployment.yaml")).unwrap().contains("version: \"v2\""));
}

#[test]
fn alias_expansion_is_bounded_in_bytes_and_memory_stays_small() {
    let tree = tempfile::tempdir().unwrap();
    // 10 KB scalar, 160 000 aliases to it: about 1 MB of file, 1.6 GB if expanded.
    let mut bomb = deployment("front", "v1");
    bomb.push_str(&format!("---\nbig: &x {}\nmany:\n", "y".repeat(10_000)));
    for _ in 0..160_000 {
        bomb.push_str("- *x\n");
    }
    std::fs::write(tree.path().join("bomb.yaml"), &bomb).unwrap();
    let before = checksums(tree.path());
    let run = shipline(tree.path(), &["update", "--set", SET, "bomb.yaml"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("bomb.yaml") && run.stderr.contains("past 16777216 bytes"), "{}", run.stderr);
    assert_eq!(checksums(tree.path()), before);
    assert!(run.max_rss_kib < 256 * 1024, "peak RSS {} KiB, bound 256 MiB", run.max_rss_kib);
    // Positive control: a few aliases are fine and the file is written.
    let small = format!("{}---\nbig: &x y\nmany: [*x, *x]\n", deployment("front", "v1"));
    std::fs::write(tree.path().join("bomb.yaml"), small).unwrap();
    let run = shipline(tree.path(), &["update", "--set", SET, "bomb.yaml"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn build_bounds_alias_expansion_in_bytes_and_refuses_fifos() {
    let tree = tempfile::tempdir().unwrap();
    // The case for `shipline build`: ~650 KB of aliases to one 10 KB scalar (about
    // 1.3 GB if expanded; before the byte bound this cost ~2 GB RSS).
    let mut bomb =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\nbig: &x {}\nmany:\n", "y".repeat(10_000));
    for _ in 0..130_000 {
        bomb.push_str("- *x\n");
    }
    std::fs::write(tree.path().join("kustomization.yaml"), "resources: [bomb.yaml]\n").unwrap();
    std::fs::write(tree.path().join("bomb.yaml"), &bomb).unwrap();
    let run = shipline(tree.path(), &["build", "."], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("bomb.yaml") && run.stderr.contains("16 MiB of text"), "{}", run.stderr);
    assert!(run.max_rss_kib < 256 * 1024, "peak RSS {} KiB, bound 256 MiB", run.max_rss_kib);
    // A FIFO listed as a resource is refused at once, not waited on.
    let fifo = tree.path().join("pipe.yaml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    std::fs::write(tree.path().join("kustomization.yaml"), "resources: [pipe.yaml]\n").unwrap();
    let run = shipline(tree.path(), &["build", "."], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("pipe.yaml") && run.stderr.contains("not a regular file"), "{}", run.stderr);
    // Positive control: a few aliases build.
    std::fs::write(
        tree.path().join("bomb.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n  a: &x hello\n  b: *x\n",
    )
    .unwrap();
    std::fs::write(tree.path().join("kustomization.yaml"), "resources: [bomb.yaml]\n").unwrap();
    let run = shipline(tree.path(), &["build", "."], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("b: hello"), "{}", run.stdout);
}

#[test]
fn malformed_markers_get_the_promised_warning() {
    let tree = tempfile::tempdir().unwrap();
    let single_quoted =
        deployment("front", "v1").replace("{\"$imagepolicy\": \"apps:front\"}", "{'$imagepolicy': 'apps:front'}");
    let plain = deployment("front", "v1").replace("{\"$imagepolicy\": \"apps:front\"}", "$imagepolicy: apps:front");
    std::fs::write(tree.path().join("single.yaml"), &single_quoted).unwrap();
    std::fs::write(tree.path().join("plain.yaml"), &plain).unwrap();
    std::fs::write(tree.path().join("valid.yaml"), deployment("front", "v1")).unwrap();
    let run = shipline(tree.path(), &["update", "--set", SET, "."], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    for file in ["single.yaml", "plain.yaml"] {
        assert!(run.stderr.contains(&format!("{file}:10: ignored marker")), "{file}: {}", run.stderr);
    }
    assert_eq!(std::fs::read_to_string(tree.path().join("single.yaml")).unwrap(), single_quoted, "not edited");
    // Positive control: the valid marker beside them was applied.
    assert_eq!(std::fs::read_to_string(tree.path().join("valid.yaml")).unwrap(), deployment("front", "v2"));
}
