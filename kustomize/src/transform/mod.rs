//! The built-in transformers a kustomization's fields configure.

pub mod images;
pub mod meta;
pub mod replacements;
pub mod replicas;
pub mod vars;

use std::path::Path;

use crate::build_annotations;
use crate::fieldspec::FieldSpec;
use crate::kustomization::{Kustomization, ReplacementEntry};
use crate::loader::read;
use crate::resource::{ConfiguredBy, Resource};
use crate::tconfig::TransformerConfig;
use crate::yaml::Value;
use crate::{Error, patch};
use replacements::parse_replacement;

/// [`meta::add_pairs`] over pieces of a long list on the build's threads. It
/// treats each object on its own and reports the last key it refused, so the last piece's
/// refusal is the whole pass's.
fn add_pairs(resources: &mut [Resource], pairs: &[(String, String)], specs: &[FieldSpec]) -> Result<(), String> {
    let results = crate::parallel::chunks_mut(resources, |piece| meta::add_pairs(piece, pairs, specs));
    results.into_iter().rev().find(Result::is_err).unwrap_or(Ok(()))
}

/// Runs the built-in transformers a kustomization's fields configure, in kustomize's order
/// (patches, namespace, prefix/suffix, labels, annotations, JSON patches, replicas, images,
/// replacements). `origins`: build annotations are kept (see `build_annotations`).
pub(crate) fn run_fields(
    k: &Kustomization,
    dir: &Path,
    resources: &mut Vec<Resource>,
    tc: &TransformerConfig,
    origins: bool,
) -> Result<(), Error> {
    let fail = |field: &str| {
        let file = k.file.clone();
        let field = field.to_string();
        move |message: String| Error::Transform { file, field, message }
    };
    // kustomize's multiTransformer notes every built-in transformer it configured on every
    // resource of the kustomization, whether or not that transformer changed it.
    // A plugin configuration standing as this kustomization is noted once, by `run_step`.
    let note = |resources: &mut Vec<Resource>, kind: &'static str| {
        if origins && k.configured_by.is_none() {
            build_annotations::note(resources, &ConfiguredBy::field(&k.file, kind));
        }
    };
    let patch = |resources: &mut Vec<Resource>, p| {
        if origins { build_annotations::apply_patch(k, dir, p, resources) } else { patch::apply(k, dir, p, resources) }
    };
    if !k.patches_sm.is_empty() && patch::all_empty(k, dir, &k.patches_sm)? {
        let files: Vec<&str> = k.patches_sm.iter().filter_map(|p| p.path.as_deref()).collect();
        return Err(Error::Transform {
            file: k.file.clone(),
            field: "patchesStrategicMerge".into(),
            message: format!("patch appears to be empty; files={files:?}"),
        });
    }
    for p in &k.patches_sm {
        patch(resources, p)?;
    }
    if !k.patches_sm.is_empty() {
        note(resources, "PatchStrategicMergeTransformer");
    }
    for p in &k.patches {
        patch(resources, p)?;
        note(resources, "PatchTransformer");
    }
    if let Some(ns) = &k.namespace {
        meta::namespace(resources, ns, &tc.namespace);
        note(resources, "NamespaceTransformer");
    }
    if k.name_prefix.is_some() || k.name_suffix.is_some() {
        meta::prefix_suffix(resources, k.name_prefix.as_deref().unwrap_or(""), k.name_suffix.as_deref().unwrap_or(""));
    }
    if k.name_prefix.is_some() {
        note(resources, "PrefixTransformer");
    }
    if k.name_suffix.is_some() {
        note(resources, "SuffixTransformer");
    }
    for l in &k.labels {
        add_pairs(resources, &l.pairs, &meta::label_specs(l, tc)).map_err(fail("labels"))?;
        note(resources, "LabelTransformer");
    }
    add_pairs(resources, &k.common_labels, &tc.common_labels).map_err(fail("commonLabels"))?;
    // One more LabelTransformer (for `commonLabels`, possibly empty) whenever labels are set.
    if !k.labels.is_empty() || !k.common_labels.is_empty() {
        note(resources, "LabelTransformer");
    }
    add_pairs(resources, &k.common_annotations, &tc.common_annotations).map_err(fail("commonAnnotations"))?;
    if !k.common_annotations.is_empty() {
        note(resources, "AnnotationsTransformer");
    }
    for p in &k.patches_json {
        patch(resources, p)?;
        note(resources, "PatchJson6902Transformer");
    }
    for (name, count) in &k.replicas {
        replicas::apply(resources, name, *count, &tc.replicas).map_err(fail("replicas"))?;
        note(resources, "ReplicaCountTransformer");
    }
    for img in &k.images {
        images::apply(resources, img, &tc.images).map_err(fail("images"))?;
        note(resources, "ImageTagTransformer");
    }
    for (field, entry) in &k.replacements {
        let list = match entry {
            ReplacementEntry::Inline(r) => vec![(**r).clone()],
            ReplacementEntry::Path(p) => {
                let path = crate::loader::restricted_file(k, dir, field, p)?;
                let doc = crate::yaml::parse_one_yaml11(&read(&path)?)
                    .map_err(|e| Error::Yaml { path: path.clone(), message: e.0 })?;
                let items = match doc {
                    Value::Seq(items) => items,
                    other => vec![other],
                };
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| parse_replacement(&path, v, &format!("[{i}]")))
                    .collect::<Result<_, _>>()?
            }
        };
        for r in &list {
            replacements::apply(resources, r).map_err(fail(field))?;
        }
    }
    if !k.replacements.is_empty() {
        note(resources, "ReplacementTransformer");
    }
    Ok(())
}
