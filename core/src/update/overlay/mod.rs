//! The overlay updater's editing engine: Flux setter markers and kustomization `images:`
//! entries, edited byte for byte.
//!
//! - [`marker`]: the `# {"$imagepolicy": "NS:NAME[:tag|:name|:digest]"}` grammar;
//! - [`scalar`]: writing a value in a scalar's style, quoted when YAML would misread it;
//! - [`scan`]: finding marked scalars and `images:` entries with byte spans;
//! - [`edit`]: splicing new values into one file, verified by re-parsing;
//! - [`tree`]: choosing files, editing them all in memory, writing atomically.

pub mod edit;
pub mod marker;
pub mod scalar;
pub mod scan;
pub mod tree;

pub use edit::{Change, FileEdit, Skipped, Target, Updates, edit_file};
pub use marker::{Marker, PolicyRef, SetterField};
pub use tree::{FileUpdate, TreeError};
