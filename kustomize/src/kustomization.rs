//! The kustomization file: reading it and checking every field against what is supported.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::fields::{Fields, Obj, selector_obj};
use crate::transform::replacements::{Replacement, replacement_of};
use crate::yaml::Value;

/// Names a kustomization file may have, in kustomize's order of preference.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Fields kustomize knows that this engine refuses, with the reason given to the user.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("helmCharts", "helm inflation runs an external program; render the chart and list the output under `resources`"),
    ("helmGlobals", "helm inflation runs an external program"),
    ("helmChartInflationGenerator", "helm inflation runs an external program"),
    ("inventory", "inventory objects are not implemented"),
];

pub use crate::fields::Selector;
pub use crate::resid::VarSpec;

/// One entry of `patches`, `patchesStrategicMerge` or `patchesJson6902`.
#[derive(Debug, Clone)]
pub struct PatchSpec {
    /// Where it was written, e.g. `patches[1]`.
    pub field: String,
    /// The inline patch text (empty when `path` is given).
    pub text: String,
    /// The patch file, relative to the kustomization root.
    pub path: Option<String>,
    /// The target selector.
    pub target: Option<Selector>,
    /// Whether the text is a JSON 6902 operation list (known for `patchesJson6902`).
    pub json6902: Option<bool>,
    /// `options.allowNameChange`.
    pub allow_name_change: bool,
    /// `options.allowKindChange`.
    pub allow_kind_change: bool,
}

/// One entry of `images`.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    /// Image name to match.
    pub name: String,
    /// Replacement name.
    pub new_name: Option<String>,
    /// Replacement tag.
    pub new_tag: Option<String>,
    /// Appended to the tag (`tagSuffix`).
    pub tag_suffix: Option<String>,
    /// Replacement digest.
    pub digest: Option<String>,
}

/// One entry of `labels`.
#[derive(Debug, Clone, Default)]
pub struct LabelSpec {
    /// The labels.
    pub pairs: Vec<(String, String)>,
    /// Also add them to selectors (and templates).
    pub include_selectors: bool,
    /// Also add them to pod templates.
    pub include_templates: bool,
    /// Extra field specs.
    pub fields: Vec<crate::fieldspec::FieldSpec>,
}

/// `generatorOptions` or an entry's `options`.
#[derive(Debug, Clone, Default)]
pub struct GenOptions {
    /// Labels to add.
    pub labels: Vec<(String, String)>,
    /// Annotations to add.
    pub annotations: Vec<(String, String)>,
    /// Whether to skip the content-hash suffix.
    pub disable_hash: Option<bool>,
    /// `immutable: true`.
    pub immutable: Option<bool>,
}

/// One entry of `configMapGenerator` or `secretGenerator`.
#[derive(Debug, Clone, Default)]
pub struct GeneratorSpec {
    /// Where it was written, e.g. `configMapGenerator[0]`.
    pub field: String,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// `create`, `merge` or `replace`.
    pub behavior: Option<String>,
    /// `KEY=VALUE` literals.
    pub literals: Vec<String>,
    /// `[key=]path` files.
    pub files: Vec<String>,
    /// Env files.
    pub envs: Vec<String>,
    /// Secret type.
    pub secret_type: Option<String>,
    /// Per-entry options.
    pub options: GenOptions,
}

/// `sortOptions`.
#[derive(Debug, Clone, Default)]
pub struct SortOptions {
    /// `legacy` or `fifo`.
    pub order: String,
    /// `legacySortOptions.orderFirst`.
    pub order_first: Option<Vec<String>>,
    /// `legacySortOptions.orderLast`.
    pub order_last: Option<Vec<String>>,
}

/// A parsed kustomization file.
#[derive(Debug, Clone, Default)]
pub struct Kustomization {
    /// The file.
    pub file: PathBuf,
    /// `kind: Component`.
    pub is_component: bool,
    /// `resources` followed by legacy `bases`.
    pub resources: Vec<String>,
    /// `components`.
    pub components: Vec<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `namePrefix`.
    pub name_prefix: Option<String>,
    /// `nameSuffix`.
    pub name_suffix: Option<String>,
    /// `commonLabels`.
    pub common_labels: Vec<(String, String)>,
    /// `labels`.
    pub labels: Vec<LabelSpec>,
    /// `commonAnnotations`.
    pub common_annotations: Vec<(String, String)>,
    /// `images`.
    pub images: Vec<ImageSpec>,
    /// `replicas` (name, count).
    pub replicas: Vec<(String, i128)>,
    /// `patchesStrategicMerge`.
    pub patches_sm: Vec<PatchSpec>,
    /// `patches`.
    pub patches: Vec<PatchSpec>,
    /// `patchesJson6902`.
    pub patches_json: Vec<PatchSpec>,
    /// `configMapGenerator`.
    pub config_maps: Vec<GeneratorSpec>,
    /// `secretGenerator`.
    pub secrets: Vec<GeneratorSpec>,
    /// `generatorOptions`.
    pub generator_options: Option<GenOptions>,
    /// `sortOptions`.
    pub sort_options: Option<SortOptions>,
    /// `vars`.
    pub vars: Vec<VarSpec>,
    /// `configurations` files.
    pub configurations: Vec<String>,
    /// `crds`: OpenAPI definition files adding field specs.
    pub crds: Vec<String>,
    /// `buildMetadata` has `originAnnotations`.
    pub origin_annotations: bool,
    /// `buildMetadata` has `managedByLabel`.
    pub managed_by_label: bool,
    /// `buildMetadata` has `transformerAnnotations`.
    pub transformer_annotations: bool,
    /// Set when this stands for one builtin plugin configuration (`generators`/`transformers`)
    /// while build annotations are kept: what it generates takes this as origin, and it is
    /// noted once as this transformer rather than per kustomization field.
    pub configured_by: Option<crate::resource::ConfiguredBy>,
    /// `generators`: files or directories of generator configurations.
    pub generators: Vec<String>,
    /// `transformers`: files or directories of transformer configurations.
    pub transformers: Vec<String>,
    /// `validators`.
    pub validators: Vec<String>,
    /// `replacements`, inline or loaded from `path` entries.
    pub replacements: Vec<(String, ReplacementEntry)>,
}

/// An entry of `replacements`.
#[derive(Debug, Clone)]
pub enum ReplacementEntry {
    /// Written in the kustomization.
    Inline(Box<Replacement>),
    /// A file holding a list of replacements.
    Path(String),
}

/// Parses the text of a kustomization file.
pub fn parse(file: &Path, text: &str) -> Result<Kustomization, Error> {
    let doc =
        crate::yaml::parse_one_yaml11(text).map_err(|e| Error::Yaml { path: file.to_path_buf(), message: e.0 })?;
    let f = Fields { file };
    let top = Obj::new(&f, &doc, "")?;
    let k = read(&top, file)?;
    top.finish()?;
    Ok(k)
}

/// Whether every field but `apiVersion` and `kind` is absent or null: kustomize refuses such a
/// kustomization ("kustomization.yaml is empty"), while `resources: []` counts as set.
fn is_empty(top: &Obj) -> bool {
    // Reads the mapping directly: marking keys as read here would hide unknown ones.
    top.map().iter().all(|(k, v)| {
        k.eq_ignore_ascii_case("apiVersion") || k.eq_ignore_ascii_case("kind") || matches!(v, Value::Null)
    })
}

fn read(top: &Obj, file: &Path) -> Result<Kustomization, Error> {
    let f = top.fields();
    if is_empty(top) {
        return Err(f.err("kustomization", "the kustomization is empty (kustomization.yaml is empty)"));
    }
    for (name, reason) in UNSUPPORTED {
        if top.has(name) {
            return Err(Error::Unsupported {
                file: file.to_path_buf(),
                field: name.to_string(),
                reason: reason.to_string(),
            });
        }
    }
    let mut k = Kustomization { file: file.to_path_buf(), ..Default::default() };
    let kind = top.string("kind")?.unwrap_or_default();
    let required = match kind.as_str() {
        "Kustomization" | "" => "kustomize.config.k8s.io/v1beta1",
        "Component" => {
            k.is_component = true;
            "kustomize.config.k8s.io/v1alpha1"
        }
        other => return Err(f.err("kind", format!("unknown kind {other:?}; expected Kustomization or Component"))),
    };
    if let Some(v) = top.string("apiVersion")?.filter(|v| !v.is_empty() && v != required) {
        return Err(f.err("apiVersion", format!("{v:?}: apiVersion for {kind} should be {required}")));
    }
    // `openapi` is a map[string]string: `version` picks a built-in schema (kubectl has only
    // v1.21.2, the default), `path` a custom one (not implemented).
    let openapi = top.pairs("openapi")?;
    for (key, value) in &openapi {
        match key.as_str() {
            "version" if value == "v1.21.2" || value.is_empty() => {}
            "version" => {
                return Err(
                    f.err("openapi.version", format!("{value:?}: the specified OpenAPI version is not built in"))
                );
            }
            _ => {
                return Err(Error::Unsupported {
                    file: file.to_path_buf(),
                    field: format!("openapi.{key}"),
                    reason: "custom OpenAPI schemas are not implemented".into(),
                });
            }
        }
    }
    let meta = top.obj("metadata")?;
    for key in ["name", "namespace"] {
        meta.string(key)?;
    }
    for key in ["labels", "annotations"] {
        meta.pairs(key)?;
    }
    meta.finish()?;
    k.resources = top.strings("resources")?;
    k.resources.extend(top.strings("bases")?);
    k.components = top.strings("components")?;
    k.configurations = top.strings("configurations")?;
    k.crds = top.strings("crds")?;
    k.generators = top.strings("generators")?;
    k.transformers = top.strings("transformers")?;
    k.validators = top.strings("validators")?;
    k.namespace = top.string("namespace")?.filter(|s| !s.is_empty());
    k.name_prefix = top.string("namePrefix")?.filter(|s| !s.is_empty());
    k.name_suffix = top.string("nameSuffix")?.filter(|s| !s.is_empty());
    k.common_labels = top.pairs("commonLabels")?;
    k.common_annotations = top.pairs("commonAnnotations")?;
    for (i, l) in top.list("labels")?.iter().enumerate() {
        let o = Obj::new(f, l, &format!("labels[{i}]"))?;
        k.labels.push(label_spec(&o)?);
        o.finish()?;
    }
    for key in ["images", "imageTags"] {
        for (i, img) in top.list(key)?.iter().enumerate() {
            let o = Obj::new(f, img, &format!("{key}[{i}]"))?;
            k.images.push(ImageSpec {
                name: o.string("name")?.unwrap_or_default(),
                new_name: o.string("newName")?,
                new_tag: o.string("newTag")?,
                tag_suffix: o.string("tagSuffix")?,
                digest: o.string("digest")?,
            });
            o.finish()?;
        }
    }
    for (i, r) in top.list("replicas")?.iter().enumerate() {
        let o = Obj::new(f, r, &format!("replicas[{i}]"))?;
        k.replicas.push((o.string("name")?.unwrap_or_default(), o.int("count")?.unwrap_or(0)));
        o.finish()?;
    }
    for (i, p) in top.list("patchesStrategicMerge")?.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let s = f.string(p, &field)?;
        // An entry is a file path unless it is an inline patch (a YAML mapping).
        let inline = s.contains('\n') || s.trim_start().starts_with('{');
        k.patches_sm.push(PatchSpec {
            field,
            path: (!inline).then(|| s.clone()),
            text: if inline { s } else { String::new() },
            target: None,
            json6902: Some(false),
            allow_name_change: false,
            allow_kind_change: false,
        });
    }
    for (key, json) in [("patches", None), ("patchesJson6902", Some(true))] {
        for (i, p) in top.list(key)?.iter().enumerate() {
            let o = Obj::new(f, p, &format!("{key}[{i}]"))?;
            let spec = patch_spec(&o, json)?;
            o.finish()?;
            if key == "patches" { k.patches.push(spec) } else { k.patches_json.push(spec) }
        }
    }
    if top.has("generatorOptions") {
        k.generator_options = Some(gen_options(&top.obj("generatorOptions")?)?);
    }
    for (key, is_secret) in [("configMapGenerator", false), ("secretGenerator", true)] {
        for (i, g) in top.list(key)?.iter().enumerate() {
            let o = Obj::new(f, g, &format!("{key}[{i}]"))?;
            let spec = generator_spec(&o, is_secret)?;
            o.finish()?;
            if is_secret { k.secrets.push(spec) } else { k.config_maps.push(spec) }
        }
    }
    for (i, v) in top.list("vars")?.iter().enumerate() {
        let o = Obj::new(f, v, &format!("vars[{i}]"))?;
        k.vars.push(var_spec(&o)?);
        o.finish()?;
    }
    // Measured: kustomize only tests for the three known values; anything else is ignored.
    for opt in top.strings("buildMetadata")? {
        match opt.as_str() {
            "originAnnotations" => k.origin_annotations = true,
            "managedByLabel" => k.managed_by_label = true,
            "transformerAnnotations" => k.transformer_annotations = true,
            _ => {}
        }
    }
    for (i, r) in top.list("replacements")?.iter().enumerate() {
        let field = format!("replacements[{i}]");
        let o = Obj::new(f, r, &field)?;
        let entry = match o.string("path")? {
            Some(p) => {
                if o.has("source") || o.has("targets") {
                    return Err(f.err(&field, "cannot specify both path and inline replacement"));
                }
                ReplacementEntry::Path(p)
            }
            None => ReplacementEntry::Inline(Box::new(replacement_of(&o)?)),
        };
        o.finish()?;
        k.replacements.push((field, entry));
    }
    if top.has("sortOptions") {
        let o = top.obj("sortOptions")?;
        let order = o.string("order")?.unwrap_or_default();
        let legacy = o.obj("legacySortOptions")?;
        let lists = |key: &str| -> Result<Option<Vec<String>>, Error> {
            legacy.has(key).then(|| legacy.strings(key)).transpose()
        };
        k.sort_options =
            Some(SortOptions { order, order_first: lists("orderFirst")?, order_last: lists("orderLast")? });
        legacy.finish()?;
        if o.has("legacySortOptions") && k.sort_options.as_ref().is_some_and(|s| s.order != "legacy") {
            return Err(f.err("sortOptions.legacySortOptions", "set but the selected sort order is not 'legacy'"));
        }
        o.finish()?;
    }
    Ok(k)
}

fn label_spec(o: &Obj) -> Result<LabelSpec, Error> {
    let mut spec = LabelSpec {
        pairs: o.pairs("pairs")?,
        include_selectors: o.bool("includeSelectors")?.unwrap_or(false),
        include_templates: o.bool("includeTemplates")?.unwrap_or(false),
        fields: Vec::new(),
    };
    for (j, fs) in o.list("fields")?.iter().enumerate() {
        let fo = Obj::new(o.fields(), fs, &o.at(&format!("fields[{j}]")))?;
        let path = fo
            .string("path")?
            .ok_or_else(|| fo.missing("path", &["path", "kind", "group", "version", "create"], "missing `path`"))?;
        spec.fields.push(
            crate::fieldspec::FieldSpec::kind(
                &fo.string("kind")?.unwrap_or_default(),
                &path,
                fo.bool("create")?.unwrap_or(false),
            )
            .group(&fo.string("group")?.unwrap_or_default())
            .version(&fo.string("version")?.unwrap_or_default()),
        );
        fo.finish()?;
    }
    Ok(spec)
}

fn patch_spec(o: &Obj, json: Option<bool>) -> Result<PatchSpec, Error> {
    let f = o.fields();
    let field = o.at("");
    let field = field.trim_end_matches('.').to_string();
    let (path, text) = match (o.string("path")?, o.string("patch")?) {
        (Some(p), None) => (Some(p), String::new()),
        (None, Some(t)) => (None, t),
        (Some(_), Some(_)) => return Err(f.err(&field, "patch and path can't be set at the same time")),
        (None, None) => {
            return Err(o.missing(
                "patch",
                &["path", "patch", "target", "options"],
                "must specify one of patch and path",
            ));
        }
    };
    let target = match o.get("target") {
        None => None,
        Some(t) => Some(selector_obj(f, t, &o.at("target"))?),
    };
    // `options` is a map[string]bool in kustomize: only these two keys mean anything, and
    // their spelling is exact.
    let opts = o.obj("options")?;
    let flag = |key: &str| -> Result<bool, Error> {
        match opts.map().get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(f.err(&opts.at(key), format!("expected a bool, found a {}", v.type_name()))),
        }
    };
    Ok(PatchSpec {
        field,
        text,
        path,
        target,
        json6902: json,
        allow_name_change: flag("allowNameChange")?,
        allow_kind_change: flag("allowKindChange")?,
    })
}

fn generator_spec(o: &Obj, is_secret: bool) -> Result<GeneratorSpec, Error> {
    let field = o.at("");
    let mut spec = GeneratorSpec {
        field: field.trim_end_matches('.').to_string(),
        name: o.string("name")?.unwrap_or_default(),
        namespace: o.string("namespace")?,
        behavior: o.string("behavior")?,
        literals: o.strings("literals")?,
        files: o.strings("files")?,
        envs: o.strings("envs")?,
        secret_type: if is_secret { o.string("type")? } else { None },
        options: gen_options(&o.obj("options")?)?,
    };
    // FixKustomization appends the legacy `env` after `envs`.
    if let Some(env) = o.string("env")?.filter(|e| !e.is_empty()) {
        spec.envs.push(env);
    }
    Ok(spec)
}

fn var_spec(o: &Obj) -> Result<VarSpec, Error> {
    let obj = o.obj("objref")?;
    let api_version = obj.string("apiVersion")?.unwrap_or_default();
    let kind = obj.string("kind")?.unwrap_or_default();
    let mut gvk = crate::resid::Gvk::from_api_version(&api_version, &kind);
    let (group, version) = (obj.string("group")?, obj.string("version")?);
    if api_version.is_empty() {
        gvk.group = group.unwrap_or_default();
        gvk.version = version.unwrap_or_default();
    }
    let fieldref = o.obj("fieldref")?;
    let spec = VarSpec {
        name: o
            .string("name")?
            .ok_or_else(|| o.missing("name", &["name", "objref", "fieldref"], "a var needs a `name`"))?,
        gvk,
        object: obj.string("name")?.unwrap_or_default(),
        namespace: obj.string("namespace")?.unwrap_or_default(),
        // kustomize's default when `fieldref` (or its `fieldPath`) is absent.
        field_path: fieldref.string("fieldPath")?.unwrap_or_else(|| "metadata.name".into()),
    };
    obj.finish()?;
    fieldref.finish()?;
    Ok(spec)
}

fn gen_options(o: &Obj) -> Result<GenOptions, Error> {
    let opts = GenOptions {
        labels: o.pairs("labels")?,
        annotations: o.pairs("annotations")?,
        disable_hash: o.bool("disableNameSuffixHash")?,
        immutable: o.bool("immutable")?,
    };
    o.finish()?;
    Ok(opts)
}
