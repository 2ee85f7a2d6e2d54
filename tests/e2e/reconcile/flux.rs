//! The Flux kustomize-controller features on the real API server: the state check on a fresh
//! cluster, health of custom resources, `dependsOn`, `postBuild` substitution, suspend, drift
//! ignore rules and the reconcile-now trigger.
//!
//! There is no kubelet in the test cluster: objects whose health a kubelet or a controller would
//! report carry that status in git (a custom resource without a status subresource), so the tests
//! do not depend on who writes it; with a real node they can drop it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use shipline_e2e::{kube_client, unique_name};
use shipline_reconcile::ReconcileError;
use shipline_reconcile::apply::Applier;
use shipline_reconcile::context::{Context, Mode};
use shipline_reconcile::options::{IgnoreRule, IgnoreTarget, PostBuild, VarSource, VarSourceKind};
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};

use super::support::{Audit, Fixture, LocalRepo, spec, sync_name, trees};

/// A CRD of a namespaced kind `Widget` (group `NAME.shipline.test`) without a status
/// subresource, so a widget's status comes from git.
fn crd(group: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
    )
}

fn widget(group: &str, ns: &str, name: &str, ready: &str) -> String {
    format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  size: 1\nstatus:\n  conditions:\n  - type: Ready\n    status: \"{ready}\"\n    reason: Provisioning\n    message: waiting for the backend\n"
    )
}

async fn namespace_exists(client: &kube::Client, ns: &str) -> bool {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get_opt(ns).await.expect("read namespace").is_some()
}

#[tokio::test]
async fn a_fresh_cluster_without_the_state_namespace_applies_nothing_unless_allowed_to_create_it() {
    let client = kube_client().await;
    let fx = Fixture::configured(client.clone(), false, |_| {}).await;
    let ns = unique_name("rec-fresh");
    let repo = LocalRepo::new();
    repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "cm.yaml"])),
        ("ns.yaml", trees::namespace(&ns)),
        ("cm.yaml", trees::configmap(&ns, "settings", "one", "")),
    ]);
    let name = sync_name("fresh");
    let mut sync = Sync::new(spec(&name, &repo));
    let err = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect_err("state cannot be recorded");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::StateUnrecordable { .. }), "{text}");
    assert!(text.contains(&fx.state_namespace) && text.contains("--create-reconciler-namespace"), "{text}");
    assert!(!namespace_exists(&client, &ns).await, "nothing may be applied when the state cannot be recorded");

    // Allowed to create it: the namespace first, then the objects, then the inventory.
    let fx = Fixture::configured(client.clone(), false, |ctx| ctx.create_namespace = true).await;
    let mut sync = Sync::new(spec(&name, &repo));
    let outcome = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first run creates the namespace");
    assert_eq!(outcome.changes.len(), 2);
    assert!(namespace_exists(&client, &fx.state_namespace).await);
    let inventory = fx.configmaps().get(&format!("shipline-inventory-{name}")).await.expect("inventory recorded");
    assert_eq!(inventory.data.unwrap()["objects"].lines().count(), 2);
}

#[tokio::test]
async fn a_custom_resource_that_never_becomes_ready_fails_the_wait_and_holds_its_dependents() {
    let fx = Fixture::new(kube_client().await).await;
    let group = format!("{}.shipline.test", unique_name("w").replace('_', "-"));
    let ns = unique_name("rec-cr");
    let infra_repo = LocalRepo::new();
    infra_repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "crd.yaml", "widget.yaml"])),
        ("ns.yaml", trees::namespace(&ns)),
        ("crd.yaml", crd(&group)),
        ("widget.yaml", widget(&group, &ns, "db", "False")),
    ]);
    let apps_repo = LocalRepo::new();
    apps_repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["cm.yaml"])),
        ("cm.yaml", trees::configmap(&ns, "app-settings", "x", "")),
    ]);
    let infra = sync_name("infra");
    let apps = sync_name("apps");
    let mut infra_spec = spec(&infra, &infra_repo);
    infra_spec.wait = true;
    infra_spec.timeout = Duration::from_secs(3);
    let mut apps_spec = spec(&apps, &apps_repo);
    apps_spec.depends_on = vec![infra.clone()];
    let mut infra_sync = Sync::new(infra_spec);
    let mut apps_sync = Sync::new(apps_spec);

    let err = reconcile_and_report(&mut infra_sync, &fx.ctx, Mode::Apply).await.expect_err("widget never Ready");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::Unhealthy { .. }), "{text}");
    assert!(text.contains(&format!("Widget.{group} {ns}/db")) && text.contains("Ready is False"), "{text}");
    assert!(text.contains("waiting for the backend"), "the reason is the resource's own: {text}");

    let err = reconcile_and_report(&mut apps_sync, &fx.ctx, Mode::Apply).await.expect_err("dependency not ready");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::DependencyNotReady { .. }), "{text}");
    assert!(text.contains(&infra), "{text}");
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    assert!(cms.get_opt("app-settings").await.unwrap().is_none(), "a held dependent applies nothing");

    // A fresh process (a new context: nothing known in memory) reads the dependency's recorded
    // status instead.
    let applier = Applier::new(fx.client.clone(), "default").await.expect("discovery");
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = Context::new(applier, &fx.state_namespace, dir.path().to_owned(), Default::default());
    let mut restarted = Sync::new(apps_sync.spec.clone());
    let err = reconcile_and_report(&mut restarted, &fresh, Mode::Apply).await.expect_err("still held");
    assert!(err.to_string().contains("Ready is False: HealthCheckFailed"), "{err}");

    // The resource becomes Ready (in git, standing in for its controller): both syncs proceed.
    infra_repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "crd.yaml", "widget.yaml"])),
        ("ns.yaml", trees::namespace(&ns)),
        ("crd.yaml", crd(&group)),
        ("widget.yaml", widget(&group, &ns, "db", "True")),
    ]);
    reconcile_and_report(&mut infra_sync, &fx.ctx, Mode::Apply).await.expect("widget Ready");
    reconcile_and_report(&mut apps_sync, &fx.ctx, Mode::Apply).await.expect("dependency Ready");
    assert!(cms.get_opt("app-settings").await.unwrap().is_some());
}

#[tokio::test]
async fn post_build_substitution_uses_defaults_sources_and_fails_strictly_on_undefined_variables() {
    let fx = Fixture::configured(kube_client().await, true, |ctx| ctx.strict_substitution = true).await;
    let ns = unique_name("rec-subst");
    // Variables from a ConfigMap and a Secret in the reconciler's namespace.
    let state_cms = fx.configmaps();
    let vars_cm = ConfigMap {
        metadata: ObjectMeta { name: Some("cluster-vars".into()), ..Default::default() },
        data: Some(
            [("region".to_owned(), "eu-west-1".to_owned()), ("env".to_owned(), "from-configmap".to_owned())].into(),
        ),
        ..Default::default()
    };
    state_cms.create(&PostParams::default(), &vars_cm).await.expect("vars ConfigMap");
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), &fx.state_namespace);
    let vars_secret = Secret {
        metadata: ObjectMeta { name: Some("cluster-secret-vars".into()), ..Default::default() },
        string_data: Some([("token".to_owned(), "s3cr3t-value".to_owned())].into()),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &vars_secret).await.expect("vars Secret");
    let repo = LocalRepo::new();
    let settings = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  env: ${{env}}\n  region: ${{region}}\n  tier: ${{tier:=standard}}\n  size: ${{size:-small}}\n  literal: $${{not_a_var}}\n  shell: $HOME\n"
    );
    let script = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\n  namespace: {ns}\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  run.sh: echo ${{undefined_in_script}}\n"
    );
    let token = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: {ns}\nstringData:\n  token: ${{token}}\n"
    );
    let files = |extra: &str| {
        let mut files = vec![
            ("kustomization.yaml", trees::kustomization(&["ns.yaml", "settings.yaml", "script.yaml", "token.yaml"])),
            ("ns.yaml", trees::namespace(&ns)),
            ("settings.yaml", settings.replace("  shell:", &format!("{extra}  shell:"))),
            ("script.yaml", script.clone()),
            ("token.yaml", token.clone()),
        ];
        files.sort_by_key(|f| f.0);
        files
    };
    repo.commit(&files(""));
    let name = sync_name("subst");
    let mut s = spec(&name, &repo);
    s.post_build = Some(PostBuild {
        substitute: [("env".to_owned(), "prod".to_owned())].into(),
        substitute_from: vec![
            VarSource { kind: VarSourceKind::ConfigMap, name: "cluster-vars".into(), optional: false },
            VarSource { kind: VarSourceKind::Secret, name: "cluster-secret-vars".into(), optional: false },
            VarSource { kind: VarSourceKind::ConfigMap, name: "absent-but-optional".into(), optional: true },
        ],
    });
    let mut sync = Sync::new(s.clone());
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("substituted");
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    let data = cms.get("settings").await.unwrap().data.unwrap();
    assert_eq!(data["env"], "prod", "inline substitute wins over substituteFrom");
    assert_eq!(data["region"], "eu-west-1");
    assert_eq!((data["tier"].as_str(), data["size"].as_str()), ("standard", "small"));
    assert_eq!(data["literal"], "${not_a_var}");
    assert_eq!(data["shell"], "$HOME");
    assert_eq!(cms.get("script").await.unwrap().data.unwrap()["run.sh"], "echo ${undefined_in_script}");
    let api: Api<Secret> = Api::namespaced(fx.client.clone(), &ns);
    assert_eq!(api.get("api").await.unwrap().data.unwrap()["token"].0, b"s3cr3t-value");

    // Strict: a variable referenced without a default and defined nowhere stops the sync, naming
    // the object and the variable; nothing is applied.
    repo.commit(&files("  owner: ${team}\n"));
    let audit = Audit::mark();
    let err = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect_err("undefined variable");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::Substitute { .. }), "{text}");
    assert!(text.contains("ConfigMap settings") && text.contains("variable team"), "{text}");
    assert!(!text.contains("s3cr3t-value"), "no variable value in errors: {text}");
    assert_eq!(audit.writes(&fx.client, &[&ns]).await, Vec::<String>::new(), "nothing applied");

    // A required source that is missing is an error naming it.
    let mut missing = s.clone();
    missing.post_build.as_mut().unwrap().substitute_from[0].name = "no-such-vars".into();
    let err = reconcile_and_report(&mut Sync::new(missing), &fx.ctx, Mode::Apply).await.expect_err("missing source");
    assert!(err.to_string().contains("no-such-vars") && err.to_string().contains("optional"), "{err}");
}

#[tokio::test]
async fn a_suspended_sync_does_nothing_and_resumes_when_unsuspended() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-suspend");
    let repo = LocalRepo::new();
    repo.commit(&[("kustomization.yaml", trees::kustomization(&["ns.yaml"])), ("ns.yaml", trees::namespace(&ns))]);
    let name = sync_name("suspend");
    let mut s = spec(&name, &repo);
    s.suspend = true;
    let mut sync = Sync::new(s);
    let audit = Audit::mark();
    let outcome = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("suspended is not an error");
    assert!(outcome.suspended && outcome.changes.is_empty());
    assert_eq!(audit.writes(&fx.client, &[&ns, &name]).await, Vec::<String>::new());
    assert!(!namespace_exists(&fx.client, &ns).await);
    sync.spec.suspend = false;
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("resumed");
    assert!(namespace_exists(&fx.client, &ns).await);
}

#[tokio::test]
async fn replicas_owned_by_an_autoscaler_are_left_alone_under_an_ignore_rule() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-hpa");
    let repo = LocalRepo::new();
    repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "web.yaml"])),
        ("ns.yaml", trees::namespace(&ns)),
        ("web.yaml", trees::deployment(&ns, "web", "registry.example/web:1", 2)),
    ]);
    let name = sync_name("hpa");
    let mut s = spec(&name, &repo);
    s.ignore = vec![IgnoreRule {
        paths: vec!["/spec/replicas".into()],
        target: IgnoreTarget { kind: Some("Deployment".into()), name: Some("web".into()), ..Default::default() },
    }];
    let mut sync = Sync::new(s);
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");
    let deployments: Api<Deployment> = Api::namespaced(fx.client.clone(), &ns);
    // The autoscaler scales through an update, as the HPA controller does.
    let hpa = PatchParams { field_manager: Some("horizontal-pod-autoscaler".into()), ..Default::default() };
    deployments.patch("web", &hpa, &Patch::Merge(serde_json::json!({"spec": {"replicas": 5}}))).await.unwrap();
    let again = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("second reconcile");
    assert!(again.changes.is_empty(), "the ignored field is not drift: {}", again.render());
    assert_eq!(deployments.get("web").await.unwrap().spec.unwrap().replicas, Some(5));
    // The image is still shipline's: drift on it is corrected.
    let edit = PatchParams { field_manager: Some("kubectl-edit".into()), ..Default::default() };
    let image =
        serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "other:9"}]}}}});
    deployments.patch("web", &edit, &Patch::Strategic(image)).await.unwrap();
    let fixed = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("third reconcile");
    assert_eq!(fixed.changes.len(), 1, "{}", fixed.render());
    let web = deployments.get("web").await.unwrap().spec.unwrap();
    assert_eq!(web.template.spec.unwrap().containers[0].image.as_deref(), Some("registry.example/web:1"));
    assert_eq!(web.replicas, Some(5));
}

/// The layout of the Flux guides, configured by the Flux manifests themselves: a `flux-system`
/// GitRepository + Kustomization that applies `clusters/dev`, which holds an infrastructure
/// Kustomization (a CRD and an operator Deployment, health-checked) and an apps Kustomization
/// that `dependsOn` it and uses `postBuild` substitution, the CRD's kind and a sops Secret.
#[tokio::test]
async fn the_flux_seed_layout_reconciles_as_nested_syncs_in_dependency_order() {
    let fx = Fixture::configured(kube_client().await, true, |ctx| ctx.nested_flux = true).await;
    let group = format!("{}.shipline.test", unique_name("seed").replace('_', "-"));
    let (infra_ns, apps_ns) = (unique_name("seed-infra"), unique_name("seed-apps"));
    let suffix = unique_name("k").replace('_', "-");
    let tail = &suffix[suffix.len().saturating_sub(12)..];
    let (infra, apps) = (format!("infra-{tail}"), format!("apps-{tail}"));
    let kustomization = |name: &str, path: &str, extra: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  timeout: 60s\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
        )
    };
    // The apps carry a sops Secret, decrypted with an age key from a Secret in the reconciler's
    // namespace (Flux's `.agekey` shape).
    let age = super::sops::age_key();
    super::sops::keys_secret(&fx, "sops-age", &age.identity).await;
    let db_secret = super::sops::sops_encrypt(
        "db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {apps_ns}\nstringData:\n  password: {}\n",
            super::sops::DB_PASSWORD
        ),
        &["--age", &age.recipient, "--encrypted-regex", "^stringData$"],
        &[],
    );
    let repo = LocalRepo::new();
    repo.commit(&[
        ("clusters/dev/kustomization.yaml", trees::kustomization(&["infrastructure.yaml", "apps.yaml"])),
        (
            "clusters/dev/infrastructure.yaml",
            kustomization(
                &infra,
                "./infrastructure",
                &format!("  healthChecks:\n  - apiVersion: apps/v1\n    kind: Deployment\n    name: operator\n    namespace: {infra_ns}\n"),
            ),
        ),
        (
            "clusters/dev/apps.yaml",
            kustomization(
                &apps,
                "./apps",
                &format!("  wait: true\n  dependsOn:\n  - name: {infra}\n  postBuild:\n    substitute:\n      greeting: hello\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"),
            ),
        ),
        ("infrastructure/kustomization.yaml", trees::kustomization(&["ns.yaml", "crd.yaml", "operator.yaml"])),
        ("infrastructure/ns.yaml", trees::namespace(&infra_ns)),
        ("infrastructure/crd.yaml", crd(&group)),
        ("infrastructure/operator.yaml", trees::deployment(&infra_ns, "operator", "registry.example/operator:1", 1)),
        ("apps/kustomization.yaml", trees::kustomization(&["ns.yaml", "settings.yaml", "widget.yaml", "db.enc.yaml"])),
        ("apps/db.enc.yaml", db_secret),
        ("apps/ns.yaml", trees::namespace(&apps_ns)),
        (
            "apps/settings.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {apps_ns}\ndata:\n  greeting: ${{greeting}}\n  region: ${{region:=eu-west-1}}\n"
            ),
        ),
        ("apps/widget.yaml", widget(&group, &apps_ns, "front", "True")),
    ]);
    let flux_system = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: {}\n---\n{}",
        repo.url(),
        kustomization(&format!("flux-system-{tail}"), "./clusters/dev", "")
    );
    let specs = shipline_reconcile::config::parse_file(&flux_system, "gotk-sync.yaml").expect("Flux manifests");
    let syncs = specs.into_iter().map(Sync::new).collect();
    let ctx = fx.ctx.clone();
    let run = tokio::spawn(async move { shipline_reconcile::run::once(syncs, &ctx, Mode::Apply).await });
    // No kubelet: the test reports the operator's pod Ready, as in the health tests.
    super::support::mark_pod_ready(&fx.client, &infra_ns, "operator", "registry.example/operator:1").await;
    let results = run.await.expect("run");
    let names: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(o) => o.sync.clone(),
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(names, [format!("flux-system-{tail}"), infra.clone(), apps.clone()], "parent, then dependency first");
    assert!(results[0].as_ref().unwrap().changes.is_empty(), "the Kustomizations are nested syncs, not applied");
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &apps_ns);
    let data = cms.get("settings").await.expect("apps applied").data.unwrap();
    assert_eq!((data["greeting"].as_str(), data["region"].as_str()), ("hello", "eu-west-1"));
    assert!(fx.status_field(&apps, "conditions").await.contains("ReconciliationSucceeded"));
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), &apps_ns);
    let db = secrets.get("db").await.expect("the sops Secret applied").data.unwrap();
    assert_eq!(db["password"].0, super::sops::DB_PASSWORD.as_bytes());
}
