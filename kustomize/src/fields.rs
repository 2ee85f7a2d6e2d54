//! Typed access to kustomization fields, with errors that name the file and the field.

use std::path::Path;

use crate::Error;
use crate::kustomization::Selector;
use crate::yaml::{Map, Value};

/// Reads fields with errors that name the file and the field.
pub(crate) struct Fields<'a> {
    /// The file being read.
    pub file: &'a Path,
}

impl Fields<'_> {
    pub(crate) fn err(&self, field: &str, message: impl Into<String>) -> Error {
        Error::InvalidField { file: self.file.to_path_buf(), field: field.to_string(), message: message.into() }
    }

    pub(crate) fn string(&self, v: &Value, field: &str) -> Result<String, Error> {
        match v {
            Value::String(s) => Ok(s.clone()),
            // kustomize decodes with YAML 1.1 into typed fields: `yes` or `1.20` is not a string.
            other => {
                Err(self.err(field, format!("expected a string, found a {} (quote the value)", other.type_name())))
            }
        }
    }

    pub(crate) fn opt_string(&self, m: &Map, key: &str, field: &str) -> Result<Option<String>, Error> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string(v, &format!("{field}.{key}")).map(Some),
        }
    }

    pub(crate) fn bool(&self, m: &Map, key: &str, field: &str) -> Result<Option<bool>, Error> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(&format!("{field}.{key}"), format!("expected a bool, found a {}", v.type_name()))),
        }
    }

    pub(crate) fn list<'v>(&self, v: &'v Value, field: &str) -> Result<&'v [Value], Error> {
        match v {
            Value::Seq(s) => Ok(s),
            Value::Null => Ok(&[]),
            other => Err(self.err(field, format!("expected a list, found a {}", other.type_name()))),
        }
    }

    pub(crate) fn strings(&self, v: &Value, field: &str) -> Result<Vec<String>, Error> {
        self.list(v, field)?.iter().enumerate().map(|(i, x)| self.string(x, &format!("{field}[{i}]"))).collect()
    }

    pub(crate) fn map<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Map, Error> {
        static EMPTY: std::sync::OnceLock<Map> = std::sync::OnceLock::new();
        match v {
            Value::Map(m) => Ok(m),
            Value::Null => Ok(EMPTY.get_or_init(Map::new)),
            other => Err(self.err(field, format!("expected a mapping, found a {}", other.type_name()))),
        }
    }

    pub(crate) fn pairs(&self, v: &Value, field: &str) -> Result<Vec<(String, String)>, Error> {
        self.map(v, field)?
            .iter()
            .map(|(k, x)| match x {
                Value::Null => Ok((k.clone(), String::new())),
                _ => Ok((k.clone(), self.string(x, &format!("{field}.{k}"))?)),
            })
            .collect()
    }
}

/// Reads a resource selector.
pub(crate) fn selector(f: &Fields, v: &Value, field: &str) -> Result<Selector, Error> {
    selector_fields(f, f.map(v, field)?, field, &[])
}

/// Reads a resource selector that may carry `extra` fields.
pub(crate) fn selector_fields(f: &Fields, m: &Map, field: &str, extra: &[&str]) -> Result<Selector, Error> {
    for key in m.keys() {
        let known = ["group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"];
        if !known.contains(&key.as_str()) && !extra.contains(&key.as_str()) {
            return Err(f.err(&format!("{field}.{key}"), "unknown selector field"));
        }
    }
    Ok(Selector {
        group: f.opt_string(m, "group", field)?,
        version: f.opt_string(m, "version", field)?,
        kind: f.opt_string(m, "kind", field)?,
        name: f.opt_string(m, "name", field)?,
        namespace: f.opt_string(m, "namespace", field)?,
        label_selector: f.opt_string(m, "labelSelector", field)?,
        annotation_selector: f.opt_string(m, "annotationSelector", field)?,
    })
}
