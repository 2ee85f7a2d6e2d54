//! `configMapGenerator` and `secretGenerator`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;
use crate::kustomization::{GenOptions, GeneratorSpec, Kustomization};
use crate::loader::restricted_file;
use crate::resource::{Behavior, Resource};
use crate::yaml::{Map, Value};

/// Runs the kustomization's generators, merging or replacing into `resources` as asked.
pub fn run(k: &Kustomization, root: &Path, resources: &mut Vec<Resource>) -> Result<(), Error> {
    for (spec, is_secret) in k.config_maps.iter().map(|s| (s, false)).chain(k.secrets.iter().map(|s| (s, true))) {
        let err = |message: String| Error::Transform { file: k.file.clone(), field: spec.field.clone(), message };
        let behavior = match spec.behavior.as_deref().unwrap_or("") {
            "" | "create" => Behavior::Create,
            "merge" => Behavior::Merge,
            "replace" => Behavior::Replace,
            other => return Err(err(format!("unknown behavior {other:?}; expected create, merge or replace"))),
        };
        let options = merge_options(&spec.options, k.generator_options.as_ref());
        let pairs = pairs(k, root, spec)?;
        let res = make(k, spec, is_secret, &options, pairs).map_err(err)?;
        absorb(resources, res, behavior).map_err(|m| Error::Transform {
            file: k.file.clone(),
            field: spec.field.clone(),
            message: m,
        })?;
    }
    Ok(())
}

/// kyaml's `encodeBase64` (Secret `data`, ConfigMap `binaryData`): standard base64 cut into
/// lines of 70 characters, each followed by a line break, once the encoding reaches 70
/// characters; shorter encodings stay on one line. The breaks are part of the value (and so of
/// the name hash).
pub fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = STANDARD.encode(bytes);
    if enc.len() < LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Global `generatorOptions` override the entry's own options, as in kustomize.
fn merge_options(local: &GenOptions, global: Option<&GenOptions>) -> GenOptions {
    let mut out = local.clone();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            set_pair(&mut out.labels, k, v);
        }
        for (k, v) in &g.annotations {
            set_pair(&mut out.annotations, k, v);
        }
        if g.disable_hash == Some(true) {
            out.disable_hash = Some(true);
        }
        if g.immutable == Some(true) {
            out.immutable = Some(true);
        }
    }
    out
}

fn set_pair(pairs: &mut Vec<(String, String)>, k: &str, v: &str) {
    match pairs.iter_mut().find(|(pk, _)| pk == k) {
        Some(p) => p.1 = v.to_string(),
        None => pairs.push((k.to_string(), v.to_string())),
    }
}

/// A `secretGenerator` source through the source hook; `configMapGenerator` sources are used
/// as read (Flux decrypts the sources of Secrets only: a ConfigMap never gets a decrypted value).
fn hooked(
    spec: &GeneratorSpec,
    file: &Path,
    kind: crate::source_hook::SourceKind,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    if spec.field.starts_with("secretGenerator") { crate::source_hook::apply(file, kind, bytes) } else { Ok(bytes) }
}

/// Key/value sources in kustomize's order: literals, files, env files.
fn pairs(k: &Kustomization, root: &Path, spec: &GeneratorSpec) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let err = |message: String| Error::Transform { file: k.file.clone(), field: spec.field.clone(), message };
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let add = |key: String, value: Vec<u8>, out: &mut Vec<(String, Vec<u8>)>| -> Result<(), Error> {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
            return Err(err(format!(
                "invalid key {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
            )));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(err(format!("cannot add key {key}, another key by that name already exists")));
        }
        out.push((key, value));
        Ok(())
    };
    for lit in &spec.literals {
        match lit.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                add(key.to_string(), remove_quotes(value).as_bytes().to_vec(), &mut out)?
            }
            _ => return Err(err(format!("invalid literal source {lit:?}, expected key=value"))),
        }
    }
    for entry in &spec.files {
        let (key, path) = match entry.split_once('=') {
            Some((key, path)) if !key.is_empty() => (key.to_string(), path),
            Some(_) => return Err(err(format!("key in file source {entry:?} may not be empty"))),
            None => {
                let base = Path::new(entry).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (base, entry.as_str())
            }
        };
        let file = restricted_file(k, root, &format!("{}.files", spec.field), path)?;
        let bytes = crate::loader::read_bytes(&file)?;
        let bytes = hooked(spec, &file, crate::source_hook::SourceKind::File, bytes)?;
        add(key, bytes, &mut out)?;
    }
    for entry in &spec.envs {
        let file = restricted_file(k, root, &format!("{}.envs", spec.field), entry)?;
        let bytes = crate::loader::read_bytes(&file)?;
        let bytes = hooked(spec, &file, crate::source_hook::SourceKind::Env, bytes)?;
        let text = crate::loader::utf8(&file, bytes)?;
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line = if i == 0 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (line.to_string(), std::env::var(line).unwrap_or_default()),
            };
            if key.is_empty()
                || key.starts_with(|c: char| c.is_ascii_digit())
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            {
                return Err(err(format!(
                    "{}: line {}: invalid environment variable name {key:?}",
                    file.display(),
                    i + 1
                )));
            }
            add(key, value.into_bytes(), &mut out)?;
        }
    }
    Ok(out)
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') { &s[1..s.len() - 1] } else { s }
}

fn make(
    k: &Kustomization,
    spec: &GeneratorSpec,
    is_secret: bool,
    options: &GenOptions,
    pairs: Vec<(String, Vec<u8>)>,
) -> Result<Resource, String> {
    if spec.name.is_empty() {
        return Err("a generator needs a `name`".into());
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::from("v1"));
    obj.insert("kind".into(), Value::from(if is_secret { "Secret" } else { "ConfigMap" }));
    let mut md = Map::new();
    md.insert("name".into(), Value::from(spec.name.as_str()));
    if let Some(ns) = spec.namespace.as_deref().filter(|n| !n.is_empty()) {
        md.insert("namespace".into(), Value::from(ns));
    }
    let to_map = |pairs: &[(String, String)]| {
        Value::Map(pairs.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect())
    };
    if !options.labels.is_empty() {
        md.insert("labels".into(), to_map(&options.labels));
    }
    if !options.annotations.is_empty() {
        md.insert("annotations".into(), to_map(&options.annotations));
    }
    obj.insert("metadata".into(), Value::Map(md));
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in pairs {
        if is_secret {
            data.insert(key, Value::String(encode_base64(&bytes)));
        } else {
            match String::from_utf8(bytes) {
                Ok(s) => data.insert(key, Value::String(s)),
                Err(e) => binary.insert(key, Value::String(encode_base64(e.as_bytes()))),
            };
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Map(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Map(binary));
    }
    if is_secret {
        obj.insert("type".into(), Value::from(spec.secret_type.as_deref().unwrap_or("Opaque")));
    }
    if options.immutable == Some(true) {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(obj, k.file.clone()).map_err(|e| e.to_string())?;
    // A generator plugin configuration (`generators:`) names itself as the origin.
    r.origin = crate::resource::Origin::Generator(k.configured_by.clone().unwrap_or_else(|| {
        crate::resource::ConfiguredBy::field(&k.file, if is_secret { "SecretGenerator" } else { "ConfigMapGenerator" })
    }));
    r.needs_hash = options.disable_hash != Some(true);
    Ok(r)
}

/// kustomize's `appendReplaceOrMerge`.
fn absorb(resources: &mut Vec<Resource>, mut res: Resource, behavior: Behavior) -> Result<(), String> {
    let id = res.cur_id();
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().chain(std::iter::once(&r.cur_id())).any(|x| x.same_as(&id)))
        .map(|(i, _)| i)
        .collect();
    match (matches.as_slice(), behavior) {
        ([], Behavior::Create) => {
            resources.push(res);
            Ok(())
        }
        ([], _) => Err(format!("id {id} does not exist; cannot merge or replace")),
        ([i], Behavior::Merge | Behavior::Replace) => {
            let old = &resources[*i];
            for field in ["labels", "annotations"] {
                let mut merged = old.meta_map(field).cloned().unwrap_or_default();
                if let Some(new) = res.meta_map(field) {
                    merged.extend(new.clone());
                }
                if !merged.is_empty() {
                    res.metadata_mut().insert(field.into(), Value::Map(merged));
                }
            }
            if behavior == Behavior::Merge {
                for field in ["data", "binaryData"] {
                    let mut merged = old.obj.get(field).and_then(Value::as_map).cloned().unwrap_or_default();
                    if let Some(Value::Map(new)) = res.obj.get(field) {
                        merged.extend(new.clone());
                    }
                    if !merged.is_empty() {
                        res.obj.insert(field.into(), Value::Map(merged));
                    }
                }
            }
            let name = old.name().to_string();
            let ns = old.namespace().to_string();
            res.metadata_mut().insert("name".into(), Value::String(name));
            if ns.is_empty() {
                res.metadata_mut().shift_remove("namespace");
            } else {
                res.metadata_mut().insert("namespace".into(), Value::String(ns));
            }
            res.orig = old.orig.clone();
            res.prev = old.prev.clone();
            res.prefixes = old.prefixes.clone();
            // Measured: `merge` keeps the base's origin, `replace` takes the new generator's.
            if behavior == Behavior::Merge {
                res.origin = old.origin.clone();
            }
            res.transformations = old.transformations.clone();
            res.suffixes = old.suffixes.clone();
            res.needs_hash = res.needs_hash && old.needs_hash;
            resources[*i] = res;
            Ok(())
        }
        ([_], Behavior::Create) => Err(format!("id {id} exists; behavior must be merge or replace")),
        (many, _) => Err(format!("found {} objects that could accept merge of {id}", many.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::encode_base64;

    #[test]
    fn base64_is_wrapped_at_70_columns_once_it_reaches_70() {
        // 51 bytes encode to 68 characters, 52 to 72: the first stays on one line.
        assert_eq!(encode_base64(&[b'a'; 51]).len(), 68);
        assert!(!encode_base64(&[b'a'; 51]).contains('\n'));
        let wrapped = encode_base64(&[b'a'; 52]);
        let lines: Vec<&str> = wrapped.split_terminator('\n').collect();
        assert_eq!(lines.iter().map(|l| l.len()).collect::<Vec<_>>(), [70, 2]);
        assert!(wrapped.ends_with('\n'));
        // Exactly 70 characters (51..=52 bytes can't; 105 bytes give 140): every line ends in a break.
        assert_eq!(encode_base64(&[0u8; 105]).matches('\n').count(), 2);
        assert_eq!(encode_base64(b""), "");
    }
}
