//! YAML as kustomize reads (`yaml.v3`) and prints (`yaml.v2` over JSON) it.

pub mod emit;
mod fast;
pub mod keyorder;
pub mod parse;
mod quoted_indent;
pub mod resolve;
mod style;
pub mod value;

pub use emit::to_string;
pub use parse::{ParseError, parse_documents, parse_one, parse_one_yaml11, parse_patch_documents};
pub use value::{Map, Value};
