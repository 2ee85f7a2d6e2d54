//! Loading `postBuild` variables: `substituteFrom` ConfigMaps and Secrets (in the reconciler's
//! namespace, in order, later ones overriding earlier ones), then the inline `substitute` map,
//! which wins, as in Flux. Secret values are variables like any other, so they are never logged:
//! errors name the source and the key, never a value.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use crate::error::ReconcileError;
use crate::options::{PostBuild, VarSourceKind};

/// The variables of `post_build` for `sync`.
pub async fn load(
    client: kube::Client,
    namespace: &str,
    sync: &str,
    post_build: &PostBuild,
) -> Result<BTreeMap<String, String>, ReconcileError> {
    let err = |message: String| ReconcileError::Substitute { sync: sync.to_owned(), message };
    let mut vars = BTreeMap::new();
    for source in &post_build.substitute_from {
        let what = format!("substituteFrom {:?} {namespace}/{}", source.kind, source.name);
        let data: Option<BTreeMap<String, String>> = match source.kind {
            VarSourceKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                let cm = api
                    .get_opt(&source.name)
                    .await
                    .map_err(|e| ReconcileError::kube(sync, format!("reading {what}"), e))?;
                cm.map(|c| c.data.unwrap_or_default())
            }
            VarSourceKind::Secret => {
                let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                let secret = api
                    .get_opt(&source.name)
                    .await
                    .map_err(|e| ReconcileError::kube(sync, format!("reading {what}"), e))?;
                match secret {
                    None => None,
                    Some(s) => {
                        let mut out = BTreeMap::new();
                        for (key, value) in s.data.unwrap_or_default() {
                            let text = String::from_utf8(value.0)
                                .map_err(|_| err(format!("{what}: key {key} is not UTF-8 text")))?;
                            out.insert(key, text);
                        }
                        Some(out)
                    }
                }
            }
        };
        match data {
            Some(data) => {
                if let Some(bad) = data.keys().find(|k| !crate::substitute::valid_name(k)) {
                    return Err(err(format!(
                        "{what}: key {bad:?} is not a valid variable name (^[_[:alpha:]][_[:alpha:][:digit:]]*$)"
                    )));
                }
                vars.extend(data);
            }
            None if source.optional => {}
            None => return Err(err(format!("{what} not found (set optional: true to tolerate its absence)"))),
        }
    }
    vars.extend(post_build.substitute.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(vars)
}

/// A digest of the variables, so a cached build is reused only with the same values.
pub fn digest(vars: &BTreeMap<String, String>) -> String {
    let bytes = serde_json::to_vec(vars).unwrap_or_default();
    shipline_core::digest::sha256_hex(&bytes)
}
