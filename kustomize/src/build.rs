//! The build: load a kustomization tree, run generators and transformers bottom-up, then
//! hash suffixes, name references and ordering at the top, and print.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::build_annotations;
use crate::kustomization::Kustomization;
use crate::loader::{Resolved, canonical, is_remote, load_kustomization, read};
use crate::resid::{Gvk, ResId};
use crate::resource::{ConfiguredBy, Origin, Resource};
use crate::reuse::resolve;
use crate::tconfig::TransformerConfig;
use crate::yaml::resolve::resolve_plain_v3;
use crate::yaml::{Value, parse_documents};
use crate::{Error, generator, hash, nameref, plugins, sort, transform};

/// A directory's transformer configuration: the built-in one, borrowed until `configurations`
/// or `crds` customize it.
type Config = Cow<'static, TransformerConfig>;

/// Stack of the build thread. Every pass recurses over value trees, which the YAML reader
/// bounds to [`crate::yaml::parse::MAX_DEPTH`] levels; this leaves room for that depth in any
/// pass, in debug builds too (a test thread's default 2 MiB does not). Only touched pages are
/// committed, so the cost is address space.
pub(crate) const BUILD_STACK: usize = 64 << 20;

/// Builds the kustomization in `dir` and returns what `kubectl kustomize DIR` prints.
///
/// The build runs on its own thread with a [`BUILD_STACK`]-sized stack, so hostile nesting
/// (up to the reader's depth limit) cannot overflow the caller's stack; wide lists of
/// directories are built on more threads (see [`crate::parallel`]).
pub fn build(dir: &Path) -> Result<String, Error> {
    build_on_threads(dir, None, crate::parallel::available())
}

/// [`build`] with a [`SourceHook`](crate::source_hook::SourceHook) over generator sources.
pub fn build_with_hook(dir: &Path, hook: std::sync::Arc<dyn crate::source_hook::SourceHook>) -> Result<String, Error> {
    build_on_threads(dir, Some(hook), crate::parallel::available())
}

/// [`build`] on at most `threads` threads.
pub(crate) fn build_on_threads(
    dir: &Path,
    hook: Option<std::sync::Arc<dyn crate::source_hook::SourceHook>>,
    threads: usize,
) -> Result<String, Error> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("kustomize-build".into())
            .stack_size(BUILD_STACK)
            .spawn_scoped(s, || {
                crate::parallel::allow_on_this_thread(threads);
                crate::source_hook::with_hook(hook, || build_on_this_thread(dir))
            })
            .map_err(|source| Error::Io { path: dir.to_path_buf(), source })?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn build_on_this_thread(dir: &Path) -> Result<String, Error> {
    let root = canonical(dir)?;
    crate::reuse::prescan(&root);
    let mut resources = Vec::new();
    let mut stack = Vec::new();
    let mut tc: Config = Cow::Borrowed(TransformerConfig::built_in());
    let k = accumulate(&root, &mut resources, &mut stack, Kind::Top, &mut tc, Record::default())?;
    add_hash_suffixes(&mut resources);
    nameref::fix(&mut resources, &tc.name_references).map_err(|message| Error::Transform {
        file: k.file.clone(),
        field: "name references".into(),
        message,
    })?;
    transform::vars::resolve(&mut resources, &tc.var_references).map_err(|message| Error::Transform {
        file: k.file.clone(),
        field: "vars".into(),
        message,
    })?;
    // Objects marked as local configuration (read by replacements and the like) are not output.
    resources.retain(|r| {
        r.meta_map("annotations").and_then(|a| a.get("config.kubernetes.io/local-config")).and_then(Value::as_str)
            != Some("true")
    });
    sort::sort(&mut resources, k.sort_options.as_ref()).map_err(|message| Error::InvalidField {
        file: k.file.clone(),
        field: "sortOptions".into(),
        message,
    })?;
    // Per object too; each piece stops at its first error, so the first piece's error is the
    // one a single pass would have met first.
    let finalized = crate::parallel::chunks_mut(&mut resources, |piece| {
        piece.iter_mut().try_for_each(|r| {
            build_annotations::build_metadata(&k, &root, r)?;
            finalize(r, &k.file)
        })
    });
    finalized.into_iter().collect::<Result<(), Error>>()?;
    // Pieces of the list are printed on the build's threads, each object dropped once printed.
    let mut objects: Vec<Value> = resources.into_iter().map(|r| Value::Map(r.obj)).collect();
    let printed = crate::parallel::chunks_mut(&mut objects, |piece| {
        let mut out = String::new();
        for (i, obj) in piece.iter_mut().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            crate::yaml::emit::append_to(&std::mem::replace(obj, Value::Null), &mut out);
        }
        out
    });
    Ok(printed.join("---\n"))
}

/// Appends the content-hash suffix to the name of every object that needs one. Each suffix
/// depends on its object alone, so pieces of a long list run on the build's threads.
fn add_hash_suffixes(resources: &mut [Resource]) {
    crate::parallel::chunks_mut(resources, |piece| {
        for r in piece.iter_mut().filter(|r| r.needs_hash) {
            let name = format!("{}-{}", r.name(), hash::suffix(&r.obj));
            r.set_name(name);
        }
    });
}

/// kustomize rebuilds `metadata.annotations` before printing: an empty or null map disappears,
/// and keys lose their quoting, so a key that reads as a number, bool, null or timestamp makes
/// the JSON encoding (and kubectl) fail.
fn finalize(r: &mut Resource, file: &Path) -> Result<(), Error> {
    let id = r.cur_id();
    let Some(Value::Map(md)) = r.obj.get_mut("metadata") else {
        return Ok(());
    };
    match md.get("annotations") {
        Some(Value::Null | Value::Blank) => {
            md.shift_remove("annotations");
        }
        Some(Value::Map(a)) if a.is_empty() => {
            md.shift_remove("annotations");
        }
        Some(Value::Map(a)) => {
            if let Some(key) = a.keys().find(|k| !matches!(resolve_plain_v3(k), Value::String(_))) {
                return Err(Error::InvalidResource {
                    file: file.to_path_buf(),
                    message: format!(
                        "annotation key {key:?} of {} reads as a non-string once kustomize rewrites annotations; kustomize fails on it too",
                        id
                    ),
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether kustomize tracks build annotations: it does whenever the top-level `buildMetadata`
/// (which overrides every nested kustomization's) has any option, keeping origins and noting
/// every built-in transformer run on every resource, and strips what was not asked for at the
/// end (measured: with `originAnnotations` alone, a transformer still claims an origin a patch
/// removed).
#[derive(Clone, Copy, Default)]
struct Record {
    origins: bool,
}

impl Record {
    fn of(k: &Kustomization) -> Record {
        Record { origins: k.origin_annotations || k.managed_by_label || k.transformer_annotations }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Top,
    Resource,
    Component,
}

fn accumulate(
    dir: &Path,
    resources: &mut Vec<Resource>,
    stack: &mut Vec<PathBuf>,
    kind: Kind,
    tc: &mut Config,
    record: Record,
) -> Result<Kustomization, Error> {
    if let Some(pos) = stack.iter().position(|d| d == dir) {
        let chain: Vec<String> =
            stack[pos..].iter().chain(std::iter::once(&dir.to_path_buf())).map(|p| p.display().to_string()).collect();
        return Err(Error::Cycle { chain: chain.join(" -> ") });
    }
    crate::reuse::enter(dir);
    let k = match crate::reuse::kustomization(dir) {
        Some(k) => k,
        None => load_kustomization(dir)?,
    };
    match (kind, k.is_component) {
        (Kind::Component, false) => {
            return Err(Error::InvalidField {
                file: k.file.clone(),
                field: "kind".into(),
                message: "listed under `components`, so it must be `kind: Component`".into(),
            });
        }
        (Kind::Resource, true) => {
            return Err(Error::InvalidField {
                file: k.file.clone(),
                field: "kind".into(),
                message: "a Component must be listed under `components`, not `resources`".into(),
            });
        }
        _ => {}
    }
    // Measured: kustomize overwrites every nested kustomization's `buildMetadata` with the
    // top-level one, so only the top level's counts.
    let record = if kind == Kind::Top { Record::of(&k) } else { record };
    stack.push(dir.to_path_buf());
    let mut seen: HashSet<IdKey> = resources.iter().map(|r| id_key(r.cur_id())).collect();
    // Wide lists of directories are built on several threads first; the loop below takes
    // their results in list order, as it would have built them.
    let mut prebuilt =
        crate::parallel::prebuild(dir, &k.resources, stack, |path, stack| build_dir(path, stack, record));
    // Room for what the prebuilt directories add, so the lists grow once.
    let incoming: usize =
        prebuilt.iter().flatten().filter_map(|built| built.as_ref().ok()).map(|(sub, _)| sub.len()).sum();
    resources.reserve(incoming);
    seen.reserve(incoming);
    // kustomize merges the vars of each accumulated directory into one set and fails on a name
    // it has already seen.
    let mut known: HashSet<String> = resources.iter().flat_map(|r| &r.ref_vars).map(|v| v.name.clone()).collect();
    for (i, entry) in k.resources.iter().enumerate() {
        let mut loaded = match prebuilt.get_mut(i).and_then(Option::take) {
            Some(built) => merged(built?, Some(&mut *tc)),
            None => load_entry(&k, dir, "resources", entry, stack, record, Some(&mut *tc))?,
        };
        if let Some(v) = loaded.iter().flat_map(|r| &r.ref_vars).find(|v| known.contains(&v.name)) {
            return Err(Error::Transform {
                file: k.file.clone(),
                field: format!("resources: {entry}"),
                message: format!("var '{}' already encountered", v.name),
            });
        }
        known.extend(loaded.iter().flat_map(|r| &r.ref_vars).map(|v| v.name.clone()));
        // The ids of a long list are worked out on the build's threads; the set takes them in order.
        let keys = crate::parallel::chunks_mut(&mut loaded, |piece| {
            piece.iter().map(|r| id_key(r.cur_id())).collect::<Vec<_>>()
        });
        for (r, key) in loaded.into_iter().zip(keys.into_iter().flatten()) {
            append(resources, &mut seen, r, key, &k.file)?;
        }
    }
    for entry in &k.configurations {
        let path = crate::loader::restricted_file(&k, dir, "configurations", entry)?;
        tc.to_mut().merge(&TransformerConfig::from_file(&path, &read(&path)?)?);
    }
    for entry in &k.crds {
        let path = crate::loader::restricted_file(&k, dir, "crds", entry)?;
        tc.to_mut().merge(&crate::crds::load(&path, &read(&path)?)?);
    }
    // Measured: a kustomization's own generators run before its components, so components can
    // merge into (and transform) what the parent generates.
    generator::run(&k, dir, resources)?;
    for (step, by) in plugin_steps(&k, dir, &k.generators, "generators", stack, record)? {
        run_step(&k, dir, step, resources, tc, record, by, true)?;
    }
    for entry in &k.components {
        let component = if is_remote(entry) { None } else { resolve(dir, entry)?.filter(|r| r.is_dir) };
        let Some(component) = component else {
            return Err(Error::Missing { file: k.file.clone(), field: "components".into(), entry: entry.clone() });
        };
        accumulate(&component.path, resources, stack, Kind::Component, tc, record)?;
    }
    transform::run_fields(&k, dir, resources, tc, record.origins)?;
    for (step, by) in plugin_steps(&k, dir, &k.transformers, "transformers", stack, record)? {
        run_step(&k, dir, step, resources, tc, record, by, false)?;
    }
    if let Some(entry) = k.validators.first() {
        return Err(Error::Unsupported {
            file: k.file.clone(),
            field: format!("validators: {entry}"),
            reason:
                "validator plugins are not run (kustomize has no builtin validators; kubectl does not enable others)"
                    .into(),
        });
    }
    transform::vars::bind(resources, &k.vars).map_err(|message| Error::Transform {
        file: k.file.clone(),
        field: "vars".into(),
        message,
    })?;
    stack.pop();
    Ok(k)
}

/// Loads the objects one entry of `resources` (or of `generators`/`transformers`) names: a
/// file under `dir`, or a kustomization directory built on its own. `tc`, when given, receives
/// the directory's transformer configuration.
#[allow(clippy::too_many_arguments)]
fn load_entry(
    k: &Kustomization,
    dir: &Path,
    field: &str,
    entry: &str,
    stack: &mut Vec<PathBuf>,
    record: Record,
    tc: Option<&mut Config>,
) -> Result<Vec<Resource>, Error> {
    if is_remote(entry) {
        return Err(Error::Unsupported {
            file: k.file.clone(),
            field: format!("{field}: {entry}"),
            reason: "remote resources are not fetched; vendor them into the repository".into(),
        });
    }
    let Some(Resolved { path, is_dir }) = resolve(dir, entry)? else {
        return Err(Error::Missing { file: k.file.clone(), field: field.into(), entry: entry.to_string() });
    };
    if is_dir {
        return Ok(merged(build_dir(&path, stack, record)?, tc));
    }
    if !path.starts_with(dir) {
        return Err(Error::OutsideRoot {
            file: k.file.clone(),
            field: field.into(),
            entry: entry.to_string(),
            root: dir.to_path_buf(),
        });
    }
    crate::loader::load_resources(&path)
}

/// Builds a directory listed under `resources`: its objects, and its transformer
/// configuration when customized (merging an uncustomized one would change nothing).
fn build_dir(path: &Path, stack: &mut Vec<PathBuf>, record: Record) -> crate::parallel::Built {
    // A directory listed again (a base under several overlays) is built once.
    if let Some(kept) = crate::reuse::take(path, stack) {
        return Ok(kept);
    }
    let mut sub = Vec::new();
    let mut sub_tc: Config = Cow::Borrowed(TransformerConfig::built_in());
    let mark = crate::reuse::mark();
    accumulate(path, &mut sub, stack, Kind::Resource, &mut sub_tc, record)?;
    let sub_tc = sub_tc.customized.then(|| sub_tc.into_owned());
    crate::reuse::keep(path, mark, &sub, sub_tc.as_ref());
    Ok((sub, sub_tc))
}

/// A directory's objects, its customized transformer configuration merged into `tc`.
fn merged((sub, sub_tc): (Vec<Resource>, Option<TransformerConfig>), tc: Option<&mut Config>) -> Vec<Resource> {
    if let (Some(tc), Some(sub_tc)) = (tc, sub_tc) {
        tc.to_mut().merge(&sub_tc);
    }
    sub
}

/// The builtin plugins configured by `generators` or `transformers` entries, in order, each
/// with how build annotations name it when they are kept.
fn plugin_steps(
    k: &Kustomization,
    dir: &Path,
    entries: &[String],
    field: &str,
    stack: &mut Vec<PathBuf>,
    record: Record,
) -> Result<Vec<(plugins::Step, Option<ConfiguredBy>)>, Error> {
    let mut steps = Vec::new();
    // kustomize reads the inline configurations first and then the files and directories
    // (`configureExternalGenerators`/`Transformers`), so inline plugins run first whatever the
    // order of the list (measured).
    let (inline, paths): (Vec<_>, Vec<_>) = entries.iter().enumerate().partition(|(_, e)| plugins::is_inline(e));
    for (i, entry) in inline.into_iter().chain(paths) {
        let ef = format!("{field}[{i}]");
        // kustomize's origin of an inline configuration is the kustomization file; of one read
        // from a file, that file (`OriginFromCustomPlugin` takes the configuration's `path`).
        let objs: Vec<(crate::yaml::Map, Origin)> = if plugins::is_inline(entry) {
            parse_documents(entry)
                .map_err(|e| Error::Yaml { path: k.file.clone(), message: format!("{ef}: {}", e.0) })?
                .into_iter()
                .filter_map(|d| match d {
                    Value::Map(m) => Some((m, Origin::File(k.file.clone()))),
                    _ => None,
                })
                .collect()
        } else {
            load_entry(k, dir, field, entry, stack, record, None)?.into_iter().map(|r| (r.obj, r.origin)).collect()
        };
        for (obj, origin) in &objs {
            let step = plugins::parse(&k.file, &ef, obj, field == "generators")?;
            let by = match origin {
                _ if !record.origins => None,
                Origin::File(file) => {
                    let text = |path: &[&str]| {
                        path.iter()
                            .try_fold(&Value::Map(obj.clone()), |v, p| v.get(p))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    Some(ConfiguredBy {
                        file: file.clone(),
                        kind: text(&["kind"]),
                        name: text(&["metadata", "name"]),
                        namespace: text(&["metadata", "namespace"]),
                    })
                }
                _ => {
                    return Err(Error::Unsupported {
                        file: k.file.clone(),
                        field: ef,
                        reason: "build annotations (`buildMetadata`) for plugin configurations that are themselves generated are not implemented".into(),
                    });
                }
            };
            steps.push((step, by));
        }
    }
    Ok(steps)
}

/// Runs one builtin plugin over the resources of the kustomization `k` that configured it.
/// `by` (set when build annotations are kept) names the plugin: the origin of what a generator
/// makes, noted once on every resource after a transformer (kustomize's multiTransformer).
#[allow(clippy::too_many_arguments)]
fn run_step(
    k: &Kustomization,
    dir: &Path,
    step: plugins::Step,
    resources: &mut Vec<Resource>,
    tc: &TransformerConfig,
    record: Record,
    by: Option<ConfiguredBy>,
    generator: bool,
) -> Result<(), Error> {
    run_plugin(k, dir, step, resources, tc, record, by.as_ref())?;
    if let Some(by) = by.filter(|_| !generator) {
        build_annotations::note(resources, &by);
    }
    Ok(())
}

fn run_plugin(
    k: &Kustomization,
    dir: &Path,
    step: plugins::Step,
    resources: &mut Vec<Resource>,
    tc: &TransformerConfig,
    record: Record,
    by: Option<&ConfiguredBy>,
) -> Result<(), Error> {
    let fail = |field: &str| {
        let file = k.file.clone();
        let field = field.to_string();
        move |message: String| Error::Transform { file, field, message }
    };
    match step {
        plugins::Step::Kustomization(mut sub) => {
            sub.configured_by = by.cloned();
            generator::run(&sub, dir, resources)?;
            transform::run_fields(&sub, dir, resources, tc, record.origins)
        }
        plugins::Step::Objects(objs) => {
            let mut seen: HashSet<IdKey> = resources.iter().map(|r| id_key(r.cur_id())).collect();
            for obj in objs {
                let mut r = Resource::new(obj, k.file.clone())?;
                if let Some(by) = by {
                    r.origin = Origin::Generator(by.clone());
                }
                let key = id_key(r.cur_id());
                append(resources, &mut seen, r, key, &k.file)?;
            }
            Ok(())
        }
        plugins::Step::Pairs { pairs, specs } => {
            transform::meta::add_pairs(resources, &pairs, &specs).map_err(fail("transformers"))
        }
        plugins::Step::PrefixSuffix { prefix, suffix, specs } => {
            transform::meta::prefix_suffix_fields(resources, &prefix, &suffix, &specs);
            Ok(())
        }
        plugins::Step::Namespace { namespace, specs } => {
            transform::meta::namespace(resources, &namespace, &specs);
            Ok(())
        }
        plugins::Step::Image { image, specs } => {
            transform::images::apply(resources, &image, &specs).map_err(fail("transformers"))
        }
        plugins::Step::Hash => {
            // kustomize's HashTransformer renames and leaves the object needing its suffix, so
            // the final hashing appends a second one (measured: `name-<h>-<h>`).
            add_hash_suffixes(resources);
            Ok(())
        }
        plugins::Step::Replicas { name, count, specs } => {
            transform::replicas::apply(resources, &name, count, &specs).map_err(fail("transformers"))
        }
    }
}

/// The identity `append` compares: group, version, kind, name and effective namespace.
type IdKey = (Gvk, String, String);

fn id_key(id: ResId) -> IdKey {
    let namespace = id.effective_namespace().to_string();
    (id.gvk, id.name, namespace)
}

/// Adds a resource whose id key is `key`, refusing a second one with the same id (`seen` holds
/// the ids present).
fn append(
    resources: &mut Vec<Resource>,
    seen: &mut HashSet<IdKey>,
    r: Resource,
    key: IdKey,
    file: &Path,
) -> Result<(), Error> {
    if !seen.insert(key) {
        return Err(Error::DuplicateId { file: file.to_path_buf(), id: r.cur_id().to_string() });
    }
    resources.push(r);
    Ok(())
}
