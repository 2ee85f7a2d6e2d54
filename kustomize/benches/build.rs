//! `shipline build` against `kubectl kustomize` on the same trees, in one run.
//!
//! Run with `cargo bench --workspace --bench build` (bench profile: opt-level 3, no LTO). Trees
//! are generated in a temporary directory: a small overlay (one base, one overlay), a large tree
//! of 60 services x 4 environments (1,200 resources, with strategic merge and JSON 6902 patches,
//! generators, images, labels, replicas, name prefixes and namespaces), the same with 240
//! services (4,800 resources), and the parse + print floor: a kustomization whose only resource
//! is the 4,800-resource output (no transforms; the engine must print it back unchanged). Each
//! tree is built by kubectl and by the engine several times; the bench asserts identical bytes
//! and prints the median times (and the engine's user and system CPU), the ratio, the peak
//! resident memory of both, the per-resource time and memory at 1,200 and 4,800 resources
//! (linearity) and the floor's MB/s. kubectl takes
//! about two minutes on the 4,800-resource tree, so it runs there (once) only with
//! `SHIPLINE_BENCH_KUBECTL_XL=1`; without it the engine's output is only checked for stability.
//! Times are printed, never asserted.
//!
//! The bench links jemalloc, as the `shipline` binary does on Linux.
//!
//! Memory is measured honestly in a child process: the bench binary re-executes itself with
//! `SHIPLINE_BENCH_CHILD=<dir>` (the child builds the tree, prints the output, and reports its
//! build time and its own `VmHWM` on stderr); the parent reads kubectl's `ru_maxrss` with
//! `wait4`. The parent never builds a large tree itself, so the children it forks are measured
//! alone ("in process" below is the child's build time without process start-up).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The allocator of the `shipline` binary, so the figures are what `shipline build` costs.
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Environment variable that turns the bench binary into a one-shot build child.
const CHILD_VAR: &str = "SHIPLINE_BENCH_CHILD";
/// Prefix of the line a build child writes to stderr: build nanoseconds and `VmHWM` in KiB.
const REPORT: &str = "shipline-bench-child:";
/// Opt-in: also time `kubectl kustomize` on the 4,800-resource tree (about two minutes a run).
const KUBECTL_XL_VAR: &str = "SHIPLINE_BENCH_KUBECTL_XL";
/// Services in the large tree (1,200 resources).
const SERVICES: usize = 60;
/// Services in the extra-large tree (4,800 resources).
const SERVICES_XL: usize = 240;
/// Environments in the large trees.
const ENVS: [&str; 4] = ["dev", "staging", "prod", "canary"];

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_VAR) {
        let start = Instant::now();
        let out = shipline_kustomize::build(Path::new(&dir)).unwrap_or_else(|e| panic!("build failed: {e}"));
        let took = start.elapsed();
        print!("{out}");
        // The build's own time, and the peak RSS of this process image (`VmHWM`, counted from
        // exec; `ru_maxrss` of a child also counts the parent's pages at fork time).
        let hwm = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").to_string()))
            })
            .unwrap_or_default();
        eprintln!("{REPORT} {} {hwm}", took.as_nanos());
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
    write_large(&large, SERVICES);
    let xl = base.join("xlarge");
    write_large(&xl, SERVICES_XL);
    // The parse + print floor: one kustomization listing the 4,800-resource build's output as its
    // only resource (no transforms; printing kustomize's own output gives the same bytes back).
    let floor = base.join("floor");
    // Built by a child: the parent stays small, so the children it forks are measured alone.
    let exe = std::env::current_exe().expect("current exe");
    let xl_out = String::from_utf8(run(Command::new(&exe).env(CHILD_VAR, &xl)).stdout).expect("UTF-8 output");
    write(&floor.join("all.yaml"), &xl_out);
    write(&floor.join("kustomization.yaml"), "resources:\n- all.yaml\n");
    if keep.is_some() {
        return;
    }

    println!("shipline-kustomize build bench ({} CPUs)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    run_case("small overlay", &small.join("overlays/prod"), 5, Oracle::Kubectl);
    let l = run_case(&format!("large: {SERVICES} services x {} envs", ENVS.len()), &large, 5, Oracle::Kubectl);
    let xl_oracle = if std::env::var_os(KUBECTL_XL_VAR).is_some() { Oracle::Kubectl } else { Oracle::Skip };
    let x = run_case(&format!("xlarge: {SERVICES_XL} services x {} envs", ENVS.len()), &xl, 3, xl_oracle.clone());
    if xl_oracle == Oracle::Skip {
        println!("  (kubectl skipped on this tree: set {KUBECTL_XL_VAR}=1 to time it, about 2 min a run)");
    }
    // Linearity: per-resource cost at 1,200 and at 4,800 resources.
    println!("\nscaling (engine, child process), per resource:");
    for (name, s) in [("1,200", &l), ("4,800", &x)] {
        println!(
            "  {name:>5} resources: {:>7.1} us/resource   {:>6.2} KiB peak RSS/resource",
            s.engine.as_secs_f64() * 1e6 / s.docs as f64,
            s.rss_kib as f64 / s.docs as f64
        );
    }
    println!(
        "  time x{:.2} and peak RSS x{:.2} for x{:.2} resources",
        x.engine.as_secs_f64() / l.engine.as_secs_f64(),
        x.rss_kib as f64 / l.rss_kib as f64,
        x.docs as f64 / l.docs as f64
    );
    let f = run_case("floor: parse + print of the xlarge output as one resource", &floor, 5, Oracle::Bytes(xl_out));
    println!(
        "  floor throughput: {:.1} MB/s (child process), {:.1} MB/s (build only)",
        f.bytes as f64 / 1e6 / f.engine.as_secs_f64(),
        f.bytes as f64 / 1e6 / f.inproc.as_secs_f64()
    );
}

/// What an engine build is checked against.
#[derive(Clone, PartialEq)]
enum Oracle {
    /// `kubectl kustomize` on the same tree (timed too).
    Kubectl,
    /// Known bytes (the input of the floor tree).
    Bytes(String),
    /// Nothing: the engine is timed alone.
    Skip,
}

/// The figures one case reports back.
struct Summary {
    docs: usize,
    bytes: usize,
    engine: Duration,
    inproc: Duration,
    rss_kib: i64,
}

/// One measured process run: wall time, peak RSS in KiB, stdout.
struct Run {
    time: Duration,
    /// User and system CPU time of the process (steadier than wall time on a loaded machine).
    cpu: (Duration, Duration),
    max_rss_kib: i64,
    /// What a build child reported: its build time and its own peak RSS (KiB).
    build_time: Option<Duration>,
    own_hwm_kib: Option<i64>,
    stdout: Vec<u8>,
}

fn run_case(name: &str, dir: &Path, runs: usize, oracle: Oracle) -> Summary {
    let exe = std::env::current_exe().expect("current exe");
    let mut kubectl = Vec::new();
    let mut engine_child = Vec::new();
    let mut engine_inproc = Vec::new();
    let mut reference: Option<Vec<u8>> = match &oracle {
        Oracle::Bytes(b) => Some(b.clone().into_bytes()),
        _ => None,
    };
    for i in 0..runs {
        // kubectl on the extra-large tree runs once: one run is two minutes.
        let k = (oracle == Oracle::Kubectl && (i == 0 || runs >= 5))
            .then(|| run(Command::new("kubectl").arg("kustomize").arg(dir)));
        let c = run(Command::new(&exe).env(CHILD_VAR, dir));
        engine_inproc.push(c.build_time.expect("the child reports its build time"));
        if let Some(k) = &k {
            let want = reference.get_or_insert_with(|| k.stdout.clone());
            assert!(&k.stdout == want, "{name}: kubectl output is not stable across runs");
        }
        let want = reference.get_or_insert_with(|| c.stdout.clone());
        assert!(c.stdout == *want, "{name}: engine (child process) output differs from the reference");
        kubectl.extend(k);
        engine_child.push(c);
    }
    let bytes = reference.unwrap_or_default();
    let docs = bytes.split(|&b| b == b'\n').filter(|l| l.starts_with(b"kind: ")).count();
    let c_time = median(engine_child.iter().map(|r| r.time).collect());
    let i_time = median(engine_inproc);
    let c_rss = engine_child.iter().map(|r| r.own_hwm_kib.unwrap_or(r.max_rss_kib)).max().unwrap_or(0);
    let checked = match oracle {
        Oracle::Kubectl => "identical to kubectl",
        Oracle::Bytes(_) => "identical to the input",
        Oracle::Skip => "stable",
    };
    let mut s = String::new();
    let _ = writeln!(s, "\n{name}: {docs} resources, {} bytes, {checked} in all {runs} runs", bytes.len());
    if !kubectl.is_empty() {
        let k_time = median(kubectl.iter().map(|r| r.time).collect());
        let k_rss = kubectl.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "  kubectl kustomize        median {:>9.1} ms   peak RSS {:>7.1} MiB   ({} runs)",
            ms(k_time),
            mib(k_rss),
            kubectl.len()
        );
        let _ = writeln!(
            s,
            "  ratio kubectl/engine: {:.1}x (process vs process), {:.1}x (build only); RSS {:.1}x",
            k_time.as_secs_f64() / c_time.as_secs_f64(),
            k_time.as_secs_f64() / i_time.as_secs_f64(),
            k_rss as f64 / c_rss.max(1) as f64
        );
    }
    let _ = writeln!(s, "  engine (child process)   median {:>9.1} ms   peak RSS {:>7.1} MiB", ms(c_time), mib(c_rss));
    let _ = writeln!(
        s,
        "  engine CPU, median       user {:>7.1} ms   system {:>7.1} ms",
        ms(median(engine_child.iter().map(|r| r.cpu.0).collect())),
        ms(median(engine_child.iter().map(|r| r.cpu.1).collect()))
    );
    let _ = writeln!(s, "  engine build, no start-up median {:>9.1} ms", ms(i_time));
    print!("{s}");
    Summary { docs, bytes: bytes.len(), engine: c_time, inproc: i_time, rss_kib: c_rss }
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

/// Runs a command with stdout and stderr to files and reaps it with `wait4` to read its peak RSS.
fn run(cmd: &mut Command) -> Run {
    use std::io::{Read, Seek};
    let out_file = tempfile::tempfile().expect("temp file");
    let err_file = tempfile::tempfile().expect("temp file");
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::from(out_file.try_clone().expect("dup")))
        .stderr(Stdio::from(err_file.try_clone().expect("dup")))
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let time = start.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    let read = |mut f: fs::File| {
        let mut bytes = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut bytes).expect("read output");
        bytes
    };
    let stdout = read(out_file);
    let stderr = String::from_utf8_lossy(&read(err_file)).into_owned();
    for line in stderr.lines().filter(|l| !l.starts_with(REPORT)) {
        eprintln!("{line}");
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{cmd:?} failed");
    // The child is reaped; `Child` has no Drop side effects.
    drop(child);
    let report: Vec<&str> =
        stderr.lines().find_map(|l| l.strip_prefix(REPORT)).map(|r| r.split_whitespace().collect()).unwrap_or_default();
    let build_time = report.first().and_then(|n| n.parse().ok()).map(Duration::from_nanos);
    let own_hwm_kib = report.get(1).and_then(|k| k.parse().ok());
    let cpu = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        time,
        cpu: (cpu(usage.ru_utime), cpu(usage.ru_stime)),
        max_rss_kib: usage.ru_maxrss,
        build_time,
        own_hwm_kib,
        stdout,
    }
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

/// `services` services, each with a base and 4 environment overlays; one kustomization per
/// environment includes the overlays of that environment, and the root includes the 4 environments.
fn write_large(root: &Path, services: usize) {
    let mut top = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for env in ENVS {
        let mut envk = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nlabels:\n- pairs:\n    stage: {env}\n  includeSelectors: true\nresources:\n"
        );
        for i in 0..services {
            let svc = format!("svc-{i:02}");
            let _ = writeln!(envk, "- ../../services/{svc}/overlays/{env}");
        }
        write(&root.join("envs").join(env).join("kustomization.yaml"), &envk);
        let _ = writeln!(top, "- envs/{env}");
    }
    for i in 0..services {
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
