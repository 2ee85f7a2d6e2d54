//! Typed access to kustomization fields, with errors that name the file and the field.

use std::cell::RefCell;
use std::path::Path;

use crate::Error;
use crate::yaml::{Map, Value};

/// A resource selector (patch `target`, replacement `source`/`select`/`reject`). Lives here,
/// the lowest module that reads it, so readers of selectors need not import the kustomization.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// API group.
    pub group: Option<String>,
    /// API version.
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name (a regular expression, anchored).
    pub name: Option<String>,
    /// Namespace (a regular expression, anchored).
    pub namespace: Option<String>,
    /// Label selector (`a=b,c!=d,e in (f)`).
    pub label_selector: Option<String>,
    /// Annotation selector.
    pub annotation_selector: Option<String>,
}

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
        self.string_at(v, || field.to_string())
    }

    /// [`Fields::string`], with the field's path spelled out only for an error (paths like
    /// `images[3].newTag` are formatted for every value otherwise, a tenth of reading a file).
    pub(crate) fn string_at(&self, v: &Value, field: impl FnOnce() -> String) -> Result<String, Error> {
        match v {
            Value::String(s) => Ok(s.clone()),
            // kustomize decodes with YAML 1.1 into typed fields: `yes` or `1.20` is not a string.
            other => {
                Err(self.err(&field(), format!("expected a string, found a {} (quote the value)", other.type_name())))
            }
        }
    }

    pub(crate) fn opt_string(&self, m: &Map, key: &str, field: &str) -> Result<Option<String>, Error> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string_at(v, || format!("{field}.{key}")).map(Some),
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
        self.list(v, field)?.iter().enumerate().map(|(i, x)| self.string_at(x, || format!("{field}[{i}]"))).collect()
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
                _ => Ok((k.clone(), self.string_at(x, || format!("{field}.{k}"))?)),
            })
            .collect()
    }
}

/// A mapping read the way Go's `encoding/json` fills a struct, which is how kustomize decodes
/// kustomization files (YAML converted to JSON, then decoded with unknown fields disallowed):
/// a key names a field exactly or, failing that, case-insensitively (`fieldref`, `nameprefix`
/// and `FieldPath` all count); of several keys naming one field, the last in byte order wins
/// (the YAML-to-JSON conversion sorts keys, and the decoder keeps the last). Every key must be
/// read: [`Obj::finish`] reports the first one that was not as an unknown field, so a field the
/// engine does not understand can never fall back to a default.
pub(crate) struct Obj<'a> {
    f: &'a Fields<'a>,
    m: &'a Map,
    /// Where this mapping is, for error messages (`""` at the top of the file).
    field: String,
    used: RefCell<Vec<bool>>,
}

impl<'a> Obj<'a> {
    /// Reads `v` as a mapping (`null` reads as an empty one).
    pub(crate) fn new(f: &'a Fields<'a>, v: &'a Value, field: &str) -> Result<Obj<'a>, Error> {
        let m = f.map(v, if field.is_empty() { "kustomization" } else { field })?;
        Ok(Obj { f, m, field: field.to_string(), used: RefCell::new(vec![false; m.len()]) })
    }

    /// The mapping itself (for fields whose keys are data, not names).
    pub(crate) fn map(&self) -> &'a Map {
        self.m
    }

    /// The file being read.
    pub(crate) fn fields(&self) -> &'a Fields<'a> {
        self.f
    }

    /// The path of `key` below this mapping, for error messages.
    pub(crate) fn at(&self, key: &str) -> String {
        if self.field.is_empty() { key.to_string() } else { format!("{}.{key}", self.field) }
    }

    /// An error about this mapping's `key`.
    pub(crate) fn err(&self, key: &str, message: impl Into<String>) -> Error {
        self.f.err(&self.at(key), message)
    }

    /// The value of field `name` (`None` when absent or null), marking every key that names it
    /// as read.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        let mut used = self.used.borrow_mut();
        let mut exact = None;
        let mut folded: Option<(&String, &Value)> = None;
        for (i, (k, v)) in self.m.iter().enumerate() {
            if k == name {
                used[i] = true;
                exact = Some(v);
            } else if k.eq_ignore_ascii_case(name) {
                used[i] = true;
                if folded.is_none_or(|(fk, _)| k > fk) {
                    folded = Some((k, v));
                }
            }
        }
        // Go's decoder matches each key on its own (exact first, then folded) and stores into
        // the field in key order, so the last matching key in byte order decides.
        let v = match (exact, folded) {
            (Some(e), Some((fk, fv))) => {
                if fk.as_str() > name {
                    fv
                } else {
                    e
                }
            }
            (Some(e), None) => e,
            (None, Some((_, fv))) => fv,
            (None, None) => return None,
        };
        (!matches!(v, Value::Null)).then_some(v)
    }

    /// Whether field `name` has a non-null value.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A string field.
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.get(name).map(|v| self.f.string_at(v, || self.at(name))).transpose()
    }

    /// A bool field.
    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(name, format!("expected a bool, found a {}", v.type_name()))),
        }
    }

    /// An integer field.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i128>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(v) => Err(self.err(name, format!("expected an integer, found a {}", v.type_name()))),
        }
    }

    /// A list field (empty when absent).
    pub(crate) fn list(&self, name: &str) -> Result<&'a [Value], Error> {
        self.f.list(self.get(name).unwrap_or(&Value::Null), &self.at(name))
    }

    /// A list-of-strings field.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, Error> {
        self.f.strings(self.get(name).unwrap_or(&Value::Null), &self.at(name))
    }

    /// A `map[string]string` field (keys are data, matched exactly).
    pub(crate) fn pairs(&self, name: &str) -> Result<Vec<(String, String)>, Error> {
        self.f.pairs(self.get(name).unwrap_or(&Value::Null), &self.at(name))
    }

    /// A nested struct field (empty when absent).
    pub(crate) fn obj(&self, name: &str) -> Result<Obj<'a>, Error> {
        Obj::new(self.f, self.get(name).unwrap_or(&Value::Null), &self.at(name))
    }

    /// The error for a missing required field `name`. A key that is none of `known` (the
    /// struct's fields) is reported first: a misspelled required field is named as unknown,
    /// as kustomize's decoder reports it, rather than as missing.
    pub(crate) fn missing(&self, name: &str, known: &[&str], message: &str) -> Error {
        match self.m.keys().find(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k))) {
            Some(k) => Error::UnknownField { file: self.f.file.to_path_buf(), field: self.at(k) },
            None => self.err(name, message),
        }
    }

    /// Fails on the first key no field read.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        let used = self.used.borrow();
        match self.m.keys().zip(used.iter()).find(|(_, u)| !**u) {
            Some((k, _)) => Err(Error::UnknownField { file: self.f.file.to_path_buf(), field: self.at(k) }),
            None => Ok(()),
        }
    }
}

/// Reads a resource selector from a struct mapping whose other fields the caller reads.
pub(crate) fn selector_of(o: &Obj) -> Result<Selector, Error> {
    Ok(Selector {
        group: o.string("group")?,
        version: o.string("version")?,
        kind: o.string("kind")?,
        name: o.string("name")?,
        namespace: o.string("namespace")?,
        label_selector: o.string("labelSelector")?,
        annotation_selector: o.string("annotationSelector")?,
    })
}

/// Reads a resource selector (`select`, `reject`, a patch `target`).
pub(crate) fn selector_obj(f: &Fields, v: &Value, field: &str) -> Result<Selector, Error> {
    let o = Obj::new(f, v, field)?;
    let s = selector_of(&o)?;
    o.finish()?;
    Ok(s)
}
