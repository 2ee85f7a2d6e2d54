//! Pushing an [`ImageBundle`] to a registry without a Docker daemon: blobs first (skipping those
//! present, mounting where the registry allows, uploading concurrently), then child manifests by
//! digest, then the manifest under each tag. A tag is only ever written after everything it
//! references is stored, so an interrupted push never leaves a tag pointing at missing content.

use futures_util::StreamExt;

use crate::image::oci::ImageBundle;
use crate::image::registry::{Mount, RegistryClient, RegistryError};

/// Options of a push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Tags to point at the image.
    pub tags: Vec<String>,
    /// Blobs uploaded at once.
    pub concurrency: usize,
    /// Another repository of the same registry to mount blobs from.
    pub mount_from: Option<String>,
}

/// What happened to each blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Already in the repository.
    Present,
    /// Linked from `mount_from`.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// A blob is done.
    Blob {
        /// Its digest.
        digest: String,
        /// Its size.
        size: u64,
        /// What happened.
        outcome: BlobOutcome,
    },
    /// A manifest was stored under a reference.
    Manifest {
        /// Tag or digest.
        reference: String,
    },
}

/// The result of a push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Digest of the manifest the tags point at.
    pub digest: String,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs already present.
    pub present: usize,
    /// Blobs mounted.
    pub mounted: usize,
    /// Tags written.
    pub tags: Vec<String>,
}

/// Pushes `bundle` to the client's repository. `on_event` sees every blob and manifest as it
/// completes.
pub async fn push(
    client: &RegistryClient,
    bundle: &ImageBundle,
    options: &PushOptions,
    on_event: &(dyn Fn(&PushEvent) + Sync),
) -> Result<PushReport, RegistryError> {
    let mut report = PushReport { digest: bundle.top.digest.clone(), ..PushReport::default() };
    let jobs = bundle.blobs.iter().map(|(digest, (size, source))| async move {
        let outcome = if client.blob_exists(digest).await? {
            BlobOutcome::Present
        } else if let Some(from) = &options.mount_from
            && client.mount_blob(digest, from).await? == Mount::Mounted
        {
            BlobOutcome::Mounted
        } else {
            client.upload_blob(digest, *size, source).await?;
            BlobOutcome::Uploaded
        };
        on_event(&PushEvent::Blob { digest: digest.clone(), size: *size, outcome });
        Ok::<_, RegistryError>((*size, outcome))
    });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(options.concurrency.max(1));
    while let Some(result) = results.next().await {
        match result? {
            (size, BlobOutcome::Uploaded) => {
                report.uploaded += 1;
                report.uploaded_bytes += size;
            }
            (_, BlobOutcome::Present) => report.present += 1,
            (_, BlobOutcome::Mounted) => report.mounted += 1,
        }
    }
    for child in &bundle.children {
        client.put_manifest(&child.digest, child).await?;
        on_event(&PushEvent::Manifest { reference: child.digest.clone() });
    }
    if options.tags.is_empty() {
        client.put_manifest(&bundle.top.digest, &bundle.top).await?;
        on_event(&PushEvent::Manifest { reference: bundle.top.digest.clone() });
    }
    for tag in &options.tags {
        client.put_manifest(tag, &bundle.top).await?;
        on_event(&PushEvent::Manifest { reference: tag.clone() });
        report.tags.push(tag.clone());
    }
    Ok(report)
}
