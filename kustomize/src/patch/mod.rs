//! `patches`, `patchesStrategicMerge` and `patchesJson6902`.

pub mod json6902;
pub mod select;
pub mod smp;
pub mod smp_schema;

use std::path::Path;

use crate::Error;
use crate::kustomization::{Kustomization, PatchSpec};
use crate::loader::{read, restricted_file};
use crate::resid::{Gvk, ResId};
use crate::resource::Resource;
use crate::yaml::{Map, Value, parse_patch_documents};

/// Applies one patch entry to the resources it targets (removing those it deletes).
pub fn apply(k: &Kustomization, root: &Path, p: &PatchSpec, resources: &mut Vec<Resource>) -> Result<(), Error> {
    let err = |message: String| Error::Transform { file: k.file.clone(), field: p.field.clone(), message };
    let text = match &p.path {
        Some(path) => {
            let file = restricted_file(k, root, &p.field, path)?;
            // `patches` files pass the source hook (the reconciler decrypts them, as Flux does);
            // `patchesStrategicMerge`/`patchesJson6902` files are read as they are.
            if p.field.starts_with("patches[") {
                crate::source_hook::read_text(&file, crate::source_hook::SourceKind::Patch)?
            } else {
                read(&file)?
            }
        }
        None => p.text.clone(),
    };
    // Measured: a `patches` file that is empty or only white space is ignored, one holding only
    // comments is refused ("illegally qualifies as both an SM and JSON patch").
    if p.json6902.is_none() && text.trim().is_empty() {
        return Ok(());
    }
    let docs = parse_patch_documents(&text).map_err(|e| err(format!("invalid patch: {e}")))?;
    if p.json6902.is_none() && docs.iter().all(|d| matches!(d, Value::Null | Value::Blank)) {
        return Err(err("the patch holds no document (illegally qualifies as both an SM and JSON patch)".into()));
    }
    let is_json = p.json6902 == Some(true) || matches!(docs.as_slice(), [Value::Seq(_)]);
    if is_json {
        let ops = json6902::parse_ops(&text).map_err(&err)?;
        let target = p.target.as_ref().ok_or_else(|| err("must specify a target for JSON patch".into()))?;
        let sel = select::Compiled::new(target).map_err(&err)?;
        for r in resources.iter_mut().filter(|r| sel.selects(r)) {
            let before = r.cur_id();
            // Measured: kustomize keeps internal annotations on every object while it builds,
            // so `add /metadata/annotations/<key>` works on an object without annotations (it
            // fails for `/metadata/labels/<key>`). An annotation map added only for this and
            // left empty disappears again, as kustomize drops empty annotations.
            let md = r.metadata_mut();
            let added = !md.contains_key("annotations");
            if added {
                md.insert("annotations".into(), Value::Map(Map::new()));
            }
            let mut doc = Value::Map(std::mem::take(&mut r.obj));
            json6902::apply(&mut doc, &ops).map_err(&err)?;
            r.obj = match doc {
                Value::Map(m) => m,
                other => return Err(err(format!("JSON patch turned {before} into a {}", other.type_name()))),
            };
            if added
                && let Some(Value::Map(md)) = r.obj.get_mut("metadata")
                && matches!(md.get("annotations"), Some(Value::Map(a)) if a.is_empty())
            {
                md.shift_remove("annotations");
            }
            if r.cur_id() != before {
                r.prev.push(before);
            }
        }
        return Ok(());
    }
    for doc in docs {
        let patch = match doc {
            Value::Null | Value::Blank => continue,
            Value::Map(m) => m,
            other => {
                return Err(err(format!("a strategic merge patch must be an object, found a {}", other.type_name())));
            }
        };
        let has = |path: &[&str]| str_at(&patch, path).is_some_and(|s| !s.is_empty());
        if !has(&["kind"]) || !has(&["metadata", "name"]) {
            return Err(err(
                "unable to parse SM or JSON patch: a strategic merge patch needs `kind` and `metadata.name`".into(),
            ));
        }
        let targets: Vec<usize> = match &p.target {
            Some(t) => {
                let sel = select::Compiled::new(t).map_err(&err)?;
                (0..resources.len()).filter(|&i| sel.selects(&resources[i])).collect()
            }
            None => {
                let id = patch_id(&patch);
                let found: Vec<usize> = (0..resources.len())
                    .filter(|&i| {
                        let r = &resources[i];
                        r.all_ids().chain(std::iter::once(&r.cur_id())).any(|x| x.same_as(&id))
                    })
                    .collect();
                if found.len() != 1 {
                    return Err(err(format!(
                        "found {} resources matching {id}; failed to find unique target for patch",
                        found.len()
                    )));
                }
                found
            }
        };
        let mut deleted = Vec::new();
        for i in targets {
            let r = &mut resources[i];
            let (name, ns, kind) = (r.name().to_string(), r.namespace().to_string(), r.obj.get("kind").cloned());
            let before = r.cur_id();
            let schema = smp::schema_for(&before.gvk);
            if smp::merge(&mut r.obj, &patch, schema).map_err(&err)? == smp::Merged::Deleted || r.obj.is_empty() {
                deleted.push(i);
                continue;
            }
            smp::drop_blanks(&mut r.obj, schema);
            if !p.allow_kind_change
                && let Some(kind) = kind
            {
                r.obj.insert("kind".into(), kind);
            }
            if !p.allow_name_change {
                r.metadata_mut().insert("name".into(), Value::String(name));
            }
            if ns.is_empty() {
                if let Some(Value::Map(md)) = r.obj.get_mut("metadata") {
                    md.shift_remove("namespace");
                }
            } else {
                r.metadata_mut().insert("namespace".into(), Value::String(ns));
            }
            if r.cur_id() != before {
                r.prev.push(before);
            }
        }
        for i in deleted.into_iter().rev() {
            resources.remove(i);
        }
    }
    Ok(())
}

/// The id a strategic merge patch without `target` designates.
/// Whether every entry of `patchesStrategicMerge` holds no document: kustomize runs them as
/// one transformer and refuses it then ("patch appears to be empty").
pub fn all_empty(k: &Kustomization, root: &Path, list: &[PatchSpec]) -> Result<bool, Error> {
    for p in list {
        let text = match &p.path {
            Some(path) => read(&restricted_file(k, root, &p.field, path)?)?,
            None => p.text.clone(),
        };
        let docs = parse_patch_documents(&text).map_err(|e| Error::Transform {
            file: k.file.clone(),
            field: p.field.clone(),
            message: format!("invalid patch: {e}"),
        })?;
        if docs.iter().any(|d| !matches!(d, Value::Null | Value::Blank)) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn patch_id(patch: &Map) -> ResId {
    let s = |path: &[&str]| str_at(patch, path).unwrap_or("").to_string();
    ResId {
        gvk: Gvk::from_api_version(&s(&["apiVersion"]), &s(&["kind"])),
        name: s(&["metadata", "name"]),
        namespace: s(&["metadata", "namespace"]),
    }
}

/// The string at `path` (mapping keys) in a patch, read in place (patches are not copied to be
/// looked at: every overlay of a large tree reads a few fields of its patches).
fn str_at<'a>(patch: &'a Map, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(patch.get(*first)?, |v, k| v.get(k)).and_then(Value::as_str)
}
