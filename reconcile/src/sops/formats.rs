//! The file formats sops writes, as Flux's kustomize-controller detects them: YAML and JSON
//! documents, dotenv files, and the binary store (a JSON envelope around one value). INI is
//! detected and refused by name.

use shipline_core::kustomize::yaml::{self, Map, Value};

use super::cipher::{self, Plain};
use super::tree::{self, MacCheck, Metadata, Walker};

/// A sops file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A YAML document.
    Yaml,
    /// A JSON document.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// INI (detected, not supported).
    Ini,
    /// Any other file: sops' binary store.
    Binary,
}

impl Format {
    /// sops' `FormatForPath`, with Flux's addition that `.dockerconfigjson` is JSON.
    pub fn for_path(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".json") || lower.ends_with(".dockerconfigjson") {
            Format::Json
        } else if lower.ends_with(".env") {
            Format::Dotenv
        } else if lower.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The bytes Flux looks for to call a file of this format sops-encrypted.
    fn marker(self) -> &'static [u8] {
        match self {
            Format::Yaml => b"mac: ENC[",
            Format::Json | Format::Binary => b"\"mac\": \"ENC[",
            Format::Dotenv => b"sops_mac=ENC[",
            Format::Ini => b"[sops]",
        }
    }

    /// Whether `bytes` carry this format's sops marker (a file without it is left as it is).
    pub fn is_encrypted(self, bytes: &[u8]) -> bool {
        let m = self.marker();
        bytes.windows(m.len()).any(|w| w == m)
    }

    /// The format whose marker `bytes` carry, if any (Flux's `detectFormatFromMarkerBytes`,
    /// for Secret data values).
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        [Format::Dotenv, Format::Ini, Format::Json, Format::Yaml].into_iter().find(|f| f.is_encrypted(bytes))
    }
}

/// Decrypts a whole sops file of `format` and returns it in the same format, the MAC verified
/// (a file read from the tree is exactly as sops wrote it). `data_key` recovers the data key
/// from the file's metadata.
pub fn decrypt_file(
    bytes: &[u8],
    format: Format,
    data_key: &dyn Fn(&Metadata) -> Result<[u8; 32], String>,
) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "a sops-encrypted file is not UTF-8".to_owned())?;
    match format {
        Format::Ini => Err("sops INI files are not supported by shipline's sops decryption".into()),
        Format::Dotenv => decrypt_dotenv(text, data_key),
        Format::Yaml | Format::Json | Format::Binary => {
            let mut docs = yaml::parse_documents(text).map_err(|e| format!("not a sops {format:?} file: {e}"))?;
            if docs.len() != 1 {
                return Err(format!("{} documents: multi-document sops files are not supported", docs.len()));
            }
            let mut doc = docs.remove(0);
            let meta = Metadata::parse(doc.get("sops").ok_or("no `sops` metadata")?)?;
            let key = data_key(&meta)?;
            if format == Format::Binary {
                // One value, any bytes (not necessarily UTF-8): decrypted and hashed on its own.
                let Some(Value::String(data)) = doc.get("data") else {
                    return Err("a sops binary file has no `data` string".into());
                };
                let mut walker = Walker::new(&meta, &key);
                let plain = walker.leaf(Plain::Str(data.clone()), &["data".to_owned()])?;
                walker.finish(MacCheck::Verify)?;
                return Ok(match plain {
                    Plain::Str(s) => s.into_bytes(),
                    Plain::Bytes(b) => b,
                    _ => return Err("a sops binary file's data is not a string".into()),
                });
            }
            tree::decrypt_document(&mut doc, &meta, &key, MacCheck::Verify)?;
            Ok(match format {
                Format::Json => {
                    let mut out = String::new();
                    emit_json(&doc, 0, &mut out);
                    out.push('\n');
                    out.into_bytes()
                }
                _ => yaml::to_string(&doc).into_bytes(),
            })
        }
    }
}

/// A dotenv line: sops keeps comments (and may encrypt them) and drops blank lines.
enum Line {
    Comment(String),
    Pair(String, String),
}

fn decrypt_dotenv(text: &str, data_key: &dyn Fn(&Metadata) -> Result<[u8; 32], String>) -> Result<Vec<u8>, String> {
    let mut lines = Vec::new();
    let mut sops = Map::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(c) = raw.strip_prefix('#') {
            lines.push(Line::Comment(c.to_owned()));
            continue;
        }
        let (k, v) = raw.split_once('=').ok_or_else(|| format!("line {}: not KEY=value", i + 1))?;
        let v = v.replace("\\n", "\n");
        match k.strip_prefix("sops_") {
            Some(meta_key) => unflatten(&mut sops, meta_key, v).map_err(|e| format!("line {}: {e}", i + 1))?,
            None => lines.push(Line::Pair(k.to_owned(), v)),
        }
    }
    let meta = Metadata::parse(&Value::Map(sops))?;
    let key = data_key(&meta)?;
    let mut walker = Walker::new(&meta, &key);
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Comment(c) => {
                // sops tries to decrypt a comment and keeps it as it is when that fails (it may
                // predate comment encryption); comments are not in the MAC.
                let plain = match cipher::decrypt(&c, &key, ":") {
                    Ok(Plain::Comment(p) | Plain::Str(p)) if cipher::is_encrypted(&c) => p,
                    _ => c,
                };
                out.push('#');
                out.push_str(&plain);
            }
            Line::Pair(k, v) => {
                let plain = walker.leaf(Plain::Str(v), std::slice::from_ref(&k))?;
                let value = match plain {
                    Plain::Str(s) | Plain::Comment(s) => s,
                    Plain::Bytes(b) => String::from_utf8(b).map_err(|_| format!("{k}: a bytes value is not UTF-8"))?,
                    Plain::Int(i) => i.to_string(),
                    Plain::Float(f) => cipher::go_float(f),
                    Plain::Bool(b) => b.to_string(),
                };
                out.push_str(&k);
                out.push('=');
                out.push_str(&value.replace('\n', "\\n"));
            }
        }
        out.push('\n');
    }
    walker.finish(MacCheck::Verify)?;
    Ok(out.into_bytes())
}

/// Puts a flattened dotenv/INI metadata key (`age__list_0__map_enc`) into `map`.
fn unflatten(map: &mut Map, key: &str, value: String) -> Result<(), String> {
    let (head, rest) = match key.find("__") {
        Some(i) => (&key[..i], Some(&key[i + 2..])),
        None => (key, None),
    };
    let Some(rest) = rest else {
        map.insert(head.to_owned(), Value::String(value));
        return Ok(());
    };
    if let Some(after) = rest.strip_prefix("list_") {
        let (index, tail) = after.split_once("__").ok_or_else(|| format!("sops_{key}: malformed list key"))?;
        let index: usize = index.parse().map_err(|_| format!("sops_{key}: malformed list index"))?;
        let tail = tail.strip_prefix("map_").ok_or_else(|| format!("sops_{key}: only maps in lists are supported"))?;
        let entry = map.entry(head.to_owned()).or_insert_with(|| Value::Seq(Vec::new()));
        let Value::Seq(items) = entry else { return Err(format!("sops_{key}: {head} is not a list")) };
        if index > items.len() || index > 64 {
            return Err(format!("sops_{key}: list index out of order"));
        }
        if index == items.len() {
            items.push(Value::Map(Map::new()));
        }
        let Value::Map(m) = &mut items[index] else { return Err(format!("sops_{key}: not a map")) };
        unflatten(m, tail, value)
    } else if let Some(tail) = rest.strip_prefix("map_") {
        let entry = map.entry(head.to_owned()).or_insert_with(|| Value::Map(Map::new()));
        let Value::Map(m) = entry else { return Err(format!("sops_{key}: {head} is not a map")) };
        unflatten(m, tail, value)
    } else {
        map.insert(key.to_owned(), Value::String(value));
        Ok(())
    }
}

/// JSON as sops' JSON store prints it: tab-indented, keys in document order.
fn emit_json(v: &Value, depth: usize, out: &mut String) {
    let indent = |n: usize, out: &mut String| out.extend(std::iter::repeat_n('\t', n));
    match v {
        Value::Map(m) if m.is_empty() => out.push_str("{}"),
        Value::Map(m) => {
            out.push_str("{\n");
            for (i, (k, v)) in m.iter().enumerate() {
                indent(depth + 1, out);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                emit_json(v, depth + 1, out);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push('}');
        }
        Value::Seq(s) if s.is_empty() => out.push_str("[]"),
        Value::Seq(s) => {
            out.push_str("[\n");
            for (i, v) in s.iter().enumerate() {
                indent(depth + 1, out);
                emit_json(v, depth + 1, out);
                out.push_str(if i + 1 < s.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push(']');
        }
        Value::Null | Value::Blank => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&cipher::go_float(*f)),
        Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
    }
}

/// The metadata of a sops file of `format`, to recover its data key before decrypting it.
pub fn metadata_of(bytes: &[u8], format: Format) -> Result<Metadata, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "a sops-encrypted file is not UTF-8".to_owned())?;
    match format {
        Format::Ini => Err("sops INI files are not supported by shipline's sops decryption".into()),
        Format::Dotenv => {
            let mut sops = Map::new();
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=')
                    && let Some(meta_key) = k.strip_prefix("sops_")
                {
                    unflatten(&mut sops, meta_key, v.replace("\\n", "\n"))?;
                }
            }
            Metadata::parse(&Value::Map(sops))
        }
        _ => {
            let docs = yaml::parse_documents(text).map_err(|e| format!("not a sops {format:?} file: {e}"))?;
            let doc = docs.first().ok_or("an empty file")?;
            Metadata::parse(doc.get("sops").ok_or("no `sops` metadata")?)
        }
    }
}
