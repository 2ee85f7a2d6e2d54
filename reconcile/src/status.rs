//! What a sync reports about itself: a status ConfigMap (`shipline-status-SYNC`, written only
//! when its content changes, so a no-op reconcile writes nothing) and Kubernetes Events on that
//! ConfigMap (`kubectl describe configmap shipline-status-SYNC`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};

use crate::inventory::apply_state_configmap;

/// A condition in the Kubernetes style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Healthy` or `Stalled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// RFC 3339 time the status last changed.
    pub last_transition_time: String,
}

/// The reported state of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Commit last applied successfully.
    pub last_applied_revision: String,
    /// When `last_applied_revision` was first applied (RFC 3339): unchanged by later no-op
    /// reconciles of the same revision, so a no-op still writes nothing.
    pub last_applied_at: String,
    /// Commit last tried.
    pub last_attempted_revision: String,
    /// Objects in the inventory.
    pub inventory_size: usize,
    /// Ready, Healthy, Stalled.
    pub conditions: Vec<Condition>,
    /// The sync's `deletionPolicy` (`Orphan`, `Delete`), kept so the objects of a sync that left
    /// the configuration are handled as it asked (empty: written before the field existed, Orphan).
    pub deletion_policy: String,
}

impl SyncStatus {
    /// Sets a condition; its transition time moves only when its status does.
    pub fn set_condition(&mut self, kind: &str, status: &str, reason: &str, message: &str, now: &str) {
        let new = Condition {
            kind: kind.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now.into(),
        };
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) if c.status == status => {
                c.reason = new.reason;
                c.message = new.message;
            }
            Some(c) => *c = new,
            None => self.conditions.push(new),
        }
    }

    /// The condition of `kind`.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    fn to_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("lastAppliedRevision".into(), self.last_applied_revision.clone()),
            ("lastAppliedAt".into(), self.last_applied_at.clone()),
            ("lastAttemptedRevision".into(), self.last_attempted_revision.clone()),
            ("inventorySize".into(), self.inventory_size.to_string()),
            ("conditions".into(), serde_json::to_string_pretty(&self.conditions).unwrap_or_default()),
            ("deletionPolicy".into(), self.deletion_policy.clone()),
        ])
    }

    fn from_data(data: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| data.get(k).cloned().unwrap_or_default();
        Self {
            last_applied_revision: get("lastAppliedRevision"),
            last_applied_at: get("lastAppliedAt"),
            last_attempted_revision: get("lastAttemptedRevision"),
            inventory_size: get("inventorySize").parse().unwrap_or(0),
            conditions: serde_json::from_str(&get("conditions")).unwrap_or_default(),
            deletion_policy: get("deletionPolicy"),
        }
    }
}

/// The status ConfigMap's name for a sync.
pub fn configmap_name(sync: &str) -> String {
    format!("shipline-status-{sync}")
}

/// Reads the status written by a previous run (empty when none).
pub async fn load(api: &Api<ConfigMap>, sync: &str) -> Result<SyncStatus, kube::Error> {
    Ok(api
        .get_opt(&configmap_name(sync))
        .await?
        .and_then(|cm| cm.data)
        .map(|d| SyncStatus::from_data(&d))
        .unwrap_or_default())
}

/// Writes the status ConfigMap.
pub async fn save(api: &Api<ConfigMap>, sync: &str, status: &SyncStatus) -> Result<(), kube::Error> {
    apply_state_configmap(api, sync, &configmap_name(sync), status.to_data()).await
}

/// Records an Event on the sync's status ConfigMap. `warning` selects the type.
pub async fn event(
    api: &Api<Event>,
    namespace: &str,
    sync: &str,
    warning: bool,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let now = k8s_openapi::jiff::Timestamp::now();
    let object = configmap_name(sync);
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{object}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some(object),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        reason: Some(reason.into()),
        // Events are capped at 1 KiB of message by convention; the logs carry the rest.
        message: Some(message.chars().take(1024).collect()),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        source: Some(EventSource { component: Some("shipline".into()), ..Default::default() }),
        reporting_component: Some("shipline".into()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &event).await.map(|_| ())
}

/// Now, RFC 3339 in UTC to the second.
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut s = SyncStatus::default();
        s.set_condition("Ready", "True", "Applied", "rev a", "t1");
        s.set_condition("Ready", "True", "Applied", "rev b", "t2");
        assert_eq!(s.condition("Ready").unwrap().last_transition_time, "t1");
        assert_eq!(s.condition("Ready").unwrap().message, "rev b");
        s.set_condition("Ready", "False", "BuildFailed", "x", "t3");
        s.last_applied_at = "t0".into();
        assert_eq!(s.condition("Ready").unwrap().last_transition_time, "t3");
        let back = SyncStatus::from_data(&s.to_data());
        assert_eq!(back, s);
    }
}
