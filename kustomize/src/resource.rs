//! A resource being built: its object plus the identity history name references need.

use std::path::PathBuf;

use crate::resid::{Gvk, ResId};
use crate::yaml::{Map, Value};

/// How a generated resource combines with one of the same id from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// A new resource (the default).
    Create,
    /// Replace the base's resource.
    Replace,
    /// Merge data into the base's resource.
    Merge,
}

/// Where a resource came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Read from this file.
    File(PathBuf),
    /// Made by a generator, or (after a patch wiped its build annotations) claimed by the next
    /// built-in transformer, as kustomize's `SetOrigin` does.
    Generator(ConfiguredBy),
    /// A patch removed the origin annotation kustomize keeps on the object during the build.
    Lost,
}

/// A builtin generator or transformer as build annotations name it (`configuredIn`,
/// `configuredBy`): one configured by a kustomization field, or a plugin configuration listed
/// under `generators`/`transformers` (which adds its `metadata.name` and `namespace`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredBy {
    /// `configuredIn`: the kustomization file, or the plugin configuration's file.
    pub file: PathBuf,
    /// The kind (`ConfigMapGenerator`, `PatchTransformer`, ...).
    pub kind: String,
    /// The plugin configuration's `metadata.name` (empty for kustomization fields).
    pub name: String,
    /// The plugin configuration's `metadata.namespace` (empty for kustomization fields).
    pub namespace: String,
}

impl ConfiguredBy {
    /// A generator or transformer configured by a field of the kustomization `file`.
    pub fn field(file: &std::path::Path, kind: &str) -> ConfiguredBy {
        ConfiguredBy { file: file.to_path_buf(), kind: kind.to_string(), name: String::new(), namespace: String::new() }
    }
}

/// One Kubernetes object and its bookkeeping.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object.
    pub obj: Map,
    /// Its id when it was loaded or generated.
    pub orig: ResId,
    /// Ids it had before each rename, oldest first.
    pub prev: Vec<ResId>,
    /// Whether the content-hash suffix is still to be appended (generated, hash not disabled).
    pub needs_hash: bool,
    /// `namePrefix` values applied, innermost kustomization first (name references use them to
    /// tell apart copies of one base).
    pub prefixes: Vec<String>,
    /// `nameSuffix` values applied, innermost first.
    pub suffixes: Vec<String>,
    /// Where it came from, for `buildMetadata: [originAnnotations]`.
    pub origin: Origin,
    /// Legacy `vars` that read a field of this resource.
    pub ref_vars: Vec<crate::resid::VarSpec>,
    /// Built-in transformers run over it, in order, for
    /// `buildMetadata: [transformerAnnotations]`; recorded whenever the top-level kustomization
    /// has `buildMetadata`, as kustomize does.
    pub transformations: Vec<ConfiguredBy>,
}

fn str_at<'a>(m: &'a Map, path: &[&str]) -> &'a str {
    let mut cur = match crate::yaml::value::map_get(m, path[0]) {
        Some(v) => v,
        None => return "",
    };
    for k in &path[1..] {
        cur = match cur.get(k) {
            Some(v) => v,
            None => return "",
        };
    }
    cur.as_str().unwrap_or("")
}

impl Resource {
    /// Wraps an object read from `source`, checking the fields every resource needs.
    pub fn new(obj: Map, source: PathBuf) -> Result<Resource, crate::Error> {
        let invalid = |message: String| crate::Error::InvalidResource { file: source.clone(), message };
        // kustomize requires `kind`; a missing `apiVersion` reads as empty (measured).
        for f in ["apiVersion", "kind"] {
            match obj.get(f) {
                Some(Value::String(_)) => {}
                None if f == "apiVersion" => {}
                _ => return Err(invalid(format!("missing or non-string `{f}` in object {}", describe(&obj)))),
            }
        }
        if !matches!(obj.get("metadata").and_then(|m| m.get("name")), Some(Value::String(s)) if !s.is_empty())
            && !matches!(obj.get("metadata").and_then(|m| m.get("generateName")), Some(Value::String(_)))
        {
            return Err(invalid(format!("missing metadata.name in object {}", describe(&obj))));
        }
        let mut r = Resource {
            obj,
            orig: ResId::default(),
            prev: Vec::new(),
            needs_hash: false,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            origin: Origin::File(source),
            ref_vars: Vec::new(),
            transformations: Vec::new(),
        };
        r.orig = r.cur_id();
        Ok(r)
    }

    /// Group, version, kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(str_at(&self.obj, &["apiVersion"]), str_at(&self.obj, &["kind"]))
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }

    /// The current id.
    pub fn cur_id(&self) -> ResId {
        // `metadata` looked up once for both fields (this runs for every resource many times).
        let md = crate::yaml::value::map_get(&self.obj, "metadata");
        let field = |k: &str| md.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
        ResId { gvk: self.gvk(), name: field("name"), namespace: field("namespace") }
    }

    /// The original id and every previous one.
    pub fn all_ids(&self) -> impl Iterator<Item = &ResId> {
        std::iter::once(&self.orig).chain(self.prev.iter())
    }

    /// `metadata`, created when missing.
    pub fn metadata_mut(&mut self) -> &mut Map {
        let md = self.obj.entry("metadata".to_string()).or_insert_with(|| Value::Map(Map::new()));
        if !matches!(md, Value::Map(_)) {
            *md = Value::Map(Map::new());
        }
        md.as_map_mut().expect("metadata is a map")
    }

    /// Renames, remembering the old id.
    pub fn set_name(&mut self, name: String) {
        self.prev.push(self.cur_id());
        self.metadata_mut().insert("name".into(), Value::String(name));
    }

    /// Moves to a namespace, remembering the old id.
    pub fn set_namespace(&mut self, ns: String) {
        self.prev.push(self.cur_id());
        self.metadata_mut().insert("namespace".into(), Value::String(ns));
    }

    /// kustomize's `PrefixesSuffixesEquals`: both lists end the same way (an empty list only
    /// matches an empty list).
    pub fn same_prefixes_suffixes(&self, o: &Resource) -> bool {
        fn same_ending(a: &[String], b: &[String]) -> bool {
            let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
            if short.is_empty() {
                return long.is_empty();
            }
            long.ends_with(short)
        }
        same_ending(&self.prefixes, &o.prefixes) && same_ending(&self.suffixes, &o.suffixes)
    }

    /// Whether the name prefixes or the name suffixes (either) end the same way as `o`'s: the
    /// sieve kustomize applies when no candidate matches both (measured: krusty `TestPrefixSuffix`,
    /// case `namerefs-prefix-or-suffix`).
    pub fn same_prefixes_or_suffixes(&self, o: &Resource) -> bool {
        let ends_alike = |a: &[String], b: &[String]| {
            let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
            if short.is_empty() { long.is_empty() } else { long.ends_with(short) }
        };
        ends_alike(&self.prefixes, &o.prefixes) || ends_alike(&self.suffixes, &o.suffixes)
    }

    /// A label or annotation map under `metadata`.
    pub fn meta_map(&self, field: &str) -> Option<&Map> {
        self.obj.get("metadata")?.get(field)?.as_map()
    }
}

fn describe(obj: &Map) -> String {
    let name = obj.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("?");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("?");
    format!("{kind}/{name}")
}
