//! Support for shipline's end-to-end tests: where the real services are, and fresh fixtures on
//! them.
//!
//! The services are started by `tests/services/ctl.sh up` (which `scripts/test.sh` runs); their
//! addresses come from environment variables it writes. A test that needs a service and finds
//! no address panics with a message saying how to start it: it never skips.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Reads a variable written by `tests/services/ctl.sh`, or panics saying how to get it.
pub fn service_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: the end-to-end tests need the real services. Run ./scripts/test.sh, \
             or `tests/services/ctl.sh install && tests/services/ctl.sh up && source $SHIPLINE_SERVICES_DIR/env` \
             (default dir /tmp/shipline-services) before cargo test"
        ),
    }
}

/// A name unique within this test process and across runs against the same services.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}

/// The git server (lighttpd + git http-backend, sshd) and its credentials.
#[derive(Debug, Clone)]
pub struct GitServer {
    /// Directory holding the bare repositories the servers export.
    pub repos: PathBuf,
    /// `http://127.0.0.1:PORT/v1/repos`.
    pub http_base: String,
    /// `https://127.0.0.1:PORT/v1/repos` (certificate from a private CA).
    pub https_base: String,
    /// Basic-auth user.
    pub user: String,
    /// Basic-auth password.
    pub password: String,
    /// The private CA's certificate (PEM).
    pub ca_file: PathBuf,
    /// `ssh://user@127.0.0.1:PORT/<repos dir>`.
    pub ssh_base: String,
    /// Client private key accepted by sshd.
    pub ssh_key: PathBuf,
    /// known_hosts listing sshd's host key.
    pub known_hosts: PathBuf,
}

impl GitServer {
    /// Reads the git server's coordinates from the environment.
    pub fn from_env() -> Self {
        Self {
            repos: service_env("SHIPLINE_TEST_GIT_REPOS").into(),
            http_base: service_env("SHIPLINE_TEST_GIT_HTTP_BASE"),
            https_base: service_env("SHIPLINE_TEST_GIT_HTTPS_BASE"),
            user: service_env("SHIPLINE_TEST_GIT_USER"),
            password: service_env("SHIPLINE_TEST_GIT_PASS"),
            ca_file: service_env("SHIPLINE_TEST_GIT_CA").into(),
            ssh_base: service_env("SHIPLINE_TEST_GIT_SSH_BASE"),
            ssh_key: service_env("SHIPLINE_TEST_GIT_SSH_KEY").into(),
            known_hosts: service_env("SHIPLINE_TEST_GIT_KNOWN_HOSTS").into(),
        }
    }

    /// Creates a bare repository `NAME.git` on the server with one commit on `main` holding
    /// `files` (path, content; paths may contain directories). libgit2 clones of an empty
    /// repository get `HEAD=master`, so a seeded commit keeps every test on `main`.
    pub fn seed_repo(&self, name: &str, files: &[(&str, &str)]) -> SeededRepo {
        let path = self.repos.join(format!("{name}.git"));
        let bare = git2::Repository::init_opts(
            &path,
            git2::RepositoryInitOptions::new().bare(true).initial_head("main").mkpath(true),
        )
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        bare.config().and_then(|mut c| c.set_bool("http.receivepack", true)).expect("config http.receivepack");
        let work = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init_opts(work.path(), git2::RepositoryInitOptions::new().initial_head("main"))
            .expect("init work repo");
        for (file, content) in files {
            let target = work.path().join(file);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, content).expect("write seed file");
        }
        let sig = git2::Signature::now("seed", "seed@example.invalid").expect("signature");
        let mut index = repo.index().expect("index");
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).expect("add");
        let tree = repo.find_tree(index.write_tree().expect("write tree")).expect("tree");
        repo.commit(Some("HEAD"), &sig, &sig, "seed", &tree, &[]).expect("seed commit");
        let mut remote = repo.remote_anonymous(path.to_str().expect("utf-8 path")).expect("remote");
        remote.push(&["refs/heads/main:refs/heads/main"], None).expect("push seed");
        SeededRepo {
            http_url: format!("{}/{name}", self.http_base),
            https_url: format!("{}/{name}", self.https_base),
            ssh_url: format!("{}/{name}.git", self.ssh_base),
            path,
        }
    }
}

/// A repository created by [`GitServer::seed_repo`].
#[derive(Debug, Clone)]
pub struct SeededRepo {
    /// Bare repository on disk (the server side).
    pub path: PathBuf,
    /// Its HTTP URL.
    pub http_url: String,
    /// Its HTTPS URL.
    pub https_url: String,
    /// Its SSH URL.
    pub ssh_url: String,
}

impl SeededRepo {
    /// The server-side content of `file` at the tip of `main`.
    pub fn file_on_main(&self, file: &str) -> Option<String> {
        let repo = git2::Repository::open_bare(&self.path).expect("open bare repo");
        let tree = repo.find_reference("refs/heads/main").and_then(|r| r.peel_to_tree()).expect("main tree");
        let entry = tree.get_path(Path::new(file)).ok()?;
        let blob = repo.find_blob(entry.id()).expect("blob");
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// Number of commits on `main` on the server.
    pub fn commits_on_main(&self) -> usize {
        let repo = git2::Repository::open_bare(&self.path).expect("open bare repo");
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_ref("refs/heads/main").expect("main");
        walk.count()
    }
}

/// The OCI registry (Debian docker-registry with basic auth).
#[derive(Debug, Clone)]
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Basic-auth user.
    pub user: String,
    /// Basic-auth password.
    pub password: String,
}

impl Registry {
    /// Reads the registry's coordinates from the environment.
    pub fn from_env() -> Self {
        Self {
            host: service_env("SHIPLINE_TEST_REGISTRY"),
            user: service_env("SHIPLINE_TEST_REGISTRY_USER"),
            password: service_env("SHIPLINE_TEST_REGISTRY_PASS"),
        }
    }
}

/// Checks that the AWS endpoint variables point at local emulators, so a test can never reach a
/// real AWS account by accident.
pub fn require_local_aws() {
    for name in ["AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_CODEBUILD", "AWS_ENDPOINT_URL_CODEPIPELINE"] {
        let url = service_env(name);
        assert!(url.starts_with("http://127.0.0.1:"), "{name}={url} is not a local emulator");
    }
}

/// A `kube::Client` for the test API server (`KUBECONFIG` from the services script).
pub async fn kube_client() -> kube::Client {
    kube_client_at(None).await
}

/// A client with the test cluster's credentials for the API server at `server`
/// (`https://127.0.0.1:PORT`), or the kubeconfig's own when `None`.
pub async fn kube_client_at(server: Option<&str>) -> kube::Client {
    shipline_core::install_crypto_provider();
    let path = service_env("KUBECONFIG");
    let mut kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    if let Some(server) = server {
        for c in kubeconfig.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
            c.server = Some(server.to_owned());
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {path}: {e}"));
    kube::Client::try_from(config).expect("kube client")
}

pub mod oci;

/// A TCP proxy on 127.0.0.1 in front of `target` that forwards until `cut_after` bytes have gone
/// from clients to the target, then drops every connection and refuses new ones: a registry
/// that dies mid-upload, deterministically. Returns the proxy's address.
pub async fn cutting_proxy(target: std::net::SocketAddr, cut_after: u64) -> std::net::SocketAddr {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let sent = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if sent.load(Ordering::SeqCst) >= cut_after {
                continue; // dropped: connection closed at once
            }
            let sent = sent.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(target).await else { return };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let upstream = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 || sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > cut_after {
                            return;
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let downstream = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! { _ = upstream => {}, _ = downstream => {} }
            });
        }
    });
    addr
}

/// A `kube::Client` for the real node's cluster (`SHIPLINE_TEST_NODE_KUBECONFIG`, admin client
/// certificate; see tests/services/node.sh).
pub async fn node_kube_client() -> kube::Client {
    shipline_core::install_crypto_provider();
    let path = service_env("SHIPLINE_TEST_NODE_KUBECONFIG");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {path}: {e}"));
    kube::Client::try_from(config).expect("kube client")
}
