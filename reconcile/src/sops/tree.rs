//! A sops document's metadata and its value tree: which values are encrypted (sops' suffix
//! and regex rules), their decryption, and the MAC over the cleartext values in order.

use std::collections::BTreeMap;

use sha2::{Digest, Sha512};
use shipline_core::kustomize::yaml::{Map, Value};

use super::cipher::{self, Plain};

/// An age recipient's copy of the data key: an age-armored file.
#[derive(Debug, Clone, PartialEq)]
pub struct AgeKey {
    /// The `age1...` recipient (public key).
    pub recipient: String,
    /// The armored age file holding the data key.
    pub enc: String,
}

/// An AWS KMS key's copy of the data key.
#[derive(Debug, Clone, PartialEq)]
pub struct KmsKey {
    /// The key's ARN.
    pub arn: String,
    /// Base64 of KMS' `CiphertextBlob`.
    pub enc: String,
    /// The encryption context sops passed to KMS.
    pub context: BTreeMap<String, String>,
}

/// What a sops document's `sops:` section says, as far as decryption needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// age copies of the data key.
    pub age: Vec<AgeKey>,
    /// AWS KMS copies of the data key.
    pub kms: Vec<KmsKey>,
    /// Key types present that shipline cannot use (`pgp`, `gcp_kms`, `azure_kv`, `hc_vault`).
    pub unsupported_keys: Vec<String>,
    /// `lastmodified`: the MAC's additional data.
    pub last_modified: String,
    /// `mac`: the encrypted MAC.
    pub mac: String,
    /// Only encrypted values count in the MAC.
    pub mac_only_encrypted: bool,
    rule: Rule,
}

/// sops' rule for which values are encrypted (at most one is set; `_unencrypted` suffix when
/// none is).
#[derive(Debug, Clone)]
enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(regex::Regex),
    EncryptedRegex(regex::Regex),
}

impl Default for Rule {
    fn default() -> Self {
        Rule::UnencryptedSuffix("_unencrypted".into())
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Rule::UnencryptedSuffix(a), Rule::UnencryptedSuffix(b))
            | (Rule::EncryptedSuffix(a), Rule::EncryptedSuffix(b)) => a == b,
            (Rule::UnencryptedRegex(a), Rule::UnencryptedRegex(b))
            | (Rule::EncryptedRegex(a), Rule::EncryptedRegex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Rule {
    /// sops' `shouldBeEncrypted` for a value at `path` (every key on the way counts).
    fn encrypted(&self, path: &[String]) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Rule::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
        }
    }
}

/// How much of the MAC is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCheck {
    /// Recompute the MAC over the cleartext and compare: the document is as sops wrote it.
    Verify,
    /// Decrypt (and so authenticate) the stored MAC, but do not compare it: the document went
    /// through kustomize, which adds fields the MAC never covered (Flux does not check it).
    AuthenticateOnly,
}

/// Whether `doc` is a sops document: a top-level `sops` map with a `mac`.
pub fn is_sops_document(doc: &Value) -> bool {
    doc.get("sops").and_then(|s| s.get("mac")).is_some()
}

impl Metadata {
    /// Reads a `sops:` section (YAML, JSON and binary documents; dotenv metadata is unflattened
    /// into the same shape first). Errors name the field.
    pub fn parse(sops: &Value) -> Result<Metadata, String> {
        let map = sops.as_map().ok_or("`sops` is not a map")?;
        let text = |key: &str| -> Result<Option<String>, String> {
            match map.get(key) {
                None | Some(Value::Null | Value::Blank) => Ok(None),
                Some(v) => v.scalar_text().map(Some).ok_or_else(|| format!("sops.{key} is not a scalar")),
            }
        };
        let mut meta = Metadata {
            last_modified: text("lastmodified")?.ok_or("sops.lastmodified is missing")?,
            mac: text("mac")?.ok_or("sops.mac is missing")?,
            mac_only_encrypted: text("mac_only_encrypted")?.is_some_and(|v| v == "true"),
            ..Default::default()
        };
        for key in ["key_groups", "shamir_threshold", "unencrypted_comment_regex", "encrypted_comment_regex"] {
            if map.get(key).is_some_and(|v| !v.is_null()) {
                return Err(format!("sops.{key} is not supported by shipline's sops decryption"));
            }
        }
        let mut rules = Vec::new();
        let regex = |key: &str, r: &str| regex::Regex::new(r).map_err(|e| format!("sops.{key}: {e}"));
        if let Some(s) = text("unencrypted_suffix")?.filter(|s| !s.is_empty()) {
            rules.push(Rule::UnencryptedSuffix(s));
        }
        if let Some(s) = text("encrypted_suffix")?.filter(|s| !s.is_empty()) {
            rules.push(Rule::EncryptedSuffix(s));
        }
        if let Some(s) = text("unencrypted_regex")?.filter(|s| !s.is_empty()) {
            rules.push(Rule::UnencryptedRegex(regex("unencrypted_regex", &s)?));
        }
        if let Some(s) = text("encrypted_regex")?.filter(|s| !s.is_empty()) {
            rules.push(Rule::EncryptedRegex(regex("encrypted_regex", &s)?));
        }
        if rules.len() > 1 {
            return Err("sops: more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex is set".into());
        }
        meta.rule = rules.pop().unwrap_or_default();
        for (i, entry) in seq(map, "age")?.iter().enumerate() {
            let field = |k: &str| {
                entry.get(k).and_then(Value::scalar_text).ok_or_else(|| format!("sops.age[{i}].{k} is missing"))
            };
            meta.age.push(AgeKey { recipient: field("recipient")?, enc: field("enc")? });
        }
        for (i, entry) in seq(map, "kms")?.iter().enumerate() {
            let field = |k: &str| {
                entry.get(k).and_then(Value::scalar_text).ok_or_else(|| format!("sops.kms[{i}].{k} is missing"))
            };
            let optional = |k: &str| entry.get(k).and_then(Value::scalar_text).filter(|v| !v.is_empty());
            for refused in ["role", "aws_profile"] {
                if optional(refused).is_some() {
                    return Err(format!(
                        "sops.kms[{i}].{refused} is not supported: shipline calls KMS with the SDK's default credentials (IRSA in the cluster)"
                    ));
                }
            }
            let mut context = BTreeMap::new();
            if let Some(c) = entry.get("context").and_then(Value::as_map) {
                for (k, v) in c {
                    let v = v.scalar_text().ok_or_else(|| format!("sops.kms[{i}].context.{k} is not a scalar"))?;
                    context.insert(k.clone(), v);
                }
            }
            meta.kms.push(KmsKey { arn: field("arn")?, enc: field("enc")?, context });
        }
        for other in ["pgp", "gcp_kms", "azure_kv", "hc_vault"] {
            if !seq(map, other)?.is_empty() {
                meta.unsupported_keys.push(other.to_owned());
            }
        }
        Ok(meta)
    }
}

fn seq<'a>(map: &'a Map, key: &str) -> Result<&'a [Value], String> {
    match map.get(key) {
        None | Some(Value::Null | Value::Blank) => Ok(&[]),
        Some(Value::Seq(s)) => Ok(s),
        Some(_) => Err(format!("sops.{key} is not a list")),
    }
}

/// sops' `MACOnlyEncryptedInitialization`: SHA-256 of "sops", hashed first when only
/// encrypted values count, so the two kinds of MAC never coincide.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b,
    0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The running state of one document's decryption: the MAC hash and the rules.
pub struct Walker<'m> {
    meta: &'m Metadata,
    key: &'m [u8; 32],
    hash: Sha512,
}

impl<'m> Walker<'m> {
    /// Starts a document's walk with its data key.
    pub fn new(meta: &'m Metadata, key: &'m [u8; 32]) -> Self {
        let mut hash = Sha512::new();
        if meta.mac_only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Walker { meta, key, hash }
    }

    /// Decrypts every encrypted value under `value` in place (the document without its `sops`
    /// key), hashing the cleartext in document order. `path` is the keys leading to `value`.
    pub fn walk(&mut self, value: &mut Value, path: &mut Vec<String>) -> Result<(), String> {
        match value {
            Value::Map(map) => {
                for (k, v) in map.iter_mut() {
                    path.push(k.clone());
                    self.walk(v, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Seq(items) => items.iter_mut().try_for_each(|v| self.walk(v, path)),
            Value::Null | Value::Blank => Ok(()),
            leaf => {
                let plain = self.leaf(leaf_plain(leaf), path)?;
                *leaf = match plain {
                    Plain::Str(s) | Plain::Comment(s) => Value::String(s),
                    Plain::Int(i) => Value::Int(i.into()),
                    Plain::Float(f) => Value::Float(f),
                    Plain::Bool(b) => Value::Bool(b),
                    Plain::Bytes(b) => Value::String(
                        String::from_utf8(b).map_err(|_| format!("{}: a bytes value is not UTF-8", show_path(path)))?,
                    ),
                };
                Ok(())
            }
        }
    }

    /// Decrypts (when sops' rule says it is encrypted) and hashes one leaf at `path`.
    pub fn leaf(&mut self, value: Plain, path: &[String]) -> Result<Plain, String> {
        let encrypted = self.meta.rule.encrypted(path);
        let plain = if encrypted {
            let Plain::Str(text) = &value else {
                return Err(format!(
                    "{}: sops' rules say this value is encrypted, but it is not a string",
                    show_path(path)
                ));
            };
            let aad = format!("{}:", path.join(":"));
            cipher::decrypt(text, self.key, &aad).map_err(|e| format!("{}: {e}", show_path(path)))?
        } else {
            value
        };
        if !self.meta.mac_only_encrypted || encrypted {
            self.hash.update(plain.mac_bytes());
        }
        Ok(plain)
    }

    /// Checks the stored MAC: always decrypted (so authenticated with `lastmodified` as
    /// additional data), compared with the cleartext's hash when `check` is `Verify`.
    pub fn finish(self, check: MacCheck) -> Result<(), String> {
        let stored = cipher::decrypt(&self.meta.mac, self.key, &self.meta.last_modified)
            .map_err(|e| format!("sops.mac: {e} (the MAC or lastmodified was changed after sops wrote them)"))?;
        let Plain::Str(stored) = stored else { return Err("sops.mac: not a string".into()) };
        if check == MacCheck::Verify {
            let computed: String = self.hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
            if !stored.eq_ignore_ascii_case(&computed) {
                return Err("MAC mismatch: the document was changed after sops encrypted it".into());
            }
        }
        Ok(())
    }
}

/// A leaf as sops' stores load it: strings stay strings, numbers and booleans keep their type.
fn leaf_plain(v: &Value) -> Plain {
    match v {
        Value::Bool(b) => Plain::Bool(*b),
        Value::Int(i) => i64::try_from(*i).map_or_else(|_| Plain::Str(i.to_string()), Plain::Int),
        Value::Float(f) => Plain::Float(*f),
        Value::String(s) => Plain::Str(s.clone()),
        other => Plain::Str(other.scalar_text().unwrap_or_default()),
    }
}

/// A key path for messages (keys are not secret; values never appear).
pub fn show_path(path: &[String]) -> String {
    if path.is_empty() { "(document)".into() } else { path.join(".") }
}

/// Decrypts a YAML/JSON document in place with its data key and removes `sops`. The caller got
/// `key` from the document's [`Metadata`].
pub fn decrypt_document(doc: &mut Value, meta: &Metadata, key: &[u8; 32], check: MacCheck) -> Result<(), String> {
    let map = doc.as_map_mut().ok_or("the document is not a map")?;
    map.shift_remove("sops");
    let mut walker = Walker::new(meta, key);
    walker.walk(doc, &mut Vec::new())?;
    walker.finish(check)
}
