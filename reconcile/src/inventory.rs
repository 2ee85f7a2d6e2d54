//! What a sync applied, kept in the cluster (ConfigMap `shipline-inventory-SYNC` in the
//! reconciler's namespace) so a restarted reconciler prunes exactly what it created, and nothing
//! else.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use crate::FIELD_MANAGER;
use crate::objects::ObjectKey;

/// The data key holding the entries, one JSON object per line.
const DATA_KEY: &str = "objects";

/// One applied object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Identity.
    #[serde(flatten)]
    pub key: ObjectKey,
    /// Version it was applied with (to address it when pruning).
    pub api_version: String,
    /// The object's uid when applied: prune never deletes a same-named object created since.
    pub uid: String,
    /// Hash of the applied manifest: unchanged manifests are only drift-checked.
    pub hash: String,
    /// Position in the apply order; pruning goes in reverse.
    pub order: u32,
}

/// The applied set of one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Entries by key.
    pub entries: BTreeMap<ObjectKey, Entry>,
}

impl Inventory {
    /// Serialises to the ConfigMap's data: sorted JSON lines, diff-friendly.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in self.entries.values() {
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// Parses [`Inventory::to_text`]; the error names the line.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let e: Entry = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            entries.insert(e.key.clone(), e);
        }
        Ok(Self { entries })
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was applied.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The inventory ConfigMap's name for a sync.
pub fn configmap_name(sync: &str) -> String {
    format!("shipline-inventory-{sync}")
}

/// Reads a sync's inventory; a missing ConfigMap is an empty inventory.
pub async fn load(api: &Api<ConfigMap>, sync: &str) -> Result<Inventory, String> {
    let name = configmap_name(sync);
    let Some(cm) = api.get_opt(&name).await.map_err(|e| e.to_string())? else {
        return Ok(Inventory::default());
    };
    let text = cm.data.as_ref().and_then(|d| d.get(DATA_KEY)).map(String::as_str).unwrap_or("");
    Inventory::from_text(text)
}

/// Writes a sync's inventory.
pub async fn save(api: &Api<ConfigMap>, sync: &str, inventory: &Inventory) -> Result<(), kube::Error> {
    let data = BTreeMap::from([(DATA_KEY.to_owned(), inventory.to_text())]);
    apply_state_configmap(api, sync, &configmap_name(sync), data).await
}

/// Writes one of the ConfigMaps shipline keeps for a sync (inventory, status) with server-side
/// apply: one request, idempotent, labelled as shipline's.
pub(crate) async fn apply_state_configmap(
    api: &Api<ConfigMap>,
    sync: &str,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<(), kube::Error> {
    let cm = ConfigMap {
        metadata: ObjectMeta { name: Some(name.to_owned()), labels: Some(managed_labels(sync)), ..Default::default() },
        data: Some(data),
        ..Default::default()
    };
    let mut value = serde_json::to_value(&cm).unwrap_or_default();
    value["apiVersion"] = "v1".into();
    value["kind"] = "ConfigMap".into();
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(value)).await.map(|_| ())
}

/// Labels on the ConfigMaps shipline keeps for a sync.
pub fn managed_labels(sync: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_owned(), "shipline".to_owned()),
        ("shipline.dev/sync".to_owned(), sync.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_errors() {
        let key =
            ObjectKey { group: "apps".into(), kind: "Deployment".into(), namespace: "d".into(), name: "w".into() };
        let ns =
            ObjectKey { group: String::new(), kind: "Namespace".into(), namespace: String::new(), name: "d".into() };
        let mut inv = Inventory::default();
        for (i, k) in [ns, key].into_iter().enumerate() {
            let e = Entry {
                key: k.clone(),
                api_version: "v1".into(),
                uid: format!("u{i}"),
                hash: "h".into(),
                order: i as u32,
            };
            inv.entries.insert(k, e);
        }
        let text = inv.to_text();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains(r#""group":"apps","kind":"Deployment","namespace":"d","name":"w""#), "{text}");
        assert!(
            !text.lines().next().unwrap().contains("namespace"),
            "cluster-scoped entries have no namespace: {text}"
        );
        assert_eq!(Inventory::from_text(&text).unwrap(), inv);
        assert!(Inventory::from_text("{}\n{\"bad\n").unwrap_err().starts_with("line 1:"));
    }
}
