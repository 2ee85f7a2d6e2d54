//! Reading an image from an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), as
//! buildah, kaniko, skopeo and `docker save` (Docker 25+) write it, from a directory or a tar.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{BlobSource, Descriptor, ImageBundle, Manifest, ManifestRefs, OciError, is_index};
use crate::digest::{is_sha256_digest, sha256_digest};

/// Read access to the files of a layout, wherever they are stored.
pub trait LayoutStore {
    /// The bytes of a (small) file, e.g. `index.json` or a manifest blob.
    fn read(&self, path: &str) -> Result<Vec<u8>, OciError>;
    /// Size and source of a (possibly large) file, without reading it.
    fn locate(&self, path: &str) -> Result<(u64, BlobSource), OciError>;
    /// A name for messages.
    fn shown(&self) -> String;
}

/// A layout in a directory.
#[derive(Debug, Clone)]
pub struct DirStore(pub PathBuf);

impl LayoutStore for DirStore {
    fn read(&self, path: &str) -> Result<Vec<u8>, OciError> {
        let full = self.0.join(path);
        crate::safe_fs::read_input(&full).map_err(|e| OciError::Format(e.to_string()))
    }

    fn locate(&self, path: &str) -> Result<(u64, BlobSource), OciError> {
        let full = self.0.join(path);
        let meta = crate::safe_fs::open_input(&full)
            .and_then(|f| f.metadata().map_err(|source| crate::safe_fs::FsError::Io { path: full.clone(), source }))
            .map_err(|e| OciError::Format(e.to_string()))?;
        Ok((meta.len(), BlobSource::File(full)))
    }

    fn shown(&self) -> String {
        self.0.display().to_string()
    }
}

fn blob_path(digest: &str) -> Result<String, OciError> {
    if !is_sha256_digest(digest) {
        return Err(OciError::Format(format!("unsupported digest {digest:?}: only sha256 is supported")));
    }
    Ok(format!("blobs/sha256/{}", &digest[7..]))
}

/// Reads the image named `reference` (the `org.opencontainers.image.ref.name` annotation of an
/// `index.json` entry), or the only image when `reference` is `None`.
pub fn read_layout(store: &dyn LayoutStore, reference: Option<&str>) -> Result<ImageBundle, OciError> {
    let marker = store
        .read("oci-layout")
        .map_err(|_| OciError::Format(format!("{}: no oci-layout file: not an OCI image layout", store.shown())))?;
    let marker: serde_json::Value =
        serde_json::from_slice(&marker).map_err(|e| OciError::Format(format!("{}: oci-layout: {e}", store.shown())))?;
    if marker.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
        return Err(OciError::Format(format!("{}: oci-layout imageLayoutVersion must be 1.0.0", store.shown())));
    }
    let index = store.read("index.json")?;
    let index =
        ManifestRefs::parse(&index).map_err(|e| OciError::Format(format!("{}: index.json: {e}", store.shown())))?;
    let name_of =
        |d: &Descriptor| d.annotations.as_ref().and_then(|a| a.get("org.opencontainers.image.ref.name")).cloned();
    let top = match reference {
        Some(r) => index.manifests.iter().find(|d| name_of(d).as_deref() == Some(r)).ok_or_else(|| {
            let names: Vec<String> = index.manifests.iter().filter_map(name_of).collect();
            OciError::Format(format!(
                "{}: no image named {r:?} in index.json (names: {})",
                store.shown(),
                names.join(", ")
            ))
        })?,
        None => match index.manifests.as_slice() {
            [only] => only,
            [] => return Err(OciError::Format(format!("{}: index.json lists no image", store.shown()))),
            many => {
                let names: Vec<String> = many.iter().map(|d| name_of(d).unwrap_or_else(|| d.digest.clone())).collect();
                return Err(OciError::Format(format!(
                    "{}: index.json lists {} images ({}): name one with --ref",
                    store.shown(),
                    many.len(),
                    names.join(", ")
                )));
            }
        },
    };
    let mut blobs = BTreeMap::new();
    let top_manifest = read_manifest(store, top)?;
    let mut children = Vec::new();
    let refs = ManifestRefs::parse(&top_manifest.bytes)?;
    if is_index(&top_manifest.media_type) {
        for child in &refs.manifests {
            let manifest = read_manifest(store, child)?;
            collect_blobs(store, &ManifestRefs::parse(&manifest.bytes)?, &mut blobs)?;
            children.push(manifest);
        }
    } else {
        collect_blobs(store, &refs, &mut blobs)?;
    }
    Ok(ImageBundle { blobs, children, top: top_manifest })
}

fn read_manifest(store: &dyn LayoutStore, d: &Descriptor) -> Result<Manifest, OciError> {
    let bytes = store.read(&blob_path(&d.digest)?)?;
    let manifest = Manifest::new(bytes, d.media_type.clone());
    if manifest.digest != d.digest {
        return Err(OciError::Format(format!(
            "{}: blob {} has digest {}: the layout is corrupt",
            store.shown(),
            d.digest,
            manifest.digest
        )));
    }
    if let Some(declared) = ManifestRefs::parse(&manifest.bytes)?.media_type
        && declared != d.media_type
    {
        return Err(OciError::Format(format!(
            "{}: manifest {} says mediaType {declared} but is listed as {}",
            store.shown(),
            d.digest,
            d.media_type
        )));
    }
    Ok(manifest)
}

fn collect_blobs(
    store: &dyn LayoutStore,
    refs: &ManifestRefs,
    out: &mut BTreeMap<String, (u64, BlobSource)>,
) -> Result<(), OciError> {
    for d in refs.blobs() {
        let (size, source) = store.locate(&blob_path(&d.digest)?).map_err(|e| match e {
            OciError::Io { .. } => {
                OciError::Format(format!("{}: blob {} is referenced but missing", store.shown(), d.digest))
            }
            other => other,
        })?;
        if size != d.size {
            return Err(OciError::Format(format!(
                "{}: blob {} is {size} bytes, the manifest says {}",
                store.shown(),
                d.digest,
                d.size
            )));
        }
        out.insert(d.digest.clone(), (size, source));
    }
    Ok(())
}

/// Reads an OCI layout directory.
pub fn read_dir(dir: &Path, reference: Option<&str>) -> Result<ImageBundle, OciError> {
    read_layout(&DirStore(dir.to_owned()), reference)
}

/// Verifies that the bytes of `data` have `digest` (used for small blobs read whole).
pub fn verify(data: &[u8], digest: &str) -> Result<(), OciError> {
    let actual = sha256_digest(data);
    if actual != digest {
        return Err(OciError::Format(format!("content of {digest} hashes to {actual}")));
    }
    Ok(())
}
