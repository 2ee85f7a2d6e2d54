//! `replacements`: copy a field of one resource into fields of others.

use std::path::Path;

use crate::Error;
use crate::fields::Selector;
use crate::fields::{Fields, Obj, selector_obj, selector_of};
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

/// kyaml's `SmarterPathSplitter`: splits on `.` except where escaped (`a\.b`), rejoins
/// bracketed elements that contain dots (`[name=a.b]`, `[cert-manager.io/x]`), and unwraps
/// brackets without `=` into plain keys.
fn split_path(path: &str) -> Vec<String> {
    let mut escaped: Vec<String> = Vec::new();
    for piece in path.split('.') {
        match escaped.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => escaped.push(piece.to_string()),
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut pieces = escaped.into_iter();
    while let Some(elem) = pieces.next() {
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut joined = elem;
            for next in pieces.by_ref() {
                joined.push('.');
                joined.push_str(&next);
                if next.ends_with(']') {
                    break;
                }
            }
            out.push(joined);
        } else {
            out.push(elem);
        }
    }
    for e in out.iter_mut() {
        if e.len() >= 2 && e.starts_with('[') && e.ends_with(']') && !e.contains('=') {
            *e = e[1..e.len() - 1].to_string();
        }
    }
    out
}

/// Parses a replacement field path. Measured: one leading `.` is ignored (`.metadata.name`);
/// any other empty element makes kubectl fail.
pub fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut parts = split_path(path);
    if path.starts_with('.') && !parts.is_empty() {
        parts.remove(0);
    }
    parts
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

/// Parses one replacement of a replacements file (fields matched as kustomize's JSON decoding
/// matches them; unknown fields are errors).
pub fn parse_replacement(file: &Path, v: &Value, field: &str) -> Result<Replacement, Error> {
    let f = Fields { file };
    let o = Obj::new(&f, v, field)?;
    let r = replacement_of(&o)?;
    o.finish()?;
    Ok(r)
}

/// Reads the `source` and `targets` of a replacement; the caller checks for other fields.
pub(crate) fn replacement_of(o: &Obj) -> Result<Replacement, Error> {
    let f = o.fields();
    let src = o
        .get("source")
        .ok_or_else(|| o.missing("source", &["source", "targets", "path"], "a replacement needs a source"))?;
    let so = Obj::new(f, src, &o.at("source"))?;
    let mut r = Replacement {
        source: selector_of(&so)?,
        source_path: so.string("fieldPath")?.unwrap_or_else(|| "metadata.name".into()),
        source_options: options(&so.obj("options")?)?,
        targets: Vec::new(),
    };
    so.finish()?;
    for (j, t) in o.list("targets")?.iter().enumerate() {
        let to = Obj::new(f, t, &o.at(&format!("targets[{j}]")))?;
        let select = to.get("select").ok_or_else(|| {
            to.missing(
                "select",
                &["select", "reject", "fieldPaths", "options"],
                "target must specify resources to select",
            )
        })?;
        let mut reject = Vec::new();
        for (n, rj) in to.list("reject")?.iter().enumerate() {
            reject.push(selector_obj(f, rj, &to.at(&format!("reject[{n}]")))?);
        }
        r.targets.push(Target {
            select: selector_obj(f, select, &to.at("select"))?,
            reject,
            field_paths: to.strings("fieldPaths")?,
            options: options(&to.obj("options")?)?,
        });
        to.finish()?;
    }
    Ok(r)
}

fn options(o: &Obj) -> Result<Options, Error> {
    if o.has("encoding") {
        return Err(o.err("encoding", "replacement encodings are not implemented"));
    }
    let opts = Options {
        delimiter: o.string("delimiter")?.filter(|d| !d.is_empty()),
        index: o.int("index")?.unwrap_or(0) as i64,
        create: o.bool("create")?.unwrap_or(false),
    };
    o.finish()?;
    Ok(opts)
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
        assert!(parse_path("a.b.").is_err());
        let key = |k: &str| Seg::Key(k.into());
        assert_eq!(parse_path(".metadata.namespace").unwrap(), [key("metadata"), key("namespace")]);
        assert_eq!(
            parse_path(".metadata.annotations.[cert-manager.io/inject-ca-from]").unwrap(),
            [key("metadata"), key("annotations"), key("cert-manager.io/inject-ca-from")]
        );
        assert_eq!(
            parse_path(r"metadata.labels.postgres-operator\.crunchydata\.com/pguser").unwrap(),
            [key("metadata"), key("labels"), key("postgres-operator.crunchydata.com/pguser")]
        );
        assert_eq!(parse_path("a.[k=v.w].b").unwrap(), [key("a"), Seg::Match("k".into(), "v.w".into()), key("b")]);
    }
}
