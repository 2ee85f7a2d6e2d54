//! Commit messages of the updater: the default (a subject naming only the images that changed,
//! one `file: old -> new` line per change) or Flux's `messageTemplate`, run as a Go template on
//! the data Flux gives it, followed by the caller's trailers.
//!
//! Flux's data (image-automation-controller, `TemplateData`): `.AutomationObject` (namespace and
//! name), `.Values` (`messageTemplateValues`), `.Changed` (`.FileChanges` file → object →
//! changes, `.Changes`, `.Objects`, and `.ImageResult`, the pre-v0.38 result) and `.Updated`
//! (the same older result, which templates such as `{{range .Updated.Images}}{{println .}}{{end}}`
//! still use). Newer Flux releases removed `.Updated` and `.Changed.ImageResult`; shipline keeps
//! them so those templates go on working.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use granit_parser::{Event, Parser};

use crate::image::ImageRef;
use crate::update::overlay::{FileUpdate, PolicyRef, Target};
use crate::update::template::{self, Struct, TemplateError, Value};

/// The object a change was made in: Flux's `ObjectIdentifier` (kyaml's `ResourceIdentifier`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
}

/// One changed value, with what a message may say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    /// File relative to the repository root, `/`-separated.
    pub file: String,
    /// The object holding the value.
    pub object: ObjectId,
    /// The value before (empty for an inserted key).
    pub old: String,
    /// The value after.
    pub new: String,
    /// The setter: `NS:NAME` for a whole-reference marker, `NS:NAME:tag` (`:name`, `:digest`) for
    /// a part, or the `images:` entry name.
    pub setter: String,
    /// The image written and the policy that chose it.
    pub image: Option<(ImageRef, PolicyRef)>,
}

/// Who runs the update: Flux's `.AutomationObject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Automation {
    /// Namespace (empty for `shipline.yaml`).
    pub namespace: String,
    /// Name (`shipline` for `shipline.yaml`).
    pub name: String,
}

impl Default for Automation {
    fn default() -> Self {
        Self { namespace: String::new(), name: "shipline".into() }
    }
}

/// The changes of an update as records, each with its object and the image that caused it.
/// `images` maps each target to the image chosen for it.
pub fn records(
    root: &Path,
    files: &[FileUpdate],
    images: &BTreeMap<Target, (ImageRef, PolicyRef)>,
) -> Vec<ChangeRecord> {
    let mut out = Vec::new();
    for file in files.iter().filter(|f| f.is_changed()) {
        let shown = file.path.strip_prefix(root).unwrap_or(&file.path);
        let shown = shown.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let objects = objects_by_line(&file.original);
        for c in &file.edit.changes {
            let object =
                objects.iter().rev().find(|(line, _)| *line <= c.line).map(|(_, o)| o.clone()).unwrap_or_default();
            let setter = match &c.target {
                Target::Policy(p) if c.field == "image" => p.to_string(),
                Target::Policy(p) => format!("{p}:{}", c.field),
                Target::ImageName(n) => n.clone(),
            };
            out.push(ChangeRecord {
                file: shown.clone(),
                object,
                old: c.old.clone().unwrap_or_default(),
                new: c.new.clone(),
                setter,
                image: images.get(&c.target).cloned(),
            });
        }
    }
    out
}

/// The images that changed, each once, in order.
pub fn changed_images(records: &[ChangeRecord]) -> Vec<String> {
    let set: BTreeSet<String> = records.iter().filter_map(|r| r.image.as_ref()).map(|(i, _)| i.to_string()).collect();
    set.into_iter().collect()
}

/// The default message: `Update images: A, B` (only those that changed), then one line per
/// changed value. `legacy_subject` is shipline.yaml's `{images}` subject template.
pub fn default_message(records: &[ChangeRecord], legacy_subject: Option<&str>) -> String {
    let images = changed_images(records).join(", ");
    let subject = match legacy_subject {
        Some(t) => t.replace("{images}", &images),
        None => format!("Update images: {images}"),
    };
    let mut message = format!("{subject}\n\n");
    for r in records {
        let old = if r.old.is_empty() { "(added)" } else { r.old.as_str() };
        message.push_str(&format!("{}: {old} -> {}\n", r.file, r.new));
    }
    message
}

/// Runs a Flux `messageTemplate` on Flux's data for these changes.
pub fn render_flux(
    source: &str,
    automation: &Automation,
    values: &BTreeMap<String, String>,
    records: &[ChangeRecord],
) -> Result<String, TemplateError> {
    template::render(source, &flux_data(automation, values, records))
}

/// One pull-request description entry for a pushed commit: every change with its file and
/// object, and the commit's provenance trailers (CodeBuild build, digest, pipeline execution).
pub fn pull_request_entry(commit: &str, records: &[ChangeRecord], trailers: &[(String, String)]) -> String {
    let mut out = format!(
        "Commit {commit}

"
    );
    for r in records {
        let old = if r.old.is_empty() { "(added)" } else { r.old.as_str() };
        let object =
            if r.object.kind.is_empty() { String::new() } else { format!(" ({} {})", r.object.kind, r.object.name) };
        out.push_str(&format!(
            "- {}{object}: {old} -> {}
",
            r.file, r.new
        ));
    }
    if !trailers.is_empty() {
        out.push('\n');
        for (k, v) in trailers {
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out
}

/// Appends `Key: value` trailers after a blank line.
pub fn with_trailers(mut message: String, trailers: &[(String, String)]) -> String {
    if trailers.is_empty() {
        return message;
    }
    while message.ends_with("\n\n") {
        message.pop();
    }
    if !message.ends_with('\n') {
        message.push('\n');
    }
    message.push('\n');
    for (key, value) in trailers {
        message.push_str(&format!("{key}: {value}\n"));
    }
    message
}

fn namespaced(namespace: &str, name: &str) -> Value {
    let shown = if namespace.is_empty() { name.to_owned() } else { format!("{namespace}/{name}") };
    Value::Struct(
        Struct::new("types.NamespacedName", vec![("Namespace", Value::str(namespace)), ("Name", Value::str(name))])
            .with_string(shown),
    )
}

fn object_value(o: &ObjectId) -> Value {
    // kyaml's ResourceIdentifier embeds TypeMeta and NameMeta: `{{{apiVersion kind} {name ns}}}`.
    let shown = format!("{{{{{} {}}} {{{} {}}}}}", o.api_version, o.kind, o.name, o.namespace);
    Value::Struct(
        Struct::new(
            "update.ObjectIdentifier",
            vec![
                ("APIVersion", Value::str(&o.api_version)),
                ("Kind", Value::str(&o.kind)),
                ("Name", Value::str(&o.name)),
                ("Namespace", Value::str(&o.namespace)),
            ],
        )
        .with_string(shown),
    )
}

/// go-containerregistry's reading of a reference: Docker Hub when the first component is not a
/// host (`.`, `:` or `localhost`), with `library/` for single-component names.
fn registry_and_repository(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (host.to_owned(), rest.to_owned())
        }
        Some(_) => ("index.docker.io".into(), name.to_owned()),
        None => ("index.docker.io".into(), format!("library/{name}")),
    }
}

fn image_value(image: &ImageRef, policy: &PolicyRef) -> Value {
    let (registry, repository) = registry_and_repository(&image.name);
    let identifier = image.digest.clone().or_else(|| image.tag.clone()).unwrap_or_else(|| "latest".into());
    let separator = if image.digest.is_some() { "@" } else { ":" };
    let full = format!("{registry}/{repository}{separator}{identifier}");
    Value::Struct(
        Struct::new(
            "update.ImageRef",
            vec![
                ("String", Value::Str(image.to_string())),
                ("Identifier", Value::Str(identifier)),
                ("Repository", Value::Str(repository)),
                ("Registry", Value::Str(registry)),
                ("Name", Value::Str(full)),
                ("Policy", namespaced(&policy.namespace, &policy.name)),
            ],
        )
        .with_string(image.to_string()),
    )
}

fn change_value(r: &ChangeRecord) -> Value {
    Value::Struct(Struct::new(
        "update.Change",
        vec![("OldValue", Value::str(&r.old)), ("NewValue", Value::str(&r.new)), ("Setter", Value::str(&r.setter))],
    ))
}

/// Flux's `TemplateData` for these changes.
pub fn flux_data(automation: &Automation, values: &BTreeMap<String, String>, records: &[ChangeRecord]) -> Value {
    // file -> object -> changes / images, in the order Go would range over them (sorted).
    let mut file_changes: BTreeMap<&str, BTreeMap<&ObjectId, Vec<Value>>> = BTreeMap::new();
    let mut file_images: BTreeMap<&str, BTreeMap<&ObjectId, Vec<Value>>> = BTreeMap::new();
    let mut changes: Vec<Value> = Vec::new();
    let mut images: Vec<Value> = Vec::new();
    for r in records {
        let change = change_value(r);
        file_changes.entry(&r.file).or_default().entry(&r.object).or_default().push(change.clone());
        if !changes.contains(&change) {
            changes.push(change);
        }
        if let Some((image, policy)) = &r.image {
            let v = image_value(image, policy);
            let list = file_images.entry(&r.file).or_default().entry(&r.object).or_default();
            if !list.contains(&v) {
                list.push(v.clone());
            }
            if !images.contains(&v) {
                images.push(v);
            }
        }
    }
    let by_object = |m: &BTreeMap<&ObjectId, Vec<Value>>| {
        Value::map(m.iter().map(|(o, l)| (object_value(o), Value::List(l.clone()))).collect())
    };
    let merged = |files: &BTreeMap<&str, BTreeMap<&ObjectId, Vec<Value>>>| {
        let mut all: BTreeMap<&ObjectId, Vec<Value>> = BTreeMap::new();
        for objects in files.values() {
            for (o, l) in objects {
                all.entry(o).or_default().extend(l.iter().cloned());
            }
        }
        by_object(&all)
    };
    let image_result = Value::Struct(Struct::new(
        "update.Result",
        vec![
            (
                "Files",
                Value::map(
                    file_images
                        .iter()
                        .map(|(f, objects)| {
                            let fr = Struct::new("update.FileResult", vec![("Objects", by_object(objects))]);
                            (Value::str(*f), Value::Struct(fr))
                        })
                        .collect(),
                ),
            ),
            ("Images", Value::List(images)),
            ("Objects", merged(&file_images)),
        ],
    ));
    let changed = Value::Struct(Struct::new(
        "update.ResultV2",
        vec![
            ("ImageResult", image_result.clone()),
            (
                "FileChanges",
                Value::map(file_changes.iter().map(|(f, objects)| (Value::str(*f), by_object(objects))).collect()),
            ),
            ("Changes", Value::List(changes)),
            ("Objects", merged(&file_changes)),
        ],
    ));
    Value::Struct(Struct::new(
        "source.TemplateData",
        vec![
            ("AutomationObject", namespaced(&automation.namespace, &automation.name)),
            ("Updated", image_result),
            ("Changed", changed),
            ("Values", Value::map(values.iter().map(|(k, v)| (Value::str(k), Value::str(v))).collect())),
        ],
    ))
}

/// The objects of a YAML stream by the 1-based line their document starts on: `apiVersion`,
/// `kind`, `metadata.name` and `metadata.namespace` of each top-level mapping.
pub fn objects_by_line(text: &str) -> Vec<(usize, ObjectId)> {
    struct Frame {
        mapping: bool,
        expect_key: bool,
        key: Option<String>,
        /// The key this collection is the value of.
        under: Option<String>,
    }
    let mut out: Vec<(usize, ObjectId)> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        // The key a new node is the value of (None for keys and sequence items).
        fn value_of(stack: &mut [Frame]) -> Option<String> {
            match stack.last_mut() {
                Some(f) if f.mapping => {
                    let was_key = f.expect_key;
                    f.expect_key = !f.expect_key;
                    if was_key { None } else { f.key.take() }
                }
                _ => None,
            }
        }
        match event {
            Event::DocumentStart(..) => {
                stack.clear();
                out.push((span.start.line(), ObjectId::default()));
            }
            Event::Scalar(value, ..) => {
                let is_key = matches!(stack.last(), Some(f) if f.mapping && f.expect_key);
                let key = value_of(&mut stack);
                if is_key {
                    if let Some(f) = stack.last_mut() {
                        f.key = Some(value.to_string());
                    }
                    continue;
                }
                let (Some(key), Some((_, object))) = (key, out.last_mut()) else { continue };
                match (stack.len(), stack.last().and_then(|f| f.under.as_deref()), key.as_str()) {
                    (1, _, "apiVersion") => object.api_version = value.to_string(),
                    (1, _, "kind") => object.kind = value.to_string(),
                    (2, Some("metadata"), "name") => object.name = value.to_string(),
                    (2, Some("metadata"), "namespace") => object.namespace = value.to_string(),
                    _ => {}
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let under = value_of(&mut stack);
                stack.push(Frame {
                    mapping: matches!(event, Event::MappingStart(..)),
                    expect_key: true,
                    key: None,
                    under,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Alias(_) => {
                value_of(&mut stack);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
