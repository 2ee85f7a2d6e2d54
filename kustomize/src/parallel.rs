//! Building the directories one kustomization lists on several threads.
//!
//! A tree's width is in its lists: an environment lists every service's overlay, and each
//! overlay's build is independent of its siblings'. When a kustomization lists at least
//! [`MIN_DIRECTORIES`] directories, their builds are shared out to worker threads (each takes
//! the next unbuilt one), and the caller then uses the results in list order exactly as if it
//! had built each in turn: the same objects, the same first error. What the builds share (the
//! pre-scan's kustomizations, kept results of bases listed several times) goes through
//! [`crate::reuse`]'s shared state; a copy and a fresh build are equal, so which thread builds
//! a base first changes no output.
//!
//! The same threads read each level of the pre-scan ([`map`]) and run passes that treat each
//! object on its own over pieces of long lists ([`chunks_mut`]). Only the build thread shares
//! work out and workers do not nest: the lists worth splitting are the wide ones, and a bound
//! on threads keeps memory bounded.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::resource::Resource;
use crate::tconfig::TransformerConfig;
use crate::{Error, reuse, source_hook};

/// Fewest directories a list must hold for their builds to be shared out: below it, starting
/// threads costs more than it saves.
pub const MIN_DIRECTORIES: usize = 8;

/// Most threads one build uses (its own included).
pub const MAX_THREADS: usize = 4;

/// A directory's build: its objects and, when customized, its transformer configuration.
pub type Built = Result<(Vec<Resource>, Option<TransformerConfig>), Error>;

thread_local! {
    /// How many threads this thread may spread a list over: set on the build thread, 1 (no
    /// sharing) everywhere else, worker threads included.
    static THREADS: Cell<usize> = const { Cell::new(1) };
}

/// How many threads a build may use: up to [`MAX_THREADS`], fewer when the process may use
/// fewer CPUs (`available_parallelism` reads cgroup quotas).
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}

/// Lets this (build) thread share lists out over `threads` threads (1: none).
pub fn allow_on_this_thread(threads: usize) {
    THREADS.set(threads.max(1));
}

/// Builds the directories among `entries` (relative to `dir`) on worker threads when the list
/// is wide enough and this thread may: one slot per entry, `Some` for each directory built.
/// Other entries (files, remote or missing ones, all of them when the list is not shared out,
/// and those after the first failed one) are left to the caller, which reports their errors as
/// it reaches them. `build` builds one directory with the stack given.
pub fn prebuild(
    dir: &Path,
    entries: &[String],
    stack: &[PathBuf],
    build: impl Fn(&Path, &mut Vec<PathBuf>) -> Built + Sync,
) -> Vec<Option<Built>> {
    if THREADS.get() < 2 || entries.len() < MIN_DIRECTORIES {
        return Vec::new();
    }
    let dirs: Vec<(usize, PathBuf)> =
        entries.iter().enumerate().filter_map(|(i, entry)| Some((i, reuse::listed_directory(dir, entry)?))).collect();
    // The index of the first entry that failed so far: later ones are not built.
    let failed = AtomicUsize::new(usize::MAX);
    let built = map(&dirs, MIN_DIRECTORIES, |(i, path)| {
        if *i > failed.load(Ordering::Relaxed) {
            return None;
        }
        let built = build(path, &mut stack.to_vec());
        if built.is_err() {
            failed.fetch_min(*i, Ordering::Relaxed);
        }
        Some(built)
    });
    let mut slots: Vec<Option<Built>> = (0..entries.len()).map(|_| None).collect();
    for ((i, _), built) in dirs.iter().zip(built) {
        slots[*i] = built.flatten();
    }
    slots
}

/// `items.iter().map(f)`, on up to this thread's allowance of threads (each taking
/// the next item) when there are at least `min_items` items. Workers share this thread's build
/// state and source hook, run with the build's stack size, and do not share out further.
/// Every slot is `Some` (each index is taken by exactly one thread, and all are joined); the
/// `Option` only spares callers an unreachable panic.
pub fn map<T: Sync, R: Send>(items: &[T], min_items: usize, f: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    let threads = THREADS.get().min(items.len());
    if threads < 2 || items.len() < min_items.max(2) {
        return items.iter().map(|item| Some(f(item))).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, f(item)));
        }
        done
    };
    let handle = reuse::handle();
    let hook = source_hook::current();
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads)
            .filter_map(|_| {
                let (handle, hook, work) = (handle.clone(), hook.clone(), &work);
                // A worker that cannot start leaves its share to the others.
                std::thread::Builder::new()
                    .name("kustomize-build".into())
                    .stack_size(crate::build::BUILD_STACK)
                    .spawn_scoped(s, move || {
                        reuse::join(handle);
                        source_hook::with_hook(hook, || (work(), reuse::entered_since(0)))
                    })
                    .ok()
            })
            .collect();
        for (i, r) in work() {
            slots[i] = Some(r);
        }
        for worker in workers {
            let (done, entered) = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // The directories a worker's builds entered, the caller's builds entered too.
            reuse::record_entered(entered);
            for (i, r) in done {
                slots[i] = Some(r);
            }
        }
    });
    slots
}

/// Fewest items a slice must hold for [`chunks_mut`] to split it: below it, starting threads
/// costs more than it saves.
pub const MIN_CHUNKED: usize = 512;

/// `f` over consecutive pieces of `items` (a few per thread of this thread's allowance, each
/// thread taking the next) when there are at least [`MIN_CHUNKED`] items, else over all of
/// them at once: the results in order. For passes that treat each item on its own (printing,
/// the label and annotation transformers), so the pieces' results combine as one pass over
/// the whole would have.
pub fn chunks_mut<T: Send, R: Send>(items: &mut [T], f: impl Fn(&mut [T]) -> R + Sync) -> Vec<R> {
    let threads = THREADS.get();
    if threads < 2 || items.len() < MIN_CHUNKED {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(threads * 4);
    let pieces: Vec<Mutex<&mut [T]>> = items.chunks_mut(size).map(Mutex::new).collect();
    let lock = |piece: &Mutex<&mut [T]>| f(&mut piece.lock().unwrap_or_else(PoisonError::into_inner));
    let done = map(&pieces, 2, lock);
    // `map` fills every slot; were one empty, its piece is done here rather than lost.
    done.into_iter().zip(&pieces).map(|(r, piece)| r.unwrap_or_else(|| lock(piece))).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::build::build_on_threads;
    use crate::reuse::tests::write;
    use crate::source_hook::{SourceHook, SourceKind};

    /// `services` services, each a base (a Deployment, a generated Secret from a file, a
    /// ConfigMap from literals) with an overlay per environment; each environment lists every
    /// overlay, so its list is wide enough to be shared out.
    fn wide_tree(root: &Path, services: usize) {
        let envs = ["dev", "prod", "test"];
        for env in envs {
            let list: String = (0..services).map(|i| format!("- ../../services/s{i}/{env}\n")).collect();
            write(
                root,
                &format!("envs/{env}/kustomization.yaml"),
                &format!("commonLabels:\n  env: {env}\nresources:\n{list}"),
            );
        }
        let envs_list: String = envs.iter().map(|e| format!("- envs/{e}\n")).collect();
        write(root, "kustomization.yaml", &format!("resources:\n{envs_list}"));
        for i in 0..services {
            let base = format!("services/s{i}/base");
            write(
                root,
                &format!("{base}/kustomization.yaml"),
                &format!(
                    "resources:\n- deploy.yaml\nsecretGenerator:\n- name: s{i}\n  files:\n  - token\nconfigMapGenerator:\n- name: s{i}\n  literals:\n  - N={i}\n"
                ),
            );
            write(root, &format!("{base}/token"), &format!("token-{i}\n"));
            write(
                root,
                &format!("{base}/deploy.yaml"),
                &format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: s{i}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: s{i}\n        envFrom:\n        - configMapRef:\n            name: s{i}\n        - secretRef:\n            name: s{i}\n"
                ),
            );
            for env in envs {
                write(
                    root,
                    &format!("services/s{i}/{env}/kustomization.yaml"),
                    &format!(
                        "resources:\n- ../base\nnamePrefix: {env}-\nnamespace: {env}\nimages:\n- name: s{i}\n  newTag: {env}\n"
                    ),
                );
            }
        }
    }

    #[test]
    fn a_wide_tree_builds_the_same_on_one_thread_and_on_several() {
        let t = tempfile::tempdir().unwrap();
        wide_tree(t.path(), 3 * super::MIN_DIRECTORIES);
        let one = build_on_threads(t.path(), None, 1).unwrap();
        for threads in [2, 3, super::MAX_THREADS] {
            assert_eq!(build_on_threads(t.path(), None, threads).unwrap(), one, "{threads} threads");
        }
        assert_eq!(one.matches("kind: Deployment").count(), 3 * 3 * super::MIN_DIRECTORIES);
        assert!(one.contains("name: dev-s23-"), "suffixed, prefixed names: {one}");
    }

    /// The first failing entry in list order is the one reported, whichever thread reached a
    /// later failing one first.
    #[test]
    fn the_first_failure_in_list_order_is_reported() {
        let t = tempfile::tempdir().unwrap();
        wide_tree(t.path(), 2 * super::MIN_DIRECTORIES);
        for broken in [3, 11] {
            write(t.path(), &format!("services/s{broken}/dev/kustomization.yaml"), "resources:\n- ../missing.yaml\n");
        }
        let one = build_on_threads(t.path(), None, 1).unwrap_err().to_string();
        assert!(one.contains("s3/dev"), "{one}");
        for _ in 0..5 {
            assert_eq!(build_on_threads(t.path(), None, 2).unwrap_err().to_string(), one);
        }
    }

    #[test]
    fn cycles_through_a_wide_list_are_still_errors() {
        let t = tempfile::tempdir().unwrap();
        wide_tree(t.path(), super::MIN_DIRECTORIES);
        write(t.path(), "services/s5/dev/kustomization.yaml", "resources:\n- ../../../envs/dev\n");
        let err = build_on_threads(t.path(), None, 2).unwrap_err();
        assert!(matches!(err, crate::Error::Cycle { .. }), "{err}");
        assert_eq!(err.to_string(), build_on_threads(t.path(), None, 1).unwrap_err().to_string());
    }

    /// Passes over pieces of a long list stop at the first error in list order: two objects
    /// of a list of 600 carry annotation keys kustomize fails on (quoted numbers), and the
    /// earlier one is reported on any number of threads.
    #[test]
    fn passes_over_pieces_report_the_first_error_in_list_order() {
        let t = tempfile::tempdir().unwrap();
        let objects: String = (0..600)
            .map(|i| {
                let annotations = match i {
                    130 => "  annotations:\n    \"130\": early\n",
                    530 => "  annotations:\n    \"530\": late\n",
                    _ => "",
                };
                format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n{annotations}")
            })
            .collect();
        write(t.path(), "objects.yaml", &objects);
        write(t.path(), "kustomization.yaml", "resources:\n- objects.yaml\ncommonLabels:\n  a: b\n");
        let one = build_on_threads(t.path(), None, 1).unwrap_err().to_string();
        assert!(one.contains("\"130\""), "{one}");
        for threads in [2, super::MAX_THREADS] {
            assert_eq!(build_on_threads(t.path(), None, threads).unwrap_err().to_string(), one);
        }
        // Without the two keys, the same list builds identically on one thread and on several.
        let clean = objects.replace("\"130\": early", "x: early").replace("\"530\": late", "y: late");
        write(t.path(), "objects.yaml", &clean);
        let one = build_on_threads(t.path(), None, 1).unwrap();
        assert_eq!(build_on_threads(t.path(), None, 2).unwrap(), one);
        assert_eq!(one.matches("kind: ConfigMap").count(), 600);
    }

    /// Ids of a long list are worked out over pieces and checked in order: a second object
    /// with an earlier one's id is refused, naming it, on one thread and on several.
    #[test]
    fn duplicate_ids_across_pieces_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let config_maps = |prefix: &str| -> String {
            (0..600)
                .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}{i}\n"))
                .collect()
        };
        write(t.path(), "a.yaml", &config_maps("a"));
        write(t.path(), "b.yaml", &config_maps("b").replace("name: b450\n", "name: a10\n"));
        write(t.path(), "kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n");
        let one = build_on_threads(t.path(), None, 1).unwrap_err().to_string();
        assert!(one.contains("a10"), "{one}");
        assert_eq!(build_on_threads(t.path(), None, 2).unwrap_err().to_string(), one);
    }

    /// Name references rewritten over pieces: 300 Pods refer to 300 ConfigMaps renamed by a
    /// prefix and a hash suffix; every reference follows, on one thread and on several.
    #[test]
    fn name_references_across_pieces_follow_renames() {
        let t = tempfile::tempdir().unwrap();
        let pods: String = (0..300)
            .map(|i| {
                format!(
                    "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  containers:\n  - name: c\n    envFrom:\n    - configMapRef:\n        name: c{}\n",
                    299 - i
                )
            })
            .collect();
        let generated: String = (0..300).map(|i| format!("- name: c{i}\n  literals:\n  - N={i}\n")).collect();
        write(t.path(), "pods.yaml", &pods);
        write(
            t.path(),
            "kustomization.yaml",
            &format!("namePrefix: x-\nresources:\n- pods.yaml\nconfigMapGenerator:\n{generated}"),
        );
        let one = build_on_threads(t.path(), None, 1).unwrap();
        assert_eq!(build_on_threads(t.path(), None, 2).unwrap(), one);
        let renamed = one.matches("name: x-c").count();
        // Each ConfigMap's own name and one reference to it, all with the hash suffix.
        assert_eq!(renamed, 600, "{one}");
        assert!(!one.contains("name: c299\n"), "a reference kept the old name");
    }

    /// Reverses secretGenerator file sources, so each Secret shows whether the hook ran.
    struct Reverse;

    impl SourceHook for Reverse {
        fn source(&self, _: &Path, _: SourceKind, mut bytes: Vec<u8>) -> Result<Vec<u8>, String> {
            bytes.reverse();
            Ok(bytes)
        }
    }

    #[test]
    fn worker_threads_run_the_source_hook() {
        let t = tempfile::tempdir().unwrap();
        let services = 2 * super::MIN_DIRECTORIES;
        wide_tree(t.path(), services);
        let one = build_on_threads(t.path(), Some(Arc::new(Reverse)), 1).unwrap();
        let two = build_on_threads(t.path(), Some(Arc::new(Reverse)), 2).unwrap();
        assert_eq!(one, two);
        // base64 of "\n0-nekot": every Secret of the first service's three copies carries the
        // reversed text, none the original.
        use base64::Engine as _;
        let reversed = base64::engine::general_purpose::STANDARD.encode("\n0-nekot");
        assert_eq!(two.matches(&format!("token: {reversed}")).count(), 3, "{two}");
        assert!(!two.contains(&base64::engine::general_purpose::STANDARD.encode("token-0\n")));
    }
}
