//! `shipline reconcile` against the real kube-apiserver v1.20.2 (+ etcd, controller-manager):
//! first apply, no-op with zero writes (counted in the audit log), drift, prune, failed builds,
//! CRDs, field conflicts, health waits, an API server restart, git auth from a Secret, sops.

mod bench;
mod cli;
mod controls;
mod flux;
mod health;
mod restart;
mod sops;
mod sops_kinds;
mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, Service};
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use shipline_e2e::{GitServer, kube_client, unique_name};
use shipline_reconcile::ReconcileError;
use shipline_reconcile::config::SyncAuth;
use shipline_reconcile::context::Mode;
use shipline_reconcile::plan::Action;
use shipline_reconcile::reconciler::{Sync, reconcile_and_report};
use support::{Audit, Fixture, LocalRepo, spec, sync_name, trees};

fn app_tree(ns: &str, value: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kustomization.yaml", trees::kustomization(&["namespace.yaml", "config.yaml", "web.yaml", "service.yaml"])),
        ("namespace.yaml", trees::namespace(ns)),
        ("config.yaml", trees::configmap(ns, "settings", value, "")),
        ("web.yaml", trees::deployment(ns, "web", "registry.example/web:main-1f49071-1", 1)),
        ("service.yaml", trees::service(ns, "web")),
    ]
}

fn actions(outcome: &shipline_reconcile::plan::Outcome) -> Vec<(Action, String)> {
    outcome.changes.iter().map(|c| (c.action, c.key.to_string())).collect()
}

#[tokio::test]
async fn dry_run_then_first_apply_then_a_no_op_that_writes_nothing() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-first");
    let repo = LocalRepo::new();
    let commit = repo.commit(&app_tree(&ns, "one"));
    let name = sync_name("first");
    let mut sync = Sync::new(spec(&name, &repo));

    let audit = Audit::mark();
    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("dry run");
    assert_eq!(dry.count(Action::Create), 4, "{}", dry.render());
    assert!(dry.render().contains("+  key: one"), "the dry run shows the objects: {}", dry.render());
    let namespaces: Api<Namespace> = Api::all(fx.client.clone());
    assert!(namespaces.get_opt(&ns).await.unwrap().is_none(), "a dry run creates nothing");
    let dry_writes = audit.writes(&fx.client, &[&ns, &name]).await;
    assert!(dry_writes.iter().all(|w| w.contains("dryRun=All")), "only server-side dry runs: {dry_writes:?}");
    // Positive control for the zero-writes check below: the same reader counts these dry-run writes.
    assert!(!dry_writes.is_empty(), "the audit reader saw none of the dry run's server-side dry-run requests");

    let first = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");
    assert_eq!(first.revision, commit);
    assert_eq!(
        actions(&first),
        [
            (Action::Create, format!("Namespace {ns}")),
            (Action::Create, format!("ConfigMap {ns}/settings")),
            // kustomize's legacy order: Services before Deployments.
            (Action::Create, format!("Service {ns}/web")),
            (Action::Create, format!("Deployment.apps {ns}/web")),
        ]
    );
    let deployment: Api<Deployment> = Api::namespaced(fx.client.clone(), &ns);
    let web = deployment.get("web").await.expect("deployment applied");
    let managers: Vec<_> =
        web.metadata.managed_fields.unwrap_or_default().into_iter().map(|m| (m.manager, m.operation)).collect();
    assert!(managers.contains(&(Some("shipline".into()), Some("Apply".into()))), "{managers:?}");
    assert_eq!(fx.status_field(&name, "lastAppliedRevision").await, commit);
    assert_eq!(fx.status_field(&name, "inventorySize").await, "4");
    assert!(fx.status_field(&name, "conditions").await.contains("ReconciliationSucceeded"));

    // A fresh reconciler (new process: nothing cached) finds nothing to do and writes nothing.
    let mut restarted = Sync::new(spec(&name, &repo));
    let audit = Audit::mark();
    let again = reconcile_and_report(&mut restarted, &fx.ctx, Mode::Apply).await.expect("second reconcile");
    assert!(again.changes.is_empty(), "{}", again.render());
    assert_eq!(again.unchanged, 4);
    let writes = audit.writes(&fx.client, &[&ns, &name, &fx.state_namespace]).await;
    assert_eq!(writes, Vec::<String>::new(), "a no-op reconcile must not write");
    let metrics = fx.metrics.render();
    assert!(
        metrics.contains(&format!("shipline_reconcile_total{{sync=\"{name}\",result=\"success\"}} 2")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("shipline_objects_applied_total{{sync=\"{name}\"}} 4")), "{metrics}");
}

#[tokio::test]
async fn drift_on_fields_and_deleted_objects_is_corrected() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-drift");
    let repo = LocalRepo::new();
    repo.commit(&app_tree(&ns, "git-value"));
    let name = sync_name("drift");
    let mut sync = Sync::new(spec(&name, &repo));
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");

    // `kubectl edit` of a value, `kubectl scale`, and a deleted Service.
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    let edit = PatchParams { field_manager: Some("kubectl-edit".into()), ..Default::default() };
    cms.patch("settings", &edit, &Patch::Merge(serde_json::json!({"data": {"key": "edited"}}))).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(fx.client.clone(), &ns);
    let scale = PatchParams { field_manager: Some("kubectl".into()), ..Default::default() };
    deployments.patch("web", &scale, &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}}))).await.unwrap();
    let services: Api<Service> = Api::namespaced(fx.client.clone(), &ns);
    services.delete("web", &DeleteParams::default()).await.unwrap();

    let fixed = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("drift correction");
    let mut got = actions(&fixed);
    got.sort();
    assert_eq!(
        got,
        [
            (Action::CorrectDrift, format!("ConfigMap {ns}/settings")),
            (Action::CorrectDrift, format!("Deployment.apps {ns}/web")),
            (Action::CorrectDrift, format!("Service {ns}/web")),
        ]
    );
    assert_eq!(cms.get("settings").await.unwrap().data.unwrap()["key"], "git-value");
    assert_eq!(deployments.get("web").await.unwrap().spec.unwrap().replicas, Some(1));
    assert!(services.get_opt("web").await.unwrap().is_some());
    assert!(fx.metrics.render().contains(&format!("shipline_drift_corrections_total{{sync=\"{name}\"}} 3")));
    let settled = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("third reconcile");
    assert!(settled.changes.is_empty(), "{}", settled.render());
}

#[tokio::test]
async fn objects_that_leave_git_are_pruned_unless_opted_out_and_nothing_else_is() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-prune");
    let repo = LocalRepo::new();
    let keep = "shipline.dev/prune: disabled";
    let all = vec![
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "a.yaml", "b.yaml", "c.yaml"])),
        ("ns.yaml", trees::namespace(&ns)),
        ("a.yaml", trees::configmap(&ns, "a", "1", "")),
        ("b.yaml", trees::configmap(&ns, "b", "1", keep)),
        ("c.yaml", trees::configmap(&ns, "c", "1", "")),
    ];
    repo.commit(&all);
    let name = sync_name("prune");
    let mut sync = Sync::new(spec(&name, &repo));
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");
    // Not shipline's: created by someone else in the same namespace.
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    let foreign = ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some("foreign".into()), ..Default::default() },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &foreign).await.unwrap();

    repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "c.yaml"])),
        all[1].clone(),
        all[4].clone(),
    ]);
    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("dry run");
    assert_eq!(actions(&dry), [(Action::Prune, format!("ConfigMap {ns}/a"))], "{}", dry.render());
    assert!(cms.get_opt("a").await.unwrap().is_some(), "a dry run prunes nothing");

    let pruned = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("prune");
    assert_eq!(actions(&pruned), [(Action::Prune, format!("ConfigMap {ns}/a"))]);
    assert_eq!(pruned.prune_skipped, [(format!("ConfigMap {ns}/b"), "shipline.dev/prune: disabled".to_owned())]);
    assert!(cms.get_opt("a").await.unwrap().is_none());
    for kept in ["b", "c", "foreign"] {
        assert!(cms.get_opt(kept).await.unwrap().is_some(), "{kept} must stay");
    }
    assert_eq!(fx.status_field(&name, "inventorySize").await, "2", "ns and c remain in the inventory");
}

#[tokio::test]
async fn a_failed_build_applies_and_prunes_nothing_and_is_reported() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-broken");
    let repo = LocalRepo::new();
    let good = repo.commit(&app_tree(&ns, "v1"));
    let name = sync_name("broken");
    let mut sync = Sync::new(spec(&name, &repo));
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");

    // The ConfigMap leaves git and the kustomization names a file that does not exist.
    let mut broken = app_tree(&ns, "v2");
    broken.retain(|(f, _)| *f != "config.yaml");
    broken[0].1 = trees::kustomization(&["namespace.yaml", "web.yaml", "service.yaml", "missing.yaml"]);
    let bad = repo.commit(&broken);
    let err = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect_err("the build fails");
    assert!(matches!(err, ReconcileError::Build { .. }), "{err}");
    assert!(err.to_string().contains("missing.yaml"), "{err}");
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    assert_eq!(cms.get("settings").await.expect("not pruned").data.unwrap()["key"], "v1");
    assert_eq!(fx.status_field(&name, "lastAppliedRevision").await, good);
    assert_eq!(fx.status_field(&name, "lastAttemptedRevision").await, bad);
    assert!(fx.status_field(&name, "conditions").await.contains("BuildFailed"));
    let events: Api<Event> = Api::namespaced(fx.client.clone(), &fx.state_namespace);
    let warnings: Vec<Event> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning") && e.reason.as_deref() == Some("BuildFailed"))
        .collect();
    assert_eq!(warnings.len(), 1, "one Warning event for the failed build");
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_apply_in_one_tree() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-crd");
    let group = format!("{}.example.com", sync_name("g"));
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    );
    let widget =
        format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: {ns}\nspec:\n  size: 3\n");
    let repo = LocalRepo::new();
    repo.commit(&[
        ("kustomization.yaml", trees::kustomization(&["ns.yaml", "crd.yaml", "widget.yaml"])),
        ("ns.yaml", trees::namespace(&ns)),
        ("crd.yaml", crd),
        ("widget.yaml", widget),
    ]);
    let name = sync_name("crd");
    let mut sync = Sync::new(spec(&name, &repo));
    let dry = reconcile_and_report(&mut sync, &fx.ctx, Mode::DryRun).await.expect("dry run before the CRD exists");
    assert_eq!(dry.count(Action::Create), 3, "{}", dry.render());
    let applied = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("apply");
    assert_eq!(applied.count(Action::Create), 3, "{}", applied.render());
    let resource = kube::api::ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widgets: Api<DynamicObject> = Api::namespaced_with(fx.client.clone(), &ns, &resource);
    assert_eq!(widgets.get("w1").await.expect("custom resource").data["spec"]["size"], 3);
    let again = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("no-op");
    assert!(again.changes.is_empty(), "{}", again.render());
}

#[tokio::test]
async fn fields_held_by_another_apply_manager_are_a_reported_conflict() {
    let fx = Fixture::new(kube_client().await).await;
    let ns = unique_name("rec-conflict");
    let repo = LocalRepo::new();
    repo.commit(&app_tree(&ns, "ours"));
    let name = sync_name("conflict");
    let mut sync = Sync::new(spec(&name, &repo));
    reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect("first apply");
    let cms: Api<ConfigMap> = Api::namespaced(fx.client.clone(), &ns);
    let theirs = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"key": "theirs"}});
    cms.patch("settings", &PatchParams::apply("other-gitops-tool").force(), &Patch::Apply(theirs)).await.unwrap();

    let err = reconcile_and_report(&mut sync, &fx.ctx, Mode::Apply).await.expect_err("conflict");
    let text = err.to_string();
    assert!(matches!(err, ReconcileError::Conflict { .. }), "{text}");
    assert!(text.contains("other-gitops-tool") && text.contains(".data.key") && text.contains("settings"), "{text}");
    assert_eq!(cms.get("settings").await.unwrap().data.unwrap()["key"], "theirs", "shipline did not force");
    assert!(fx.status_field(&name, "conditions").await.contains("FieldConflict"));
}

#[tokio::test]
async fn git_credentials_come_from_a_secret() {
    let fx = Fixture::new(kube_client().await).await;
    let git = GitServer::from_env();
    shipline_core::git::trust_ca_file(&git.ca_file).expect("CA");
    let ns = unique_name("rec-auth");
    let files = app_tree(&ns, "from-https");
    let refs: Vec<(&str, &str)> = files.iter().map(|(f, c)| (*f, c.as_str())).collect();
    let seeded = git.seed_repo(&unique_name("reconcile-auth"), &refs);
    let secrets: Api<Secret> = Api::namespaced(fx.client.clone(), &fx.state_namespace);
    let secret = Secret {
        metadata: kube::api::ObjectMeta { name: Some("git-creds".into()), ..Default::default() },
        string_data: Some(
            [("username".to_owned(), git.user.clone()), ("password".to_owned(), git.password.clone())].into(),
        ),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let repo = LocalRepo::new();
    let mut s = spec(&sync_name("auth"), &repo);
    s.git = seeded.https_url.clone();
    s.auth = SyncAuth::Secret("git-creds".into());
    let applied =
        reconcile_and_report(&mut Sync::new(s.clone()), &fx.ctx, Mode::Apply).await.expect("fetch with the Secret");
    assert_eq!(applied.count(Action::Create), 4);

    s.auth = SyncAuth::Secret("missing".into());
    let err = reconcile_and_report(&mut Sync::new(s), &fx.ctx, Mode::Apply).await.expect_err("no such Secret");
    assert!(err.to_string().contains("Secret missing not found"), "{err}");
}
