//! sops beyond Secrets, as Flux's kustomize-controller decrypts: a document of any kind that
//! carries sops metadata is decrypted, and its decrypted values are masked in dry runs exactly
//! like Secret data; and files named by `patches[].path` are decrypted before the build. On the
//! real API server, with the real `sops` binary.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use shipline_e2e::unique_name;
use shipline_reconcile::context::Mode;
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::sops::{assert_none_shown, decryption, fixture_with_age_keys, sops_encrypt};
use super::support::{LocalRepo, spec, sync_name, trees};

const OLD_PASSWORD: &str = "cm-pw-old-3b1d-never-printed";
const NEW_PASSWORD: &str = "cm-pw-new-9e7c-never-printed";
const PATCH_PASSWORD: &str = "patch-pw-5a2f-never-printed";

fn settings(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: visible-mode\n  password: {password}\n"
    )
}

fn assert_hidden(what: &str, text: &str) {
    assert_none_shown(what, text, &[OLD_PASSWORD, NEW_PASSWORD, PATCH_PASSWORD]);
}

/// A ConfigMap encrypted with sops (only `password`, by `--encrypted-regex`): the dry run shows
/// the key masked and the clear `mode`; after apply, a changed password shows as a masked
/// change (`*****` -> `******`), never either value, in the text and the JSON report.
#[tokio::test]
async fn a_decrypted_configmap_is_masked_in_dry_runs_like_a_secret() {
    let (fx, key) = fixture_with_age_keys().await;
    let ns = unique_name("rec-sops-cm");
    let args = ["--age", key.recipient.as_str(), "--encrypted-regex", "^password$"];
    let tree = |password: &str| {
        vec![
            ("kustomization.yaml", format!("{}namespace: {ns}\n", trees::kustomization(&["ns.yaml", "cm.enc.yaml"]))),
            ("ns.yaml", trees::namespace(&ns)),
            ("cm.enc.yaml", sops_encrypt("cm.yaml", &settings(password), &args, &[])),
        ]
    };
    let repo = LocalRepo::new();
    repo.commit(&tree(OLD_PASSWORD));
    let mut s = spec(&sync_name("sops-cm"), &repo);
    s.decryption = decryption("sops-keys");
    let mut sync = Sync::new(s);

    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("dry run");
    let rendered = dry.render();
    assert!(rendered.contains(&format!("would create  ConfigMap {ns}/settings")), "{rendered}");
    assert!(rendered.contains("password: \"*****\"") || rendered.contains("password: '*****'"), "{rendered}");
    assert!(rendered.contains("visible-mode"), "values sops left in clear still show: {rendered}");
    assert_hidden("the first dry run", &rendered);
    assert_hidden("the first dry run as JSON", &serde_json::to_string(&dry).unwrap());

    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("apply");
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    let data = cms.get("settings").await.expect("applied").data.unwrap();
    assert_eq!((data["password"].as_str(), data["mode"].as_str()), (OLD_PASSWORD, "visible-mode"));

    repo.commit(&tree(NEW_PASSWORD));
    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("second dry run");
    let rendered = dry.render();
    assert!(rendered.contains(&format!("would update  ConfigMap {ns}/settings")), "{rendered}");
    assert!(
        rendered.contains("-  password: \"*****\"") && rendered.contains("+  password: \"******\""),
        "a changed value shows as a masked change: {rendered}"
    );
    assert_hidden("the update's dry run", &rendered);
    assert_hidden("the update's dry run as JSON", &serde_json::to_string(&dry).unwrap());
}

/// Flux decrypts the files `patches[].path` names before the build. This patch is encrypted
/// with sops' default rules, so even its `metadata.name` is ciphertext: it can only find its
/// target once decrypted.
#[tokio::test]
async fn an_encrypted_patch_file_is_decrypted_before_the_build() {
    let (fx, key) = fixture_with_age_keys().await;
    let ns = unique_name("rec-sops-patch");
    let patch =
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {PATCH_PASSWORD}\n");
    let encrypted = sops_encrypt("patch.yaml", &patch, &["--age", key.recipient.as_str()], &[]);
    assert!(!encrypted.contains("name: db"), "the name is encrypted too:\n{encrypted}");
    let repo = LocalRepo::new();
    repo.commit(&[
        (
            "kustomization.yaml",
            format!(
                "{}namespace: {ns}\npatches:\n- path: db-patch.enc.yaml\n",
                trees::kustomization(&["ns.yaml", "db.yaml"])
            ),
        ),
        ("ns.yaml", trees::namespace(&ns)),
        (
            "db.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  username: app\n  password: placeholder\n"
                .into(),
        ),
        ("db-patch.enc.yaml", encrypted),
    ]);
    let mut s = spec(&sync_name("sops-patch"), &repo);
    s.decryption = decryption("sops-keys");
    let mut sync = Sync::new(s.clone());
    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("dry run");
    assert_hidden("the dry run", &dry.render());
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("apply");
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), &ns);
    let data = secrets.get("db").await.expect("applied").data.unwrap();
    assert_eq!(data["password"].0, PATCH_PASSWORD.as_bytes());
    assert_eq!(data["username"].0, b"app");

    // Without decryption the patch, names encrypted, matches nothing: the sync fails.
    let mut plain = s;
    plain.name = sync_name("sops-patch-off");
    plain.decryption = None;
    let err = reconcile_and_report(&mut Sync::new(plain), &fx.ctx, Mode::Apply).await.expect_err("no decryption");
    assert_hidden("the failure", &err.to_string());
}
