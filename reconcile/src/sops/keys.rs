//! Where data keys come from (the edge): age identities from the decryption Secret (Flux's
//! shape: keys ending in `.agekey`), and AWS KMS through the SDK's credentials (IRSA in the
//! cluster) or the Secret's `sops.aws-kms` static credentials.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::tree::Metadata;

/// The keys one sync decrypts with. Never printed: `Debug` shows only counts.
pub struct KeyRing {
    age: Vec<age::x25519::Identity>,
    /// Where the age identities came from, for messages (`Secret NAME`).
    origin: String,
    kms: Option<aws_config::SdkConfig>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} age identities, KMS {})", self.age.len(), self.kms.is_some())
    }
}

/// Static AWS credentials in Flux's `sops.aws-kms` Secret key.
#[derive(serde::Deserialize)]
struct AwsKmsCredentials {
    aws_access_key_id: String,
    aws_secret_access_key: String,
    #[serde(default)]
    aws_session_token: Option<String>,
}

impl KeyRing {
    /// Reads the decryption Secret's data (`secret` names it in messages; `None` when the sync
    /// names no Secret). `sdk` is the SDK configuration KMS calls use; `sops.aws-kms` in the
    /// Secret replaces its credentials, as in Flux. Other Flux key files are refused by name.
    pub fn from_secret(
        secret: &str,
        data: &BTreeMap<String, Vec<u8>>,
        sdk: aws_config::SdkConfig,
    ) -> Result<KeyRing, String> {
        let mut ring = KeyRing { age: Vec::new(), origin: format!("Secret {secret}"), kms: None };
        let mut sdk = sdk;
        for (name, value) in data {
            if name.ends_with(".agekey") {
                let text = std::str::from_utf8(value).map_err(|_| format!("Secret {secret}: {name} is not UTF-8"))?;
                for (i, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    // The parse error could echo key material: say only where.
                    let id = age::x25519::Identity::from_str(line).map_err(|_| {
                        format!(
                            "Secret {secret}: {name} line {}: not an age X25519 identity (AGE-SECRET-KEY-1...)",
                            i + 1
                        )
                    })?;
                    ring.age.push(id);
                }
            } else if name == "sops.aws-kms" {
                let creds: AwsKmsCredentials =
                    std::str::from_utf8(value).ok().and_then(|t| serde_saphyr::from_str(t).ok()).ok_or_else(|| {
                        format!("Secret {secret}: sops.aws-kms: expected aws_access_key_id and aws_secret_access_key")
                    })?;
                let creds = aws_sdk_kms::config::Credentials::new(
                    creds.aws_access_key_id,
                    creds.aws_secret_access_key,
                    creds.aws_session_token,
                    None,
                    "flux-sops-aws-kms",
                );
                sdk = sdk
                    .into_builder()
                    .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(creds))
                    .build();
            } else if name.ends_with(".asc")
                || ["sops.vault-token", "sops.azure-kv", "sops.gcp-kms"].contains(&name.as_str())
            {
                return Err(format!(
                    "Secret {secret}: {name} is not supported (shipline decrypts with age keys and AWS KMS only)"
                ));
            }
        }
        ring.kms = Some(sdk);
        Ok(ring)
    }

    /// A ring with KMS only (the sync names no Secret): IRSA or the environment's credentials.
    pub fn kms_only(sdk: aws_config::SdkConfig) -> KeyRing {
        KeyRing { age: Vec::new(), origin: "no decryption Secret".into(), kms: Some(sdk) }
    }

    /// A ring with age identities only (tests).
    pub fn age_only(identities: &str) -> Result<KeyRing, String> {
        let data = BTreeMap::from([("identity.agekey".to_owned(), identities.as_bytes().to_vec())]);
        let mut ring = KeyRing::from_secret("test", &data, aws_config::SdkConfig::builder().build())?;
        ring.kms = None;
        Ok(ring)
    }

    /// Recovers a document's data key: age entries first (as sops orders them), then KMS. The
    /// error lists why each copy failed; it names keys (recipients, ARNs), never key material.
    pub async fn data_key(&self, meta: &Metadata) -> Result<[u8; 32], String> {
        let mut why = Vec::new();
        for entry in &meta.age {
            if self.age.is_empty() {
                why.push(format!("age {}: {} holds no .agekey identity", entry.recipient, self.origin));
                continue;
            }
            match self.age_unwrap(&entry.enc) {
                Ok(key) => return Ok(key),
                Err(e) => why.push(format!("age {}: {e}", entry.recipient)),
            }
        }
        for entry in &meta.kms {
            let Some(sdk) = &self.kms else {
                why.push(format!("kms {}: KMS is not configured", entry.arn));
                continue;
            };
            match kms_unwrap(sdk, &entry.arn, &entry.enc, &entry.context).await {
                Ok(key) => return Ok(key),
                Err(e) => why.push(format!("kms {}: {e}", entry.arn)),
            }
        }
        for other in &meta.unsupported_keys {
            why.push(format!("{other}: not supported by shipline"));
        }
        if why.is_empty() {
            why.push("the document lists no keys".into());
        }
        Err(format!("cannot get the sops data key: {}", why.join("; ")))
    }

    fn age_unwrap(&self, enc: &str) -> Result<[u8; 32], String> {
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        let decryptor = age::Decryptor::new(reader).map_err(|e| format!("not an age file: {e}"))?;
        let mut plain = decryptor
            .decrypt(self.age.iter().map(|i| i as &dyn age::Identity))
            .map_err(|_| format!("no age identity in {} matches", self.origin))?;
        let mut key = Vec::with_capacity(32);
        plain.read_to_end(&mut key).map_err(|e| format!("reading the age payload: {e}"))?;
        key.try_into().map_err(|_| "the age payload is not a 32-byte data key".to_owned())
    }
}

/// Calls KMS `Decrypt` for one copy of the data key, in the ARN's region.
async fn kms_unwrap(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    enc: &str,
    context: &BTreeMap<String, String>,
) -> Result<[u8; 32], String> {
    let region = arn.split(':').nth(3).filter(|r| !r.is_empty()).ok_or("not a KMS key ARN (arn:aws:kms:REGION:...)")?;
    let blob = STANDARD.decode(enc.trim()).map_err(|_| "enc is not base64".to_owned())?;
    let config =
        aws_sdk_kms::config::Builder::from(sdk).region(aws_sdk_kms::config::Region::new(region.to_owned())).build();
    let client = aws_sdk_kms::Client::from_conf(config);
    let mut req = client.decrypt().key_id(arn).ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob));
    for (k, v) in context {
        req = req.encryption_context(k, v);
    }
    let out = req.send().await.map_err(|e| {
        let e = aws_sdk_kms::error::DisplayErrorContext(e).to_string();
        format!("KMS Decrypt failed: {e}")
    })?;
    let plain = out.plaintext.ok_or("KMS returned no plaintext")?.into_inner();
    plain.try_into().map_err(|_| "the KMS plaintext is not a 32-byte data key".to_owned())
}
