//! The generator of `src/patch/smp_schema.rs` (strategic-merge list strategies and merge keys of
//! the built-in Kubernetes types) and the checks that the committed table is what it generates.
//!
//! Input: the Kubernetes OpenAPI document `api/openapi-spec/swagger.json` of the v1.20.2 source
//! tree that `tests/services/k8s-install.sh` downloads (Debian's `kubernetes` source package).
//! kustomize v5.5 embeds v1.21.2's document (as protobuf in kyaml); that one is not available
//! here as JSON, and the two agree on the merge keys of every type both define (see NOTES.md).
//! The document is looked for at `$SHIPLINE_K8S_SWAGGER`, then in the Kubernetes build tree
//! under `$SHIPLINE_CACHE` (default `~/.cache/shipline/k8s-build`), which the install script
//! removes after a successful build; without it the re-generation check says so and passes (the
//! coverage check below needs no input).
//!
//! Regenerate: `SHIPLINE_K8S_SWAGGER=path/swagger.json SHIPLINE_REGENERATE_SMP_SCHEMA=1 cargo
//! test -p shipline-kustomize --test smp_schema`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

#[path = "../src/patch/smp_schema.rs"]
mod smp_schema;

/// One list field of one built-in kind: (group, kind, dotted path from the object root with list
/// elements transparent, patch merge key, patch strategy, list type, list map keys).
type Row = (String, String, String, String, String, String, String);

/// A list field's merge key, patch strategy, list type and list map keys, by dotted path.
type Lists = BTreeMap<String, (String, String, String, String)>;

fn swagger_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SHIPLINE_K8S_SWAGGER") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("SHIPLINE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shipline")))?;
    let p = cache.join("k8s-build/kubernetes-1.20.5+really1.20.2/api/openapi-spec/swagger.json");
    p.is_file().then_some(p)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        _ => String::new(),
    }
}

fn definition<'a>(defs: &'a serde_json::Map<String, Value>, reference: &str) -> Option<(&'a str, &'a Value)> {
    let name = reference.strip_prefix("#/definitions/")?;
    defs.get_key_value(name).map(|(k, v)| (k.as_str(), v))
}

/// Walks the properties of `schema`, recording every list with a patch strategy, merge key or
/// list type. `stack` holds the definitions being walked (recursive types such as
/// `JSONSchemaProps` stop there: no built-in merge keys live below them).
fn walk(defs: &serde_json::Map<String, Value>, schema: &Value, path: &str, stack: &mut Vec<String>, out: &mut Lists) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (field, prop) in props {
        let p = if path.is_empty() { field.clone() } else { format!("{path}.{field}") };
        let target = if prop.get("type").and_then(Value::as_str) == Some("array") {
            let row = (
                text(prop, "x-kubernetes-patch-merge-key"),
                text(prop, "x-kubernetes-patch-strategy"),
                text(prop, "x-kubernetes-list-type"),
                text(prop, "x-kubernetes-list-map-keys"),
            );
            if row != Default::default() {
                out.insert(p.clone(), row);
            }
            prop.get("items")
        } else {
            Some(prop)
        };
        if let Some((name, def)) =
            target.and_then(|t| t.get("$ref")).and_then(Value::as_str).and_then(|r| definition(defs, r))
            && !stack.iter().any(|s| s == name)
        {
            stack.push(name.to_string());
            walk(defs, def, &p, stack, out);
            stack.pop();
        }
    }
}

/// The table rows of a swagger document: every kind (`x-kubernetes-group-version-kind`) with an
/// object's `metadata`, except `...List` kinds (the engine unpacks lists into their items).
/// Versions are merged per group and kind: kyaml matches the version too, but the v1.20.2
/// document lacks versions v1.21.2 has (batch/v1 CronJob), and no kind changes a merge key
/// between versions.
fn rows(doc: &Value) -> Vec<Row> {
    let defs = doc["definitions"].as_object().expect("swagger document has definitions");
    let mut per_kind: BTreeMap<(String, String), Lists> = BTreeMap::new();
    for (name, def) in defs {
        let Some(gvks) = def.get("x-kubernetes-group-version-kind").and_then(Value::as_array) else {
            continue;
        };
        if def.get("properties").and_then(|p| p.get("metadata")).is_none() {
            continue;
        }
        for gvk in gvks {
            let (group, kind) = (text(gvk, "group"), text(gvk, "kind"));
            if kind.ends_with("List") {
                continue;
            }
            let entry = per_kind.entry((group, kind)).or_default();
            walk(defs, def, "", &mut vec![name.clone()], entry);
        }
    }
    per_kind
        .into_iter()
        .flat_map(|((g, k), paths)| {
            paths
                .into_iter()
                .map(move |(p, (key, strategy, ty, map_keys))| (g.clone(), k.clone(), p, key, strategy, ty, map_keys))
        })
        .collect()
}

fn render(rows: &[Row], input: &str, sha256: &str) -> String {
    let mut s = String::new();
    s.push_str("// @generated by kustomize/tests/smp_schema.rs from the Kubernetes OpenAPI document\n");
    s.push_str(&format!("// {input} (sha256 {sha256}).\n"));
    s.push_str("// Do not edit: regenerate (see that file) and commit.\n\n");
    s.push_str("//! Strategic-merge list fields of the built-in Kubernetes kinds, generated from the\n");
    s.push_str("//! `x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`, `x-kubernetes-list-type` and\n");
    s.push_str("//! `x-kubernetes-list-map-keys` extensions of the Kubernetes OpenAPI document.\n\n");
    s.push_str("/// One list field: group, kind, dotted path from the object root (list elements add no\n");
    s.push_str("/// segment), patch merge key, patch strategy, list type, list map keys (comma-separated).\n");
    s.push_str("pub type Row = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, &'static str);\n\n");
    s.push_str("/// Every list field with a strategy, merge key or list type, sorted by group, kind and path.\n");
    s.push_str("#[rustfmt::skip]\npub const LISTS: &[Row] = &[\n");
    for (g, k, p, key, strategy, ty, map_keys) in rows {
        s.push_str(&format!("    ({g:?}, {k:?}, {p:?}, {key:?}, {strategy:?}, {ty:?}, {map_keys:?}),\n"));
    }
    s.push_str("];\n");
    s
}

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/patch/smp_schema.rs")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn committed_table_matches_a_regeneration() {
    let Some(path) = swagger_path() else {
        eprintln!(
            "smp_schema: no Kubernetes swagger.json (set SHIPLINE_K8S_SWAGGER); the committed table was not re-generated"
        );
        return;
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let generated = render(
        &rows(&doc),
        "api/openapi-spec/swagger.json of Kubernetes v1.20.2 (Debian source package kubernetes 1.20.5+really1.20.2)",
        &sha256_hex(&bytes),
    );
    if std::env::var_os("SHIPLINE_REGENERATE_SMP_SCHEMA").is_some() {
        std::fs::write(committed_path(), &generated).expect("writing src/patch/smp_schema.rs");
        return;
    }
    let committed = std::fs::read_to_string(committed_path()).expect("reading src/patch/smp_schema.rs");
    assert!(
        committed == generated,
        "src/patch/smp_schema.rs differs from what {} generates: regenerate it (see tests/smp_schema.rs)",
        path.display()
    );
}

/// The hand-kept table the generated one replaced (field, parent field, merge key): each entry
/// must still be a merge key of some built-in kind, at a path ending in `parent.field`, so no
/// behaviour was lost. Four entries of that table were wrong and are left out on purpose
/// (measured: kubectl replaces these lists, case `patches-smp-generated-schema`):
/// `resourceClaims` and `schedulingGates` (Kubernetes 1.26/1.27 fields, unknown to kustomize's
/// v1.21.2 schema), `readinessGates` and `ephemeralContainers[].ports` (no merge key in the
/// schema).
const HAND_KEPT: &[(&str, &str, &str)] = &[
    ("containers", "spec", "name"),
    ("initContainers", "spec", "name"),
    ("ephemeralContainers", "spec", "name"),
    ("env", "containers", "name"),
    ("env", "initContainers", "name"),
    ("volumes", "spec", "name"),
    ("imagePullSecrets", "spec", "name"),
    ("volumeMounts", "containers", "mountPath"),
    ("volumeDevices", "containers", "devicePath"),
    ("hostAliases", "spec", "ip"),
    ("conditions", "status", "type"),
    ("topologySpreadConstraints", "spec", "topologyKey"),
    ("ownerReferences", "metadata", "uid"),
    ("ports", "containers", "containerPort"),
    ("ports", "initContainers", "containerPort"),
    ("ports", "spec", "port"),
    ("webhooks", "", "name"),
    ("secrets", "", "name"),
    ("drivers", "spec", "name"),
    ("addresses", "status", "type"),
    ("podIPs", "status", "ip"),
];

#[test]
fn generated_table_covers_the_hand_kept_one() {
    use smp_schema::LISTS;
    let mut sorted: Vec<_> = LISTS.iter().map(|r| (r.0, r.1, r.2)).collect();
    let before = sorted.clone();
    sorted.sort();
    assert_eq!(before, sorted, "the table must stay sorted by group, kind and path (lookups rely on it)");
    let kinds: BTreeSet<(&str, &str)> = LISTS.iter().map(|r| (r.0, r.1)).collect();
    assert!(kinds.contains(&("apps", "Deployment")) && kinds.contains(&("batch", "CronJob")));
    for (field, parent, key) in HAND_KEPT {
        let suffix = if parent.is_empty() { field.to_string() } else { format!("{parent}.{field}") };
        let found = LISTS.iter().any(|r| {
            (r.2 == suffix || r.2.ends_with(&format!(".{suffix}")))
                && r.3 == *key
                && r.4.split(',').any(|s| s == "merge")
        });
        assert!(found, "hand-kept merge key {field} (under {parent:?}) by {key} is not in the generated table");
    }
}
