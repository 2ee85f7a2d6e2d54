//! shipline's Lambda: a thin adapter from Lambda events (EventBridge ECR pushes, CodePipeline
//! jobs) to `shipline-core`'s overlay updater.
//!
//! - [`events`]: event parsing, pure (also compiled by the fuzz crate).
//! - [`settings`]: configuration from environment variables.
//! - [`decision`]: which policies an image feeds and what was decided, pure.
//! - [`handler`]: the invocation handler (lazily built AWS clients, the updater).
//! - [`codepipeline`]: job results.
//! - [`closed_loop`]: the CodePipeline closed loop's pure parts (continuation token, the
//!   verdict from a sync's status); [`cluster`] reads that status; [`eks_token`] signs the EKS
//!   bearer token.

#![warn(missing_docs)]

pub mod closed_loop;
pub mod cluster;
pub mod codepipeline;
pub mod decision;
pub mod eks_token;
pub mod error;
pub mod events;
pub mod handler;
pub mod settings;

pub use error::LambdaError;
pub use handler::Handler;
