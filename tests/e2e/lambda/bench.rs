//! Benchmark of the Lambda binary (ignored by default; figures are printed, never asserted):
//!
//! - warm: event-to-pushed-commit latency over 100 ECR push events, each a newer build, so each
//!   makes a commit on the local git server (HTTP); p50 and p99;
//! - cold start proxy: process start to the first `GET /next` (init done) and to the first
//!   event handled (an ignored `DELETE`, no network), over 20 fresh processes.
//!
//! The binary runs under [`super::http::RuntimeApi`], a minimal Runtime API, so the figures are
//! the function's own, without an emulator's overhead. Build profile: `SHIPLINE_LAMBDA_PROFILE`
//! (use `bench`: optimised, no LTO).
//!
//! ```sh
//! SHIPLINE_LAMBDA_PROFILE=bench cargo test -p shipline-e2e lambda::bench -- --ignored --nocapture
//! ```

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shipline_e2e::GitServer;

use super::http::RuntimeApi;
use super::{bootstrap_binary, function_env, push_event, seed};

fn spawn(api: &RuntimeApi, env: &std::collections::BTreeMap<&str, String>) -> (Child, Instant) {
    let started = Instant::now();
    let child = Command::new(bootstrap_binary())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "shipline-bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("SHIPLINE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn bootstrap");
    (child, started)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (see the module docs)"]
fn lambda_latency_and_cold_start() {
    let server = GitServer::from_env();
    let (repo, prefix) = seed(&server, 1);
    let env = function_env(&server, &repo.http_url);
    let repository = format!("{prefix}/svc-0");
    bootstrap_binary();

    let mut init = Vec::new();
    let mut first = Vec::new();
    for n in 0..20 {
        let api = RuntimeApi::start();
        let (mut child, started) = spawn(&api, &env);
        let answer = api.invoke(&format!("cold-{n}"), push_event(&repository, Some("x"), "DELETE", "SUCCESS"));
        let next = api.first_next.recv().expect("first GET /next");
        assert_eq!(answer.kind, "response", "{:?}", answer.body);
        init.push(next - started);
        first.push(answer.answered - started);
        child.kill().expect("stop bootstrap");
        child.wait().expect("reap bootstrap");
    }

    let api = RuntimeApi::start();
    let (mut child, _) = spawn(&api, &env);
    let warmup = api.invoke("warmup", push_event(&repository, Some("main-1f49071-2"), "PUSH", "SUCCESS"));
    assert_eq!(warmup.body["status"], "updated", "{}", warmup.body);
    let mut warm = Vec::new();
    for n in 0..100 {
        let tag = format!("main-1f49071-{}", n + 3);
        let answer = api.invoke(&format!("warm-{n}"), push_event(&repository, Some(&tag), "PUSH", "SUCCESS"));
        assert_eq!(answer.body["status"], "updated", "{}", answer.body);
        warm.push(answer.answered - answer.served);
    }
    child.kill().expect("stop bootstrap");
    child.wait().expect("reap bootstrap");
    assert_eq!(repo.commits_on_main(), 102, "every event pushed a commit");

    for v in [&mut init, &mut first, &mut warm] {
        v.sort();
    }
    let profile = std::env::var("SHIPLINE_LAMBDA_PROFILE").unwrap_or_else(|_| "dev".into());
    println!("lambda bench (profile {profile}, binary {})", bootstrap_binary().display());
    println!(
        "  warm event -> pushed commit, 100 events: p50 {} p99 {} max {}",
        ms(percentile(&warm, 50.0)),
        ms(percentile(&warm, 99.0)),
        ms(percentile(&warm, 100.0))
    );
    println!(
        "  cold: process start -> first GET /next (init), 20 runs: p50 {} max {}",
        ms(percentile(&init, 50.0)),
        ms(percentile(&init, 100.0))
    );
    println!(
        "  cold: process start -> first event handled, 20 runs: p50 {} max {}",
        ms(percentile(&first, 50.0)),
        ms(percentile(&first, 100.0))
    );
}
