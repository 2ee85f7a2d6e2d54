//! The apply phase of one reconcile: decide per object whether it is new, changed in git or
//! drifted, and apply only those. Live objects are read with one paginated LIST per kind and
//! namespace where a build holds several, instead of one GET each.

use std::collections::{BTreeSet, HashMap};

use crate::apply::{ApplyError, Target};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster;
use crate::config::SyncSpec;
use crate::context::{Context, Mode};
use crate::drift::{comparable, contains};
use crate::error::ReconcileError;
use crate::health::{Health, assess, is_awaited};
use crate::inventory::{Entry, Inventory};
use crate::objects::to_json;
use crate::objects::{DesiredObject, ObjectKey};
use crate::plan::{Action, Change, Outcome, diff_masked};

/// Groups of at least this many objects of one kind in one namespace are read with a LIST.
const LIST_THRESHOLD: usize = 3;

/// The apply phase of one reconcile.
pub(crate) struct Pass<'a> {
    pub spec: &'a SyncSpec,
    pub ctx: &'a Context,
    pub mode: Mode,
    pub previous: &'a Inventory,
    pub next: Inventory,
    pub outcome: &'a mut Outcome,
    pub live_health: Vec<(ObjectKey, Health)>,
    pub namespaces_created: BTreeSet<String>,
    pub live_cache: HashMap<ObjectKey, Option<DynamicObject>>,
    /// Whether the sync's state was found recordable (checked before the first write).
    pub state_checked: bool,
}

impl Pass<'_> {
    /// Applies Namespaces and CRDs, waits for the CRDs, then everything else. Returns the
    /// desired objects (namespaces filled in) with their targets.
    pub async fn apply_all(
        &mut self,
        objects: Vec<DesiredObject>,
        deadline: Instant,
    ) -> Result<(Vec<DesiredObject>, Vec<Target>), ReconcileError> {
        let (first, rest): (Vec<_>, Vec<_>) = objects.into_iter().partition(|d| d.key.rank() < 2);
        let mut desired = Vec::new();
        let mut targets = Vec::new();
        let mut crds_changed = Vec::new();
        self.prefetch(&first).await?;
        for d in first {
            let Some((d, target, changed)) = self.apply_one(d).await? else { continue };
            if changed && d.key.kind == "CustomResourceDefinition" {
                crds_changed.push(d.key.name.clone());
            }
            desired.push(d);
            targets.push(target);
        }
        if !crds_changed.is_empty() && self.mode == Mode::Apply {
            let client = self.ctx.client().await;
            let api: Api<CustomResourceDefinition> = Api::all(client);
            cluster::wait_crds_established(&self.spec.name, &api, &crds_changed, deadline).await?;
            self.ctx
                .applier
                .write()
                .await
                .refresh()
                .await
                .map_err(|source| ReconcileError::Apply { sync: self.spec.name.clone(), source })?;
        }
        self.prefetch(&rest).await?;
        for d in rest {
            let Some((d, target, _)) = self.apply_one(d).await? else { continue };
            desired.push(d);
            targets.push(target);
        }
        Ok((desired, targets))
    }

    /// Reads the live objects of `objects` with one paginated LIST per kind and namespace where
    /// several share them; the rest are read one by one in `apply_one`.
    async fn prefetch(&mut self, objects: &[DesiredObject]) -> Result<(), ReconcileError> {
        let applier = self.ctx.applier.read().await;
        // (apiVersion, kind, namespace) -> where to list, and which objects.
        type Groups = HashMap<(String, String, String), (Api<DynamicObject>, Vec<ObjectKey>)>;
        let mut groups: Groups = HashMap::new();
        for d in objects {
            let ns = d.object.metadata.namespace.clone().unwrap_or_else(|| self.spec.namespace.clone());
            let Ok(target) = applier.target(&d.api_version, &d.key.kind, &d.key.name, Some(&ns)) else { continue };
            let namespace = target.namespace.clone().unwrap_or_default();
            if self.namespaces_created.contains(&namespace) {
                continue;
            }
            let mut key = d.key.clone();
            key.namespace = namespace.clone();
            let group = (d.api_version.clone(), d.key.kind.clone(), namespace);
            groups.entry(group).or_insert_with(|| (target.api, Vec::new())).1.push(key);
        }
        drop(applier);
        for ((api_version, kind, namespace), (api, keys)) in
            groups.into_iter().filter(|(_, (_, k))| k.len() >= LIST_THRESHOLD)
        {
            let wanted: HashMap<&str, &ObjectKey> = keys.iter().map(|k| (k.name.as_str(), k)).collect();
            let mut found: HashMap<ObjectKey, Option<DynamicObject>> = keys.iter().map(|k| (k.clone(), None)).collect();
            let mut params = ListParams::default().limit(500);
            loop {
                let page = api.list(&params).await.map_err(|e| {
                    ReconcileError::kube(
                        &self.spec.name,
                        format!("listing {kind} in {}", if namespace.is_empty() { "the cluster" } else { &namespace }),
                        e,
                    )
                })?;
                for mut obj in page.items {
                    if let Some(key) = obj.metadata.name.as_deref().and_then(|n| wanted.get(n)) {
                        // List items carry no apiVersion/kind; a GET's answer does.
                        obj.types = Some(kube::api::TypeMeta { api_version: api_version.clone(), kind: kind.clone() });
                        // Held until the object's turn, for every object of the build at once:
                        // managedFields are the bulk of a live object and nothing here reads
                        // them (drift ignores them; a conflict reads the object again).
                        obj.metadata.managed_fields = None;
                        found.insert((*key).clone(), Some(obj));
                    }
                }
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(token) => params = params.continue_token(&token),
                    None => break,
                }
            }
            self.live_cache.extend(found);
        }
        Ok(())
    }

    /// Applies one object when it is new, changed in git, or drifted. Returns whether it wrote.
    async fn apply_one(
        &mut self,
        mut d: DesiredObject,
    ) -> Result<Option<(DesiredObject, Target, bool)>, ReconcileError> {
        let sync = self.spec.name.clone();
        let target = {
            let applier = self.ctx.applier.read().await;
            let ns = d.object.metadata.namespace.clone().unwrap_or_else(|| self.spec.namespace.clone());
            match applier.target(&d.api_version, &d.key.kind, &d.key.name, Some(&ns)) {
                Ok(t) => t,
                Err(ApplyError::UnknownKind { .. }) if self.mode == Mode::DryRun => {
                    // Its CRD is in this build and not installed yet: it would be created.
                    let change = Change {
                        key: d.key.clone(),
                        action: Action::Create,
                        diff: Some(diff_masked(None, Some(&to_value(&d)), &d.masked)),
                    };
                    self.outcome.changes.push(change);
                    return Ok(None);
                }
                Err(source) => return Err(ReconcileError::Apply { sync, source }),
            }
        };
        d.set_namespace(target.namespace.as_deref());
        let previous = self.previous.entries.get(&d.key);
        let live = if let Some(cached) = self.live_cache.remove(&d.key) {
            cached
        } else if self.namespace_pending(&target) {
            None
        } else {
            target
                .api
                .get_opt(&d.key.name)
                .await
                .map_err(|e| ReconcileError::kube(&sync, format!("reading {}", d.key), e))?
        };
        if d.key.kind == "Namespace" && live.is_none() {
            // Nothing can exist in a namespace about to be created: no need to read it.
            self.namespaces_created.insert(d.key.name.clone());
        }
        let live_value = live.as_ref().map(to_json);
        let action = match (&live_value, previous) {
            // Applied before, gone now: someone deleted it.
            (None, Some(_)) => Some(Action::CorrectDrift),
            (None, None) => Some(Action::Create),
            (Some(_), Some(p)) if p.hash == d.hash => {
                if live_value.as_ref().is_some_and(|l| contains(&to_value(&d), l)) {
                    None
                } else {
                    // Containment could not decide: ask the server what an apply would change.
                    let (dry, _) = cluster::apply(&sync, &target, &d, true).await?;
                    (comparable(&to_json(&dry)) != comparable(live_value.as_ref().unwrap_or(&Value::Null)))
                        .then_some(Action::CorrectDrift)
                }
            }
            (Some(_), _) => Some(Action::Update),
        };
        let Some(mut action) = action else {
            if let Some(l) = &live_value {
                self.remember(&d, l);
                if is_awaited(&d.key.group, &d.key.kind) {
                    self.live_health.push((d.key.clone(), assess(&d.key.group, &d.key.kind, l)));
                }
            }
            self.outcome.unchanged += 1;
            return Ok(Some((d, target, false)));
        };
        if self.mode == Mode::DryRun {
            let result = if live.is_none() && d.key.kind != "Namespace" && self.namespace_pending(&target) {
                to_value(&d)
            } else {
                let (dry, recreate) = cluster::apply(&sync, &target, &d, true).await?;
                if recreate {
                    action = Action::Recreate;
                }
                to_json(&dry)
            };

            let before = live_value.as_ref().map(comparable);
            let after = comparable(&result);
            if before.as_ref() == Some(&after) {
                self.outcome.unchanged += 1;
            } else {
                self.outcome.changes.push(Change {
                    key: d.key.clone(),
                    action,
                    diff: Some(diff_masked(before.as_ref(), Some(&after), &d.masked)),
                });
            }
            if let Some(l) = &live_value {
                self.remember(&d, l);
            }
            return Ok(Some((d, target, false)));
        }
        if !self.state_checked {
            crate::preflight::ensure_state_recordable(self.ctx, &sync).await?;
            self.state_checked = true;
        }
        let (applied, recreated) = cluster::apply(&sync, &target, &d, false).await?;
        if recreated {
            action = Action::Recreate;
        }
        self.remember(&d, &to_json(&applied));
        self.outcome.changes.push(Change { key: d.key.clone(), action, diff: None });
        Ok(Some((d, target, true)))
    }

    fn namespace_pending(&self, target: &Target) -> bool {
        target.namespace.as_ref().is_some_and(|ns| self.namespaces_created.contains(ns))
    }

    fn remember(&mut self, d: &DesiredObject, live: &Value) {
        let uid = live.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned();
        let order = self.next.entries.len() as u32;
        self.next.entries.insert(
            d.key.clone(),
            Entry { key: d.key.clone(), api_version: d.api_version.clone(), uid, hash: d.hash.clone(), order },
        );
    }
}

pub(crate) fn to_value(d: &DesiredObject) -> Value {
    serde_json::to_value(&d.object).unwrap_or(Value::Null)
}
