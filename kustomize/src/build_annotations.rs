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
use crate::resource::{Origin, Resource};
use crate::yaml::Value;

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
