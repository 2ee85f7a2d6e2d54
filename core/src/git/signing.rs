//! Signed commits: an SSH key (signed here, SSHSIG over Ed25519 with ring, so a Lambda needs no
//! binaries) or an OpenPGP key (signed by `gpg` in a private, throw-away home directory). The
//! signature goes in the commit's `gpgsig` header, where `git verify-commit` looks for both.
//!
//! Keys come as text: an OpenSSH private key, an armored OpenPGP private key, or Flux's
//! `signingKey` Secret (a Kubernetes Secret manifest with `git.asc` and optional `passphrase`).

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use git2::Repository;

use super::GitError;
use crate::secret::Secret;

/// A key commits are signed with. Its material never shows in `Debug` or errors.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// An OpenSSH `ssh-ed25519` private key (unencrypted).
    Ssh {
        /// The 32-byte seed.
        seed: Secret,
        /// The 32-byte public key.
        public: Vec<u8>,
    },
    /// An armored OpenPGP private key, signed with by `gpg`.
    Gpg {
        /// `-----BEGIN PGP PRIVATE KEY BLOCK-----...`
        armored: Secret,
        /// Its passphrase, if it has one.
        passphrase: Option<Secret>,
    },
}

/// Why a signing key cannot be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[error("signing key ({source_name}): {message}")]
pub struct SigningKeyError {
    /// Where the key came from (a file name, an environment variable).
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

fn read_u32(data: &[u8], pos: &mut usize) -> Option<u32> {
    let bytes = data.get(*pos..*pos + 4)?;
    *pos += 4;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn read_string<'a>(data: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = read_u32(data, pos)? as usize;
    let out = data.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(out)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

impl SigningKey {
    /// Reads a key from `text`; `source_name` is how errors name where it came from, and
    /// `passphrase` applies to OpenPGP keys (a Flux Secret may carry its own).
    pub fn parse(text: &str, source_name: &str, passphrase: Option<Secret>) -> Result<SigningKey, SigningKeyError> {
        let bad = |message: &str| SigningKeyError { source_name: source_name.to_owned(), message: message.to_owned() };
        let trimmed = text.trim_start();
        if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return parse_openssh(trimmed).map_err(bad);
        }
        if trimmed.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Ok(SigningKey::Gpg { armored: Secret::new(trimmed), passphrase });
        }
        // Flux's shape: a Secret with `git.asc` (and `passphrase`), in `data` (base64) or `stringData`.
        let doc: serde_json::Value = serde_saphyr::from_str(text).map_err(|_| {
            bad("expected an OpenSSH private key, an armored OpenPGP private key, or a Secret with git.asc")
        })?;
        if doc.get("kind").and_then(|k| k.as_str()) != Some("Secret") {
            return Err(bad(
                "expected an OpenSSH private key, an armored OpenPGP private key, or a Secret with git.asc",
            ));
        }
        let field = |name: &str| -> Result<Option<String>, SigningKeyError> {
            if let Some(v) = doc.pointer(&format!("/stringData/{}", name.replace('/', "~1"))).and_then(|v| v.as_str()) {
                return Ok(Some(v.to_owned()));
            }
            match doc.get("data").and_then(|d| d.get(name)).and_then(|v| v.as_str()) {
                Some(b64) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|_| bad(&format!("data.{name} is not base64")))?;
                    String::from_utf8(bytes).map(Some).map_err(|_| bad(&format!("data.{name} is not UTF-8")))
                }
                None => Ok(None),
            }
        };
        let armored = field("git.asc")?.ok_or_else(|| bad("the Secret has no git.asc (Flux's signingKey shape)"))?;
        let passphrase = field("passphrase")?.map(Secret::new).or(passphrase);
        match SigningKey::parse(&armored, source_name, passphrase)? {
            key @ SigningKey::Gpg { .. } => Ok(key),
            SigningKey::Ssh { .. } => Err(bad("git.asc must hold an armored OpenPGP private key")),
        }
    }

    /// Signs a commit buffer; the result goes in the `gpgsig` header.
    pub fn sign(&self, data: &[u8]) -> Result<String, GitError> {
        match self {
            SigningKey::Ssh { seed, public } => sign_ssh(seed, public, data),
            SigningKey::Gpg { armored, passphrase } => sign_gpg(armored, passphrase.as_ref(), data),
        }
    }
}

/// Reads an unencrypted OpenSSH `ssh-ed25519` private key.
fn parse_openssh(text: &str) -> Result<SigningKey, &'static str> {
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let data =
        base64::engine::general_purpose::STANDARD.decode(body.trim()).map_err(|_| "the key is not valid base64")?;
    let malformed = "malformed OpenSSH private key";
    let rest = data.strip_prefix(b"openssh-key-v1\0".as_slice()).ok_or(malformed)?;
    let mut pos = 0;
    let cipher = read_string(rest, &mut pos).ok_or(malformed)?;
    if cipher != b"none" {
        return Err("the SSH key is encrypted: give an unencrypted key (keep it in a secret store)");
    }
    read_string(rest, &mut pos).ok_or(malformed)?; // kdf name
    read_string(rest, &mut pos).ok_or(malformed)?; // kdf options
    if read_u32(rest, &mut pos).ok_or(malformed)? != 1 {
        return Err("the file holds more than one key");
    }
    read_string(rest, &mut pos).ok_or(malformed)?; // public key
    let private = read_string(rest, &mut pos).ok_or(malformed)?;
    let mut p = 0;
    let (check1, check2) = (read_u32(private, &mut p).ok_or(malformed)?, read_u32(private, &mut p).ok_or(malformed)?);
    if check1 != check2 {
        return Err(malformed);
    }
    let key_type = read_string(private, &mut p).ok_or(malformed)?;
    if key_type != b"ssh-ed25519" {
        return Err("only ssh-ed25519 keys are supported for signing (ssh-keygen -t ed25519)");
    }
    let public = read_string(private, &mut p).ok_or(malformed)?;
    let secret = read_string(private, &mut p).ok_or(malformed)?;
    if public.len() != 32 || secret.len() != 64 || &secret[32..] != public {
        return Err(malformed);
    }
    let seed = base64::engine::general_purpose::STANDARD.encode(&secret[..32]);
    Ok(SigningKey::Ssh { seed: Secret::new(seed), public: public.to_vec() })
}

/// An SSHSIG signature (namespace `git`, SHA-512), armored as `ssh-keygen -Y sign` writes it.
fn sign_ssh(seed: &Secret, public: &[u8], data: &[u8]) -> Result<String, GitError> {
    let fail = |message: &str| GitError::Signing { message: message.to_owned() };
    let seed = base64::engine::general_purpose::STANDARD.decode(seed.expose()).map_err(|_| fail("bad key seed"))?;
    let pair = ring::signature::Ed25519KeyPair::from_seed_and_public_key(&seed, public)
        .map_err(|_| fail("the SSH key's private and public halves do not match"))?;
    let digest = ring::digest::digest(&ring::digest::SHA512, data);
    let mut signed = b"SSHSIG".to_vec();
    put_string(&mut signed, b"git");
    put_string(&mut signed, b"");
    put_string(&mut signed, b"sha512");
    put_string(&mut signed, digest.as_ref());
    let signature = pair.sign(&signed);
    let mut public_blob = Vec::new();
    put_string(&mut public_blob, b"ssh-ed25519");
    put_string(&mut public_blob, public);
    let mut sig_blob = Vec::new();
    put_string(&mut sig_blob, b"ssh-ed25519");
    put_string(&mut sig_blob, signature.as_ref());
    let mut blob = b"SSHSIG".to_vec();
    blob.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut blob, &public_blob);
    put_string(&mut blob, b"git");
    put_string(&mut blob, b"");
    put_string(&mut blob, b"sha512");
    put_string(&mut blob, &sig_blob);
    let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END SSH SIGNATURE-----");
    Ok(out)
}

/// Signs with `gpg` in a private home directory that is removed afterwards (the key is imported
/// there only), so the machine's keyrings are never touched.
fn sign_gpg(armored: &Secret, passphrase: Option<&Secret>, data: &[u8]) -> Result<String, GitError> {
    let fail = |message: String| GitError::Signing { message };
    let home = tempfile::Builder::new()
        .prefix("shipline-gpg-")
        .tempdir()
        .map_err(|e| fail(format!("temporary GnuPG home: {e}")))?;
    let run = |args: &[&str], input: &[u8]| -> Result<Vec<u8>, GitError> {
        let mut child = Command::new("gpg")
            .arg("--batch")
            .arg("--no-tty")
            .arg("--homedir")
            .arg(home.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                fail(format!("running gpg (needed for an OpenPGP signing key; an SSH key needs nothing): {e}"))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).map_err(|e| fail(format!("writing to gpg: {e}")))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(format!("waiting for gpg: {e}")))?;
        if !out.status.success() {
            // gpg's own words, which name no key material.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rfind(|l| l.starts_with("gpg:")).unwrap_or("failed").to_owned();
            return Err(fail(format!("gpg {}: {last}", args.first().unwrap_or(&""))));
        }
        Ok(out.stdout)
    };
    run(&["--import"], armored.expose().as_bytes())?;
    let mut args = vec!["--pinentry-mode", "loopback", "--armor", "--detach-sign"];
    let pass_file = home.path().join("passphrase");
    let pass_path = pass_file.to_string_lossy().into_owned();
    if let Some(p) = passphrase {
        write_private(&pass_file, p.expose()).map_err(|e| fail(format!("passphrase file: {e}")))?;
        args.extend(["--passphrase-file", pass_path.as_str()]);
    }
    let result = run(&args, data);
    let _ = Command::new("gpgconf").arg("--homedir").arg(home.path()).args(["--kill", "gpg-agent"]).output();
    let signature = String::from_utf8(result?).map_err(|_| fail("gpg wrote a non-UTF-8 signature".into()))?;
    Ok(signature.trim_end().to_owned())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

/// Stages every change of the work tree and commits it on HEAD, signed with `key`. Returns the
/// new commit, or `None` when the tree is unchanged.
pub fn commit_all_signed(
    repo: &Repository,
    message: &str,
    author: &git2::Signature<'_>,
    key: &SigningKey,
) -> Result<Option<git2::Oid>, GitError> {
    let Some((tree, parent)) = super::stage_all(repo)? else { return Ok(None) };
    let err = super::commit_error(repo);
    let head = repo.head().map_err(&err)?;
    let buffer = repo.commit_create_buffer(author, author, message, &tree, &[&parent]).map_err(&err)?;
    let content =
        std::str::from_utf8(&buffer).map_err(|_| GitError::Signing { message: "commit is not UTF-8".into() })?;
    let signature = key.sign(content.as_bytes())?;
    let oid = repo.commit_signed(content, &signature, Some("gpgsig")).map_err(&err)?;
    let branch = head.name().map_err(|_| GitError::Signing { message: "HEAD is not a branch".into() })?;
    repo.reference(branch, oid, true, "shipline: signed commit").map_err(&err)?;
    Ok(Some(oid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes_are_recognised_and_errors_name_the_source() {
        let gpg = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n";
        assert!(matches!(SigningKey::parse(gpg, "f", None).unwrap(), SigningKey::Gpg { passphrase: None, .. }));
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: signing}}\ndata:\n  git.asc: {}\n  passphrase: {}\n",
            base64::engine::general_purpose::STANDARD.encode(gpg),
            base64::engine::general_purpose::STANDARD.encode("pw")
        );
        match SigningKey::parse(&secret, "secret.yaml", None).unwrap() {
            SigningKey::Gpg { passphrase, .. } => assert_eq!(passphrase.unwrap().expose(), "pw"),
            other => panic!("{other:?}"),
        }
        let no_asc = "apiVersion: v1\nkind: Secret\nstringData: {identity: x}\n";
        let e = SigningKey::parse(no_asc, "secret.yaml", None).unwrap_err();
        assert!(e.to_string().contains("secret.yaml") && e.to_string().contains("git.asc"), "{e}");
        let e = SigningKey::parse("hello", "SHIPLINE_SIGNING_KEY", None).unwrap_err();
        assert!(e.to_string().starts_with("signing key (SHIPLINE_SIGNING_KEY)"), "{e}");
        let e = SigningKey::parse(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "k",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("malformed"), "{e}");
    }

    #[test]
    fn key_material_never_prints() {
        let key = SigningKey::Gpg { armored: Secret::new("TOP-SECRET"), passphrase: Some(Secret::new("PW")) };
        let shown = format!("{key:?}");
        assert!(!shown.contains("TOP-SECRET") && !shown.contains("PW"), "{shown}");
    }
}
