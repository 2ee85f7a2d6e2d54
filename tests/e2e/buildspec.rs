//! The buildspecs in `buildspec/` run the way CodeBuild runs them ([`runner`]: one shell per
//! phase, CodeBuild's variables, `exported-variables` read back), against the test services:
//!
//! - the shipline they download is the tarball `scripts/release.sh` packs, here from the debug
//!   binary (`--binary`, the same code path as a release), served by a small HTTP server in this
//!   test (a static file server: the artifact is normally on S3, which has no emulator here);
//! - `buildspec-oci-layout.yml` builds a `FROM scratch` image with buildah (vfs storage under the
//!   test's temporary directory, chroot isolation) and pushes it with `shipline push
//!   --oci-layout` to ECR in ministack; the tag `branch-commit-build` must hold the exported
//!   digest;
//! - `buildspec.yml` needs a Docker daemon, which this machine does not have: its `docker` is a
//!   SHIM (it records its arguments, and `docker save` writes a docker archive this test built
//!   with buildah). Everything else of it runs for real: the download and checksum, `shipline
//!   tag`, `shipline push --docker-archive` to ECR, the exported variables;
//! - a checksum mismatch, or no checksum, fails the build before anything downloaded runs.

mod runner;
mod spec;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use runner::{CodeBuild, Outcome, PhaseStatus};
use shipline_e2e::{require_local_aws, service_env, unique_name};
use spec::PhaseName;

const COMMIT: &str = "1f49071c2e5d4d3f9a0b1c2d3e4f5a6b7c8d9e0f";
const TAG: &str = "main-1f49071-24";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

/// The release tarball of this run's `SHIPLINE_BIN`, packed once per test process by
/// `scripts/release.sh --binary` into the services' directory (replaced on every run).
struct Artifact {
    dir: PathBuf,
    name: String,
    sha256: String,
}

fn artifact() -> &'static Artifact {
    static ARTIFACT: OnceLock<Artifact> = OnceLock::new();
    ARTIFACT.get_or_init(|| {
        let dir = PathBuf::from(service_env("SHIPLINE_SERVICES_DIR")).join("buildspec-artifact");
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(repo_root().join("scripts/release.sh"))
            .args(["--binary", &service_env("SHIPLINE_BIN"), "--out"])
            .arg(&dir)
            .output()
            .expect("scripts/release.sh");
        assert!(out.status.success(), "release.sh: {}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("release.sh prints JSON");
        let path = PathBuf::from(report["artifact"].as_str().expect("artifact"));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sha256 = report["sha256"].as_str().expect("sha256").to_owned();
        // The .sha256 file is what `sha256sum -c` reads: "HEX  NAME".
        let line = std::fs::read_to_string(dir.join(format!("{name}.sha256"))).expect(".sha256 file");
        assert_eq!(line, format!("{sha256}  {name}\n"));
        Artifact { dir, name, sha256 }
    })
}

/// A static file server on 127.0.0.1 for `dir` (GET only, one request per connection), standing
/// in for S3; returns its base URL and the paths requested so far.
fn serve(dir: PathBuf) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            seen.lock().unwrap().push(target.clone());
            // The query is ignored, as S3 ignores a presigned URL's for the object's name.
            let path = target.split('?').next().unwrap_or_default().to_owned();
            let file = dir.join(path.trim_start_matches('/'));
            let reply = match std::fs::read(&file) {
                Ok(body) if !path.contains("..") => {
                    let mut r =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                            .into_bytes();
                    r.extend(body);
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = conn.write_all(&reply);
        }
    });
    (url, requests)
}

/// One build's fixtures: a source directory, a CodeBuild context and the project variables
/// every variant needs (the artifact's URL and checksum, AWS pointing at the emulators).
struct Build {
    tmp: tempfile::TempDir,
    codebuild: CodeBuild,
    project: BTreeMap<String, String>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Build {
    fn new(repository_uri: &str) -> Self {
        let art = artifact();
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        // The image: one static file in a layer, FROM scratch (nothing to pull, no RUN).
        std::fs::write(src.join("hello.txt"), "hello from a CodeBuild test\n").unwrap();
        std::fs::write(src.join("Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n").unwrap();
        let storage = tmp.path().join("containers");
        std::fs::write(
            tmp.path().join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n",
                storage.display()
            ),
        )
        .unwrap();
        let (url, requests) = serve(art.dir.clone());
        let codebuild = CodeBuild {
            project: "front-end".into(),
            build_number: 24,
            resolved_source_version: COMMIT.into(),
            source_version: "refs/heads/main".into(),
            webhook_head_ref: Some("refs/heads/main".into()),
            src_dir: src,
            region: "us-east-1".into(),
        };
        let mut project = BTreeMap::from([
            ("PATH".to_owned(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
            ("HOME".to_owned(), tmp.path().display().to_string()),
            ("TMPDIR".to_owned(), tmp.path().display().to_string()),
            ("ECR_REPOSITORY_URI".to_owned(), repository_uri.to_owned()),
            ("SHIPLINE_URL".to_owned(), format!("{url}/{}", art.name)),
            ("SHIPLINE_SHA256".to_owned(), art.sha256.clone()),
            // Not /opt/shipline: this machine is shared.
            ("SHIPLINE_HOME".to_owned(), tmp.path().join("shipline").display().to_string()),
            // ECR's registry is ministack's /v2 here (the documented variable for VPC endpoints).
            ("SHIPLINE_REGISTRY_ENDPOINT".to_owned(), service_env("SHIPLINE_TEST_MINISTACK_URL")),
            ("CONTAINERS_STORAGE_CONF".to_owned(), tmp.path().join("storage.conf").display().to_string()),
            ("BUILDAH_ISOLATION".to_owned(), "chroot".to_owned()),
        ]);
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL_ECR"]
        {
            project.insert(name.to_owned(), service_env(name));
        }
        Build { tmp, codebuild, project, requests }
    }

    fn run(&self, buildspec: &str) -> Outcome {
        let file = repo_root().join("buildspec").join(buildspec);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let spec = spec::parse(&text, buildspec).unwrap_or_else(|e| panic!("{e}"));
        let work = self.tmp.path().join("runner");
        runner::run(&spec, &self.codebuild, &self.project, &work).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

async fn ecr() -> aws_sdk_ecr::Client {
    require_local_aws();
    aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await)
}

/// A new ECR repository in ministack; its URI.
fn create_repository() -> String {
    block_on(async {
        let name = unique_name("codebuild");
        let repo = ecr().await.create_repository().repository_name(&name).send().await.expect("CreateRepository");
        repo.repository().and_then(|r| r.repository_uri()).expect("repository URI").to_owned()
    })
}

/// The digest ECR holds for `uri:tag`.
fn ecr_digest(uri: &str, tag: &str) -> String {
    let name = uri.split_once('/').expect("URI has a repository name").1.to_owned();
    block_on(async {
        let out = ecr()
            .await
            .describe_images()
            .repository_name(&name)
            .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeImages {name}:{tag}: {e:?}"));
        out.image_details().first().and_then(|d| d.image_digest()).expect("an image with that tag").to_owned()
    })
}

fn assert_succeeded(outcome: &Outcome) {
    assert!(outcome.succeeded(), "phases {:?}\n--- build log ---\n{}", outcome.phases, outcome.log);
}

#[test]
fn oci_layout_buildspec_builds_with_buildah_and_pushes_to_ecr() {
    let uri = create_repository();
    let build = Build::new(&uri);
    let outcome = build.run("buildspec-oci-layout.yml");
    assert_succeeded(&outcome);
    let tag = outcome.exported.get("IMAGE_TAG").map(String::as_str);
    assert_eq!(tag, Some(TAG), "{}", outcome.log);
    let digest = outcome.exported.get("IMAGE_DIGEST").cloned().unwrap_or_default();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "IMAGE_DIGEST {digest:?}\n{}", outcome.log);
    assert_eq!(ecr_digest(&uri, TAG), digest, "ECR holds the exported digest under {TAG}");
    assert!(outcome.log.contains(&format!("pushed {uri}:{TAG}@{digest}")), "{}", outcome.log);
    // Downloaded once, the artifact and nothing else.
    assert_eq!(*build.requests.lock().unwrap(), [format!("/{}", artifact().name)]);
}

#[test]
fn docker_buildspec_runs_with_a_docker_shim() {
    let uri = create_repository();
    let build = Build::new(&uri);
    // No Docker daemon here: build the image with buildah as a docker archive, and put a `docker`
    // SHIM first on PATH that records its arguments and hands that archive to `docker save`.
    let archive = build.tmp.path().join("prebuilt-docker-archive.tar");
    let buildah = |args: &[&str]| {
        let out = Command::new("buildah")
            .args(args)
            .current_dir(&build.codebuild.src_dir)
            .env("CONTAINERS_STORAGE_CONF", &build.project["CONTAINERS_STORAGE_CONF"])
            .env("BUILDAH_ISOLATION", "chroot")
            .output()
            .expect("buildah (Debian package buildah)");
        assert!(out.status.success(), "buildah {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    buildah(&["bud", "--storage-driver", "vfs", "-t", "prebuilt:1", "."]);
    let dest = format!("docker-archive:{}:prebuilt:1", archive.display());
    buildah(&["push", "--storage-driver", "vfs", "prebuilt:1", &dest]);
    let shim_dir = build.tmp.path().join("shim");
    std::fs::create_dir_all(&shim_dir).unwrap();
    let calls = build.tmp.path().join("docker-calls");
    let shim = format!(
        "#!/bin/sh\n# A SHIM, not Docker (no daemon on the test machine): records its arguments; `save -o FILE`\n\
         # writes the docker archive the test built with buildah.\nprintf '%s\\n' \"$*\" >> {calls}\n\
         case $1 in\n  build) exit 0 ;;\n  save) while [ $# -gt 0 ]; do [ \"$1\" = -o ] && exec cp {archive} \"$2\"; shift; done; exit 2 ;;\n\
         esac\necho \"docker shim: unexpected $1\" >&2\nexit 2\n",
        calls = runner::quote(&calls.display().to_string()),
        archive = runner::quote(&archive.display().to_string()),
    );
    let shim_path = shim_dir.join("docker");
    std::fs::write(&shim_path, shim).unwrap();
    std::fs::set_permissions(&shim_path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut build = build;
    let path = format!("{}:{}", shim_dir.display(), build.project["PATH"]);
    build.project.insert("PATH".into(), path);

    let outcome = build.run("buildspec.yml");
    assert_succeeded(&outcome);
    assert_eq!(outcome.exported.get("IMAGE_TAG").map(String::as_str), Some(TAG));
    let recorded = std::fs::read_to_string(&calls).expect("the docker shim was called");
    assert_eq!(
        recorded,
        format!("build -f Dockerfile -t shipline-build:{TAG} .\nsave shipline-build:{TAG} -o image.tar\n"),
        "the buildspec's docker commands"
    );
    let digest = outcome.exported.get("IMAGE_DIGEST").cloned().unwrap_or_default();
    assert_eq!(ecr_digest(&uri, TAG), digest, "ECR holds the exported digest under {TAG}\n{}", outcome.log);
    assert!(outcome.log.contains(&format!("building {uri}:{TAG}")), "{}", outcome.log);
}

/// The artifact server's base URL, from the build's `SHIPLINE_URL`.
fn service_url(build: &Build) -> String {
    let url = &build.project["SHIPLINE_URL"];
    url[..url.rfind('/').unwrap_or(0)].to_owned()
}

#[test]
fn a_checksum_mismatch_or_no_checksum_fails_before_shipline_runs() {
    let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/never-pushed";
    for buildspec in ["buildspec.yml", "buildspec-oci-layout.yml"] {
        let mut build = Build::new(uri);
        build.project.insert("SHIPLINE_SHA256".into(), "0".repeat(64));
        // A presigned URL's signature must stay out of the build log.
        let url = format!("{}?X-Amz-Signature=not-for-logs", build.project["SHIPLINE_URL"]);
        build.project.insert("SHIPLINE_URL".into(), url);
        let outcome = build.run(buildspec);
        assert!(!outcome.log.contains("not-for-logs"), "{buildspec}: {}", outcome.log);
        let PhaseStatus::Failed { command, .. } = outcome.status(PhaseName::Install) else {
            panic!("{buildspec}: install should fail: {:?}\n{}", outcome.phases, outcome.log);
        };
        assert!(command.contains("sha256sum -c"), "{buildspec}: failed at {command}");
        let actual = &artifact().sha256;
        assert!(
            outcome.log.contains(&format!("SHA-256 mismatch for {}/{}:", service_url(&build), artifact().name))
                && outcome.log.contains(&format!("expected {}, downloaded {actual}", "0".repeat(64))),
            "{buildspec}: {}",
            outcome.log
        );
        // Nothing unpacked, nothing after install ran.
        assert!(!Path::new(&build.project["SHIPLINE_HOME"]).join("bin/shipline").exists(), "{buildspec}: unpacked");
        assert!(!outcome.log.contains("Running command shipline"), "{buildspec}: {}", outcome.log);
        for later in [PhaseName::Build, PhaseName::PostBuild] {
            assert_eq!(outcome.status(later), PhaseStatus::Skipped, "{buildspec}: {later:?}");
        }
        assert!(!outcome.succeeded());

        let mut build = Build::new(uri);
        build.project.remove("SHIPLINE_SHA256");
        let outcome = build.run(buildspec);
        assert!(matches!(outcome.status(PhaseName::Install), PhaseStatus::Failed { .. }));
        assert!(outcome.log.contains("set SHIPLINE_URL (the release tarball) and SHIPLINE_SHA256"), "{}", outcome.log);
        assert!(build.requests.lock().unwrap().is_empty(), "{buildspec}: downloaded without a checksum to check");
    }
}

/// The runner itself, on a buildspec written for it: one shell per phase, state carried, the
/// first failure stops the phase, `finally` still runs, `post_build` runs after a failed
/// `build` with CODEBUILD_BUILD_SUCCEEDING=0, exported variables read at the end.
#[test]
fn runner_follows_codebuild_phase_semantics() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let spec = spec::parse(
        r#"version: 0.2
env:
  variables: {FROM_SPEC: spec, OVERRIDDEN: spec}
  exported-variables: [A, B, C, OVERRIDDEN, NEVER]
phases:
  install:
    commands:
      - cd sub
      - A=$(basename "$PWD")
      - echo "pid $$" > ../install.pid
  pre_build:
    commands:
      - test "$PWD" = "$CODEBUILD_SRC_DIR"
      - echo "pid $$" > pre_build.pid
  build:
    commands:
      - B="$A-$FROM_SPEC-$CODEBUILD_BUILD_NUMBER"
      - "false"
      - echo not reached > not-reached
    finally:
      - C=finally
  post_build:
    commands:
      - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING" > post.txt
"#,
        "t.yml",
    )
    .unwrap();
    let codebuild = CodeBuild {
        project: "p".into(),
        build_number: 7,
        resolved_source_version: COMMIT.into(),
        source_version: COMMIT.into(),
        webhook_head_ref: None,
        src_dir: src.clone(),
        region: "eu-west-1".into(),
    };
    let project = BTreeMap::from([("OVERRIDDEN".to_owned(), "project".to_owned())]);
    let outcome = runner::run(&spec, &codebuild, &project, &tmp.path().join("w")).unwrap();
    assert_eq!(outcome.status(PhaseName::Install), PhaseStatus::Succeeded, "{}", outcome.log);
    assert_eq!(outcome.status(PhaseName::PreBuild), PhaseStatus::Succeeded, "{}", outcome.log);
    assert_eq!(outcome.status(PhaseName::Build), PhaseStatus::Failed { command: "false".into(), code: Some(1) });
    assert_eq!(outcome.status(PhaseName::PostBuild), PhaseStatus::Succeeded, "{}", outcome.log);
    assert!(!outcome.succeeded());
    assert!(!src.join("not-reached").exists(), "the first failing command stops the phase");
    assert_eq!(std::fs::read_to_string(src.join("post.txt")).unwrap(), "succeeding=0\n");
    let pid = |f: &str| std::fs::read_to_string(src.join(f)).unwrap();
    assert_ne!(pid("install.pid"), pid("pre_build.pid"), "one shell per phase");
    let want: BTreeMap<String, String> =
        [("A", "sub"), ("B", "sub-spec-7"), ("C", "finally"), ("OVERRIDDEN", "project")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(outcome.exported, want);
    assert!(
        outcome.log.contains("[Container] Command did not exit successfully false exit status 1"),
        "{}",
        outcome.log
    );
}

/// `scripts/release.sh`: the same binary packs to the same bytes; the tarball's entries are
/// sorted with fixed owner and mtime; the unpacked wrapper runs from anywhere (through a
/// symlink too) and loads every library from the tarball, none from the host.
#[test]
fn release_tarball_is_reproducible_and_self_contained() {
    let first = artifact();
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(repo_root().join("scripts/release.sh"))
        .args(["--binary", &service_env("SHIPLINE_BIN"), "--out"])
        .arg(tmp.path().join("again"))
        .output()
        .expect("scripts/release.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["sha256"].as_str(), Some(first.sha256.as_str()), "same binary, same tarball");
    eprintln!(
        "release tarball from {}: {} bytes, {}",
        service_env("SHIPLINE_BIN"),
        again["bytes"],
        again["debian_packages"]
    );

    let bytes = std::fs::read(first.dir.join(&first.name)).unwrap();
    let mut archive = tar::Archive::new(gunzip(&bytes));
    let mut paths = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!((header.uid().unwrap(), header.gid().unwrap(), header.mtime().unwrap()), (0, 0, 0));
        paths.push(entry.path().unwrap().display().to_string());
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries in path order");
    for want in [
        "shipline/bin/shipline",
        "shipline/libexec/shipline",
        "shipline/lib/ld-linux-x86-64.so.2",
        "shipline/lib/libc.so.6",
        "shipline/PACKAGES",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} in {paths:?}");
    }

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let status =
        Command::new("tar").arg("-xzf").arg(first.dir.join(&first.name)).arg("-C").arg(&home).status().unwrap();
    assert!(status.success());
    let link = tmp.path().join("on-path-shipline");
    std::os::unix::fs::symlink(home.join("shipline/bin/shipline"), &link).unwrap();
    let version = Command::new(&link)
        .arg("--version")
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        version.status.success() && String::from_utf8_lossy(&version.stdout).starts_with("shipline "),
        "{version:?}"
    );
    // The tarball's loader, run as the wrapper runs it, lists what it would load: every library
    // from the tarball's lib/, whatever LD_LIBRARY_PATH says.
    let dir = home.join("shipline");
    let traced = Command::new(dir.join("lib/ld-linux-x86-64.so.2"))
        .arg("--library-path")
        .arg(dir.join("lib"))
        .arg("--list")
        .arg(dir.join("libexec/shipline"))
        .env("LD_LIBRARY_PATH", "/usr/lib/x86_64-linux-gnu")
        .output()
        .unwrap();
    let wrapper = std::fs::read_to_string(dir.join("bin/shipline")).unwrap();
    assert!(
        wrapper.contains(
            r#"exec "$here/lib/ld-linux-x86-64.so.2" --library-path "$here/lib" "$here/libexec/shipline" "$@""#
        ),
        "{wrapper}"
    );
    let traced = String::from_utf8_lossy(&traced.stdout).into_owned();
    let lib = dir.join("lib").display().to_string();
    let resolved: Vec<&str> = traced.lines().filter_map(|l| l.split("=> ").nth(1)).collect();
    assert!(resolved.len() >= 4, "{traced}");
    for line in resolved {
        assert!(line.starts_with(&lib), "a library from outside the tarball: {line}\n{traced}");
    }
}

/// `bytes` gunzipped by the system's `gzip -dc` (the e2e crate has no gzip decoder of its own).
fn gunzip(bytes: &[u8]) -> std::io::Cursor<Vec<u8>> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "gzip -dc");
    std::io::Cursor::new(out.stdout)
}

/// A push that fails fails the build: the digest is read from `shipline push --json`'s output
/// only after shipline exited 0 (a pipe into `sed` would hide its exit status in `sh`).
#[test]
fn a_failed_push_fails_the_build() {
    let uri = create_repository();
    let missing = format!("{uri}-missing");
    let build = Build::new(&missing);
    let outcome = build.run("buildspec-oci-layout.yml");
    assert_eq!(outcome.status(PhaseName::Build), PhaseStatus::Succeeded, "{}", outcome.log);
    let PhaseStatus::Failed { command, .. } = outcome.status(PhaseName::PostBuild) else {
        panic!("post_build should fail: {:?}\n{}", outcome.phases, outcome.log);
    };
    assert!(command.contains("shipline push"), "failed at {command}");
    assert!(!outcome.log.contains("pushed "), "{}", outcome.log);
}

/// A command that ends the shell (`exit`) fails the phase at that command; `on-failure:
/// CONTINUE` lets the next phase run, `ABORT` (the default) skips everything but `post_build`
/// after `build`; a syntax error fails its own command only.
#[test]
fn runner_handles_exit_syntax_errors_and_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let codebuild = CodeBuild {
        project: "p".into(),
        build_number: 1,
        resolved_source_version: COMMIT.into(),
        source_version: COMMIT.into(),
        webhook_head_ref: None,
        src_dir: src,
        region: "us-east-1".into(),
    };
    let run = |text: &str, work: &str| {
        let spec = spec::parse(text, "t.yml").unwrap();
        runner::run(&spec, &codebuild, &BTreeMap::new(), &tmp.path().join(work)).unwrap()
    };
    let outcome = run(
        "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands: ['exit 3', 'echo no']\n  pre_build:\n    commands: ['if then fi', 'echo no']\n  build:\n    commands: ['echo no']\n",
        "a",
    );
    assert_eq!(outcome.status(PhaseName::Install), PhaseStatus::Failed { command: "exit 3".into(), code: Some(3) });
    let PhaseStatus::Failed { command, .. } = outcome.status(PhaseName::PreBuild) else {
        panic!("pre_build runs after a CONTINUE install and fails: {:?}\n{}", outcome.phases, outcome.log);
    };
    assert_eq!(command, "if then fi");
    assert_eq!(outcome.status(PhaseName::Build), PhaseStatus::Skipped);
    assert!(!outcome.log.contains("Running command echo no"), "{}", outcome.log);
}
