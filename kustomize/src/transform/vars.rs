//! Legacy `vars`: `$(NAME)` references expanded with a field of another resource.

use crate::fieldspec::{FieldSpec, visit};
use crate::kustomization::VarSpec;
use crate::resid::ResId;
use crate::resource::Resource;
use crate::yaml::{Map, Value};

/// Binds the kustomization's vars to the one resource each designates (kustomize's
/// `MergeVars`): by any of its ids, namespace compared only when given or cluster-scoped.
pub fn bind(resources: &mut [Resource], vars: &[VarSpec]) -> Result<(), String> {
    for var in vars {
        if resources.iter().any(|r| r.ref_vars.iter().any(|v| v.name == var.name)) {
            return Err(format!("var '{}' already encountered", var.name));
        }
        let target = ResId { gvk: var.gvk.clone(), name: var.object.clone(), namespace: var.namespace.clone() };
        let full = !var.namespace.is_empty() || !target.gvk.is_namespaceable();
        let matches = |id: &ResId| {
            if full { id.same_as(&target) } else { id.gvk == target.gvk && id.name == target.name }
        };
        let found: Vec<usize> = (0..resources.len())
            .filter(|&i| {
                let r = &resources[i];
                matches(&r.cur_id()) || r.all_ids().any(matches)
            })
            .collect();
        match found.as_slice() {
            [i] => resources[*i].ref_vars.push(var.clone()),
            [] => return Err(format!("var '{}' cannot be mapped to a field in the set of known resources", var.name)),
            many => {
                return Err(format!(
                    "found {} resId matches for var '{}' (unable to disambiguate)",
                    many.len(),
                    var.name
                ));
            }
        }
    }
    Ok(())
}

/// Reads a var's field (`spec.ports[0].port`).
fn field_value(obj: &Map, path: &str) -> Option<Value> {
    let mut cur = Value::Map(obj.clone());
    for seg in path.split('.') {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (seg, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?.clone();
        }
        if let Some(i) = index {
            cur = cur.as_seq()?.get(i)?.clone();
        }
    }
    Some(cur)
}

/// Kubernetes' `$(VAR)` expansion: `$$` escapes, unknown or unterminated references stay.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::new();
    let (mut cursor, mut checkpoint) = (0, 0);
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(end) => {
                        let name = &rest[1..end];
                        out.push_str(&lookup(name).unwrap_or_else(|| format!("$({name})")));
                        end + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    let c = rest.chars().next().expect("non-empty");
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

/// Resolves every bound var and expands references at the `var_references` fields.
pub fn resolve(resources: &mut [Resource], specs: &[FieldSpec]) -> Result<(), String> {
    let mut values: Vec<(String, Value)> = Vec::new();
    for r in resources.iter() {
        for var in &r.ref_vars {
            let v = field_value(&r.obj, &var.field_path).ok_or_else(|| {
                format!("field specified in var '{}' ({}) not found in {}", var.name, var.field_path, r.cur_id())
            })?;
            if matches!(v, Value::Map(_) | Value::Seq(_)) {
                return Err(format!("var '{}' designates a {}, not a scalar", var.name, v.type_name()));
            }
            values.push((var.name.clone(), v));
        }
    }
    if values.is_empty() {
        return Ok(());
    }
    let text = |name: &str| values.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.scalar_text());
    let typed = |s: &str| -> Option<Value> {
        let name = s.strip_prefix("$(")?.strip_suffix(')')?;
        values.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    let substitute = |v: &mut Value| {
        if let Value::String(s) = v {
            *v = typed(s).unwrap_or_else(|| Value::String(expand(s, &text)));
        }
    };
    for r in resources.iter_mut() {
        check_unexpanded(r, specs, &values)?;
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            visit(&mut r.obj, spec.segments(), false, &mut |v| match v {
                Value::Seq(items) => items.iter_mut().for_each(substitute),
                Value::Map(m) => m.values_mut().for_each(substitute),
                other => substitute(other),
            });
        }
    }
    Ok(())
}

/// Refuses a `$(VAR)` of a defined var outside the expanded fields: kustomize's field list may
/// be longer than this engine's, and leaving a reference unexpanded silently would be wrong.
fn check_unexpanded(r: &Resource, specs: &[FieldSpec], values: &[(String, Value)]) -> Result<(), String> {
    let mut obj = r.obj.clone();
    let gvk = r.gvk();
    for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
        visit(&mut obj, spec.segments(), false, &mut |v| *v = Value::Null);
    }
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Seq(items) => items.iter().for_each(|i| strings(i, out)),
            Value::Map(m) => m.iter().for_each(|(k, v)| {
                out.push(k.clone());
                strings(v, out);
            }),
            _ => {}
        }
    }
    let mut all = Vec::new();
    strings(&Value::Map(obj), &mut all);
    for s in all {
        for (name, _) in values {
            let needle = format!("$({name})");
            if s.match_indices(&needle).any(|(i, _)| i == 0 || s.as_bytes()[i - 1] != b'$') {
                return Err(format!(
                    "{} references var $({name}) in a field this engine does not expand (kustomize may); use replacements instead",
                    r.cur_id()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let lookup = |n: &str| (n == "V").then(|| "val".to_string());
        assert_eq!(expand("a $(V) b", &lookup), "a val b");
        assert_eq!(expand("$$(V) $(W) $(V", &lookup), "$(V) $(W) $(V");
        assert_eq!(expand("$x$", &lookup), "$x$");
        assert_eq!(expand("héllo $(V)é", &lookup), "héllo valé");
    }

    #[test]
    fn field_paths_with_indexes() {
        let obj = crate::yaml::parse_one("spec:\n  ports:\n  - port: 80\n").unwrap();
        assert_eq!(field_value(obj.as_map().unwrap(), "spec.ports[0].port"), Some(Value::Int(80)));
        assert_eq!(field_value(obj.as_map().unwrap(), "spec.ports[3].port"), None);
    }
}
