//! The API server dies in the middle of a reconcile and comes back: the next reconcile
//! converges. The test runs its own second API server over the shared etcd, so killing it
//! disturbs no other test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::ListParams;
use shipline_e2e::{kube_client, kube_client_at, service_env, unique_name};
use shipline_reconcile::context::Mode;
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::support::{Fixture, LocalRepo, spec, sync_name, trees};

struct ApiServer {
    child: Child,
    port: u16,
}

impl ApiServer {
    fn start(port: u16) -> Self {
        let bin = service_env("SHIPLINE_TEST_KUBE_APISERVER");
        let args_file = service_env("SHIPLINE_TEST_KUBE_APISERVER_ARGS");
        let args: Vec<String> = std::fs::read_to_string(&args_file)
            .unwrap_or_else(|e| panic!("{args_file}: {e}"))
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let child = Command::new(&bin)
            .args(&args)
            .arg(format!("--secure-port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        Self { child, port }
    }

    /// Waits (bounded) until the server answers.
    async fn ready(&self) -> kube::Client {
        let client = kube_client_at(Some(&format!("https://127.0.0.1:{}", self.port))).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while client.apiserver_version().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the second API server did not come up on {}", self.port);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        client
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn an_api_server_restarted_mid_reconcile_converges_on_the_next_reconcile() {
    const OBJECTS: usize = 400;
    let port = free_port();
    let mut server = ApiServer::start(port);
    let fx = Fixture::new(server.ready().await).await;
    let ns = unique_name("rec-restart");
    let mut files = vec![("ns.yaml".to_owned(), trees::namespace(&ns))];
    for i in 0..OBJECTS {
        files.push((format!("cm-{i}.yaml"), trees::configmap(&ns, &format!("cm-{i}"), "v", "")));
    }
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    let kustomization = trees::kustomization(&names);
    let mut tree: Vec<(&str, String)> = files.iter().map(|(f, c)| (f.as_str(), c.clone())).collect();
    tree.push(("kustomization.yaml", kustomization));
    let repo = LocalRepo::new();
    repo.commit(&tree);
    let mut sync = Sync::new(spec(&sync_name("restart"), &repo));

    let ctx = fx.ctx.clone();
    let first = tokio::spawn(async move {
        let result = reconcile_and_report(&mut sync, &ctx, Mode::Apply).await;
        (result, sync)
    });
    // Watch progress through the main API server; kill ours once the apply is under way.
    let main: Api<ConfigMap> = Api::namespaced(kube_client().await, &ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = main.list(&ListParams::default()).await.map(|l| l.items.len()).unwrap_or(0);
        if n >= 10 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reconcile never started applying");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let (result, mut sync) = first.await.expect("task");
    let applied_before = main.list(&ListParams::default()).await.unwrap().items.len();
    assert!(
        result.is_err(),
        "the reconcile finished before the API server died ({applied_before} objects); raise OBJECTS"
    );
    assert!(applied_before < OBJECTS + 1, "{applied_before}");

    let server = ApiServer::start(port);
    server.ready().await;
    let converged = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("converges after the restart");
    assert_eq!(converged.unchanged + converged.changes.len(), OBJECTS + 1, "{}", converged.summary());
    let cms = main.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(
        cms.iter().filter(|c| c.metadata.name.as_deref().is_some_and(|n| n.starts_with("cm-"))).count(),
        OBJECTS
    );
    let settled = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("no-op");
    assert!(settled.changes.is_empty(), "{}", settled.summary());
    drop(server);
}
