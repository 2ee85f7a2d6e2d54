//! `shipline build` against `kubectl kustomize` on the same trees, in one run.
//!
//! Run with `cargo bench -p shipline-kustomize --bench build`. Two trees are generated in a
//! temporary directory: a small overlay (one base, one overlay) and a large tree of 60 services x
//! 4 environments (about 1,200 resources, with strategic merge and JSON 6902 patches, generators,
//! images, labels, replicas, name prefixes and namespaces). Each tree is built by kubectl and by
//! the engine several times; the bench asserts identical bytes and prints the median times, the
//! ratio, and the peak resident memory of both. Times are printed, never asserted.
//!
//! Memory is measured honestly in a child process: the bench binary re-executes itself with
//! `SHIPLINE_BENCH_CHILD=<dir>` (the child builds the tree and prints the output), and the parent
//! reads the child's `ru_maxrss` with `wait4`, exactly as it does for kubectl.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable that turns the bench binary into a one-shot build child.
const CHILD_VAR: &str = "SHIPLINE_BENCH_CHILD";
/// Services in the large tree.
const SERVICES: usize = 60;
/// Environments in the large tree.
const ENVS: [&str; 4] = ["dev", "staging", "prod", "canary"];

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_VAR) {
        let out = shipline_kustomize::build(Path::new(&dir)).unwrap_or_else(|e| panic!("build failed: {e}"));
        print!("{out}");
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let tmp = tempfile::tempdir().expect("tempdir");
    // `SHIPLINE_BENCH_TREES=<dir>` only writes the trees there (for profiling) and exits.
    let keep = std::env::var_os("SHIPLINE_BENCH_TREES").map(PathBuf::from);
    let base = keep.as_deref().unwrap_or(tmp.path());
    let small = base.join("small");
    write_small(&small);
    let large = base.join("large");
    write_large(&large);
    if keep.is_some() {
        return;
    }

    println!("shipline-kustomize build bench ({} CPUs)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    run_case("small overlay", &small.join("overlays/prod"), 5);
    run_case(&format!("large: {SERVICES} services x {} envs", ENVS.len()), &large, 5);
}

/// One measured process run: wall time, peak RSS in KiB, stdout.
struct Run {
    time: Duration,
    max_rss_kib: i64,
    stdout: Vec<u8>,
}

fn run_case(name: &str, dir: &Path, runs: usize) {
    let exe = std::env::current_exe().expect("current exe");
    let mut kubectl = Vec::new();
    let mut engine_child = Vec::new();
    let mut engine_inproc = Vec::new();
    let mut reference: Option<Vec<u8>> = None;
    for _ in 0..runs {
        let k = run(Command::new("kubectl").arg("kustomize").arg(dir));
        let c = run(Command::new(&exe).env(CHILD_VAR, dir));
        let start = Instant::now();
        let out = shipline_kustomize::build(dir).unwrap_or_else(|e| panic!("{name}: build failed: {e}"));
        engine_inproc.push(start.elapsed());
        let want = reference.get_or_insert_with(|| k.stdout.clone());
        assert!(&k.stdout == want, "{name}: kubectl output is not stable across runs");
        assert!(c.stdout == *want, "{name}: engine (child process) output differs from kubectl");
        assert!(out.as_bytes() == want.as_slice(), "{name}: engine output differs from kubectl");
        kubectl.push(k);
        engine_child.push(c);
    }
    let bytes = reference.unwrap_or_default();
    let docs = bytes.split(|&b| b == b'\n').filter(|l| l.starts_with(b"kind: ")).count();
    let k_time = median(kubectl.iter().map(|r| r.time).collect());
    let c_time = median(engine_child.iter().map(|r| r.time).collect());
    let i_time = median(engine_inproc);
    let k_rss = kubectl.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
    let c_rss = engine_child.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(s, "\n{name}: {docs} resources, {} bytes, identical output in all {runs} runs", bytes.len());
    let _ = writeln!(s, "  kubectl kustomize        median {:>9.1} ms   peak RSS {:>7.1} MiB", ms(k_time), mib(k_rss));
    let _ = writeln!(s, "  engine (child process)   median {:>9.1} ms   peak RSS {:>7.1} MiB", ms(c_time), mib(c_rss));
    let _ = writeln!(s, "  engine (in process)      median {:>9.1} ms", ms(i_time));
    let _ = writeln!(
        s,
        "  ratio kubectl/engine: {:.1}x (process vs process), {:.1}x (in process)",
        k_time.as_secs_f64() / c_time.as_secs_f64(),
        k_time.as_secs_f64() / i_time.as_secs_f64()
    );
    print!("{s}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs a command with stdout to a file and reaps it with `wait4` to read its own peak RSS.
fn run(cmd: &mut Command) -> Run {
    let out_file = tempfile::tempfile().expect("temp file");
    let start = Instant::now();
    let child =
        cmd.stdout(Stdio::from(out_file.try_clone().expect("dup"))).stderr(Stdio::inherit()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let time = start.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{cmd:?} failed");
    let mut f = out_file;
    let mut stdout = Vec::new();
    use std::io::{Read, Seek};
    f.rewind().expect("rewind");
    f.read_to_end(&mut stdout).expect("read output");
    // The child is reaped; `Child` has no Drop side effects.
    drop(child);
    Run { time, max_rss_kib: usage.ru_maxrss, stdout }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

/// Base of one service: Deployment, Service, ServiceAccount, a ConfigMap and a Secret generator.
fn write_base(dir: &Path, svc: &str) {
    write(
        &dir.join("kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
resources:\n- deployment.yaml\n- service.yaml\n- serviceaccount.yaml\n\
labels:\n- pairs:\n    app.kubernetes.io/name: {svc}\n  includeSelectors: true\n\
configMapGenerator:\n- name: {svc}-config\n  files:\n  - app.properties\n  literals:\n  - LOG_LEVEL=info\n  - PORT=\"8080\"\n\
secretGenerator:\n- name: {svc}-secret\n  literals:\n  - password=changeme\n"
        ),
    );
    write(
        &dir.join("app.properties"),
        &format!("service.name={svc}\nfeature.flags=a,b,c\ncache.size=128\ntimeout: 30s\n"),
    );
    write(
        &dir.join("deployment.yaml"),
        &format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {svc}
  annotations:
    team: platform
spec:
  replicas: 1
  template:
    spec:
      serviceAccountName: {svc}
      containers:
      - name: app
        image: registry.example.com/{svc}:latest
        args: ["--port=8080", "--config=/etc/app/app.properties"]
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: SERVICE
          value: {svc}
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              name: {svc}-secret
              key: password
        envFrom:
        - configMapRef:
            name: {svc}-config
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
        volumeMounts:
        - name: config
          mountPath: /etc/app
      - name: sidecar
        image: registry.example.com/proxy:1.0
        ports:
        - containerPort: 9901
      volumes:
      - name: config
        configMap:
          name: {svc}-config
"#
        ),
    );
    write(
        &dir.join("service.yaml"),
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\nspec:\n  ports:\n  - port: 80\n    targetPort: http\n    name: http\n"
        ),
    );
    write(
        &dir.join("serviceaccount.yaml"),
        &format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {svc}\n"),
    );
}

/// A number as 64 hex digits (a fake image digest).
struct Hex64(usize);

impl std::fmt::Display for Hex64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:064x}", self.0)
    }
}

/// One environment overlay of one service.
fn write_overlay(dir: &Path, svc: &str, env: &str, i: usize) {
    write(
        &dir.join("kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
resources:\n- ../../base\nnamePrefix: {env}-\nnamespace: {env}\n\
labels:\n- pairs:\n    env: {env}\n  includeSelectors: true\n- pairs:\n    tier: backend\n\
commonAnnotations:\n  owner: team-{team}\n\
images:\n- name: registry.example.com/{svc}\n  newTag: \"1.{i}.0-{env}\"\n- name: registry.example.com/proxy\n  newName: mirror.example.com/proxy\n  digest: sha256:{digest}\n\
replicas:\n- name: {svc}\n  count: {replicas}\n\
configMapGenerator:\n- name: {svc}-config\n  behavior: merge\n  literals:\n  - LOG_LEVEL={level}\n\
patches:\n- path: resources.yaml\n- target:\n    kind: Deployment\n    name: {svc}\n  patch: |-\n    - op: add\n      path: /spec/template/spec/containers/0/env/-\n      value:\n        name: ENVIRONMENT\n        value: {env}\n    - op: replace\n      path: /spec/template/spec/containers/0/resources/requests/cpu\n      value: {cpu}m\n",
            team = i % 7,
            digest = Hex64(i + 1),
            replicas = 1 + i % 5,
            level = if env == "prod" { "warn" } else { "debug" },
            cpu = 100 + 50 * (i % 4),
        ),
    );
    write(
        &dir.join("resources.yaml"),
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {svc}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        resources:\n          limits:\n            memory: {mem}Mi\n        env:\n        - name: SERVICE\n          value: {svc}-{env}\n",
            mem = 256 * (1 + i % 3)
        ),
    );
}

/// 60 services, each with a base and 4 environment overlays; one kustomization per environment
/// includes the 60 overlays of that environment, and the root includes the 4 environments.
fn write_large(root: &Path) {
    let mut top = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for env in ENVS {
        let mut envk = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nlabels:\n- pairs:\n    stage: {env}\n  includeSelectors: true\nresources:\n"
        );
        for i in 0..SERVICES {
            let svc = format!("svc-{i:02}");
            let _ = writeln!(envk, "- ../../services/{svc}/overlays/{env}");
        }
        write(&root.join("envs").join(env).join("kustomization.yaml"), &envk);
        let _ = writeln!(top, "- envs/{env}");
    }
    for i in 0..SERVICES {
        let svc = format!("svc-{i:02}");
        let dir: PathBuf = root.join("services").join(&svc);
        write_base(&dir.join("base"), &svc);
        for env in ENVS {
            write_overlay(&dir.join("overlays").join(env), &svc, env, i);
        }
    }
    write(&root.join("kustomization.yaml"), &top);
}

/// A small overlay: one service base and one environment overlay (5 resources).
fn write_small(root: &Path) {
    write_base(&root.join("base"), "web");
    write_overlay(&root.join("overlays/prod"), "web", "prod", 3);
}
