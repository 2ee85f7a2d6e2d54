//! The sync's side of sops decryption (I/O): reads the keys named by `decryption.secretRef`,
//! runs the build with the generator-source hook on a blocking thread (KMS calls block on the
//! runtime there), then decrypts the build's sops documents. See `crate::sops` for what is
//! decrypted and how the MAC is checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::config::SyncSpec;
use crate::context::Context;
use crate::error::ReconcileError;
use crate::objects::DesiredObject;
use crate::options::Decryption;
use crate::sops::{KeyRing, SourceDecryptor};
use crate::source::Revision;

/// The sync's key ring, from its decryption Secret (when named) and the SDK's credentials.
pub async fn key_ring(spec: &SyncSpec, decryption: &Decryption, ctx: &Context) -> Result<KeyRing, ReconcileError> {
    let err = |message: String| ReconcileError::Decrypt { sync: spec.name.clone(), message };
    let sdk = ctx.sdk_config().await;
    let Some(secret_ref) = &decryption.secret_ref else { return Ok(KeyRing::kms_only(sdk)) };
    let secrets: Api<Secret> = Api::namespaced(ctx.client().await, &ctx.namespace);
    let name = format!("{}/{}", ctx.namespace, secret_ref.name);
    let secret = secrets
        .get_opt(&secret_ref.name)
        .await
        .map_err(|e| ReconcileError::kube(&spec.name, format!("reading decryption Secret {name}"), e))?
        .ok_or_else(|| err(format!("decryption.secretRef: Secret {name} not found")))?;
    let data: BTreeMap<String, Vec<u8>> = secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
    KeyRing::from_secret(&name, &data, sdk).map_err(err)
}

/// Builds the sync, decrypting generator sources and sops documents when the sync has
/// `decryption`; without it, a sops document in the build is an error naming it.
pub async fn build(
    spec: &SyncSpec,
    revision: &Revision,
    vars: &BTreeMap<String, String>,
    ctx: &Context,
) -> Result<Vec<DesiredObject>, ReconcileError> {
    let err = |message: String| ReconcileError::Decrypt { sync: spec.name.clone(), message };
    let Some(decryption) = &spec.decryption else {
        let objects = crate::reconciler::build(spec, revision, vars, ctx.strict_substitution, None)?;
        let encrypted = crate::sops::encrypted_objects(&objects);
        if !encrypted.is_empty() {
            return Err(err(format!(
                "{} carry sops metadata but the sync has no decryption (set decryption: {{provider: sops}})",
                encrypted.join(", ")
            )));
        }
        return Ok(objects);
    };
    let ring = Arc::new(key_ring(spec, decryption, ctx).await?);
    let hook = Arc::new(SourceDecryptor { ring: ring.clone(), handle: tokio::runtime::Handle::current() });
    let (s, r, v, strict) = (spec.clone(), revision.clone(), vars.clone(), ctx.strict_substitution);
    let mut objects = tokio::task::spawn_blocking(move || crate::reconciler::build(&s, &r, &v, strict, Some(hook)))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    crate::sops::decrypt_objects(&mut objects, &ring).await.map_err(err)?;
    Ok(objects)
}
