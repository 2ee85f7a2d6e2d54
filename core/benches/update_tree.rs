//! Benchmark: scan and edit a generated repository of 10,000 YAML files holding 1,000 setter
//! markers, compared with `grep -rl '"$imagepolicy"'` over the same tree in the same run.
//!
//! `cargo bench -p shipline-core --bench update_tree` prints the figures; it asserts nothing
//! about time (goals live in the issue notes, not in tests).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shipline_core::image::ImageRef;
use shipline_core::update::overlay::{PolicyRef, Target, Updates, tree};

const FILES: usize = 10_000;
const MARKED_EVERY: usize = 10; // 1,000 marked files
const RUNS: usize = 5;

fn generate(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("apps/svc-{:03}/overlays/env-{}", i / 40, i % 4));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = if i % MARKED_EVERY == 0 {
            format!(" # {{\"$imagepolicy\": \"apps:svc-{}\"}}", i / MARKED_EVERY)
        } else {
            String::new()
        };
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  labels:\n    app: svc-{i}\n    tier: backend\n\
             spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: svc-{i}\n  template:\n    metadata:\n      labels:\n        app: svc-{i}\n\
             \x20   spec:\n      containers:\n      - name: app\n        image: reg/svc-{i}:main-0000000-1{marker}\n        ports:\n        - containerPort: 8080\n\
             \x20       env:\n        - name: MODE\n          value: \"production\"\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n"
        );
        std::fs::write(dir.join(format!("deployment-{i}.yaml")), text).unwrap();
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().join("repo");
    let t = Instant::now();
    generate(&root);
    println!("generated {FILES} files ({} marked) in {:?}", FILES / MARKED_EVERY, t.elapsed());

    let mut updates = Updates::default();
    for p in 0..FILES / MARKED_EVERY {
        let policy = PolicyRef::parse(&format!("apps:svc-{p}")).unwrap();
        let image = ImageRef::parse(&format!("reg/svc-{}:main-abcdef0-2", p * MARKED_EVERY)).unwrap();
        updates.by_policy.insert(policy, image);
    }
    let allow = |_: &Target, _: &str, _: &str| true;

    // Phases, to see where the time goes.
    let t = Instant::now();
    let candidates = tree::candidate_files(std::slice::from_ref(&root)).unwrap();
    let walk = t.elapsed();
    let t = Instant::now();
    let finder = memchr::memmem::Finder::new(b"\"$imagepolicy\"");
    let mut marked_texts = Vec::new();
    for path in &candidates {
        let bytes = std::fs::read(path).unwrap();
        if finder.find(&bytes).is_some() {
            marked_texts.push(String::from_utf8(bytes).unwrap());
        }
    }
    let read = t.elapsed();
    let t = Instant::now();
    for text in &marked_texts {
        shipline_core::update::overlay::scan::scan(text, false).unwrap();
    }
    let scan = t.elapsed();
    let t = Instant::now();
    for text in &marked_texts {
        shipline_core::update::overlay::edit_file(text, &updates, false, &allow).unwrap();
    }
    let edit = t.elapsed();
    println!("phases: walk {walk:?}, read+filter {read:?}, scan {scan:?}, edit (scan+splice+verify) {edit:?}");

    let mut plan_times = Vec::new();
    let mut grep_times = Vec::new();
    let mut changed = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = Command::new("grep").args(["-rl", "\"$imagepolicy\"", "."]).current_dir(&root).output().unwrap();
        grep_times.push(t.elapsed());
        assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), FILES / MARKED_EVERY);

        let t = Instant::now();
        let files = tree::plan(std::slice::from_ref(&root), &updates, &allow).unwrap();
        plan_times.push(t.elapsed());
        changed = files.iter().filter(|f| f.is_changed()).count();
    }
    let files = tree::plan(std::slice::from_ref(&root), &updates, &allow).unwrap();
    let t = Instant::now();
    tree::write(&files).unwrap();
    let write_time = t.elapsed();

    let (plan, grep) = (median(plan_times), median(grep_times));
    println!("files changed:          {changed}");
    println!("scan + edit (plan):     {plan:?} (median of {RUNS})");
    println!("grep -rl \"$imagepolicy\": {grep:?} (median of {RUNS})");
    println!("ratio plan / grep:      {:.2}x", plan.as_secs_f64() / grep.as_secs_f64());
    println!("atomic write of {changed} files: {write_time:?}");
}
