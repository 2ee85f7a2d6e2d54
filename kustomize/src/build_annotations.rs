//! The annotations kustomize keeps on objects while it builds with `buildMetadata` set.
//!
//! kustomize writes `config.kubernetes.io/origin` (and, with `transformerAnnotations`,
//! `alpha.config.kubernetes.io/transformations`) into `metadata.annotations` as it loads and
//! transforms, and strips what was not asked for at the end. This crate keeps them beside the
//! object (`Resource::origin`, `Resource::transformations`) and prints them at the end, except
//! while a patch runs: a patch can replace or remove `metadata.annotations`, and then kustomize
//! loses them (measured), so they are put in the object for the patch's duration.

use std::path::Path;

use crate::Error;
use crate::kustomization::{Kustomization, PatchSpec};
use crate::patch;
use crate::resource::{ConfiguredBy, Origin, Resource};
use crate::yaml::Value;
use crate::yaml::resolve::resolve_plain_v3;

/// The origin annotation.
pub const ORIGIN: &str = "config.kubernetes.io/origin";
/// The transformations annotation.
pub const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// Applies a patch with the build annotations in the objects. A resource whose origin the patch
/// removed has no origin until the next noted transformer claims it; one whose transformations
/// were removed starts a new list.
pub fn apply_patch(k: &Kustomization, dir: &Path, p: &PatchSpec, resources: &mut Vec<Resource>) -> Result<(), Error> {
    for r in resources.iter_mut() {
        if r.origin != Origin::Lost {
            annotate(r, ORIGIN, String::new());
        }
        if !r.transformations.is_empty() {
            annotate(r, TRANSFORMATIONS, String::new());
        }
    }
    patch::apply(k, dir, p, resources)?;
    for r in resources.iter_mut() {
        let (origin, transformations) = match r.obj.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
            Some(Value::Map(a)) => (a.shift_remove(ORIGIN).is_some(), a.shift_remove(TRANSFORMATIONS).is_some()),
            _ => (false, false),
        };
        if !origin {
            r.origin = Origin::Lost;
        }
        if !transformations {
            r.transformations.clear();
        }
    }
    Ok(())
}

/// Adds an annotation, creating `metadata.annotations` (or turning a null one into a mapping).
pub fn annotate(r: &mut Resource, key: &str, text: String) {
    let md = r.metadata_mut();
    let ann = md.entry("annotations".to_string()).or_insert_with(|| Value::Map(Default::default()));
    if ann.is_null() {
        *ann = Value::Map(Default::default());
    }
    if let Value::Map(a) = ann {
        a.insert(key.into(), Value::String(text));
    }
}

/// Notes a transformer on every resource: as a transformation, or as the origin of one whose
/// origin a patch removed (kustomize's `AddTransformerAnnotation`).
pub fn note(resources: &mut [Resource], by: &ConfiguredBy) {
    for r in resources.iter_mut() {
        if r.origin == Origin::Lost {
            r.origin = Origin::Generator(by.clone());
        } else {
            r.transformations.push(by.clone());
        }
    }
}

/// The label value kubectl's embedded kustomize reports (a standalone kustomize v5.5.0 binary
/// would say `kustomize-v5.5.0`; the oracle here is kubectl).
const MANAGED_BY: &str = "kustomize-(devel)";

/// Applies the `buildMetadata` of the top-level kustomization `k` (built at `root`) to a
/// resource before printing: the managed-by label and the annotations asked for.
pub fn build_metadata(k: &Kustomization, root: &Path, r: &mut Resource) -> Result<(), Error> {
    if k.managed_by_label {
        let md = r.metadata_mut();
        let labels = md.entry("labels".to_string()).or_insert_with(|| Value::Map(Default::default()));
        if let Value::Map(l) = labels {
            l.insert("app.kubernetes.io/managed-by".into(), Value::from(MANAGED_BY));
        }
    }
    if k.transformer_annotations && !r.transformations.is_empty() {
        let mut text = String::new();
        for by in &r.transformations {
            for (i, line) in configured(root, by, k, "transformerAnnotations")?.lines().enumerate() {
                text.push_str(if i == 0 { "- " } else { "  " });
                text.push_str(line);
                text.push('\n');
            }
        }
        annotate(r, TRANSFORMATIONS, text);
    }
    if k.origin_annotations {
        let text = match &r.origin {
            Origin::Lost => return Ok(()),
            Origin::File(p) => format!("path: {}\n", relative(root, p, k, "originAnnotations")?),
            Origin::Generator(by) => configured(root, by, k, "originAnnotations")?,
        };
        annotate(r, ORIGIN, text);
    }
    Ok(())
}

/// `configuredIn` and `configuredBy` as kustomize prints them (kyaml's `ResourceIdentifier`:
/// empty name and namespace are omitted).
fn configured(root: &Path, by: &ConfiguredBy, k: &Kustomization, option: &str) -> Result<String, Error> {
    let mut text = format!(
        "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {}\n",
        relative(root, &by.file, k, option)?,
        by.kind
    );
    for (key, value) in [("name", &by.name), ("namespace", &by.namespace)] {
        if value.is_empty() {
            continue;
        }
        // Only names that print plain whatever YAML's rules: others are refused rather than
        // risk a differently quoted annotation.
        let plain = value.starts_with(|c: char| c.is_ascii_alphabetic())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && matches!(resolve_plain_v3(value), Value::String(_))
            && !YAML11_BOOLS.contains(&value.to_ascii_lowercase().as_str());
        if !plain {
            return Err(Error::Unsupported {
                file: k.file.clone(),
                field: format!("buildMetadata: {option}"),
                reason: format!("plugin configuration {key} {value:?} has characters whose quoting is not reproduced"),
            });
        }
        text.push_str(&format!("  {key}: {value}\n"));
    }
    Ok(text)
}

/// Words YAML 1.1 reads as booleans (Go's YAML encoders quote them).
const YAML11_BOOLS: [&str; 11] = ["y", "yes", "n", "no", "on", "off", "true", "false", "null", "nan", "inf"];

/// `path` relative to `root`, with `..` where needed. Unusual characters are refused rather
/// than risk a differently quoted origin annotation.
fn relative(root: &Path, path: &Path, k: &Kustomization, option: &str) -> Result<String, Error> {
    let a: Vec<_> = root.components().collect();
    let b: Vec<_> = path.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), a.len() - common).collect();
    parts.extend(b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    let rel = parts.join("/");
    if !rel.chars().all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c)) {
        return Err(Error::Unsupported {
            file: k.file.clone(),
            field: format!("buildMetadata: {option}"),
            reason: format!("file path {rel:?} has characters whose quoting is not reproduced"),
        });
    }
    Ok(rel)
}
