//! sops decryption, as Flux's kustomize-controller does it (`decryption: {provider: sops}`).
//!
//! - Generator sources (`secretGenerator` `files:` / `envs:`) and files named by
//!   `patches[].path` are decrypted as the build reads them, through the kustomize engine's
//!   [`SourceHook`]: YAML, JSON, dotenv and binary files, detected by Flux's marker bytes; the
//!   MAC is verified (the file is as committed).
//! - Documents of the build output that carry `sops` metadata (any kind, Flux's rule) are
//!   decrypted after the build and postBuild substitution; the paths of their decrypted values
//!   are kept (`DesiredObject::masked`) so dry-run diffs mask them as they mask Secret data.
//!   kustomize has changed them (a namespace, labels, a name prefix), so their MAC cannot match
//!   any more: the stored MAC is decrypted and so authenticated, but not compared, exactly where
//!   Flux skips it. Every value stays authenticated on its own (AES-GCM with its key path as
//!   additional data).
//! - Secret `data` values that are whole sops files (Flux's marker bytes) are decrypted in the
//!   format of their key's extension.
//!
//! The pure parts (`cipher`, `tree`, `formats`) take a data key; `keys` gets data keys from
//! age identities and AWS KMS.

pub mod cipher;
pub mod formats;
pub mod keys;
pub mod tree;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value as Json;
use shipline_core::kustomize::source_hook::{SourceHook, SourceKind};
use shipline_core::kustomize::yaml::{Map, Value};

pub use formats::Format;
pub use keys::KeyRing;
pub use tree::{MacCheck, Metadata};

use crate::objects::DesiredObject;

/// Flux's per-object opt-out annotation.
pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// Decrypts generator sources while the kustomize engine reads them. The engine's build runs
/// on a thread of its own, so KMS calls block on the runtime `handle` there.
pub struct SourceDecryptor {
    /// The sync's keys.
    pub ring: Arc<KeyRing>,
    /// The runtime KMS calls run on.
    pub handle: tokio::runtime::Handle,
}

impl SourceHook for SourceDecryptor {
    fn source(&self, path: &Path, kind: SourceKind, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        let name = path.to_string_lossy();
        let format = match (kind, Format::for_path(&name)) {
            // An `envs:` file is dotenv whatever its extension (Flux's default).
            (SourceKind::Env, Format::Binary) => Format::Dotenv,
            (_, f) => f,
        };
        if !format.is_encrypted(&bytes) {
            return Ok(bytes);
        }
        let key = |meta: &Metadata| self.handle.block_on(self.ring.data_key(meta));
        formats::decrypt_file(&bytes, format, &key).map_err(|e| format!("sops decryption failed: {e}"))
    }
}

/// Whether an object of the build carries sops metadata (`sops.mac`), whatever its kind.
pub fn is_encrypted(object: &Json) -> bool {
    object.get("sops").and_then(|s| s.get("mac")).is_some()
}

/// Whether the object opted out with `kustomize.toolkit.fluxcd.io/decrypt: disabled`.
pub fn is_disabled(object: &Json) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DECRYPT_ANNOTATION))
        .and_then(Json::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// Decrypts the sops documents among `objects`, and Secret `data` values that are whole sops
/// files, in place. The first failure is returned naming the object (and field); nothing is
/// changed then that matters, since the caller applies nothing on error.
pub async fn decrypt_objects(objects: &mut [DesiredObject], ring: &KeyRing) -> Result<(), String> {
    for d in objects.iter_mut() {
        // Most objects are neither: skip them without a copy.
        let secret = d.key.kind == "Secret" && d.key.group.is_empty();
        if !secret && !is_encrypted(&d.object.data) {
            continue;
        }
        let mut json = serde_json::to_value(&d.object).map_err(|e| format!("{}: {e}", d.key))?;
        if is_disabled(&json) {
            continue;
        }
        let changed = if is_encrypted(&json) {
            // Where the values were encrypted is where the decrypted ones are: a dry run masks
            // those paths, whatever the kind (Flux decrypts any kind, not only Secrets).
            d.masked = encrypted_pointers(&json);
            decrypt_object(&mut json, ring).await.map_err(|e| format!("{}: {e}", d.key))?;
            true
        } else if secret {
            decrypt_secret_data(&mut json, ring).await.map_err(|e| format!("{}: {e}", d.key))?
        } else {
            false
        };
        if changed {
            d.object = serde_json::from_value(json).map_err(|e| format!("{}: {e}", d.key))?;
            d.rehash();
        }
    }
    Ok(())
}

async fn decrypt_object(json: &mut Json, ring: &KeyRing) -> Result<(), String> {
    let mut doc = from_json(json);
    let meta = Metadata::parse(doc.get("sops").ok_or("no sops metadata")?)?;
    let key = ring.data_key(&meta).await?;
    tree::decrypt_document(&mut doc, &meta, &key, MacCheck::AuthenticateOnly)?;
    *json = to_json(&doc);
    Ok(())
}

/// Flux's second case: a plain Secret whose `data` values are sops files.
async fn decrypt_secret_data(json: &mut Json, ring: &KeyRing) -> Result<bool, String> {
    let Some(data) = json.get_mut("data").and_then(Json::as_object_mut) else { return Ok(false) };
    let mut changed = false;
    for (name, value) in data.iter_mut() {
        // A value that is not base64 is left for the API server to refuse, as in Flux.
        let Some(bytes) = value.as_str().and_then(|s| STANDARD.decode(s).ok()) else { continue };
        let Some(detected) = Format::detect(&bytes) else { continue };
        let format = match Format::for_path(name) {
            Format::Binary => detected,
            f => f,
        };
        let meta = formats::metadata_of(&bytes, format).map_err(|e| format!("data.{name}: {e}"))?;
        let key = ring.data_key(&meta).await.map_err(|e| format!("data.{name}: {e}"))?;
        let plain = formats::decrypt_file(&bytes, format, &|_| Ok(key)).map_err(|e| format!("data.{name}: {e}"))?;
        *value = Json::String(STANDARD.encode(plain));
        changed = true;
    }
    Ok(changed)
}

/// JSON pointers (RFC 6901) of a sops document's encrypted values (`ENC[...]` strings), the
/// `sops` metadata left out. sops encrypts scalars one by one, so these are exactly the values
/// that decrypt to cleartext.
pub fn encrypted_pointers(object: &Json) -> Vec<String> {
    fn walk(v: &Json, path: &mut String, out: &mut Vec<String>) {
        let len = path.len();
        match v {
            Json::String(s) if cipher::is_encrypted(s) => out.push(path.clone()),
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push('/');
                    path.push_str(&i.to_string());
                    walk(item, path, out);
                    path.truncate(len);
                }
            }
            Json::Object(map) => {
                for (key, item) in map {
                    if path.is_empty() && key == "sops" {
                        continue;
                    }
                    path.push('/');
                    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    walk(item, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(object, &mut String::new(), &mut out);
    out
}

/// The sops-encrypted objects of a build, for a sync without `decryption` (an error names them:
/// applying ciphertext is never what was meant).
pub fn encrypted_objects(objects: &[DesiredObject]) -> Vec<String> {
    let disabled = |d: &DesiredObject| {
        d.object
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DECRYPT_ANNOTATION))
            .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
    };
    // `data` holds every field but apiVersion, kind and metadata, so `sops` is found there.
    objects.iter().filter(|d| is_encrypted(&d.object.data) && !disabled(d)).map(|d| d.key.to_string()).collect()
}

fn from_json(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i.into()),
            (None, Some(u)) => Value::Int(u.into()),
            _ => Value::Float(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Seq(a.iter().map(from_json).collect()),
        Json::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect::<Map>()),
    }
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::Null | Value::Blank => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => i64::try_from(*i)
            .map(Json::from)
            .or_else(|_| u64::try_from(*i).map(Json::from))
            .unwrap_or_else(|_| Json::String(i.to_string())),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Seq(s) => Json::Array(s.iter().map(to_json).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}
