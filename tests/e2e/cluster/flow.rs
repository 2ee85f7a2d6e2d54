//! The whole flow on the real node: an image is built (offline: static busybox httpd in a layer)
//! and pushed with `shipline push` to the ECR emulator under a branch-commit-build tag; the ECR
//! push event goes to the Lambda (the real `bootstrap` in ministack's Lambda runtime), which
//! commits the overlay change to the git server; the reconciler in the cluster (installed from
//! `manifests/`) fetches it, applies it, and the front-end Pods of the new image become Ready
//! (containerd pulls from the ECR emulator). Then a tag that was never pushed: the rollout
//! stalls in ImagePullBackOff, the reconciler reports the Deployment unhealthy in its status
//! ConfigMap and an Event, and the previous Pods keep serving.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use shipline_e2e::{GitServer, require_local_aws, service_env, unique_name};

use super::install::{Install, SyncFile, main_commit, status_field, wait_front_end};
use super::support::{
    Node, build_front_end_image, build_reconciler_image, exclusive, push_to_test_registry, repo_root, run,
    shipline_bin, wait_for,
};
use crate::lambda::Lambda;

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// `shipline push` of a layout to the ECR emulator (credentials from GetAuthorizationToken);
/// returns the digest.
fn push_to_ecr(layout: &std::path::Path, repository: &str, tag: &str) -> String {
    let stdout = run(Command::new(shipline_bin())
        .args(["push", "--json", "--oci-layout"])
        .arg(layout)
        .args(["--repository", &format!("{ECR}/{repository}"), "--tag", tag])
        .args(["--registry-endpoint", &service_env("SHIPLINE_TEST_MINISTACK_URL")]));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("push --json");
    report["digest"].as_str().expect("digest").to_owned()
}

fn ecr_push_event(repository: &str, tag: &str, digest: &str) -> serde_json::Value {
    json!({
        "version": "0", "id": unique_name("event"), "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2026-11-30T12:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": repository, "image-digest": digest,
                   "action-type": "PUSH", "image-tag": tag}
    })
}

fn page(node: &Node, ns: &str, pod: &str) -> String {
    let ip = node.kubectl(&["get", "pod", "-n", ns, pod, "-o", "jsonpath={.status.podIP}"]);
    run(Command::new("curl").args(["-fsS", "--max-time", "10", &format!("http://{ip}:8079/")]))
}

// The guard serializes whole tests (each has its own runtime); no task of this runtime takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_event_lambda_commit_reconcile_rollout_then_a_missing_tag_stalls() {
    let _one_at_a_time = exclusive();
    require_local_aws();
    let node = Node::from_env();
    let git = GitServer::from_env();
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let repository = format!("{}/front-end", unique_name("flow"));
    let ecr = aws_sdk_ecr::Client::new(&shipline_core::aws::load_sdk_config().await);
    ecr.create_repository().repository_name(&repository).send().await.expect("CreateRepository");

    // v1 in ECR, the example repository pointing at it, the reconciler installed.
    build_front_end_image(&w.join("v1"), "<h1>front-end v1</h1>\n");
    push_to_ecr(&w.join("v1"), &repository, "main-1f49071-1");
    let tree = w.join("microservices");
    run(Command::new("cp").arg("-r").arg(repo_root().join("manifests/examples/sock-shop")).arg(&tree));
    let v1 = format!("{ECR}/{repository}:main-1f49071-1");
    run(Command::new(shipline_bin()).args(["update", "--set", &format!("flux-system:front-end={v1}")]).arg(&tree));
    let config = std::fs::read_to_string(tree.join("shipline.yaml"))
        .unwrap()
        .replace(&format!("{ECR}/front-end"), &format!("{ECR}/{repository}"));
    let files: Vec<(String, String)> = [
        "shipline.yaml",
        "base/deployment.yaml",
        "base/service.yaml",
        "base/kustomization.yaml",
        "overlays/development/kustomization.yaml",
        "overlays/development/namespace.yaml",
    ]
    .iter()
    .map(|f| {
        (
            f.to_string(),
            if *f == "shipline.yaml" { config.clone() } else { std::fs::read_to_string(tree.join(f)).unwrap() },
        )
    })
    .collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let repo = git.seed_repo(&unique_name("flow"), &borrowed);
    let repo_name = repo.https_url.rsplit('/').next().unwrap().to_owned();

    build_reconciler_image(&shipline_bin(), &w.join("reconciler"));
    let (reconciler, _) = push_to_test_registry(&w.join("reconciler"), "shipline", &unique_name("t").replace('_', "-"));
    let sync = SyncFile {
        name: "sock-shop-development",
        git_url: format!("{}/{repo_name}", node.git_https_base),
        path: "overlays/development",
        namespace: "default",
        interval: "5s",
        timeout: "45s",
    };
    let install = Install::apply(&node, w, "manifests", &reconciler, &sync, "sock-shop-dev");
    install.wait_reconciler_ready(&reconciler);
    let old = wait_front_end(&node, "sock-shop-dev", &v1, Duration::from_secs(240));
    assert!(page(&node, "sock-shop-dev", &old[0]).contains("v1"));

    // The Lambda, as the other Lambda tests run it, updating the repository over HTTPS.
    let lambda = Lambda::new();
    let env = std::collections::BTreeMap::from([
        ("SHIPLINE_GIT_URL", repo.https_url.clone()),
        ("SHIPLINE_GIT_AUTH", "password".to_owned()),
        ("SHIPLINE_GIT_USERNAME", git.user.clone()),
        ("SHIPLINE_GIT_PASSWORD", git.password.clone()),
        ("SHIPLINE_GIT_CA_FILE", git.ca_file.display().to_string()),
        ("SHIPLINE_LOG", "info".to_owned()),
    ]);
    let function = lambda.create(&env).await;

    // v2: build, push, event -> Lambda commit -> reconciler -> Pods Ready.
    let summary = build_front_end_image(&w.join("v2"), "<h1>front-end v2</h1>\n");
    let tag = format!("main-{}-2", &summary["digest"].as_str().unwrap()[7..14]);
    let pushed = Instant::now();
    let digest = push_to_ecr(&w.join("v2"), &repository, &tag);
    let answer = lambda.invoke(&function, &ecr_push_event(&repository, &tag, &digest)).await;
    assert_eq!(answer.body["status"], "updated", "{} {}", answer.body, answer.log);
    let commit = main_commit(&repo);
    let v2 = format!("{ECR}/{repository}:{tag}");
    let image_now = |node: &Node| -> Option<String> {
        node.get_json(&["deployment", "-n", "sock-shop-dev", "front-end"])
            .and_then(|d| d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().map(str::to_owned))
    };
    let v2_ref = wait_for(
        "the reconciler to apply the Lambda's commit",
        Duration::from_secs(120),
        || image_now(&node).filter(|i| i.starts_with(&v2)),
        || format!("{:?}", image_now(&node)),
    );
    let new = wait_front_end(&node, "sock-shop-dev", &v2_ref, Duration::from_secs(180));
    let push_to_ready = pushed.elapsed();
    eprintln!("push -> Lambda commit -> reconcile -> front-end Ready: {push_to_ready:?}");
    assert!(page(&node, "sock-shop-dev", &new[0]).contains("v2"));
    wait_for(
        "status at the Lambda's commit",
        Duration::from_secs(90),
        || status_field(&node, sync.name, "lastAppliedRevision").contains(&commit).then_some(()),
        || status_field(&node, sync.name, "conditions"),
    );

    // A tag nobody pushed: the rollout stalls, the old Pods keep serving.
    let missing = format!("main-{}-3", &summary["digest"].as_str().unwrap()[7..14]);
    let answer = lambda.invoke(&function, &ecr_push_event(&repository, &missing, &digest)).await;
    assert_eq!(answer.body["status"], "updated", "{}", answer.body);
    let backoff = wait_for(
        "a front-end Pod in ErrImagePull/ImagePullBackOff",
        Duration::from_secs(180),
        || {
            let pods = node.get_json(&["pods", "-n", "sock-shop-dev", "-l", "name=front-end"])?;
            pods["items"].as_array()?.iter().find_map(|p| {
                let reason = p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str()?;
                matches!(reason, "ImagePullBackOff" | "ErrImagePull").then(|| reason.to_owned())
            })
        },
        || node.describe_pods("sock-shop-dev", "name=front-end"),
    );
    eprintln!("missing tag: new Pod in {backoff}");
    let conditions = wait_for(
        "the reconciler to report the Deployment unhealthy",
        Duration::from_secs(180),
        || Some(status_field(&node, sync.name, "conditions")).filter(|c| c.contains("HealthCheckFailed")),
        || status_field(&node, sync.name, "conditions"),
    );
    assert!(conditions.contains("sock-shop-dev/front-end"), "{conditions}");
    assert!(conditions.contains("ImagePullBackOff") || conditions.contains("ErrImagePull"), "{conditions}");
    let events = node.kubectl(&[
        "get",
        "events",
        "-n",
        "shipline-system",
        "--field-selector",
        "reason=HealthCheckFailed",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("front-end") && (events.contains("ImagePullBackOff") || events.contains("ErrImagePull")),
        "{events}"
    );
    let serving = super::support::ready_pods(&node, "sock-shop-dev", "name=front-end");
    assert!(serving.iter().any(|(_, i)| *i == v2_ref), "the v2 Pods keep serving: {serving:?}");
    assert!(page(&node, "sock-shop-dev", &serving[0].0).contains("v2"));
    lambda.delete(&function).await;
    drop(install);
}
