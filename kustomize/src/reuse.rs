//! Reuse of a directory's build within one build. Trees list one base under several overlays
//! (one per environment is the rule), and kustomize builds that base again for each of them;
//! the result depends only on the directory's files (and on the build's fixed options), so
//! a directory that will be asked for again keeps its first result, and later requests get a
//! copy (the last one takes the kept result itself).
//!
//! How often a directory will be asked for is counted before the build ([`prescan`]): every
//! kustomization reachable through `resources` and `components` is read once (and kept, so the
//! build does not read it again), and each directory listed under `resources` counts once per
//! kustomization that lists it. A wrong count only costs time (a directory built again, or a
//! result kept until the end), never output: a directory without a kept result is built.
//!
//! What could make a copy differ from a fresh build is covered: a fresh build of the directory
//! would detect a cycle through a directory that is now being built above it, so a copy is
//! only handed out when none of the directories the first build entered is on the current
//! stack (otherwise the directory is built again, and fails as kustomize does). Memory is
//! bounded by bytes: results are kept only while the kept ones together stay under
//! [`MAX_KEPT_BYTES`] (estimated from the text and keys they hold).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::kustomization::Kustomization;
use crate::loader::{PathKind, Resolved, is_remote, load_kustomization, lstat, resolve_with};
use crate::resource::Resource;
use crate::tconfig::TransformerConfig;
use crate::yaml::{Map, Value};

/// How many bytes of kept results (estimated: the text and keys they hold) one build keeps.
pub const MAX_KEPT_BYTES: usize = 32 << 20;

/// How many kustomization files the pre-scan reads (and keeps) at most; a larger tree is
/// counted in part, and the rest of it built as usual.
const MAX_SCANNED: usize = 100_000;

/// A directory's build: its resources and customized transformer configuration, every
/// directory its build entered (itself included), and how many requests are still expected.
struct Kept {
    resources: Vec<Resource>,
    tc: Option<TransformerConfig>,
    visited: HashSet<PathBuf>,
    bytes: usize,
    remaining: usize,
}

/// What the build's threads share: the pre-scan's findings and the kept results.
#[derive(Default)]
struct Shared {
    /// Kustomizations read by the pre-scan, by directory.
    parsed: HashMap<PathBuf, Kustomization>,
    /// How many kustomizations list each directory under `resources`.
    listed: HashMap<PathBuf, usize>,
    kept: HashMap<PathBuf, Kept>,
    kept_bytes: usize,
    /// What `lstat` said of each path [`resolve`] asked about.
    kinds: HashMap<PathBuf, PathKind>,
}

/// One thread's view: the build's shared state, and every directory this thread entered so
/// far, in order (a directory's build entered those added while it ran).
#[derive(Default)]
struct Local {
    shared: Arc<Mutex<Shared>>,
    entered: Vec<PathBuf>,
}

thread_local! {
    /// Each build runs on its own thread (see `build::build`); [`prescan`] starts afresh, and
    /// the build's worker threads [`join`] it.
    static STATE: RefCell<Local> = RefCell::new(Local::default());
}

/// The build's shared state, for a worker thread to [`join`].
#[derive(Clone)]
pub struct Handle(Arc<Mutex<Shared>>);

/// This thread's build, for [`join`].
pub fn handle() -> Handle {
    STATE.with_borrow(|s| Handle(s.shared.clone()))
}

/// Makes this (worker) thread share `handle`'s build, having entered nothing yet.
pub fn join(handle: Handle) {
    STATE.with_borrow_mut(|s| *s = Local { shared: handle.0, entered: Vec::new() });
}

/// What this thread entered since `since` (a [`mark`]), for the thread that waits for it to
/// [`record_entered`]: its own directories' builds entered those too.
pub fn entered_since(since: usize) -> Vec<PathBuf> {
    STATE.with_borrow(|s| s.entered.get(since..).unwrap_or_default().to_vec())
}

/// Notes directories a worker thread entered on this thread's behalf.
pub fn record_entered(dirs: Vec<PathBuf>) {
    STATE.with_borrow_mut(|s| s.entered.extend(dirs));
}

fn shared<T>(f: impl FnOnce(&mut Shared) -> T) -> T {
    f(&mut lock(&STATE.with_borrow(|s| s.shared.clone())))
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A worker that panicked cannot leave a wrong count behind, only a stale one (which costs
    // time, never output): the state stays usable.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forgets everything from an earlier build, then counts how often each directory under
/// `root` is listed (see the module documentation). Errors are left to the build: a
/// kustomization that cannot be read is not followed.
pub fn prescan(root: &Path) {
    // Installed first: the pre-scan's threads fill its `lstat` memo.
    STATE.with_borrow_mut(|s| *s = Local::default());
    let mut parsed = HashMap::new();
    let mut listed: HashMap<PathBuf, usize> = HashMap::new();
    // Level by level, so each level's kustomizations can be read on several threads.
    let mut level = vec![root.to_path_buf()];
    let mut seen: HashSet<PathBuf> = level.iter().cloned().collect();
    while !level.is_empty() && parsed.len() < MAX_SCANNED {
        level.truncate(MAX_SCANNED - parsed.len());
        // Reading one kustomization costs more than starting a thread, so two are enough.
        let scanned = crate::parallel::map(&level, 2, |dir| scan(dir));
        let mut next = Vec::new();
        for (dir, scanned) in level.into_iter().zip(scanned) {
            let Some(Some((k, subs))) = scanned else { continue };
            for (sub, counted) in subs {
                if counted {
                    *listed.entry(sub.clone()).or_default() += 1;
                }
                if seen.insert(sub.clone()) {
                    next.push(sub);
                }
            }
            parsed.insert(dir, k);
        }
        level = next;
    }
    shared(|s| (s.parsed, s.listed) = (parsed, listed));
}

/// [`loader::resolve`](crate::loader::resolve), remembering within the build what `lstat` said
/// of each path: a tree's overlays name the same directories over and over, the pre-scan and
/// the build resolve the same entries, and each `lstat` walks the whole path.
pub fn resolve(dir: &Path, entry: &str) -> Result<Option<Resolved>, crate::Error> {
    let state = STATE.with_borrow(|s| s.shared.clone());
    resolve_with(dir, entry, &mut |path| {
        if let Some(kind) = lock(&state).kinds.get(path) {
            return *kind;
        }
        let kind = lstat(path);
        lock(&state).kinds.insert(path.to_path_buf(), kind);
        kind
    })
}

/// The local directory `entry` (of the kustomization in `dir`) names, if it names one; errors
/// and anything else are left to the build, which reports them where kustomize does.
pub fn listed_directory(dir: &Path, entry: &str) -> Option<PathBuf> {
    if is_remote(entry) {
        return None;
    }
    match resolve(dir, entry) {
        Ok(Some(Resolved { path, is_dir: true })) => Some(path),
        _ => None,
    }
}

/// The kustomization of `dir` and the directories it lists, each with whether it is listed
/// under `resources` (counted) rather than `components`; `None` when it cannot be read.
fn scan(dir: &Path) -> Option<(Kustomization, Vec<(PathBuf, bool)>)> {
    let k = load_kustomization(dir).ok()?;
    let listed = k
        .resources
        .iter()
        .map(|e| (e, true))
        .chain(k.components.iter().map(|e| (e, false)))
        .filter_map(|(entry, counted)| Some((listed_directory(dir, entry)?, counted)))
        .collect();
    Some((k, listed))
}

/// The kustomization of `dir` as the pre-scan read it, if it did and no one took it yet (a
/// directory built twice reads its file again the second time).
pub fn kustomization(dir: &Path) -> Option<Kustomization> {
    shared(|s| s.parsed.remove(dir))
}

/// Notes that the build enters `dir`.
pub fn enter(dir: &Path) {
    STATE.with_borrow_mut(|s| s.entered.push(dir.to_path_buf()));
}

/// A mark to pass to [`keep`] after building a directory: the directories entered from here on.
pub fn mark() -> usize {
    STATE.with_borrow(|s| s.entered.len())
}

/// `dir`'s earlier build, unless building it now would enter a directory of `stack`: a copy,
/// or the kept result itself on the last expected request. `None` when nothing is kept (the
/// directory is built). The transformer configuration is `Some` only when it was customized.
pub fn take(dir: &Path, stack: &[PathBuf]) -> Option<(Vec<Resource>, Option<TransformerConfig>)> {
    shared(|s| {
        let k = s.kept.get_mut(dir)?;
        if stack.iter().any(|d| k.visited.contains(d)) {
            return None;
        }
        k.remaining = k.remaining.saturating_sub(1);
        if k.remaining > 0 {
            return Some((k.resources.clone(), k.tc.clone()));
        }
        let k = s.kept.remove(dir)?;
        s.kept_bytes -= k.bytes;
        Some((k.resources, k.tc))
    })
}

/// Keeps a copy of `dir`'s build (its resources and customized configuration) when more
/// requests for it are expected and the byte budget allows; `since` is the [`mark`] taken
/// before the build started.
pub fn keep(dir: &Path, since: usize, resources: &[Resource], tc: Option<&TransformerConfig>) {
    let remaining = shared(|s| {
        let remaining = s.listed.get(dir).copied().unwrap_or(0).saturating_sub(1);
        if s.kept.contains_key(dir) { 0 } else { remaining }
    });
    let bytes: usize = match remaining {
        0 => return,
        _ => resources.iter().map(|r| map_bytes(&r.obj)).sum(),
    };
    if shared(|s| s.kept_bytes.saturating_add(bytes) > MAX_KEPT_BYTES) {
        return;
    }
    let visited = STATE.with_borrow(|s| s.entered[since.min(s.entered.len())..].iter().cloned().collect());
    // Copied outside the lock, so other threads do not wait for it.
    let kept = Kept { resources: resources.to_vec(), tc: tc.cloned(), visited, bytes, remaining };
    shared(|s| {
        // Another thread may have kept its build of `dir` meanwhile; the first one stays.
        if s.kept.contains_key(dir) || s.kept_bytes.saturating_add(bytes) > MAX_KEPT_BYTES {
            return;
        }
        s.kept_bytes += bytes;
        s.kept.insert(dir.to_path_buf(), kept);
    });
}

/// Roughly the heap bytes of a value: its text and keys, plus a few words per node.
fn value_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => 32 + s.len(),
        Value::Seq(items) => 32 + items.iter().map(value_bytes).sum::<usize>(),
        Value::Map(m) => map_bytes(m),
        _ => 32,
    }
}

fn map_bytes(m: &Map) -> usize {
    64 + m.iter().map(|(k, v)| 40 + k.len() + value_bytes(v)).sum::<usize>()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;
    use std::path::Path;

    /// Writes `text` to `root/file`, creating its directories (also used by `parallel`'s tests).
    pub(crate) fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A base with a generator, a second-level base and a transformer configuration, under
    /// three overlays; `copies` gives each overlay its own copy of the bases instead.
    fn tree(root: &Path, copies: bool) {
        for (i, env) in ["dev", "prod", "test"].iter().enumerate() {
            let base = if copies { format!("base-{env}") } else { "base".to_string() };
            let common = if copies { format!("common-{env}") } else { "common".to_string() };
            write(
                root,
                &format!("{env}/kustomization.yaml"),
                &format!(
                    "resources:\n- ../{base}\nnamePrefix: {env}-\nnamespace: {env}\ncommonLabels:\n  env: {env}\nreplicas:\n- name: web\n  count: {i}\n"
                ),
            );
            if i == 0 || copies {
                write(
                    root,
                    &format!("{base}/kustomization.yaml"),
                    &format!(
                        "resources:\n- ../{common}\n- deploy.yaml\nconfigurations:\n- conf.yaml\nconfigMapGenerator:\n- name: web\n  literals:\n  - A=1\n"
                    ),
                );
                write(root, &format!("{base}/conf.yaml"), "commonLabels:\n- path: spec/extra\n  create: true\n");
                write(
                    root,
                    &format!("{base}/deploy.yaml"),
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        envFrom:\n        - configMapRef:\n            name: web\n",
                );
                write(root, &format!("{common}/kustomization.yaml"), "resources:\n- sa.yaml\n");
                write(
                    root,
                    &format!("{common}/sa.yaml"),
                    "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n",
                );
            }
        }
        write(root, "kustomization.yaml", "resources:\n- dev\n- prod\n- test\n");
    }

    #[test]
    fn a_shared_base_builds_as_separate_copies_do() {
        let shared = tempfile::tempdir().unwrap();
        let copied = tempfile::tempdir().unwrap();
        tree(shared.path(), false);
        tree(copied.path(), true);
        let a = crate::build(shared.path()).unwrap();
        let b = crate::build(copied.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.matches("kind: Deployment").count(), 3, "{a}");
        // The configured path has no kind filter: ServiceAccount, ConfigMap and Deployment of each
        // of the three overlays get it (9, checked with kubectl kustomize on the shared tree).
        assert_eq!(a.matches("extra:").count(), 9, "the base's configuration reaches every overlay: {a}");
    }

    #[test]
    fn cycles_through_a_listed_directory_are_still_errors() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "kustomization.yaml", "resources:\n- a\n- b\n");
        write(t.path(), "a/kustomization.yaml", "resources:\n- ../b\n");
        write(t.path(), "b/kustomization.yaml", "resources:\n- ../a\n");
        let err = crate::build(t.path()).unwrap_err();
        assert!(matches!(err, crate::Error::Cycle { .. }), "{err}");
    }
}
