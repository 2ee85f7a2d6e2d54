//! `crds`: OpenAPI definition files whose `x-kubernetes-*` extensions add transformer field
//! specs, as kustomize's `LoadConfigFromCRDs` reads them.
//!
//! A file maps type names to `{Schema: <OpenAPI schema>}`. Every type whose schema has
//! `kind`, `apiVersion` and `metadata` properties is walked (following `$ref` to other types of
//! the same file); on each property, string-valued extensions add field specs for the kind
//! named by the last `.`-separated part of the type name:
//!
//! - `x-kubernetes-annotation`: the property holds annotations (`commonAnnotations`);
//! - `x-kubernetes-label-selector`: it holds labels (`commonLabels`);
//! - `x-kubernetes-object-ref-kind` with `x-kubernetes-object-ref-api-version`: it refers to an
//!   object of that kind and version by the key `x-kubernetes-object-ref-name-key` (default
//!   `name`), so the name reference transformer follows renames;
//! - `x-kubernetes-identity` (name prefix field specs) is refused, as such configurations are.

use std::path::Path;

use crate::Error;
use crate::config::NameRef;
use crate::fieldspec::FieldSpec;
use crate::tconfig::TransformerConfig;
use crate::yaml::{Map, Value};

/// `$ref` chains deeper than this are taken as a cycle (kustomize itself recurses forever).
const MAX_REF_DEPTH: usize = 64;

/// Reads one `crds` file into the field specs it declares (no defaults).
pub fn load(path: &Path, text: &str) -> Result<TransformerConfig, Error> {
    let err = |message: String| Error::InvalidField { file: path.to_path_buf(), field: "crds".into(), message };
    let doc =
        crate::yaml::parse_one_yaml11(text).map_err(|e| Error::Yaml { path: path.to_path_buf(), message: e.0 })?;
    let defs = match &doc {
        Value::Map(m) => m,
        Value::Null => return Ok(TransformerConfig::empty()),
        other => return Err(err(format!("expected a map of OpenAPI definitions, found a {}", other.type_name()))),
    };
    let mut tc = TransformerConfig::empty();
    for name in defs.keys() {
        let props = properties(defs, name).map_err(&err)?;
        if !["kind", "apiVersion", "metadata"].iter().all(|k| props.is_some_and(|p| p.contains_key(*k))) {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or_default();
        walk(&mut tc, kind, defs, name, &mut Vec::new()).map_err(|e| match e {
            Walk::Invalid(m) => err(m),
            Walk::Identity(p) => Error::Unsupported {
                file: path.to_path_buf(),
                field: format!("crds: x-kubernetes-identity on {kind} {p}"),
                reason: "name prefix/suffix field specs are not implemented".into(),
            },
        })?;
    }
    Ok(tc)
}

enum Walk {
    Invalid(String),
    Identity(String),
}

/// The `Schema.properties` of a type, if the type exists and has any.
fn properties<'a>(defs: &'a Map, name: &str) -> Result<Option<&'a Map>, String> {
    let Some(def) = defs.get(name) else { return Ok(None) };
    let schema = match def {
        Value::Map(d) => d.get("Schema").or_else(|| d.get("schema")),
        Value::Null => None,
        _ => return Err(format!("definition {name:?} is not a map")),
    };
    match schema {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Map(s)) => match s.get("properties") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Map(p)) => Ok(Some(p)),
            Some(_) => Err(format!("{name}: `properties` is not a map")),
        },
        Some(_) => Err(format!("{name}: `Schema` is not a map")),
    }
}

fn walk(tc: &mut TransformerConfig, kind: &str, defs: &Map, name: &str, path: &mut Vec<String>) -> Result<(), Walk> {
    if path.len() > MAX_REF_DEPTH {
        return Err(Walk::Invalid(format!(
            "`$ref` chain deeper than {MAX_REF_DEPTH} (a cycle?) at {}",
            path.join("/")
        )));
    }
    let Some(props) = properties(defs, name).map_err(Walk::Invalid)? else { return Ok(()) };
    for (prop, schema) in props {
        let Value::Map(schema) = schema else {
            if schema.is_null() {
                continue;
            }
            return Err(Walk::Invalid(format!("{name}: property {prop:?} is not a map")));
        };
        let ext = |k: &str| schema.get(k).and_then(Value::as_str);
        let here = || path.iter().chain(std::iter::once(prop)).cloned().collect::<Vec<_>>().join("/");
        if ext("x-kubernetes-annotation").is_some() {
            tc.common_annotations.push(FieldSpec::kind(kind, &here(), false));
        }
        if ext("x-kubernetes-label-selector").is_some() {
            tc.common_labels.push(FieldSpec::kind(kind, &here(), false));
        }
        if ext("x-kubernetes-identity").is_some() {
            return Err(Walk::Identity(here()));
        }
        if let (Some(version), Some(target)) =
            (ext("x-kubernetes-object-ref-api-version"), ext("x-kubernetes-object-ref-kind"))
        {
            let key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let spec = FieldSpec::kind(kind, &format!("{}/{key}", here()), false);
            tc.add_name_reference(NameRef {
                kind: target.to_string(),
                group: String::new(),
                version: version.to_string(),
                referrers: vec![spec],
            });
        }
        if schema.get("$ref").is_some_and(|r| r.as_str().is_none()) {
            return Err(Walk::Invalid(format!("{name}: `$ref` of property {prop:?} is not a string")));
        }
        if let Some(r) = ext("$ref") {
            path.push(prop.clone());
            walk(tc, kind, defs, r, path)?;
            path.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &str = r#"{
  "example.com/v1.Bee": {"Schema": {"properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"$ref": "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta"},
    "spec": {"$ref": "example.com/v1.BeeSpec"}}}},
  "example.com/v1.BeeSpec": {"Schema": {"properties": {
    "secretRef": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "Secret"},
    "cm": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "ConfigMap",
           "x-kubernetes-object-ref-name-key": "cmName"},
    "notes": {"x-kubernetes-annotation": ""},
    "sel": {"x-kubernetes-label-selector": ""},
    "flag": {"x-kubernetes-annotation": true}}}}
}"#;

    #[test]
    fn extensions_become_field_specs() {
        let tc = load(Path::new("crd.json"), DEFS).unwrap();
        let refs: Vec<_> = tc
            .name_references
            .iter()
            .map(|n| (n.kind.as_str(), n.version.as_str(), n.referrers[0].path.as_str()))
            .collect();
        assert_eq!(refs, [("Secret", "v1", "spec/secretRef/name"), ("ConfigMap", "v1", "spec/cm/cmName")]);
        assert!(tc.name_references.iter().all(|n| n.referrers[0].kind == "Bee"));
        assert_eq!(tc.common_annotations.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["spec/notes"]);
        assert_eq!(tc.common_labels.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["spec/sel"]);
    }

    #[test]
    fn ref_cycles_and_identity_are_errors() {
        let cyc = r#"{"a.T": {"Schema": {"properties": {"kind": {}, "apiVersion": {}, "metadata": {}, "x": {"$ref": "a.T"}}}}}"#;
        assert!(load(Path::new("c.json"), cyc).unwrap_err().to_string().contains("cycle"));
        let id = r#"{"a.T": {"Schema": {"properties": {"kind": {}, "apiVersion": {}, "metadata": {}, "x": {"x-kubernetes-identity": ""}}}}}"#;
        assert!(load(Path::new("i.json"), id).unwrap_err().to_string().contains("x-kubernetes-identity"));
    }
}
