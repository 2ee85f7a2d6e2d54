//! OCI and Docker image formats: media types, descriptors, digests, and reading images from an
//! OCI layout directory or a `docker save` archive, without a Docker daemon.

pub mod archive;
#[cfg(test)]
mod fuzz_tests;
pub mod layout;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::sha256_digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer (what `docker save` writes).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Every manifest media type a registry `Accept` header should list.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// Whether a media type is an index / manifest list (its children are manifests, not blobs).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// A content descriptor, as in manifests and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Platform, for index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The parts of a manifest or index the pusher needs: what it references.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRefs {
    /// `mediaType` field, when present.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Config blob (image manifests).
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Layer blobs (image manifests).
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Child manifests (indexes).
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl ManifestRefs {
    /// Parses the references out of manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, OciError> {
        serde_json::from_slice(bytes).map_err(|e| OciError::Format(format!("manifest is not valid JSON: {e}")))
    }

    /// Config and layers, in that order.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(&self.layers)
    }
}

/// Where a blob's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    /// A file holding exactly the blob.
    File(PathBuf),
    /// In memory (small generated blobs, e.g. a converted config).
    Bytes(Vec<u8>),
    /// A member of a tar archive, by byte range.
    TarMember {
        /// The archive.
        archive: PathBuf,
        /// Offset of the member's data.
        offset: u64,
    },
}

/// A manifest to push, with its exact bytes (pushed as they are, so digests never change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Exact bytes.
    pub bytes: Vec<u8>,
    /// Media type.
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: String,
}

impl Manifest {
    /// Wraps bytes with their media type, computing the digest.
    pub fn new(bytes: Vec<u8>, media_type: impl Into<String>) -> Self {
        let digest = sha256_digest(&bytes);
        Self { bytes, media_type: media_type.into(), digest }
    }
}

/// An image ready to push: blobs by digest, child manifests (for an index) and the top manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBundle {
    /// Every blob referenced by any manifest, by digest, with its size and source.
    pub blobs: BTreeMap<String, (u64, BlobSource)>,
    /// Child manifests of an index, pushed by digest before the index.
    pub children: Vec<Manifest>,
    /// The manifest (or index) the tags point at.
    pub top: Manifest,
}

impl ImageBundle {
    /// Total bytes of blobs.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.values().map(|(size, _)| size).sum()
    }
}

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The content is not what the format requires.
    #[error("{0}")]
    Format(String),
}
