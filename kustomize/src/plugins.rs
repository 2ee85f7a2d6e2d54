//! Builtin plugin configurations listed under `generators:` and `transformers:`.
//!
//! kustomize loads every entry (an inline YAML document, a file, or a kustomization directory
//! whose output is the list of configurations) and runs each object as a plugin. Objects with
//! `apiVersion: builtin` select one of kustomize's own generators or transformers, configured
//! by the object's fields; nothing is executed. Each is turned here into a [`Step`] that the
//! build runs with the same code as the equivalent kustomization field. Exec, container and
//! function plugins are refused (kubectl does not enable them either).

use std::path::Path;

use crate::Error;
use crate::fields::{Fields, Obj, Selector, selector_obj};
use crate::fieldspec::FieldSpec;
use crate::kustomization::{GenOptions, GeneratorSpec, ImageSpec, Kustomization, PatchSpec, ReplacementEntry};
use crate::transform::replacements::replacement_of;
use crate::yaml::{Map, Value};

/// One builtin plugin, ready to run.
pub enum Step {
    /// Runs as a kustomization holding only the plugin's settings (patches, replacements,
    /// generators), in the directory of the kustomization that lists the plugin.
    Kustomization(Box<Kustomization>),
    /// Generated objects to add as they are (`IAMPolicyGenerator`).
    Objects(Vec<Map>),
    /// `LabelTransformer` (`annotations: false`) or `AnnotationsTransformer`.
    Pairs {
        /// The labels or annotations.
        pairs: Vec<(String, String)>,
        /// Where to write them.
        specs: Vec<FieldSpec>,
    },
    /// `PrefixSuffixTransformer`, `PrefixTransformer`, `SuffixTransformer`.
    PrefixSuffix {
        /// Prefix.
        prefix: String,
        /// Suffix.
        suffix: String,
        /// The fields (`metadata/name` renames the resource).
        specs: Vec<FieldSpec>,
    },
    /// `NamespaceTransformer`.
    Namespace {
        /// The namespace.
        namespace: String,
        /// Field specs besides `metadata/namespace` (which is always handled).
        specs: Vec<FieldSpec>,
    },
    /// `ImageTagTransformer`.
    Image {
        /// The image rule.
        image: ImageSpec,
        /// Field specs besides kustomize's walk over `containers` lists.
        specs: Vec<FieldSpec>,
    },
    /// `HashTransformer`: appends the content hash to the names of generated objects that
    /// take one, at this point (the build appends it again at the end, as kustomize does).
    Hash,
    /// `ReplicaCountTransformer`.
    Replicas {
        /// Name of the workload.
        name: String,
        /// The count.
        count: i128,
        /// Where the count goes.
        specs: Vec<FieldSpec>,
    },
}

/// Whether an entry of `generators`/`transformers` is an inline configuration rather than a
/// path: kustomize first tries to read the entry itself as objects.
pub fn is_inline(entry: &str) -> bool {
    matches!(crate::yaml::parse_documents(entry), Ok(docs) if docs.iter().any(|d| matches!(d, Value::Map(_))))
}

/// Reads one plugin configuration object. `field` names the entry (`transformers[1]`), `file`
/// the kustomization listing it; `generator` tells which list it came from.
pub fn parse(file: &Path, field: &str, obj: &Map, generator: bool) -> Result<Step, Error> {
    let f = Fields { file };
    let v = Value::Map(obj.clone());
    let o = Obj::new(&f, &v, field)?;
    let api_version = o.string("apiVersion")?.unwrap_or_default();
    let kind = o.string("kind")?.unwrap_or_default();
    let meta = o.obj("metadata")?;
    let name = meta.string("name")?.unwrap_or_default();
    let namespace = meta.string("namespace")?;
    for key in ["labels", "annotations"] {
        meta.get(key);
    }
    let unsupported = |reason: &str| Error::Unsupported {
        file: file.to_path_buf(),
        field: format!("{field}: {api_version} {kind} {name}"),
        reason: reason.to_string(),
    };
    if api_version != "builtin" {
        return Err(unsupported(
            "only builtin plugins (`apiVersion: builtin`) are run; exec, container and function plugins are not (kubectl does not enable them either)",
        ));
    }
    let mut k = Kustomization { file: file.to_path_buf(), ..Default::default() };
    let step = match (generator, kind.as_str()) {
        (true, "ConfigMapGenerator" | "SecretGenerator") => {
            let is_secret = kind == "SecretGenerator";
            let mut spec = GeneratorSpec {
                field: field.to_string(),
                name: o.string("name")?.filter(|n| !n.is_empty()).unwrap_or(name),
                namespace: o.string("namespace")?.filter(|n| !n.is_empty()).or(namespace),
                behavior: o.string("behavior")?,
                literals: o.strings("literals")?,
                files: o.strings("files")?,
                envs: o.strings("envs")?,
                secret_type: if is_secret { o.string("type")? } else { None },
                options: generator_options(&o.obj("options")?)?,
            };
            if let Some(env) = o.string("env")?.filter(|e| !e.is_empty()) {
                spec.envs.push(env);
            }
            if is_secret {
                k.secrets.push(spec)
            } else {
                k.config_maps.push(spec)
            }
            Step::Kustomization(Box::new(k))
        }
        (true, "IAMPolicyGenerator") => {
            let cloud = o.string("cloud")?.unwrap_or_default();
            if cloud != "gke" {
                return Err(o.err("cloud", format!("{cloud:?}: only gke is supported (as in kustomize)")));
            }
            let ks = o.obj("kubernetesService")?;
            let sa = o.obj("serviceAccount")?;
            let (ns, ksa) = (ks.string("namespace")?.unwrap_or_default(), ks.string("name")?.unwrap_or_default());
            let (gsa, project) = (sa.string("name")?.unwrap_or_default(), sa.string("projectId")?.unwrap_or_default());
            // kustomize's GKE template: a ServiceAccount annotated with the Google service account.
            let mut text = format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  annotations:\n    iam.gke.io/gcp-service-account: {}\n  name: {}\n",
                json_quote(&format!("{gsa}@{project}.iam.gserviceaccount.com")),
                json_quote(&ksa)
            );
            if !ns.is_empty() {
                text.push_str(&format!("  namespace: {}\n", json_quote(&ns)));
            }
            let obj = match crate::yaml::parse_one(&text) {
                Ok(Value::Map(m)) => m,
                _ => return Err(o.err("serviceAccount", "could not build the ServiceAccount")),
            };
            Step::Objects(vec![obj])
        }
        (false, "PatchTransformer") => {
            let (path, text) = match (o.string("path")?, o.string("patch")?) {
                (Some(p), None) => (Some(p), String::new()),
                (None, Some(t)) => (None, t),
                _ => return Err(o.err("patch", "exactly one of `patch` and `path` must be set")),
            };
            let target = o.get("target").map(|t| selector_obj(&f, t, &o.at("target"))).transpose()?;
            let opts = o.obj("options")?;
            let flag = |key: &str| matches!(opts.map().get(key), Some(Value::Bool(true)));
            k.patches.push(PatchSpec {
                field: field.to_string(),
                text,
                path,
                target,
                json6902: None,
                allow_name_change: flag("allowNameChange"),
                allow_kind_change: flag("allowKindChange"),
            });
            Step::Kustomization(Box::new(k))
        }
        (false, "PatchStrategicMergeTransformer") => {
            for p in o.strings("paths")? {
                k.patches_sm.push(sm_patch(field, Some(p), String::new()));
            }
            if let Some(text) = o.string("patches")? {
                k.patches_sm.push(sm_patch(field, None, text));
            }
            Step::Kustomization(Box::new(k))
        }
        (false, "PatchJson6902Transformer") => {
            let target = o.get("target").map(|t| selector_obj(&f, t, &o.at("target"))).transpose()?;
            let (path, text) = match (o.string("path")?, o.string("jsonOp")?) {
                (Some(p), None) => (Some(p), String::new()),
                (None, Some(t)) => (None, t),
                _ => return Err(o.err("jsonOp", "exactly one of `jsonOp` and `path` must be set")),
            };
            k.patches_json.push(PatchSpec {
                field: field.to_string(),
                text,
                path,
                target: Some(target.unwrap_or_else(Selector::default)),
                json6902: Some(true),
                allow_name_change: false,
                allow_kind_change: false,
            });
            Step::Kustomization(Box::new(k))
        }
        (false, "ReplacementTransformer") => {
            for (i, r) in o.list("replacements")?.iter().enumerate() {
                let rf = o.at(&format!("replacements[{i}]"));
                let ro = Obj::new(&f, r, &rf)?;
                let entry = match ro.string("path")? {
                    Some(p) => ReplacementEntry::Path(p),
                    None => ReplacementEntry::Inline(Box::new(replacement_of(&ro)?)),
                };
                ro.finish()?;
                k.replacements.push((rf, entry));
            }
            Step::Kustomization(Box::new(k))
        }
        (false, "LabelTransformer" | "AnnotationsTransformer") => {
            let key = if kind == "LabelTransformer" { "labels" } else { "annotations" };
            Step::Pairs { pairs: o.pairs(key)?, specs: field_specs(&o)? }
        }
        (false, "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer") => {
            let prefix = if kind != "SuffixTransformer" { o.string("prefix")? } else { None };
            let suffix = if kind != "PrefixTransformer" { o.string("suffix")? } else { None };
            Step::PrefixSuffix {
                prefix: prefix.unwrap_or_default(),
                suffix: suffix.unwrap_or_default(),
                specs: field_specs(&o)?,
            }
        }
        (false, "NamespaceTransformer") => {
            if o.bool("unsetOnly")? == Some(true) {
                return Err(unsupported("`unsetOnly` is not implemented"));
            }
            if o.string("setRoleBindingSubjects")?.is_some_and(|s| !s.is_empty() && s != "defaultOnly") {
                return Err(unsupported("`setRoleBindingSubjects` other than defaultOnly is not implemented"));
            }
            let specs = field_specs(&o)?.into_iter().filter(|s| s.segments() != ["metadata", "namespace"]).collect();
            Step::Namespace { namespace: namespace.unwrap_or_default(), specs }
        }
        (false, "ImageTagTransformer") => {
            let io = o.obj("imageTag")?;
            let image = ImageSpec {
                name: io.string("name")?.unwrap_or_default(),
                new_name: io.string("newName")?,
                new_tag: io.string("newTag")?,
                tag_suffix: io.string("tagSuffix")?,
                digest: io.string("digest")?,
            };
            Step::Image { image, specs: field_specs(&o)? }
        }
        (false, "HashTransformer") => Step::Hash,
        (false, "ReplicaCountTransformer") => {
            let ro = o.obj("replica")?;
            let (name, count) = (ro.string("name")?.unwrap_or_default(), ro.int("count")?.unwrap_or(0));
            Step::Replicas { name, count, specs: field_specs(&o)? }
        }
        _ => {
            let list = if generator { "generators" } else { "transformers" };
            return Err(unsupported(&format!("this builtin plugin is not implemented under `{list}`")));
        }
    };
    // kustomize configures builtin plugins with a lenient decoder: fields it does not know
    // are ignored (measured: `labels` directly under a ConfigMapGenerator, `name` in a field
    // spec). The engine ignores them too, with the same result; known fields are still matched
    // as Go matches them.
    Ok(step)
}

fn sm_patch(field: &str, path: Option<String>, text: String) -> PatchSpec {
    PatchSpec {
        field: field.to_string(),
        text,
        path,
        target: None,
        json6902: Some(false),
        allow_name_change: false,
        allow_kind_change: false,
    }
}

fn generator_options(o: &Obj) -> Result<GenOptions, Error> {
    Ok(GenOptions {
        labels: o.pairs("labels")?,
        annotations: o.pairs("annotations")?,
        disable_hash: o.bool("disableNameSuffixHash")?,
        immutable: o.bool("immutable")?,
    })
}

/// The plugin's `fieldSpecs` (kustomize's `types.FieldSpec`: group, version, kind, path, create).
fn field_specs(o: &Obj) -> Result<Vec<FieldSpec>, Error> {
    let mut out = Vec::new();
    for (i, s) in o.list("fieldSpecs")?.iter().enumerate() {
        let so = Obj::new(o.fields(), s, &o.at(&format!("fieldSpecs[{i}]")))?;
        let path = so.string("path")?.unwrap_or_default();
        out.push(
            FieldSpec::kind(&so.string("kind")?.unwrap_or_default(), &path, so.bool("create")?.unwrap_or(false))
                .group(&so.string("group")?.unwrap_or_default())
                .version(&so.string("version")?.unwrap_or_default()),
        );
    }
    Ok(out)
}

/// A JSON string literal (valid YAML flow scalar) for `s`.
fn json_quote(s: &str) -> String {
    let mut out = String::new();
    crate::hash::json_string(s, &mut out);
    out
}
