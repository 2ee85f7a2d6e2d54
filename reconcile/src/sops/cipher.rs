//! sops' value cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with the IV
//! length sops writes (32 bytes) and the value's key path as additional data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// AES-256-GCM with sops' 32-byte nonces (Go's `NewGCMWithNonceSize(len(iv))`).
type SopsGcm = AesGcm<Aes256, U32>;

/// A decrypted value, typed as sops recorded it.
#[derive(Clone, PartialEq)]
pub enum Plain {
    /// `type:str`.
    Str(String),
    /// `type:int`.
    Int(i64),
    /// `type:float`.
    Float(f64),
    /// `type:bool`.
    Bool(bool),
    /// `type:bytes` (and binary-store payloads).
    Bytes(Vec<u8>),
    /// `type:comment`: an encrypted YAML or dotenv comment.
    Comment(String),
}

// Never print a decrypted value, not even by accident through `{:?}`.
impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plain(<redacted>)")
    }
}

impl Plain {
    /// The bytes sops hashes into the MAC (`sops.ToBytes`): Go's formatting of numbers, and
    /// `True`/`False` for booleans.
    pub fn mac_bytes(&self) -> Vec<u8> {
        match self {
            Plain::Str(s) | Plain::Comment(s) => s.as_bytes().to_vec(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => go_float(*f).into_bytes(),
            Plain::Bool(true) => b"True".to_vec(),
            Plain::Bool(false) => b"False".to_vec(),
            Plain::Bytes(b) => b.clone(),
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest digits, never an exponent. Rust's
/// `Display` for `f64` prints the same.
pub fn go_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    format!("{f}")
}

/// Whether `s` has the shape of a sops-encrypted value.
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,") && s.ends_with(']')
}

/// Decrypts one `ENC[...]` value with the document's data key; `aad` is the key path joined by
/// `:` with a trailing `:` (sops' additional data). An empty value stays empty, as in sops.
/// Errors never include the value (it could be a plaintext secret someone forgot to encrypt).
pub fn decrypt(value: &str, key: &[u8; 32], aad: &str) -> Result<Plain, String> {
    if value.is_empty() {
        return Ok(Plain::Str(String::new()));
    }
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|v| v.strip_suffix(']'))
        .ok_or("the value is not of the form ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]")?;
    let (mut data, mut iv, mut tag, mut kind) = (None, None, None, None);
    for part in inner.split(',') {
        match part.split_once(':') {
            Some(("data", v)) => data = Some(v),
            Some(("iv", v)) => iv = Some(v),
            Some(("tag", v)) => tag = Some(v),
            Some(("type", v)) => kind = Some(v),
            _ => return Err("the encrypted value has an unknown part".into()),
        }
    }
    let (Some(data), Some(iv), Some(tag), Some(kind)) = (data, iv, tag, kind) else {
        return Err("the encrypted value lacks data, iv, tag or type".into());
    };
    let b64 =
        |what: &str, v: &str| STANDARD.decode(v).map_err(|_| format!("the encrypted value's {what} is not base64"));
    let (mut data, iv, tag) = (b64("data", data)?, b64("iv", iv)?, b64("tag", tag)?);
    if iv.len() != 32 || tag.len() != 16 {
        return Err(format!(
            "the encrypted value has a {}-byte iv and a {}-byte tag (sops writes 32 and 16)",
            iv.len(),
            tag.len()
        ));
    }
    data.extend_from_slice(&tag);
    let cipher = SopsGcm::new_from_slice(key).map_err(|_| "the data key is not 32 bytes")?;
    let plain =
        cipher.decrypt(Nonce::<U32>::from_slice(&iv), Payload { msg: &data, aad: aad.as_bytes() }).map_err(|_| {
            "authentication failed: the value, its key path or the data key is not the one sops encrypted".to_owned()
        })?;
    let text = || String::from_utf8(plain.clone()).map_err(|_| format!("a type:{kind} value is not UTF-8"));
    Ok(match kind {
        // The binary store writes any file as `type:str`, UTF-8 or not.
        "str" => String::from_utf8(plain).map_or_else(|e| Plain::Bytes(e.into_bytes()), Plain::Str),
        "bytes" => Plain::Bytes(plain),
        "comment" => Plain::Comment(text()?),
        "int" => Plain::Int(text()?.parse().map_err(|_| "a type:int value is not an integer".to_owned())?),
        "float" => Plain::Float(text()?.parse().map_err(|_| "a type:float value is not a number".to_owned())?),
        "bool" => Plain::Bool(match text()?.as_str() {
            "true" | "True" | "TRUE" | "1" | "t" | "T" => true,
            "false" | "False" | "FALSE" | "0" | "f" | "F" => false,
            _ => return Err("a type:bool value is not a boolean".into()),
        }),
        other => return Err(format!("unknown value type {other:?}")),
    })
}

#[cfg(test)]
pub(crate) fn encrypt_for_tests(plain: &[u8], key: &[u8; 32], iv: &[u8; 32], aad: &str, kind: &str) -> String {
    let cipher = SopsGcm::new_from_slice(key).unwrap();
    let mut out = cipher.encrypt(Nonce::<U32>::from_slice(iv), Payload { msg: plain, aad: aad.as_bytes() }).unwrap();
    let tag = out.split_off(out.len() - 16);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(out),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const IV: [u8; 32] = [9; 32];

    #[test]
    fn typed_values_round_trip_and_hash_like_go() {
        let cases: [(&[u8], &str, Plain, &str); 6] = [
            (b"hunter2", "str", Plain::Str("hunter2".into()), "hunter2"),
            (b"42", "int", Plain::Int(42), "42"),
            (b"1.5", "float", Plain::Float(1.5), "1.5"),
            (b"true", "bool", Plain::Bool(true), "True"),
            (b"\x00\x01", "bytes", Plain::Bytes(vec![0, 1]), "\u{0}\u{1}"),
            (b" a comment", "comment", Plain::Comment(" a comment".into()), " a comment"),
        ];
        for (plain, kind, want, mac) in cases {
            let enc = encrypt_for_tests(plain, &KEY, &IV, "data:password:", kind);
            let got = decrypt(&enc, &KEY, "data:password:").unwrap();
            assert!(got == want, "{kind}");
            assert_eq!(got.mac_bytes(), mac.as_bytes(), "{kind}");
        }
    }

    #[test]
    fn a_moved_value_a_wrong_key_or_tampering_fails_without_showing_the_value() {
        let enc = encrypt_for_tests(b"hunter2", &KEY, &IV, "data:password:", "str");
        let tampered = enc.replacen("type:str", "type:bytes", 1);
        let bad_tag = {
            let (head, _) = enc.split_once(",tag:").unwrap();
            format!("{head},tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]")
        };
        let cases: [(&str, [u8; 32], &str, &str); 5] = [
            (&enc, KEY, "data:user:", "authentication failed"),
            (&enc, [8; 32], "data:password:", "authentication failed"),
            (&bad_tag, KEY, "data:password:", "authentication failed"),
            ("hunter2", KEY, "data:password:", "not of the form"),
            ("ENC[AES256_GCM,data:xx,iv:!!,tag:x,type:str]", KEY, "a:", "not base64"),
        ];
        for (value, key, aad, want) in cases {
            let err = decrypt(value, &key, aad).unwrap_err();
            assert!(err.contains(want), "{value}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        // The type is outside the authenticated data in sops; a changed type still decrypts.
        assert!(decrypt(&tampered, &KEY, "data:password:").is_ok());
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(format!("{:?}", Plain::Str("hunter2".into())), "Plain(<redacted>)");
    }
}
