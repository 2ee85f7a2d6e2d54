//! `replacements`: copy a field of one resource into fields of others.

use std::path::Path;

use crate::Error;
use crate::fields::{Fields, selector, selector_fields};
use crate::kustomization::Selector;
use crate::patch::select::split_outside;
use crate::resid::ResId;
use crate::resource::Resource;
use crate::yaml::{Map, Value};

/// One step of a replacement field path (`spec.containers.[name=app].image`).
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// Sequence elements whose `key` equals `value`.
    Match(String, String),
    /// A sequence index.
    Index(usize),
    /// Every child.
    Any,
}

/// Splits a field path on dots outside brackets.
pub fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    split_outside(path, ('[', ']'), '.')
        .into_iter()
        .map(|p| {
            if p.is_empty() {
                Err(format!("invalid field path {path:?}"))
            } else if p == "*" {
                Ok(Seg::Any)
            } else if let Some(inner) = p.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let (k, v) = inner.split_once('=').ok_or_else(|| format!("invalid selector {p:?} in {path:?}"))?;
                Ok(Seg::Match(k.to_string(), v.to_string()))
            } else if let Ok(i) = p.parse::<usize>() {
                Ok(Seg::Index(i))
            } else {
                Ok(Seg::Key(p))
            }
        })
        .collect()
}

/// Calls `f` on every node at `segs`; with `create`, missing keys and `[k=v]` elements are added.
/// Returns how many nodes were visited.
fn visit(v: &mut Value, segs: &[Seg], create: bool, f: &mut dyn FnMut(&mut Value)) -> usize {
    let Some((seg, rest)) = segs.split_first() else {
        f(v);
        return 1;
    };
    let fresh = || match rest.first() {
        None => Value::Null,
        Some(Seg::Match(..) | Seg::Index(_)) => Value::Seq(Vec::new()),
        Some(_) => Value::Map(Map::new()),
    };
    match (seg, v) {
        (Seg::Key(k), Value::Map(m)) => {
            if !m.contains_key(k) {
                if !create {
                    return 0;
                }
                m.insert(k.clone(), fresh());
            }
            visit(m.get_mut(k).expect("present"), rest, create, f)
        }
        (Seg::Key(k), v @ (Value::Null | Value::Blank)) if create => {
            *v = Value::Map(Map::new());
            visit(v, &[&[Seg::Key(k.clone())], rest].concat(), create, f)
        }
        (Seg::Match(k, want), Value::Seq(items)) => {
            let mut n = 0;
            for item in items.iter_mut() {
                if item.get(k).and_then(Value::scalar_text).as_deref() == Some(want.as_str()) {
                    n += visit(item, rest, create, f);
                }
            }
            if n == 0 && create {
                let mut m = Map::new();
                m.insert(k.clone(), Value::String(want.clone()));
                items.push(Value::Map(m));
                n += visit(items.last_mut().expect("pushed"), rest, create, f);
            }
            n
        }
        (Seg::Index(i), Value::Seq(items)) => items.get_mut(*i).map_or(0, |item| visit(item, rest, create, f)),
        (Seg::Any, Value::Seq(items)) => items.iter_mut().map(|i| visit(i, rest, create, f)).sum(),
        (Seg::Any, Value::Map(m)) => m.values_mut().map(|i| visit(i, rest, create, f)).sum(),
        _ => 0,
    }
}

/// Options of a source or target.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Split the value on this delimiter...
    pub delimiter: Option<String>,
    /// ...and use (or replace) this part.
    pub index: i64,
    /// Create missing target fields.
    pub create: bool,
}

/// A replacement target.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Resources to change.
    pub select: Selector,
    /// Resources to leave alone.
    pub reject: Vec<Selector>,
    /// Field paths to set.
    pub field_paths: Vec<String>,
    /// Options.
    pub options: Options,
}

/// One replacement.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    /// Where the value comes from.
    pub source: Selector,
    /// The source field path.
    pub source_path: String,
    /// Source options.
    pub source_options: Options,
    /// Where it goes.
    pub targets: Vec<Target>,
}

/// Whether any id of the resource is selected (exact names, empty fields are wildcards).
fn selected_by(r: &Resource, s: &Selector) -> bool {
    let cur = r.cur_id();
    let ids: Vec<&ResId> = std::iter::once(&cur).chain(r.all_ids()).collect();
    ids.iter().any(|id| {
        s.name.as_deref().is_none_or(|n| n.is_empty() || n == id.name)
            && s.namespace.as_deref().is_none_or(|n| n.is_empty() || n == id.namespace)
            && id.gvk.is_selected_by(s.group.as_deref(), s.version.as_deref(), s.kind.as_deref())
    })
}

fn by_meta(r: &Resource, s: &Selector) -> Result<bool, String> {
    let sel = Selector {
        label_selector: s.label_selector.clone(),
        annotation_selector: s.annotation_selector.clone(),
        ..Default::default()
    };
    Ok(crate::patch::select::Compiled::new(&sel)?.selects(r))
}

/// Applies one replacement.
pub fn apply(resources: &mut [Resource], rep: &Replacement) -> Result<(), String> {
    let sources: Vec<usize> = (0..resources.len()).filter(|&i| selected_by(&resources[i], &rep.source)).collect();
    let src = match sources.as_slice() {
        [i] => *i,
        [] => return Err(format!("nothing selected by replacement source {:?}", rep.source)),
        many => return Err(format!("multiple matches ({}) for replacement source {:?}", many.len(), rep.source)),
    };
    let segs = parse_path(&rep.source_path)?;
    let mut found = Vec::new();
    let mut obj = Value::Map(resources[src].obj.clone());
    visit(&mut obj, &segs, false, &mut |v| found.push(v.clone()));
    let mut value = match found.as_slice() {
        [v] => v.clone(),
        [] => {
            return Err(format!(
                "fieldPath `{}` is missing for replacement source {}",
                rep.source_path,
                resources[src].cur_id()
            ));
        }
        _ => return Err(format!("fieldPath `{}` matches several fields in the replacement source", rep.source_path)),
    };
    if let Some(d) = &rep.source_options.delimiter {
        let text = value.scalar_text().ok_or("delimiter option can only be used with scalar nodes")?;
        let parts: Vec<&str> = text.split(d.as_str()).collect();
        let i = rep.source_options.index;
        if i < 0 || i as usize >= parts.len() {
            return Err(format!("options.index {i} is out of bounds for value {text:?}"));
        }
        value = Value::String(parts[i as usize].to_string());
    }
    for t in &rep.targets {
        for r in resources.iter_mut() {
            if !selected_by(r, &t.select) || !by_meta(r, &t.select)? || t.reject.iter().any(|rej| selected_by(r, rej)) {
                continue;
            }
            let paths =
                if t.field_paths.is_empty() { vec!["metadata.name".to_string()] } else { t.field_paths.clone() };
            for p in &paths {
                let segs = parse_path(p)?;
                let mut obj = Value::Map(std::mem::take(&mut r.obj));
                let mut failure = None;
                let n = visit(&mut obj, &segs, t.options.create, &mut |target| match set(target, &value, &t.options) {
                    Ok(v) => *target = v,
                    Err(e) => failure = Some(e),
                });
                r.obj = match obj {
                    Value::Map(m) => m,
                    _ => unreachable!("the object stays a mapping"),
                };
                if let Some(e) = failure {
                    return Err(e);
                }
                if n == 0 {
                    return Err(format!("unable to find field {p:?} in replacement target"));
                }
            }
        }
    }
    Ok(())
}

fn set(target: &Value, value: &Value, o: &Options) -> Result<Value, String> {
    let Some(d) = &o.delimiter else {
        return Ok(value.clone());
    };
    let current = target.scalar_text().ok_or("delimiter option can only be used with scalar nodes")?;
    let v = value.scalar_text().ok_or("delimiter option can only be used with scalar values")?;
    let mut parts: Vec<String> = current.split(d.as_str()).map(str::to_string).collect();
    if o.index < 0 {
        parts.insert(0, v);
    } else if o.index as usize >= parts.len() {
        parts.push(v);
    } else {
        parts[o.index as usize] = v;
    }
    Ok(Value::String(parts.join(d)))
}

// Parsing, from the kustomization or a `path:` file.

/// Parses one replacement (from the kustomization or a replacements file).
pub fn parse_replacement(file: &Path, v: &Value, field: &str) -> Result<Replacement, Error> {
    replacement(&Fields { file }, v, field)
}

pub(crate) fn replacement(f: &Fields, v: &Value, field: &str) -> Result<Replacement, Error> {
    let m = f.map(v, field)?;
    for key in m.keys() {
        if !["source", "targets"].contains(&key.as_str()) {
            return Err(f.err(&format!("{field}.{key}"), "unknown replacement field"));
        }
    }
    let sf = format!("{field}.source");
    let source = m.get("source").ok_or_else(|| f.err(&sf, "a replacement needs a source"))?;
    let sm = f.map(source, &sf)?;
    let mut r = Replacement {
        source: selector_fields(f, sm, &sf, &["fieldPath", "options"])?,
        source_path: f.opt_string(sm, "fieldPath", &sf)?.unwrap_or_else(|| "metadata.name".into()),
        source_options: options(f, sm.get("options").unwrap_or(&Value::Null), &format!("{sf}.options"))?,
        targets: Vec::new(),
    };
    for (j, t) in f.list(m.get("targets").unwrap_or(&Value::Null), &format!("{field}.targets"))?.iter().enumerate() {
        let tf = format!("{field}.targets[{j}]");
        let tm = f.map(t, &tf)?;
        for key in tm.keys() {
            if !["select", "reject", "fieldPaths", "options"].contains(&key.as_str()) {
                return Err(f.err(&format!("{tf}.{key}"), "unknown replacement target field"));
            }
        }
        let select = tm.get("select").ok_or_else(|| f.err(&tf, "target must specify resources to select"))?;
        let mut reject = Vec::new();
        for (n, rj) in f.list(tm.get("reject").unwrap_or(&Value::Null), &format!("{tf}.reject"))?.iter().enumerate() {
            reject.push(selector(f, rj, &format!("{tf}.reject[{n}]"))?);
        }
        r.targets.push(Target {
            select: selector(f, select, &format!("{tf}.select"))?,
            reject,
            field_paths: f.strings(tm.get("fieldPaths").unwrap_or(&Value::Null), &format!("{tf}.fieldPaths"))?,
            options: options(f, tm.get("options").unwrap_or(&Value::Null), &format!("{tf}.options"))?,
        });
    }
    Ok(r)
}

fn options(f: &Fields, v: &Value, field: &str) -> Result<Options, Error> {
    let m = f.map(v, field)?;
    for key in m.keys() {
        if !["delimiter", "index", "create"].contains(&key.as_str()) {
            return Err(f.err(&format!("{field}.{key}"), "unknown replacement option"));
        }
    }
    let index = match m.get("index") {
        None | Some(Value::Null) => 0,
        Some(Value::Int(i)) => *i as i64,
        Some(other) => {
            return Err(f.err(&format!("{field}.index"), format!("expected an integer, found a {}", other.type_name())));
        }
    };
    Ok(Options {
        delimiter: f.opt_string(m, "delimiter", field)?.filter(|d| !d.is_empty()),
        index,
        create: f.bool(m, "create", field)?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_syntax() {
        assert_eq!(
            parse_path("spec.containers.[name=a.b].env.0.*").unwrap(),
            [
                Seg::Key("spec".into()),
                Seg::Key("containers".into()),
                Seg::Match("name".into(), "a.b".into()),
                Seg::Key("env".into()),
                Seg::Index(0),
                Seg::Any
            ]
        );
        assert!(parse_path("a..b").is_err());
    }
}
