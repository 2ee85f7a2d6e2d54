//! The content-hash name suffix of generated ConfigMaps and Secrets, computed as kustomize does:
//! SHA-256 of a Go-`encoding/json` encoding, first 10 hex digits with vowel-free substitutions.

use sha2::{Digest, Sha256};

use crate::yaml::{Map, Value};

/// Go's `json.Marshal` of a string (HTML-safe escaping included).
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Marshal` of a decoded value: map keys sorted bytewise, no whitespace.
pub fn json(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Blank => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&crate::yaml::resolve::format_float(*f)),
        Value::String(s) => json_string(s, out),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// The 10-character suffix for a ConfigMap or Secret object.
///
/// kustomize looks the name up as a single key `metadata/name` (which never exists), so the
/// name always hashes as `""`; a missing `data` or `type` hashes as `""` too.
pub fn suffix(obj: &Map) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let field = |k: &str| match obj.get(k) {
        None => Value::from(""),
        Some(v @ (Value::Map(_) | Value::Seq(_))) => v.clone(),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Null | Value::Blank) => Value::from(""),
        Some(v) => Value::String(v.scalar_text().unwrap_or_default()),
    };
    let mut m = Map::new();
    m.insert("kind".into(), Value::from(kind));
    m.insert("name".into(), Value::from(""));
    m.insert("data".into(), field("data"));
    let extra = if kind == "Secret" {
        m.insert("type".into(), field("type"));
        "stringData"
    } else {
        "binaryData"
    };
    if let Some(v @ Value::Map(_)) = obj.get(extra) {
        m.insert(extra.into(), v.clone());
    }
    let mut text = String::new();
    json(&Value::Map(m), &mut text);
    encode(&Sha256::digest(text.as_bytes()))
}

/// The first 10 hex digits, with `0 1 3 a e` replaced so no words or confusables appear.
fn encode(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .take(5)
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(|c| match char::from(c) {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_one;

    fn suffix_of(yaml: &str) -> String {
        suffix(parse_one(yaml).unwrap().as_map().unwrap())
    }

    #[test]
    fn hashes_measured_against_kubectl() {
        // Names printed by `kubectl kustomize` (v5.5.0) for these generated objects.
        assert_eq!(suffix_of("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: empty\n"), "6ct58987ht");
        assert_eq!(
            suffix_of(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\ntype: Opaque\ndata:\n  password: czNjcjN0\n"
            ),
            "25k92892fb"
        );
        assert_eq!(
            suffix_of(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: imm\n  labels: {l: v}\ndata:\n  k: v\nimmutable: true\n"
            ),
            "bdg947hgcc"
        );
    }

    #[test]
    fn json_escapes_like_go() {
        let mut s = String::new();
        json_string("a<b>&\"\\\n\u{1}", &mut s);
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"\\\n\u0001""#);
    }
}
