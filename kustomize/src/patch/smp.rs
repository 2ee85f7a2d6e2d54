//! Strategic merge patch, as kustomize (kyaml's merge2) applies it.
//!
//! Measured rules: mappings merge recursively and `null` deletes a key; lists of built-in
//! types with the `merge` patch strategy and a merge key (containers by `name`, container
//! ports by `containerPort`, ...) merge element-wise, patch elements first (in patch order) then
//! the untouched originals; such lists of scalars (`finalizers`) take the patch's values then
//! the original's others; every other list is replaced. `$patch: delete|replace` directives
//! are honoured. Which list is which comes from the table generated from the Kubernetes OpenAPI
//! document (`smp_schema.rs`, by kind and path, as kyaml walks its schema).
//!
//! Measured: kyaml only knows `$patch`. The other strategic-merge directives
//! (`$setElementOrder/<field>`, `$retainKeys`, `$deleteFromPrimitiveList/<field>`) are not
//! interpreted by kustomize v5.5.0: they are ordinary fields, merged like any other and printed
//! in the output. This engine therefore has no code for them, on purpose.

use super::smp_schema::{LISTS, Row};
use crate::resid::Gvk;
use crate::yaml::{Map, Value};

/// The list fields of one built-in kind (rows of the generated [`LISTS`] table), or `None` for
/// kinds kustomize has no schema for (their lists are all replaced).
pub type Schema = Option<&'static [Row]>;

/// The schema of a kind, matched by group and kind: kyaml matches the version too, but the
/// table comes from a document older than kustomize's (see `tests/smp_schema.rs`), and no kind
/// changes a merge key between versions.
pub fn schema_for(gvk: &Gvk) -> Schema {
    let key = (gvk.group.as_str(), gvk.kind.as_str());
    let start = LISTS.partition_point(|r| (r.0, r.1) < key);
    let end = start + LISTS[start..].partition_point(|r| (r.0, r.1) == key);
    (end > start).then(|| &LISTS[start..end])
}

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListRule {
    /// The patch's list replaces the original (no `merge` strategy, or no schema).
    Replace,
    /// Elements merge by this key.
    Keyed(&'static str),
    /// A list of scalars with the `merge` strategy (`metadata.finalizers`): measured, the patch's
    /// values, then the original's values the patch lacks.
    Primitive,
}

fn rule(schema: Schema, path: &str) -> ListRule {
    let Some(rows) = schema else {
        return ListRule::Replace;
    };
    match rows.binary_search_by(|r| r.2.cmp(path)) {
        Ok(i) if rows[i].4.split(',').any(|s| s == "merge") => match rows[i].3 {
            "" => ListRule::Primitive,
            key => ListRule::Keyed(key),
        },
        _ => ListRule::Replace,
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_string() } else { format!("{path}.{field}") }
}

/// Outcome of merging into a mapping.
#[derive(Debug, PartialEq)]
pub enum Merged {
    /// The target stays (possibly changed).
    Kept,
    /// The patch asked for the whole target to be deleted.
    Deleted,
}

/// Merges `patch` into `dest`, a resource whose kind has the list rules of `schema`.
pub fn merge(dest: &mut Map, patch: &Map, schema: Schema) -> Result<Merged, String> {
    merge_map(dest, patch, schema, "")
}

fn directive(m: &Map) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

fn check_directives(m: &Map) -> Result<(), String> {
    match directive(m) {
        None | Some("delete") | Some("replace") | Some("merge") => Ok(()),
        Some(other) => Err(format!("unknown strategic merge directive `$patch: {other}`")),
    }
}

/// A patch value for a field the target lacks (at `path`): merged into an empty value of its
/// kind, so directives are honoured in mappings and merged lists (other lists are copied).
fn fresh(v: &Value, schema: Schema, path: &str) -> Result<Option<Value>, String> {
    Ok(match v {
        Value::Map(m) => {
            let mut out = Map::new();
            (merge_map(&mut out, m, schema, path)? == Merged::Kept).then_some(Value::Map(out))
        }
        Value::Seq(items) => Some(Value::Seq(merge_list(&[], items, rule(schema, path), schema, path)?)),
        other => Some(other.clone()),
    })
}

/// Merges a mapping found at `path` (dotted field names from the object root; list elements
/// add no segment).
fn merge_map(dest: &mut Map, patch: &Map, schema: Schema, path: &str) -> Result<Merged, String> {
    check_directives(patch)?;
    match directive(patch) {
        Some("delete") => return Ok(Merged::Deleted),
        Some("replace") => {
            let without: Map =
                patch.iter().filter(|(k, _)| k.as_str() != "$patch").map(|(k, v)| (k.clone(), v.clone())).collect();
            *dest = Map::new();
            return merge_map(dest, &without, schema, path);
        }
        _ => {}
    }
    for (k, pv) in patch {
        if k == "$patch" {
            continue;
        }
        // A `$`-field is in no OpenAPI schema, so kyaml merges everything below it schemaless.
        let schema = if k.starts_with('$') { None } else { schema };
        let child = join(path, k);
        match (dest.get_mut(k), pv) {
            (_, Value::Null | Value::Blank) => {
                dest.shift_remove(k);
            }
            (Some(Value::Map(dm)), Value::Map(pm)) => {
                if merge_map(dm, pm, schema, &child)? == Merged::Deleted {
                    dest.shift_remove(k);
                }
            }
            (Some(Value::Seq(ds)), Value::Seq(ps)) => {
                *ds = merge_list(ds, ps, rule(schema, &child), schema, &child)?;
            }
            (Some(dv), pv) if !dv.is_null() && node_kind(dv) != node_kind(pv) => {
                return Err(format!(
                    "field `{k}`: wrong node kind: expected {} but got {}",
                    node_kind(dv),
                    node_kind(pv)
                ));
            }
            (_, pv) => match fresh(pv, schema, &child)? {
                Some(v) => {
                    dest.insert(k.clone(), v);
                }
                None => {
                    dest.shift_remove(k);
                }
            },
        }
    }
    Ok(Merged::Kept)
}

/// Measured: wherever kyaml's merge walks the target (mappings, and lists it merges by key),
/// fields written as `key:` with no value disappear; explicit `null` stays.
pub fn drop_blanks(m: &mut Map, schema: Schema) {
    drop_in_map(m, schema, "");
}

fn drop_in_map(m: &mut Map, schema: Schema, path: &str) {
    m.retain(|_, v| !matches!(v, Value::Blank));
    for (k, v) in m.iter_mut() {
        let schema = if k.starts_with('$') { None } else { schema };
        // Scalars (most keys) have no children: their path is never spelled out.
        match v {
            Value::Map(inner) => drop_in_map(inner, schema, &join(path, k)),
            Value::Seq(items) => {
                let child = join(path, k);
                if matches!(rule(schema, &child), ListRule::Keyed(_)) {
                    for item in items.iter_mut() {
                        if let Value::Map(im) = item {
                            drop_in_map(im, schema, &child);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The YAML node kind, as kyaml names it in its errors.
fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "MappingNode",
        Value::Seq(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn merge_list(
    dest: &[Value],
    patch: &[Value],
    how: ListRule,
    schema: Schema,
    path: &str,
) -> Result<Vec<Value>, String> {
    let key = match how {
        // Without a merge key the patch list replaces the original verbatim (measured:
        // even a `- $patch: replace` element is kept as data).
        ListRule::Replace => return Ok(patch.to_vec()),
        ListRule::Primitive => {
            let mut out: Vec<Value> = Vec::new();
            for v in patch.iter().chain(dest) {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            return Ok(out);
        }
        ListRule::Keyed(key) => key,
    };
    let field = path.rsplit('.').next().unwrap_or(path);
    let key_of = |v: &Value| v.as_map().and_then(|m| m.get(key)).cloned();
    // kyaml merges oddly into a list holding two elements with the same key (e.g. `env` entries
    // a JSON patch appended twice): some are dropped, some kept. Not reproduced: refused.
    let keys: Vec<Value> = dest.iter().filter_map(key_of).collect();
    if let Some(dup) = keys.iter().enumerate().find(|(i, k)| keys[..*i].contains(k)).map(|(_, k)| k) {
        return Err(format!(
            "list `{field}` holds two elements with {key} {}; merging a patch into it is not reproduced",
            dup.scalar_text().unwrap_or_default()
        ));
    }
    let is_replace = |v: &Value| v.as_map().is_some_and(|m| m.len() == 1 && directive(m) == Some("replace"));
    if patch.iter().any(is_replace) {
        let mut out = Vec::new();
        for v in patch.iter().filter(|v| !is_replace(v)) {
            out.extend(fresh(v, schema, path)?);
        }
        return Ok(out);
    }
    // Measured: when a patch element lacks the merge key, kubectl keeps only the keyed patch
    // elements (merged with their originals) and drops everything else.
    // When the original has no such list, the patch list is taken with its keyless elements
    // (measured: an `env` entry with only `valueFrom` patched into a container without `env`).
    let partial = !dest.is_empty()
        && patch.iter().any(|v| v.as_map().is_some_and(|m| !m.contains_key(key) && directive(m).is_none()));
    let mut used = vec![false; dest.len()];
    let mut out = Vec::new();
    for pv in patch {
        let Some(pm) = pv.as_map() else {
            return Err(format!("list `{field}` merges by `{key}` but a patch element is a {}", pv.type_name()));
        };
        check_directives(pm)?;
        let pk = key_of(pv);
        if partial && pk.is_none() {
            continue;
        }
        let found = pk
            .as_ref()
            .and_then(|pk| dest.iter().enumerate().position(|(i, d)| !used[i] && key_of(d).as_ref() == Some(pk)));
        match found {
            Some(i) => {
                used[i] = true;
                if directive(pm) == Some("delete") {
                    continue;
                }
                let mut merged = dest[i].as_map().cloned().unwrap_or_default();
                // kyaml's walk also re-merges the element's own keyed lists that the patch
                // does not mention, collapsing duplicate keys there; not reproduced: refused.
                for (k, v) in &merged {
                    if let (Value::Seq(items), ListRule::Keyed(sub)) = (v, rule(schema, &join(path, k))) {
                        let keys: Vec<&Value> = items.iter().filter_map(|x| x.as_map()?.get(sub)).collect();
                        if keys.iter().enumerate().any(|(n, x)| keys[..n].contains(x)) {
                            return Err(format!(
                                "list `{k}` holds two elements with the same {sub}; merging a patch into its parent is not reproduced"
                            ));
                        }
                    }
                }
                if merge_map(&mut merged, pm, schema, path)? == Merged::Kept {
                    out.push(Value::Map(merged));
                }
            }
            None => {
                if directive(pm) == Some("delete") {
                    continue;
                }
                let mut fresh = Map::new();
                if merge_map(&mut fresh, pm, schema, path)? == Merged::Kept {
                    out.push(Value::Map(fresh));
                }
            }
        }
    }
    if !partial {
        out.extend(dest.iter().enumerate().filter(|(i, _)| !used[*i]).map(|(_, v)| v.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_one;
    use proptest::prelude::*;

    fn map(y: &str) -> Map {
        parse_one(y).unwrap().as_map().unwrap().clone()
    }

    fn pod() -> Schema {
        schema_for(&Gvk::from_api_version("v1", "Pod"))
    }

    #[test]
    fn containers_merge_by_name_patch_first() {
        let mut d = map("spec:\n  containers:\n  - {name: a, image: a}\n  - {name: c, image: old}\n");
        let p = map("spec:\n  containers:\n  - {name: c, image: new}\n  - {name: n, image: n}\n");
        merge_map(&mut d, &p, pod(), "").unwrap();
        let names: Vec<_> = d["spec"]["containers"].as_seq().unwrap().iter().map(|c| c["name"].clone()).collect();
        assert_eq!(names, [Value::from("c"), Value::from("n"), Value::from("a")]);
        assert_eq!(d["spec"]["containers"][0]["image"], Value::from("new"));
    }

    #[test]
    fn unknown_types_replace_lists_and_null_deletes() {
        let mut d = map("items: [{name: a}, {name: b}]\nx: 1\n");
        merge(&mut d, &map("items: [{name: b, v: 2}]\nx: null\n"), None).unwrap();
        assert_eq!(d, map("items: [{name: b, v: 2}]\n"));
    }

    #[test]
    fn delete_directives() {
        let mut d = map("volumes: [{name: v1}, {name: v2}]\n");
        merge_map(&mut d, &map("volumes: [{name: v1, $patch: delete}]\n"), pod(), "spec").unwrap();
        assert_eq!(d, map("volumes: [{name: v2}]\n"));
        assert_eq!(merge(&mut d, &map("$patch: delete\n"), pod()), Ok(Merged::Deleted));
    }

    #[test]
    fn lists_follow_the_generated_schema() {
        let mut d = map(
            "metadata: {finalizers: [a, b]}\nspec: {schedulingGates: [{name: g1}], readinessGates: [{conditionType: a}], foo: {containers: [{name: a}]}}\n",
        );
        let p = map(
            "metadata: {finalizers: [c, a]}\nspec: {schedulingGates: [{name: g2}], readinessGates: [{conditionType: b}], foo: {containers: [{name: b}]}}\n",
        );
        merge(&mut d, &p, pod()).unwrap();
        assert_eq!(
            d,
            map(
                "metadata: {finalizers: [c, a, b]}\nspec: {schedulingGates: [{name: g2}], readinessGates: [{conditionType: b}], foo: {containers: [{name: b}]}}\n"
            )
        );
        assert_eq!(rule(pod(), "spec.containers.ports"), ListRule::Keyed("containerPort"));
        assert_eq!(
            rule(
                schema_for(&Gvk::from_api_version("batch/v1", "CronJob")),
                "spec.jobTemplate.spec.template.spec.containers"
            ),
            ListRule::Keyed("name")
        );
        assert_eq!(schema_for(&Gvk::from_api_version("example.com/v1", "Pod")), None);
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1000i128..1000).prop_map(Value::Int),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
                prop::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                    .prop_map(|m| Value::Map(m.into_iter().collect())),
            ]
        })
    }

    /// Removes nulls from mappings: a patch holding null would delete, so it is not a subset.
    fn without_nulls(v: &Value) -> Value {
        match v {
            Value::Map(m) => Value::Map(
                m.iter().filter(|(_, v)| **v != Value::Null).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
            ),
            Value::Seq(s) => Value::Seq(s.iter().map(without_nulls).collect()),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn merging_a_subset_is_idempotent(v in arb_value(), keep in prop::collection::vec(any::<bool>(), 8)) {
            let Value::Map(dest) = without_nulls(&Value::Map([("root".to_string(), v)].into_iter().collect())) else { unreachable!() };
            // A patch made of some of the top-level entries of dest.
            let patch: Map = dest.iter().enumerate().filter(|(i, _)| keep[i % keep.len()]).map(|(_, (k, v))| (k.clone(), v.clone())).collect();
            let mut merged = dest.clone();
            merge(&mut merged, &patch, None).unwrap();
            prop_assert_eq!(&merged, &dest);
            let mut twice = merged.clone();
            merge(&mut twice, &patch, pod()).unwrap();
            prop_assert_eq!(twice, merged);
        }

        /// kyaml interprets only `$patch`: other directives are ordinary fields, copied as data
        /// (and, being in no schema, merged schemaless below).
        #[test]
        fn other_directives_are_plain_fields(
            d in arb_value(),
            v in arb_value(),
            key in "\\$(setElementOrder/|deleteFromPrimitiveList/)[a-z]{1,6}|\\$retainKeys",
        ) {
            let Value::Map(dest) = without_nulls(&Value::Map([("root".to_string(), d)].into_iter().collect())) else { unreachable!() };
            let v = without_nulls(&v);
            prop_assume!(v != Value::Null, "a null patch value deletes the field");
            let patch: Map = [(key.clone(), v.clone())].into_iter().collect();
            let mut merged = dest.clone();
            prop_assert_eq!(merge(&mut merged, &patch, pod()), Ok(Merged::Kept));
            let mut want = dest;
            want.insert(key, v);
            prop_assert_eq!(merged, want);
        }

        #[test]
        fn merging_into_empty_yields_patch(v in arb_value()) {
            let Value::Map(patch) = without_nulls(&Value::Map([("k".to_string(), v)].into_iter().collect())) else { unreachable!() };
            let mut dest = Map::new();
            merge(&mut dest, &patch, None).unwrap();
            prop_assert_eq!(dest, patch);
        }
    }
}
