//! `replicas`: set replica counts of workloads by name.

use crate::fieldspec::{FieldSpec, visit};
use crate::resource::Resource;
use crate::yaml::Value;

/// Sets the count at every replica field spec of the resources that have (or had) `name`;
/// errors if none matched.
pub fn apply(resources: &mut [Resource], name: &str, count: i128, specs: &[FieldSpec]) -> Result<(), String> {
    let mut found = false;
    for spec in specs {
        for r in resources.iter_mut() {
            let cur = r.cur_id();
            let matches =
                std::iter::once(&cur).chain(r.all_ids()).any(|id| id.name == name && spec.applies_to(&id.gvk));
            if matches {
                found = true;
                visit(&mut r.obj, spec.segments(), spec.create, &mut |v| *v = Value::Int(count));
            }
        }
    }
    if found {
        Ok(())
    } else {
        let gvks: Vec<String> = specs
            .iter()
            .map(|s| {
                crate::resid::Gvk { group: s.group.clone(), version: s.version.clone(), kind: s.kind.clone() }
                    .sort_string()
            })
            .collect();
        Err(format!("resource with name {name} does not match a config with the following GVK [{}]", gvks.join(" ")))
    }
}
