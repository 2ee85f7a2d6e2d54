//! The overlay updater: choosing the newest image for each policy and writing it into the
//! kustomize overlays of the microservices repository, byte for byte.
//!
//! May use: [`crate::image`] (tags, references, candidates), [`crate::git`] (clone, commit,
//! push), the kustomize engine (checking that what built before an edit still builds after it)
//! and the crate's foundations. Nothing below it uses it.
//!
//! - [`overlay`]: the editing engine (Flux setter markers, kustomization `images:` entries);
//! - [`policy`]: Flux image policies (numerical, alphabetical, semver) and `branch-commit-build`;
//! - [`config`]: `shipline.yaml` or Flux image-automation objects as configuration;
//! - [`template`]: Go `text/template`, for Flux's commit `messageTemplate`;
//! - [`message`]: commit messages (default, or a template on Flux's data) and trailers;
//! - [`provenance`]: where an image runs and the commit (and its trailers) that put it there;
//! - [`review`]: the pull request from the push branch, through any host;
//! - [`updater`]: one update of a git repository, race-safe and never backwards;
//! - [`local`]: one update of a local tree, checked like a git update;
//! - [`yaml`]: reading untrusted YAML with alias expansion bounded in bytes.

pub mod config;
pub mod local;
pub mod message;
pub mod overlay;
pub mod policy;
pub mod provenance;
pub mod review;
pub mod template;
pub mod updater;
pub mod yaml;
