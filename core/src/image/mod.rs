//! The image: naming it (`branch-commit-build` tags and where their parts come from), reading it
//! (OCI layouts, `docker save` archives) and moving it (registry pushes, ECR listing and
//! re-tags).
//!
//! May use: the crate's foundations ([`crate::secret`], [`crate::digest`], [`crate::aws`]) and
//! [`crate::git`] (the local checkout a tag is named after). Never [`crate::update`].
//!
//! - [`tag`]: the `branch-commit-build` tag, pure;
//! - [`build_info`]: which source (flags, CodeBuild environment, checkout) gives each part, pure;
//! - [`ci_context`]: CodeBuild/CodePipeline look-ups, and [`ci_context::resolve_build_tag`], the
//!   one call that names the current build's image;
//! - [`commit_build`]: the CodeBuild build of a commit, and re-tagging a commit-SHA image as
//!   `branch-commit-build` (the Lambda's re-tag);
//! - [`reference`]: `name[:tag][@digest]` references;
//! - [`candidate`]: a tag a repository has, as listings and events report it;
//! - [`oci`]: image formats and local image sources;
//! - [`registry`], [`push`]: the OCI distribution API and uploading an image;
//! - [`ecr`], [`ecr_images`]: Amazon ECR listing and re-tagging.

pub mod build_info;
pub mod candidate;
pub mod ci_context;
pub mod commit_build;
pub mod ecr;
pub mod ecr_images;
pub mod oci;
pub mod push;
pub mod reference;
pub mod registry;
pub mod tag;

pub use candidate::Candidate;
pub use reference::{ImageRef, ImageRefError};
