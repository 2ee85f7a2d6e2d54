//! The built-in transformers a kustomization's fields configure.

pub mod images;
pub mod meta;
pub mod replacements;
pub mod replicas;
pub mod vars;
