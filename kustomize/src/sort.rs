//! Final resource order: kustomize's "legacy" kind order (the default) or input order.

use crate::kustomization::SortOptions;
use crate::resource::Resource;

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: [&str; 2] = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

/// Sorts in place according to `sortOptions` (legacy when absent).
pub fn sort(resources: &mut Vec<Resource>, options: Option<&SortOptions>) -> Result<(), String> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (ORDER_FIRST.map(String::from).to_vec(), ORDER_LAST.map(String::from).to_vec()),
        Some(o) if o.order == "fifo" => return Ok(()),
        Some(o) if o.order == "legacy" => match (&o.order_first, &o.order_last) {
            (None, None) => (ORDER_FIRST.map(String::from).to_vec(), ORDER_LAST.map(String::from).to_vec()),
            (f, l) => (f.clone().unwrap_or_default(), l.clone().unwrap_or_default()),
        },
        Some(_) => return Err("the field 'sortOptions.order' must be one of [fifo, legacy]".into()),
    };
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        last.iter().position(|k| k == kind).map_or(0, |i| 1 + i as i64)
    };
    let key = |r: &Resource| {
        let id = r.cur_id();
        let ns = if id.namespace.is_empty() { "~X" } else { &id.namespace };
        let name = if id.name.is_empty() { "~N" } else { &id.name };
        // Equal GVKs compare by namespace|name; different ones by rank, then GVK string.
        (rank(&id.gvk.kind), id.gvk.sort_string(), format!("{ns}|{name}"))
    };
    // `sort_by_cached_key`, with the keys (most of the work) worked out on the build's
    // threads: keys paired with positions sort stably.
    let keys = crate::parallel::chunks_mut(resources, |piece| piece.iter().map(key).collect::<Vec<_>>());
    let mut order: Vec<_> = keys.into_iter().flatten().zip(0usize..).collect();
    order.sort_unstable();
    // Each position appears once in `order`, so every object is taken exactly once.
    let mut slots: Vec<Option<Resource>> = std::mem::take(resources).into_iter().map(Some).collect();
    resources.extend(order.into_iter().filter_map(|(_, from)| slots.get_mut(from).and_then(Option::take)));
    Ok(())
}
