//! Reading an image from a `docker save` archive: the OCI layout inside it (Docker 25+), or the
//! legacy `manifest.json` form, converted to a Docker v2 manifest with uncompressed layers.
//! Members are read in place (offsets into the tar), never extracted.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use super::layout::{LayoutStore, read_layout};
use super::{BlobSource, DOCKER_CONFIG, DOCKER_LAYER_TAR, DOCKER_MANIFEST, ImageBundle, Manifest, OciError};
use crate::digest::hex;

/// A tar archive's regular files: path → (data offset, size).
#[derive(Debug, Clone)]
pub struct TarStore {
    path: PathBuf,
    members: BTreeMap<String, (u64, u64)>,
}

impl TarStore {
    /// Indexes the members of the archive at `path`.
    pub fn open(path: &Path) -> Result<Self, OciError> {
        let io = |source| OciError::Io { path: path.to_owned(), source };
        let file = crate::safe_fs::open_input(path).map_err(|e| OciError::Format(e.to_string()))?;
        let mut archive = tar::Archive::new(file);
        let mut members = BTreeMap::new();
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(io)?.to_string_lossy().trim_start_matches("./").to_owned();
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        Ok(Self { path: path.to_owned(), members })
    }

    fn member(&self, name: &str) -> Result<(u64, u64), OciError> {
        self.members
            .get(name.trim_start_matches("./"))
            .copied()
            .ok_or_else(|| OciError::Format(format!("{}: no member {name:?} in the archive", self.path.display())))
    }
}

impl LayoutStore for TarStore {
    fn read(&self, name: &str) -> Result<Vec<u8>, OciError> {
        let (offset, size) = self.member(name)?;
        if size > crate::safe_fs::MAX_FILE_BYTES {
            // Only metadata (index, manifests, configs) is read whole; layers are streamed.
            return Err(OciError::Format(format!(
                "{}: member {:?} claims {size} bytes, more than the {} bytes metadata may have",
                self.path.display(),
                crate::show::escape_controls(name),
                crate::safe_fs::MAX_FILE_BYTES
            )));
        }
        let io = |source| OciError::Io { path: self.path.clone(), source };
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf =
            vec![0; usize::try_from(size).map_err(|_| OciError::Format(format!("{name}: too large to read whole")))?];
        file.read_exact(&mut buf).map_err(io)?;
        Ok(buf)
    }

    fn locate(&self, name: &str) -> Result<(u64, BlobSource), OciError> {
        let (offset, size) = self.member(name)?;
        Ok((size, BlobSource::TarMember { archive: self.path.clone(), offset }))
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Reads the image in a `docker save` archive. `reference` picks one of several images by a
/// `RepoTags` entry (legacy form) or ref name (OCI form).
pub fn read_docker_archive(path: &Path, reference: Option<&str>) -> Result<ImageBundle, OciError> {
    let store = TarStore::open(path)?;
    if store.members.contains_key("oci-layout")
        && store.members.contains_key("index.json")
        && !store.members.contains_key("manifest.json")
    {
        return read_layout(&store, reference);
    }
    let entries: Vec<LegacyEntry> = serde_json::from_slice(&store.read("manifest.json")?)
        .map_err(|e| OciError::Format(format!("{}: manifest.json: {e}", path.display())))?;
    let entry = match (reference, entries.as_slice()) {
        (None, [only]) => only,
        (None, []) => return Err(OciError::Format(format!("{}: manifest.json lists no image", path.display()))),
        (None, _) => {
            return Err(OciError::Format(format!(
                "{}: the archive holds {} images: name one with --ref",
                path.display(),
                entries.len()
            )));
        }
        (Some(r), _) => entries
            .iter()
            .find(|e| e.repo_tags.as_ref().is_some_and(|t| t.iter().any(|t| t == r)))
            .ok_or_else(|| OciError::Format(format!("{}: no image tagged {r:?} in the archive", path.display())))?,
    };
    let mut blobs = BTreeMap::new();
    let config = store.read(&entry.config)?;
    let config_digest = super::sha256_digest(&config);
    let config_size = config.len() as u64;
    blobs.insert(config_digest.clone(), (config_size, BlobSource::Bytes(config)));
    let mut layers = Vec::new();
    for layer in &entry.layers {
        let (size, source) = store.locate(layer)?;
        let digest = hash_source(&source, size)?;
        layers.push(json!({"mediaType": DOCKER_LAYER_TAR, "size": size, "digest": digest}));
        blobs.insert(digest, (size, source));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| OciError::Format(e.to_string()))?;
    Ok(ImageBundle { blobs, children: Vec::new(), top: Manifest::new(bytes, DOCKER_MANIFEST) })
}

/// Opens a blob source for streaming.
pub fn open_source(source: &BlobSource, size: u64) -> Result<Box<dyn Read + Send>, OciError> {
    match source {
        BlobSource::Bytes(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
        BlobSource::File(p) => {
            let f = crate::safe_fs::open_input(p).map_err(|e| OciError::Format(e.to_string()))?;
            // Never more than the size the layout declared, whatever the file has become.
            Ok(Box::new(f.take(size)))
        }
        BlobSource::TarMember { archive, offset } => {
            let io = |source| OciError::Io { path: archive.clone(), source };
            let mut f = std::fs::File::open(archive).map_err(io)?;
            f.seek(SeekFrom::Start(*offset)).map_err(io)?;
            Ok(Box::new(f.take(size)))
        }
    }
}

fn hash_source(source: &BlobSource, size: u64) -> Result<String, OciError> {
    let mut reader = open_source(source, size)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| OciError::Format(format!("reading a layer: {e}")))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex(ctx.finish().as_ref())))
}
