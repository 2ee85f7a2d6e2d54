//! [`Candidate`]: a tag a registry has, as ECR listing and push events produce it and the
//! updater's policies choose among them.

/// A tag an image repository has, with its digest when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The tag.
    pub tag: String,
    /// Its manifest digest (`sha256:...`), when known.
    pub digest: Option<String>,
}
