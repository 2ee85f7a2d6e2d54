//! A narrow hook over the bytes of `secretGenerator` sources (`files:` and `envs:`;
//! `configMapGenerator` sources are read as they are) and of `patches[].path` files, for
//! callers that keep such files transformed at rest (the reconciler decrypts sops-encrypted ones
//! with it, as Flux does). The engine knows nothing of what the hook does: it hands over the path
//! and the bytes it read, and uses what comes back.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

/// Which generator field read a source (decides how a hook reads it: an `envs:` file is a
/// dotenv file whatever its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A `files:` entry: the bytes become one value.
    File,
    /// An `envs:` entry: the bytes are parsed as `KEY=value` lines.
    Env,
    /// A file named by `patches[].path` (not `patchesStrategicMerge` or `patchesJson6902`).
    Patch,
}

/// Transforms generator sources after they are read. An error fails the build, naming the file.
pub trait SourceHook: Send + Sync {
    /// Returns the bytes to use for the source at `path` (as read: `bytes`).
    fn source(&self, path: &Path, kind: SourceKind, bytes: Vec<u8>) -> Result<Vec<u8>, String>;
}

thread_local! {
    // The build runs on its own thread (see `build`), so a thread-local scopes the hook to one
    // build without threading a parameter through every pass.
    static HOOK: RefCell<Option<Arc<dyn SourceHook>>> = const { RefCell::new(None) };
}

/// Installs `hook` on this thread for the duration of `f`.
pub(crate) fn with_hook<T>(hook: Option<Arc<dyn SourceHook>>, f: impl FnOnce() -> T) -> T {
    HOOK.with(|h| *h.borrow_mut() = hook);
    let out = f();
    HOOK.with(|h| *h.borrow_mut() = None);
    out
}

/// The hook installed on this thread, for the build's worker threads to install too.
pub(crate) fn current() -> Option<Arc<dyn SourceHook>> {
    HOOK.with(|h| h.borrow().clone())
}

/// Runs the installed hook, if any, over a source the generator read.
pub(crate) fn apply(path: &Path, kind: SourceKind, bytes: Vec<u8>) -> Result<Vec<u8>, crate::Error> {
    match current() {
        None => Ok(bytes),
        Some(hook) => hook.source(path, kind, bytes).map_err(|message| crate::Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        }),
    }
}

/// Reads a text file of the tree through the installed hook, if any.
pub(crate) fn read_text(path: &Path, kind: SourceKind) -> Result<String, crate::Error> {
    crate::loader::utf8(path, apply(path, kind, crate::loader::read_bytes(path)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper-cases `files:` sources, rewrites `envs:` sources, and refuses a file named `bad`.
    struct Shout;

    impl SourceHook for Shout {
        fn source(&self, path: &Path, kind: SourceKind, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
            match (path.file_name().and_then(|n| n.to_str()), kind) {
                (Some("bad"), _) => Err("refused by the hook".into()),
                (_, SourceKind::File) => Ok(bytes.to_ascii_uppercase()),
                (_, SourceKind::Env) => Ok(b"FROM_HOOK=yes\n".to_vec()),
                (_, SourceKind::Patch) => {
                    Ok(String::from_utf8(bytes).unwrap().replace("FROM_GIT", "FROM_HOOK").into_bytes())
                }
            }
        }
    }

    #[test]
    fn the_hook_sees_generator_sources_and_its_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("value.txt", "quiet");
        write("app.env", "ORIGINAL=1\n");
        write("bad", "x");
        let k = |files: &str| {
            format!(
                "secretGenerator:\n- name: s\n  files: [{files}]\n  envs: [app.env]\ngeneratorOptions: {{disableNameSuffixHash: true}}\n"
            )
        };
        write("kustomization.yaml", &k("value.txt"));
        let plain = crate::build(dir.path()).unwrap();
        // configMapGenerator sources are not the hook's.
        std::fs::create_dir(dir.path().join("cm")).unwrap();
        write("cm/value.txt", "quiet");
        write("cm/kustomization.yaml", "configMapGenerator:\n- name: c\n  files: [value.txt]\n");
        let cm = crate::build_with_hook(&dir.path().join("cm"), Arc::new(Shout));
        assert!(cm.as_ref().is_ok_and(|o| o.contains("value.txt: quiet")), "{cm:?}");
        let hooked = crate::build_with_hook(dir.path(), Arc::new(Shout)).unwrap();
        assert!(plain.contains("value.txt: cXVpZXQ=") && plain.contains("ORIGINAL: MQ=="), "{plain}");
        assert!(hooked.contains("value.txt: UVVJRVQ=") && hooked.contains("FROM_HOOK: eWVz"), "{hooked}");
        assert!(!hooked.contains("ORIGINAL"), "{hooked}");
        // The hook is gone after the build: the next plain build reads the files as they are.
        assert_eq!(crate::build(dir.path()).unwrap(), plain);

        // `patches[].path` files go through the hook; `patchesStrategicMerge` files do not.
        write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x, b: x}\n");
        write("p1.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: FROM_GIT}\n");
        write("p2.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {b: FROM_GIT}\n");
        write(
            "kustomization.yaml",
            "resources: [cm.yaml]\npatches:\n- path: p1.yaml\npatchesStrategicMerge:\n- p2.yaml\n",
        );
        let patched = crate::build_with_hook(dir.path(), Arc::new(Shout)).unwrap();
        assert!(patched.contains("a: FROM_HOOK") && patched.contains("b: FROM_GIT"), "{patched}");
        assert!(crate::build(dir.path()).unwrap().contains("a: FROM_GIT"), "no hook, no change");

        write("kustomization.yaml", &k("bad"));
        let err = crate::build_with_hook(dir.path(), Arc::new(Shout)).unwrap_err().to_string();
        assert!(err.contains("bad") && err.contains("refused by the hook"), "{err}");
    }
}
