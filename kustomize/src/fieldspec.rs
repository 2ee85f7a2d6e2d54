//! Field specs: "this path in these kinds", the unit of configuration of kustomize's
//! built-in transformers, and the walk that applies a function at such a path.

use crate::resid::Gvk;
use crate::yaml::{Map, Value};

/// A field path, optionally restricted to a group/version/kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Group filter (empty: any).
    pub group: String,
    /// Version filter (empty: any).
    pub version: String,
    /// Kind filter (empty: any).
    pub kind: String,
    /// Slash-separated path; `\/` escapes a slash inside a key.
    pub path: String,
    /// Whether missing fields are created.
    pub create: bool,
    /// `path` split into keys, once: every transformer walks its specs for every resource.
    segs: Vec<String>,
}

impl FieldSpec {
    /// A spec for any kind.
    pub fn any(path: &str, create: bool) -> FieldSpec {
        FieldSpec::kind("", path, create)
    }

    /// A spec for one kind.
    pub fn kind(kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            group: String::new(),
            version: String::new(),
            kind: kind.to_string(),
            path: path.to_string(),
            create,
            segs: split_path(path),
        }
    }

    /// Restricts the spec to a group.
    pub fn group(mut self, group: &str) -> FieldSpec {
        self.group = group.to_string();
        self
    }

    /// Restricts the spec to a version.
    pub fn version(mut self, version: &str) -> FieldSpec {
        self.version = version.to_string();
        self
    }

    /// Whether the spec applies to resources of `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(Some(&self.group), Some(&self.version), Some(&self.kind))
    }

    /// The path split into keys.
    pub fn segments(&self) -> &[String] {
        &self.segs
    }
}

/// Splits a field path on unescaped slashes (`a[]` segments mark lists).
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    // `[]` list markers stay on their segment: `visit` never creates a list it would have to
    // invent elements for (kustomize does not create `volumeClaimTemplates`).
    out.into_iter().filter(|s| !s.is_empty() && s != "[]").collect()
}

/// Calls `f` on every value at `path` under `obj`, descending into every element of the
/// sequences met on the way. With `create`, missing mappings along the path are added and
/// `f` receives [`Value::Null`] for a missing leaf (which it may replace).
pub fn visit(obj: &mut Map, path: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some((key, rest)) = path.split_first() else {
        return;
    };
    let (key, list) = match key.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (key.as_str(), false),
    };
    if !obj.contains_key(key) {
        if !create || list {
            return;
        }
        let fresh = if rest.is_empty() { Value::Null } else { Value::Map(Map::new()) };
        obj.insert(key.to_string(), fresh);
    }
    let child = obj.get_mut(key).expect("present");
    visit_value(child, rest, create, f);
}

fn visit_value(v: &mut Value, path: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    if path.is_empty() {
        if let Value::Seq(items) = v
            && items.iter().all(|i| matches!(i, Value::Map(_)))
            && !items.is_empty()
        {
            // A path ending at a list of objects (e.g. `subjects`) is applied per element.
            for item in items {
                f(item);
            }
            return;
        }
        f(v);
        return;
    }
    match v {
        Value::Map(m) => visit(m, path, create, f),
        Value::Seq(items) => {
            for item in items {
                visit_value(item, path, create, f);
            }
        }
        Value::Null | Value::Blank if create => {
            *v = Value::Map(Map::new());
            visit(v.as_map_mut().expect("map"), path, create, f);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_one;

    #[test]
    fn split_handles_escapes_and_list_markers() {
        assert_eq!(
            split_path("metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
            ["metadata", "annotations", "nginx.ingress.kubernetes.io/auth-secret"]
        );
        assert_eq!(split_path("spec/volumeClaimTemplates[]/metadata"), ["spec", "volumeClaimTemplates[]", "metadata"]);
    }

    #[test]
    fn visit_descends_into_sequences_and_creates() {
        let mut v = parse_one("spec:\n  containers:\n  - name: a\n  - name: b\n").unwrap();
        let m = v.as_map_mut().unwrap();
        let mut seen = Vec::new();
        visit(m, &split_path("spec/containers/name"), false, &mut |x| seen.push(x.clone()));
        assert_eq!(seen, [Value::from("a"), Value::from("b")]);
        visit(m, &split_path("metadata/labels"), true, &mut |x| *x = Value::from("made"));
        assert_eq!(v.get_path(&["metadata", "labels"]), Some(&Value::from("made")));
    }
}
