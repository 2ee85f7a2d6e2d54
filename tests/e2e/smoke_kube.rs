//! The Kubernetes API server takes a server-side apply and records the field manager.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use shipline_e2e::{kube_client, unique_name};

#[tokio::test]
async fn server_side_apply_of_a_configmap() {
    let client = kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let name = unique_name("smoke");
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name },
        "data": { "image": "app:main-1f49071-24" }
    });
    let params = PatchParams::apply("shipline");
    api.patch(&name, &params, &Patch::Apply(&cm)).await.expect("server-side apply");

    let got = api.get(&name).await.expect("read back");
    assert_eq!(got.data.as_ref().unwrap()["image"], "app:main-1f49071-24");
    let managers: Vec<(Option<String>, Option<String>)> =
        got.metadata.managed_fields.unwrap_or_default().into_iter().map(|m| (m.manager, m.operation)).collect();
    assert_eq!(
        managers,
        [(Some("shipline".to_owned()), Some("Apply".to_owned()))],
        "one Apply by field manager shipline"
    );
    api.delete(&name, &Default::default()).await.expect("delete");
}
