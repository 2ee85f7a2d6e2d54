//! A narrow hook over the bytes of generator sources (`secretGenerator` / `configMapGenerator`
//! `files:` and `envs:`), for callers that keep such files transformed at rest (the reconciler
//! decrypts sops-encrypted sources with it). The engine knows nothing of what the hook does:
//! it hands over the path and the bytes it read, and uses what comes back.

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

/// Runs the installed hook, if any, over a source the generator read.
pub(crate) fn apply(path: &Path, kind: SourceKind, bytes: Vec<u8>) -> Result<Vec<u8>, crate::Error> {
    let hook = HOOK.with(|h| h.borrow().clone());
    match hook {
        None => Ok(bytes),
        Some(hook) => hook.source(path, kind, bytes).map_err(|message| crate::Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        }),
    }
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
        let hooked = crate::build_with_hook(dir.path(), Arc::new(Shout)).unwrap();
        assert!(plain.contains("value.txt: cXVpZXQ=") && plain.contains("ORIGINAL: MQ=="), "{plain}");
        assert!(hooked.contains("value.txt: UVVJRVQ=") && hooked.contains("FROM_HOOK: eWVz"), "{hooked}");
        assert!(!hooked.contains("ORIGINAL"), "{hooked}");
        // The hook is gone after the build: the next plain build reads the files as they are.
        assert_eq!(crate::build(dir.path()).unwrap(), plain);

        write("kustomization.yaml", &k("bad"));
        let err = crate::build_with_hook(dir.path(), Arc::new(Shout)).unwrap_err().to_string();
        assert!(err.contains("bad") && err.contains("refused by the hook"), "{err}");
    }
}
