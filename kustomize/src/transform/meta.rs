//! Namespace, name prefix/suffix, labels and annotations.

use crate::fieldspec::{FieldSpec, visit};
use crate::kustomization::LabelSpec;
use crate::resource::Resource;
use crate::tconfig::TransformerConfig;
use crate::yaml::resolve::resolve_plain_v3;
use crate::yaml::{Map, Value};

/// Kinds the prefix/suffix transformer leaves alone.
fn skip_rename(r: &Resource) -> bool {
    let g = &r.orig.gvk;
    g.kind == "CustomResourceDefinition"
        || g.kind == "Namespace"
        || (g.kind == "APIService" && g.group == "apiregistration.k8s.io")
}

/// `namePrefix` and `nameSuffix`.
pub fn prefix_suffix(resources: &mut [Resource], prefix: &str, suffix: &str) {
    for r in resources.iter_mut().filter(|r| !skip_rename(r)) {
        let name = format!("{prefix}{}{suffix}", r.name());
        r.set_name(name);
        if !prefix.is_empty() {
            r.prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            r.suffixes.push(suffix.to_string());
        }
    }
}

/// A prefix/suffix plugin with its own field specs: `metadata/name` renames the resource (as
/// `namePrefix`/`nameSuffix` do), any other field gets the text added around its value.
pub fn prefix_suffix_fields(resources: &mut [Resource], prefix: &str, suffix: &str, specs: &[FieldSpec]) {
    for r in resources.iter_mut().filter(|r| !skip_rename(r)) {
        let gvk = r.orig.gvk.clone();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            if spec.segments() == ["metadata", "name"] {
                prefix_suffix(std::slice::from_mut(r), prefix, suffix);
                continue;
            }
            visit(&mut r.obj, spec.segments(), spec.create, &mut |v| match v {
                Value::String(s) => *s = format!("{prefix}{s}{suffix}"),
                Value::Null => *v = Value::String(format!("{prefix}{suffix}")),
                _ => {}
            });
        }
    }
}

/// `namespace`; `extra` are field specs from `configurations`.
pub fn namespace(resources: &mut [Resource], ns: &str, extra: &[FieldSpec]) {
    for r in resources.iter_mut() {
        // kustomize's namespace transformer stores every resource's id as a previous id, moved
        // or not, which makes it a candidate for name references.
        let id = r.cur_id();
        r.prev.push(id);
        let gvk = r.gvk();
        if gvk.kind == "Namespace" && gvk.group.is_empty() {
            if r.name() != ns {
                r.set_name(ns.to_string());
            }
            continue;
        }
        if gvk.is_namespaceable() && r.namespace() != ns {
            r.set_namespace(ns.to_string());
        }
        // kustomize's "defaultOnly" mode: only subjects named `default` (of any kind) get the
        // namespace; the others are left to name references.
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Seq(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects.iter_mut().filter_map(Value::as_map_mut) {
                if s.get("name").and_then(Value::as_str) == Some("default") {
                    s.insert("namespace".into(), Value::from(ns));
                }
            }
        }
        let service_ns: &[(&str, &str, &str)] = &[
            ("APIService", "apiregistration.k8s.io", "spec/service/namespace"),
            (
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                "spec/conversion/webhook/clientConfig/service/namespace",
            ),
        ];
        for spec in extra.iter().filter(|s| s.applies_to(&gvk)) {
            visit(&mut r.obj, spec.segments(), spec.create, &mut |v| *v = Value::from(ns));
        }
        for (kind, group, path) in service_ns {
            if gvk.kind == *kind && gvk.group == *group {
                let segs = crate::fieldspec::split_path(path);
                visit(&mut r.obj, &segs, false, &mut |v| *v = Value::from(ns));
            }
        }
    }
}

/// Adds `pairs` to the string map at every applicable field spec.
pub fn add_pairs(resources: &mut [Resource], pairs: &[(String, String)], specs: &[FieldSpec]) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut bad_key = None;
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            visit(&mut r.obj, spec.segments(), spec.create, &mut |v| {
                if v.is_null() {
                    *v = Value::Map(Map::new());
                }
                if let Value::Map(m) = v {
                    for (k, val) in pairs {
                        // kyaml writes a new key unquoted; one that reads as a number, bool,
                        // null or timestamp then breaks kustomize's JSON encoding.
                        if !m.contains_key(k) && !matches!(resolve_plain_v3(k), Value::String(_)) {
                            bad_key = Some(k.clone());
                        }
                        m.insert(k.clone(), Value::from(val.as_str()));
                    }
                }
            });
        }
    }
    match bad_key {
        Some(k) => Err(format!("key {k:?} reads as a non-string once written unquoted; kustomize fails on it too")),
        None => Ok(()),
    }
}

/// The field specs one `labels` entry targets.
pub fn label_specs<'a>(l: &LabelSpec, tc: &'a TransformerConfig) -> std::borrow::Cow<'a, [FieldSpec]> {
    // The usual entry (selectors included, no fields of its own) is the configuration's own
    // list: borrowed, not copied for every overlay.
    if l.include_selectors && l.fields.is_empty() {
        return std::borrow::Cow::Borrowed(&tc.common_labels);
    }
    let mut specs: Vec<FieldSpec> = l.fields.clone();
    if l.include_selectors {
        specs.extend(tc.common_labels.iter().cloned());
    } else {
        specs.push(FieldSpec::any("metadata/labels", true));
        if l.include_templates {
            specs.extend(tc.template_labels.iter().cloned());
        }
    }
    std::borrow::Cow::Owned(specs)
}
