//! The crate's single error type. Every message names the file, field or value at fault.

use std::path::PathBuf;

/// Everything that can make a build fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("{}: invalid YAML: {message}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A directory holds no kustomization file.
    #[error(
        "{}: no kustomization file (expected one of kustomization.yaml, kustomization.yml, Kustomization)",
        dir.display()
    )]
    NoKustomization {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory holds more than one kustomization file.
    #[error("{}: found multiple kustomization files; keep only one", dir.display())]
    MultipleKustomizations {
        /// The directory.
        dir: PathBuf,
    },
    /// A kustomization field kustomize knows but this engine refuses (remote, exec, helm...).
    #[error("{}: field `{field}` is not supported by shipline's kustomize engine: {reason}", file.display())]
    Unsupported {
        /// The kustomization file.
        file: PathBuf,
        /// The field, with the offending value where useful.
        field: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A kustomization field kustomize does not know.
    #[error("{}: invalid Kustomization: unknown field `{field}`", file.display())]
    UnknownField {
        /// The kustomization file.
        file: PathBuf,
        /// The field.
        field: String,
    },
    /// A field holds a value of the wrong shape.
    #[error("{}: invalid field `{field}`: {message}", file.display())]
    InvalidField {
        /// The file.
        file: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A path escapes the kustomization root (kustomize's load restrictor).
    #[error(
        "{}: `{field}` entry `{entry}` is not in or below the kustomization root {} (security: files may not escape the root)",
        file.display(),
        root.display()
    )]
    OutsideRoot {
        /// The kustomization file.
        file: PathBuf,
        /// The field holding the entry.
        field: String,
        /// The entry as written.
        entry: String,
        /// The kustomization root.
        root: PathBuf,
    },
    /// An entry of `resources`, `components` or a file field does not exist.
    #[error("{}: `{field}` entry `{entry}` does not exist", file.display())]
    Missing {
        /// The kustomization file.
        file: PathBuf,
        /// The field.
        field: String,
        /// The entry as written.
        entry: String,
    },
    /// Kustomizations include each other.
    #[error("cycle in kustomization references: {chain}")]
    Cycle {
        /// The directories of the cycle, in order.
        chain: String,
    },
    /// Two resources share an id.
    #[error("{}: may not add resource with an already registered id: {id}", file.display())]
    DuplicateId {
        /// The kustomization adding the second copy.
        file: PathBuf,
        /// The id (`group/version/kind namespace/name`).
        id: String,
    },
    /// A resource lacks a field every resource needs, or has it with the wrong type.
    #[error("{}: invalid resource: {message}", file.display())]
    InvalidResource {
        /// The file the resource came from.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A transformation, patch or generator cannot be applied.
    #[error("{}: {field}: {message}", file.display())]
    Transform {
        /// The kustomization file.
        file: PathBuf,
        /// The field (`patches[0]`, `images`, ...).
        field: String,
        /// What went wrong.
        message: String,
    },
}
