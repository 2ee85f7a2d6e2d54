//! Which applied objects left the build, and in what order to delete them.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::PRUNE_ANNOTATION;
use crate::inventory::{Entry, Inventory};
use crate::objects::ObjectKey;

/// Inventory entries not in `desired`, in deletion order: the reverse of the apply order, so
/// workloads go before the ConfigMaps they mount, custom resources before their CRDs, and
/// Namespaces last.
pub fn plan(previous: &Inventory, desired: &BTreeSet<ObjectKey>) -> Vec<Entry> {
    let mut gone: Vec<Entry> = previous.entries.values().filter(|e| !desired.contains(&e.key)).cloned().collect();
    gone.sort_by_key(|e| std::cmp::Reverse((e.key.rank(), e.order)));
    gone
}

/// Why a planned deletion is skipped, if it is: the live object opted out, or it is not the
/// object shipline applied (deleted and re-created by someone else since).
pub fn skip_reason(entry: &Entry, live: &Value) -> Option<String> {
    let annotation =
        live.pointer("/metadata/annotations").and_then(|a| a.get(PRUNE_ANNOTATION)).and_then(Value::as_str);
    if annotation == Some("disabled") {
        return Some(format!("{PRUNE_ANNOTATION}: disabled"));
    }
    let uid = live.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    (!entry.uid.is_empty() && uid != entry.uid)
        .then(|| format!("uid {uid} is not the applied object's {}: someone re-created it", entry.uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: &str, name: &str, order: u32) -> Entry {
        let key = ObjectKey { group: String::new(), kind: kind.into(), namespace: String::new(), name: name.into() };
        Entry { key, api_version: "v1".into(), uid: format!("uid-{name}"), hash: String::new(), order }
    }

    #[test]
    fn reverse_apply_order_and_only_departed() {
        let mut inv = Inventory::default();
        for e in [
            entry("Namespace", "ns", 0),
            entry("CustomResourceDefinition", "crd", 1),
            entry("ConfigMap", "cm", 2),
            entry("Deployment", "web", 3),
            entry("Service", "kept", 4),
        ] {
            inv.entries.insert(e.key.clone(), e);
        }
        let desired = BTreeSet::from([entry("Service", "kept", 0).key]);
        let names: Vec<String> = plan(&inv, &desired).into_iter().map(|e| e.key.name).collect();
        assert_eq!(names, ["web", "cm", "crd", "ns"]);
        assert!(plan(&inv, &inv.entries.keys().cloned().collect()).is_empty());
    }

    #[test]
    fn skip_reasons() {
        let e = entry("ConfigMap", "cm", 0);
        assert_eq!(skip_reason(&e, &json!({"metadata": {"uid": "uid-cm"}})), None);
        let opted_out = json!({"metadata": {"uid": "uid-cm", "annotations": {"shipline.dev/prune": "disabled"}}});
        assert_eq!(skip_reason(&e, &opted_out).as_deref(), Some("shipline.dev/prune: disabled"));
        assert!(skip_reason(&e, &json!({"metadata": {"uid": "other"}})).unwrap().contains("re-created"));
    }
}
