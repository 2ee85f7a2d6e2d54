//! Transformer configuration: the built-in field specs plus those of `configurations` files,
//! accumulated from bases upward as kustomize does.

use std::collections::HashSet;
use std::path::Path;

use crate::Error;
use crate::config::{self, NameRef};
use crate::fields::Fields;
use crate::fieldspec::FieldSpec;
use crate::yaml::{Map, Value};

/// Which fields each built-in transformer touches.
#[derive(Debug, Clone)]
pub struct TransformerConfig {
    /// `commonLabels` and `labels[].includeSelectors`.
    pub common_labels: Vec<FieldSpec>,
    /// `labels[].includeTemplates`.
    pub template_labels: Vec<FieldSpec>,
    /// `commonAnnotations`.
    pub common_annotations: Vec<FieldSpec>,
    /// Namespace fields beyond the built-in ones (which are hard-wired in the transformer).
    pub namespace: Vec<FieldSpec>,
    /// Name references.
    pub name_references: Vec<NameRef>,
    /// Image fields beyond every `containers`/`initContainers` list, which are always covered.
    pub images: Vec<FieldSpec>,
    /// Replica count fields.
    pub replicas: Vec<FieldSpec>,
    /// Fields where legacy `vars` are expanded.
    pub var_references: Vec<FieldSpec>,
    /// Whether anything beyond the built-in specs was added (`configurations`, `crds`).
    /// Merging a configuration that is not customized into one that holds the built-ins is a
    /// no-op, and is skipped: large trees merge one configuration per directory.
    pub customized: bool,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig::built_in().clone()
    }
}

impl TransformerConfig {
    /// The built-in configuration, built once. Every directory of a tree starts from it and
    /// most never change it, so a build borrows this and copies it only to customize it.
    pub fn built_in() -> &'static TransformerConfig {
        static BUILT_IN: std::sync::LazyLock<TransformerConfig> = std::sync::LazyLock::new(built_in);
        &BUILT_IN
    }
}

/// The built-in configuration, from kustomize's default tables.
fn built_in() -> TransformerConfig {
    TransformerConfig {
        common_labels: config::common_labels(),
        template_labels: config::template_labels(),
        common_annotations: config::common_annotations(),
        namespace: Vec::new(),
        name_references: config::name_references(),
        images: Vec::new(),
        replicas: config::replicas(),
        var_references: config::var_references(),
        customized: false,
    }
}

/// Appends the specs of `from` that `into` lacks (same path, group, version and kind), keeping
/// order. Hash-based: every directory of a large tree merges whole configurations upward.
fn merge_specs(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) {
    fn key(x: &FieldSpec) -> (&str, &str, &str, &str) {
        (&x.path, &x.group, &x.version, &x.kind)
    }
    let mut have: HashSet<_> = into.iter().map(key).collect();
    let new: Vec<FieldSpec> = from.iter().filter(|f| have.insert(key(f))).cloned().collect();
    into.extend(new);
}

impl TransformerConfig {
    /// Adds another configuration's field specs (duplicates ignored).
    pub fn merge(&mut self, o: &TransformerConfig) {
        if !o.customized {
            return;
        }
        self.customized = true;
        merge_specs(&mut self.common_labels, &o.common_labels);
        merge_specs(&mut self.template_labels, &o.template_labels);
        merge_specs(&mut self.common_annotations, &o.common_annotations);
        merge_specs(&mut self.namespace, &o.namespace);
        merge_specs(&mut self.images, &o.images);
        merge_specs(&mut self.replicas, &o.replicas);
        merge_specs(&mut self.var_references, &o.var_references);
        for r in &o.name_references {
            self.add_name_reference(r.clone());
        }
    }

    /// A configuration with no field specs at all (not even the built-in ones).
    pub fn empty() -> TransformerConfig {
        TransformerConfig {
            common_labels: Vec::new(),
            template_labels: Vec::new(),
            common_annotations: Vec::new(),
            namespace: Vec::new(),
            name_references: Vec::new(),
            images: Vec::new(),
            replicas: Vec::new(),
            var_references: Vec::new(),
            customized: true,
        }
    }

    /// Adds a name reference, merged into an existing one for the same kind, group and
    /// version (kustomize merges back references by exact GVK).
    pub fn add_name_reference(&mut self, r: NameRef) {
        let same = |x: &NameRef| x.kind == r.kind && x.group == r.group && x.version == r.version;
        match self.name_references.iter_mut().find(|x| same(x)) {
            Some(x) => merge_specs(&mut x.referrers, &r.referrers),
            None => self.name_references.push(r),
        }
    }

    /// Reads a `configurations` file (only the file's own entries, no defaults).
    pub fn from_file(path: &Path, text: &str) -> Result<TransformerConfig, Error> {
        let doc =
            crate::yaml::parse_one_yaml11(text).map_err(|e| Error::Yaml { path: path.to_path_buf(), message: e.0 })?;
        let f = Fields { file: path };
        let top = f.map(&doc, "configuration")?;
        let mut tc = TransformerConfig::empty();
        for (key, v) in top {
            let specs = || specs_of(&f, v, key);
            match key.as_str() {
                "commonLabels" => tc.common_labels = specs()?,
                "templateLabels" => tc.template_labels = specs()?,
                "commonAnnotations" => tc.common_annotations = specs()?,
                "namespace" => tc.namespace = specs()?,
                "images" => tc.images = specs()?,
                "replicas" => tc.replicas = specs()?,
                "varReference" => tc.var_references = specs()?,
                "nameReference" => {
                    for (i, nr) in f.list(v, key)?.iter().enumerate() {
                        let field = format!("nameReference[{i}]");
                        let m = f.map(nr, &field)?;
                        known(&f, m, &field, &["kind", "group", "version", "fieldSpecs"])?;
                        tc.name_references.push(NameRef {
                            kind: f.opt_string(m, "kind", &field)?.unwrap_or_default(),
                            group: f.opt_string(m, "group", &field)?.unwrap_or_default(),
                            version: f.opt_string(m, "version", &field)?.unwrap_or_default(),
                            referrers: specs_of(&f, m.get("fieldSpecs").unwrap_or(&Value::Null), &field)?,
                        });
                    }
                }
                other => {
                    return Err(Error::Unsupported {
                        file: path.to_path_buf(),
                        field: other.to_string(),
                        reason: "this transformer configuration is not implemented".into(),
                    });
                }
            }
        }
        Ok(tc)
    }
}

fn known(f: &Fields, m: &Map, field: &str, keys: &[&str]) -> Result<(), Error> {
    match m.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(f.err(&format!("{field}.{k}"), "unknown field")),
        None => Ok(()),
    }
}

fn specs_of(f: &Fields, v: &Value, field: &str) -> Result<Vec<FieldSpec>, Error> {
    let mut out = Vec::new();
    for (i, s) in f.list(v, field)?.iter().enumerate() {
        let sf = format!("{field}[{i}]");
        let m = f.map(s, &sf)?;
        known(f, m, &sf, &["path", "kind", "group", "version", "create"])?;
        let path = f.opt_string(m, "path", &sf)?.ok_or_else(|| f.err(&sf, "a field spec needs a `path`"))?;
        out.push(
            FieldSpec::kind(
                &f.opt_string(m, "kind", &sf)?.unwrap_or_default(),
                &path,
                f.bool(m, "create", &sf)?.unwrap_or(false),
            )
            .group(&f.opt_string(m, "group", &sf)?.unwrap_or_default())
            .version(&f.opt_string(m, "version", &sf)?.unwrap_or_default()),
        );
    }
    Ok(out)
}
