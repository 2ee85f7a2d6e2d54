//! The kustomization file: reading it and checking every field against what is supported.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::fields::{Fields, selector};
use crate::transform::replacements::{Replacement, replacement};
use crate::yaml::Value;

/// Names a kustomization file may have, in kustomize's order of preference.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Fields kustomize knows that this engine refuses, with the reason given to the user.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("helmCharts", "helm inflation runs an external program; render the chart and list the output under `resources`"),
    ("helmGlobals", "helm inflation runs an external program"),
    ("helmChartInflationGenerator", "helm inflation runs an external program"),
    ("generators", "generator plugins may execute programs"),
    ("transformers", "transformer plugins may execute programs"),
    ("validators", "validator plugins may execute programs"),
    ("openapi", "custom OpenAPI schemas are not implemented yet"),
];

const KNOWN: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "imageTags",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "sortOptions",
    "replacements",
    "buildMetadata",
    "configurations",
    "crds",
    "vars",
];

/// A resource selector of a patch `target`.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// API group.
    pub group: Option<String>,
    /// API version.
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name (a regular expression, anchored).
    pub name: Option<String>,
    /// Namespace (a regular expression, anchored).
    pub namespace: Option<String>,
    /// Label selector (`a=b,c!=d,e in (f)`).
    pub label_selector: Option<String>,
    /// Annotation selector.
    pub annotation_selector: Option<String>,
}

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
    /// Extra field paths (`path`, optional `kind`, `create`).
    pub fields: Vec<(String, Option<String>, bool)>,
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
    /// `replacements`, inline or loaded from `path` entries.
    pub replacements: Vec<(String, ReplacementEntry)>,
}

/// An entry of (legacy) `vars`.
#[derive(Debug, Clone, Default)]
pub struct VarSpec {
    /// The variable name used as `$(NAME)`.
    pub name: String,
    /// The referenced object's group, version and kind.
    pub gvk: crate::resid::Gvk,
    /// The referenced object's name.
    pub object: String,
    /// The referenced object's namespace (empty: any).
    pub namespace: String,
    /// The field to read (`metadata.name` by default).
    pub field_path: String,
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
    if text.trim().is_empty() {
        return Err(Error::InvalidField {
            file: file.to_path_buf(),
            field: "kustomization".into(),
            message: "the kustomization file is empty".into(),
        });
    }
    let doc =
        crate::yaml::parse_one_yaml11(text).map_err(|e| Error::Yaml { path: file.to_path_buf(), message: e.0 })?;
    let f = Fields { file };
    let top = f.map(&doc, "kustomization")?;
    let mut k = Kustomization { file: file.to_path_buf(), ..Default::default() };
    for key in top.keys() {
        if let Some((_, reason)) = UNSUPPORTED.iter().find(|(n, _)| n == key) {
            return Err(Error::Unsupported {
                file: file.to_path_buf(),
                field: key.clone(),
                reason: reason.to_string(),
            });
        }
        if !KNOWN.contains(&key.as_str()) {
            return Err(Error::UnknownField { file: file.to_path_buf(), field: key.clone() });
        }
    }
    let get = |key: &str| top.get(key).unwrap_or(&Value::Null);
    match get("kind") {
        Value::Null => {}
        v => match f.string(v, "kind")?.as_str() {
            "Kustomization" | "" => {}
            "Component" => k.is_component = true,
            other => return Err(f.err("kind", format!("unknown kind {other:?}; expected Kustomization or Component"))),
        },
    }
    k.resources = f.strings(get("resources"), "resources")?;
    k.resources.extend(f.strings(get("bases"), "bases")?);
    k.components = f.strings(get("components"), "components")?;
    k.configurations = f.strings(get("configurations"), "configurations")?;
    k.crds = f.strings(get("crds"), "crds")?;
    k.namespace = f.opt_string(top, "namespace", "kustomization")?.filter(|s| !s.is_empty());
    k.name_prefix = f.opt_string(top, "namePrefix", "kustomization")?.filter(|s| !s.is_empty());
    k.name_suffix = f.opt_string(top, "nameSuffix", "kustomization")?.filter(|s| !s.is_empty());
    k.common_labels = f.pairs(get("commonLabels"), "commonLabels")?;
    k.common_annotations = f.pairs(get("commonAnnotations"), "commonAnnotations")?;
    for (i, l) in f.list(get("labels"), "labels")?.iter().enumerate() {
        let field = format!("labels[{i}]");
        let m = f.map(l, &field)?;
        let mut spec = LabelSpec {
            pairs: f.pairs(m.get("pairs").unwrap_or(&Value::Null), &format!("{field}.pairs"))?,
            include_selectors: f.bool(m, "includeSelectors", &field)?.unwrap_or(false),
            include_templates: f.bool(m, "includeTemplates", &field)?.unwrap_or(false),
            fields: Vec::new(),
        };
        for (j, fs) in f.list(m.get("fields").unwrap_or(&Value::Null), &format!("{field}.fields"))?.iter().enumerate() {
            let ff = format!("{field}.fields[{j}]");
            let fm = f.map(fs, &ff)?;
            for key in fm.keys() {
                if !["path", "kind", "create"].contains(&key.as_str()) {
                    return Err(Error::Unsupported {
                        file: file.to_path_buf(),
                        field: format!("{ff}.{key}"),
                        reason: "only `path`, `kind` and `create` are supported in label field specs".into(),
                    });
                }
            }
            let path = f.opt_string(fm, "path", &ff)?.ok_or_else(|| f.err(&ff, "missing `path`"))?;
            spec.fields.push((path, f.opt_string(fm, "kind", &ff)?, f.bool(fm, "create", &ff)?.unwrap_or(false)));
        }
        k.labels.push(spec);
    }
    for key in ["images", "imageTags"] {
        for (i, img) in f.list(get(key), key)?.iter().enumerate() {
            let field = format!("{key}[{i}]");
            let m = f.map(img, &field)?;
            for key in m.keys() {
                if !["name", "newName", "newTag", "digest"].contains(&key.as_str()) {
                    return Err(Error::Unsupported {
                        file: file.to_path_buf(),
                        field: format!("{field}.{key}"),
                        reason: "only name, newName, newTag and digest are supported".into(),
                    });
                }
            }
            k.images.push(ImageSpec {
                name: f.opt_string(m, "name", &field)?.unwrap_or_default(),
                new_name: f.opt_string(m, "newName", &field)?,
                new_tag: f.opt_string(m, "newTag", &field)?,
                digest: f.opt_string(m, "digest", &field)?,
            });
        }
    }
    for (i, r) in f.list(get("replicas"), "replicas")?.iter().enumerate() {
        let field = format!("replicas[{i}]");
        let m = f.map(r, &field)?;
        let name = f.opt_string(m, "name", &field)?.unwrap_or_default();
        let count = match m.get("count") {
            Some(Value::Int(c)) => *c,
            Some(v) => return Err(f.err(&format!("{field}.count"), format!("expected an integer, found {v:?}"))),
            None => 0,
        };
        k.replicas.push((name, count));
    }
    for (i, p) in f.list(get("patchesStrategicMerge"), "patchesStrategicMerge")?.iter().enumerate() {
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
        for (i, p) in f.list(get(key), key)?.iter().enumerate() {
            let field = format!("{key}[{i}]");
            let m = f.map(p, &field)?;
            let path = f.opt_string(m, "path", &field)?;
            let patch = f.opt_string(m, "patch", &field)?;
            let (path, text) = match (path, patch) {
                (Some(p), None) => (Some(p), String::new()),
                (None, Some(t)) => (None, t),
                (Some(_), Some(_)) => return Err(f.err(&field, "patch and path can't be set at the same time")),
                (None, None) => return Err(f.err(&field, "must specify one of patch and path")),
            };
            let target = match m.get("target") {
                None | Some(Value::Null) => None,
                Some(t) => Some(selector(&f, t, &format!("{field}.target"))?),
            };
            let opts = f.map(m.get("options").unwrap_or(&Value::Null), &format!("{field}.options"))?;
            k_push_patch(
                &mut k,
                key,
                PatchSpec {
                    field,
                    text,
                    path,
                    target,
                    json6902: json,
                    allow_name_change: f.bool(opts, "allowNameChange", "options")?.unwrap_or(false),
                    allow_kind_change: f.bool(opts, "allowKindChange", "options")?.unwrap_or(false),
                },
            );
        }
    }
    if let Some(v) = top.get("generatorOptions") {
        k.generator_options = Some(gen_options(&f, v, "generatorOptions")?);
    }
    for (key, is_secret) in [("configMapGenerator", false), ("secretGenerator", true)] {
        for (i, g) in f.list(get(key), key)?.iter().enumerate() {
            let field = format!("{key}[{i}]");
            let m = f.map(g, &field)?;
            let mut spec = GeneratorSpec {
                field: field.clone(),
                name: f.opt_string(m, "name", &field)?.unwrap_or_default(),
                namespace: f.opt_string(m, "namespace", &field)?,
                behavior: f.opt_string(m, "behavior", &field)?,
                literals: f.strings(m.get("literals").unwrap_or(&Value::Null), &format!("{field}.literals"))?,
                files: f.strings(m.get("files").unwrap_or(&Value::Null), &format!("{field}.files"))?,
                envs: f.strings(m.get("envs").unwrap_or(&Value::Null), &format!("{field}.envs"))?,
                secret_type: f.opt_string(m, "type", &field)?,
                options: gen_options(&f, m.get("options").unwrap_or(&Value::Null), &format!("{field}.options"))?,
            };
            if let Some(env) = f.opt_string(m, "env", &field)? {
                spec.envs.insert(0, env);
            }
            for key in m.keys() {
                let ok = ["name", "namespace", "behavior", "literals", "files", "envs", "env", "options"]
                    .contains(&key.as_str())
                    || (is_secret && key == "type");
                if !ok {
                    return Err(Error::Unsupported {
                        file: file.to_path_buf(),
                        field: format!("{field}.{key}"),
                        reason: "unknown or unsupported generator field".into(),
                    });
                }
            }
            if is_secret { k.secrets.push(spec) } else { k.config_maps.push(spec) }
        }
    }
    for (i, v) in f.list(get("vars"), "vars")?.iter().enumerate() {
        let field = format!("vars[{i}]");
        let m = f.map(v, &field)?;
        let obj = f.map(m.get("objref").unwrap_or(&Value::Null), &format!("{field}.objref"))?;
        let of = format!("{field}.objref");
        let api_version = f.opt_string(obj, "apiVersion", &of)?.unwrap_or_default();
        let kind = f.opt_string(obj, "kind", &of)?.unwrap_or_default();
        let mut gvk = crate::resid::Gvk::from_api_version(&api_version, &kind);
        if api_version.is_empty() {
            gvk.group = f.opt_string(obj, "group", &of)?.unwrap_or_default();
            gvk.version = f.opt_string(obj, "version", &of)?.unwrap_or_default();
        }
        let fieldref = f.map(m.get("fieldref").unwrap_or(&Value::Null), &format!("{field}.fieldref"))?;
        k.vars.push(VarSpec {
            name: f.opt_string(m, "name", &field)?.ok_or_else(|| f.err(&field, "a var needs a `name`"))?,
            gvk,
            object: f.opt_string(obj, "name", &of)?.unwrap_or_default(),
            namespace: f.opt_string(obj, "namespace", &of)?.unwrap_or_default(),
            field_path: f
                .opt_string(fieldref, "fieldpath", &format!("{field}.fieldref"))?
                .unwrap_or_else(|| "metadata.name".into()),
        });
    }
    // Measured: kustomize only tests for the three known values; anything else is ignored.
    for opt in f.strings(get("buildMetadata"), "buildMetadata")? {
        match opt.as_str() {
            "originAnnotations" => k.origin_annotations = true,
            "managedByLabel" => k.managed_by_label = true,
            "transformerAnnotations" => k.transformer_annotations = true,
            _ => {}
        }
    }
    for (i, r) in f.list(get("replacements"), "replacements")?.iter().enumerate() {
        let field = format!("replacements[{i}]");
        let m = f.map(r, &field)?;
        let entry = match f.opt_string(m, "path", &field)? {
            Some(p) => ReplacementEntry::Path(p),
            None => ReplacementEntry::Inline(Box::new(replacement(&f, r, &field)?)),
        };
        k.replacements.push((field, entry));
    }
    if let Some(v) = top.get("sortOptions") {
        let m = f.map(v, "sortOptions")?;
        let order = f.opt_string(m, "order", "sortOptions")?.unwrap_or_default();
        let legacy = f.map(m.get("legacySortOptions").unwrap_or(&Value::Null), "sortOptions.legacySortOptions")?;
        let lists = |key: &str| -> Result<Option<Vec<String>>, Error> {
            legacy.get(key).map(|v| f.strings(v, &format!("sortOptions.legacySortOptions.{key}"))).transpose()
        };
        k.sort_options =
            Some(SortOptions { order, order_first: lists("orderFirst")?, order_last: lists("orderLast")? });
        if m.contains_key("legacySortOptions") && k.sort_options.as_ref().is_some_and(|s| s.order != "legacy") {
            return Err(f.err("sortOptions.legacySortOptions", "set but the selected sort order is not 'legacy'"));
        }
    }
    Ok(k)
}

fn k_push_patch(k: &mut Kustomization, key: &str, p: PatchSpec) {
    if key == "patches" { k.patches.push(p) } else { k.patches_json.push(p) }
}

fn gen_options(f: &Fields, v: &Value, field: &str) -> Result<GenOptions, Error> {
    let m = f.map(v, field)?;
    for key in m.keys() {
        if !["labels", "annotations", "disableNameSuffixHash", "immutable"].contains(&key.as_str()) {
            return Err(Error::Unsupported {
                file: f.file.to_path_buf(),
                field: format!("{field}.{key}"),
                reason: "unknown or unsupported generator option".into(),
            });
        }
    }
    Ok(GenOptions {
        labels: f.pairs(m.get("labels").unwrap_or(&Value::Null), &format!("{field}.labels"))?,
        annotations: f.pairs(m.get("annotations").unwrap_or(&Value::Null), &format!("{field}.annotations"))?,
        disable_hash: f.bool(m, "disableNameSuffixHash", field)?,
        immutable: f.bool(m, "immutable", field)?,
    })
}
