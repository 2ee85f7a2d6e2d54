//! A native kustomize build engine for shipline.
//!
//! [`build`] returns exactly the bytes `kubectl kustomize DIR` (kustomize v5.5) prints, for the
//! subset of kustomize this crate implements; anything else is refused with an [`Error`] that
//! names the unsupported field, never approximated.
#![warn(missing_docs)]

mod build;
mod build_annotations;
mod config;
mod crds;
mod error;
mod fields;
mod fieldspec;
mod generator;
mod hash;
mod kustomization;
mod loader;
mod nameref;
mod parallel;
mod patch;
mod pattern;
mod plugins;
mod regex_cache;
mod resid;
mod resource;
mod reuse;
mod sort;
pub mod source_hook;
mod tconfig;
mod transform;
pub mod yaml;

pub use build::{build, build_with_hook};
pub use error::Error;
