//! What a reconcile did or, with `--dry-run`, would do: one [`Change`] per object, printable as
//! a diff or as JSON.

use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use crate::health::Health;
use crate::objects::ObjectKey;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Not in the cluster; created.
    Create,
    /// Changed in git; applied.
    Update,
    /// Unchanged in git but changed or deleted in the cluster; re-applied.
    CorrectDrift,
    /// Deleted and re-created because a change hit an immutable field (opted in).
    Recreate,
    /// Left the build; deleted.
    Prune,
}

/// One object's change.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The object.
    #[serde(flatten)]
    pub key: ObjectKey,
    /// What was (or would be) done.
    pub action: Action,
    /// Unified diff of the object (live -> result), YAML; dry runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// What one reconcile did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Sync name.
    pub sync: String,
    /// Commit applied.
    pub revision: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Objects created, updated, corrected, re-created or pruned.
    pub changes: Vec<Change>,
    /// Objects already as git says.
    pub unchanged: usize,
    /// Prunes skipped, and why (opt-out annotation, re-created by someone else).
    pub prune_skipped: Vec<(String, String)>,
    /// Workloads that are not ready, and why.
    pub unhealthy: Vec<(String, String)>,
    /// The sync is suspended: nothing was fetched, applied or corrected.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suspended: bool,
    /// Flux Kustomizations found in the build, to reconcile as syncs of their own.
    #[serde(skip)]
    pub nested: Vec<crate::config::SyncSpec>,
}

impl Outcome {
    /// Number of changes with `action`.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// `2 created, 1 updated, 0 drift-corrected, 1 pruned, 7 unchanged`.
    pub fn summary(&self) -> String {
        format!(
            "{} created, {} updated, {} drift-corrected, {} re-created, {} pruned, {} unchanged",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::CorrectDrift),
            self.count(Action::Recreate),
            self.count(Action::Prune),
            self.unchanged
        )
    }

    /// The human form: one line per change, its diff indented under it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "sync {} at {}{}: {}\n",
            self.sync,
            short(&self.revision),
            if self.dry_run { " (dry run: nothing written)" } else { "" },
            self.summary()
        );
        for c in &self.changes {
            let _ = writeln!(out, "{:<13} {}", action_word(c.action, self.dry_run), c.key);
            if let Some(diff) = &c.diff {
                for line in diff.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        for (object, why) in &self.prune_skipped {
            let _ = writeln!(out, "{:<13} {object}: {why}", "keep");
        }
        for (object, why) in &self.unhealthy {
            let _ = writeln!(out, "{:<13} {object}: {why}", "unhealthy");
        }
        out
    }

    /// Records an unhealthy workload.
    pub fn add_unhealthy(&mut self, key: &ObjectKey, health: &Health) {
        let why = match health {
            Health::Ready => return,
            Health::Progressing(m) => m.clone(),
            Health::Failed(m) => format!("failed: {m}"),
        };
        self.unhealthy.push((key.to_string(), why));
    }
}

fn action_word(action: Action, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (Action::Create, false) => "created",
        (Action::Update, false) => "updated",
        (Action::CorrectDrift, false) => "drift-fixed",
        (Action::Recreate, false) => "re-created",
        (Action::Prune, false) => "pruned",
        (Action::Create, true) => "would create",
        (Action::Update, true) => "would update",
        (Action::CorrectDrift, true) => "would fix",
        (Action::Recreate, true) => "would recreate",
        (Action::Prune, true) => "would prune",
    }
}

/// The mask shown for a Secret value (Flux's `flux diff` uses the same two masks).
pub const SECRET_MASK: &str = "*****";
/// The mask shown on the git side for a Secret value that differs from the live one.
pub const SECRET_CHANGED_MASK: &str = "******";

/// Copies of two versions of an object with the values of a Secret's `data` and `stringData`
/// replaced by masks, and its last-applied annotation dropped: a diff then shows which keys are
/// added, removed or changed (a changed value is `*****` live and `******` in git), never a value.
/// Objects other than `v1` Secrets are returned as they are.
pub fn mask_secrets(before: Option<&Value>, after: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let is_secret = |v: &Value| v["kind"] == "Secret" && v["apiVersion"] == "v1";
    if !before.into_iter().chain(after).any(is_secret) {
        return (before.cloned(), after.cloned());
    }
    let (mut before, mut after) = (before.cloned(), after.cloned());
    for field in ["data", "stringData"] {
        let live = before.as_ref().and_then(|v| v.get(field)).and_then(Value::as_object).cloned();
        let git = after.as_ref().and_then(|v| v.get(field)).and_then(Value::as_object).cloned();
        if let Some(Value::Object(map)) = before.as_mut().and_then(|v| v.get_mut(field)) {
            map.values_mut().for_each(|v| *v = Value::from(SECRET_MASK));
        }
        if let Some(Value::Object(map)) = after.as_mut().and_then(|v| v.get_mut(field)) {
            for (key, value) in map.iter_mut() {
                let same = live
                    .as_ref()
                    .and_then(|l| l.get(key))
                    .is_none_or(|old| Some(old) == git.as_ref().and_then(|g| g.get(key)));
                *value = Value::from(if same { SECRET_MASK } else { SECRET_CHANGED_MASK });
            }
        }
    }
    for object in before.iter_mut().chain(after.iter_mut()) {
        if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    (before, after)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Masks the values at `pointers` (JSON pointers of values sops decrypted, in an object of any
/// kind) in both versions, as [`mask_secrets`] masks Secret values: `*****` live, and in git
/// `*****` when the value is the live one, `******` when it differs. The last-applied
/// annotation, which may copy them, is dropped.
pub fn mask_pointers(before: &mut Option<Value>, after: &mut Option<Value>, pointers: &[String]) {
    if pointers.is_empty() {
        return;
    }
    for pointer in pointers {
        let live = before.as_ref().and_then(|v| v.pointer(pointer)).cloned();
        if let Some(v) = before.as_mut().and_then(|v| v.pointer_mut(pointer)) {
            *v = Value::from(SECRET_MASK);
        }
        if let Some(v) = after.as_mut().and_then(|v| v.pointer_mut(pointer)) {
            let same = live.as_ref().is_none_or(|l| *l == *v);
            *v = Value::from(if same { SECRET_MASK } else { SECRET_CHANGED_MASK });
        }
    }
    for object in before.iter_mut().chain(after.iter_mut()) {
        if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

/// A unified diff of two objects as YAML (`before` absent: everything is added). Secret values
/// never appear: see [`mask_secrets`].
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> String {
    diff_masked(before, after, &[])
}

/// [`diff`], with the values at `masked` (see [`mask_pointers`]) masked too.
pub fn diff_masked(before: Option<&Value>, after: Option<&Value>, masked: &[String]) -> String {
    let (mut before, mut after) = mask_secrets(before, after);
    mask_pointers(&mut before, &mut after, masked);
    let yaml = |v: Option<&Value>| v.map(|v| serde_saphyr::to_string(v).unwrap_or_default()).unwrap_or_default();
    let (a, b) = (yaml(before.as_ref()), yaml(after.as_ref()));
    similar::TextDiff::from_lines(&a, &b).unified_diff().context_radius(3).header("live", "git").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_show_in_a_diff() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"same": "c2FtZQ==", "changed": "b2xkLXNlbnRpbmVs", "removed": "Z29uZQ=="}});
        let git = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"same": "c2FtZQ==", "changed": "bmV3LXNlbnRpbmVs", "added": "YWRkZWQ="},
            "stringData": {"plain": "PLAIN-SENTINEL"}});
        let d = diff(Some(&live), Some(&git));
        for value in ["c2FtZQ==", "b2xkLXNlbnRpbmVs", "bmV3LXNlbnRpbmVs", "Z29uZQ==", "YWRkZWQ=", "PLAIN-SENTINEL"] {
            assert!(!d.contains(value), "{value} leaked:\n{d}");
        }
        assert!(d.contains("-  changed: \"*****\"") && d.contains("+  changed: \"******\""), "changed key shown:\n{d}");
        assert!(d.contains("-  removed: ") && d.contains("+  added: ") && d.contains("+  plain: "), "{d}");
        assert!(d.contains("   same: \"*****\"") && !d.contains("+  same"), "an unchanged key is not a change:\n{d}");
        let created = diff(None, Some(&git));
        assert!(!created.contains("bmV3LXNlbnRpbmVs") && created.contains("+  added: \"*****\""), "{created}");
        let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "visible"}});
        assert!(diff(None, Some(&other)).contains("visible"), "ConfigMaps are not masked");
    }
    use serde_json::json;

    #[test]
    fn decrypted_values_of_any_kind_never_show_in_a_diff() {
        let live = json!({"apiVersion": "example.com/v1", "kind": "Database", "metadata": {"name": "db",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"password\":\"OLD-SENTINEL\"}"}},
            "spec": {"host": "db.internal", "password": "OLD-SENTINEL", "replicas": ["SAME-SENTINEL"], "gone": "GONE"}});
        let git = json!({"apiVersion": "example.com/v1", "kind": "Database", "metadata": {"name": "db"},
            "spec": {"host": "db.internal", "password": "NEW-SENTINEL", "replicas": ["SAME-SENTINEL"], "a/b~c": "ESCAPED"}});
        let masked: Vec<String> = ["/spec/password", "/spec/replicas/0", "/spec/gone", "/spec/a~1b~0c"]
            .into_iter()
            .map(String::from)
            .collect();
        let d = diff_masked(Some(&live), Some(&git), &masked);
        for value in ["OLD-SENTINEL", "NEW-SENTINEL", "SAME-SENTINEL", "GONE", "ESCAPED"] {
            assert!(!d.contains(value), "{value} leaked:\n{d}");
        }
        assert!(d.contains("-  password: \"*****\"") && d.contains("+  password: \"******\""), "changed:\n{d}");
        assert!(d.contains("  - \"*****\"") && !d.contains("+  - "), "an unchanged value is no change:\n{d}");
        assert!(d.contains("db.internal"), "values sops left in clear still show:\n{d}");
        let created = diff_masked(None, Some(&git), &masked);
        assert!(!created.contains("NEW-SENTINEL") && created.contains("+  password: \"*****\""), "{created}");
        // Without pointers, nothing is masked (a plain custom resource).
        assert!(diff(None, Some(&git)).contains("NEW-SENTINEL"));
    }

    #[test]
    fn diff_and_render() {
        let d = diff(Some(&json!({"data": {"a": "1", "b": "2"}})), Some(&json!({"data": {"a": "1", "b": "3"}})));
        assert!(d.contains("-  b: '2'") || d.contains("-  b: \"2\""), "{d}");
        assert!(d.starts_with("--- live\n+++ git\n"), "{d}");
        let key = ObjectKey { group: String::new(), kind: "ConfigMap".into(), namespace: "d".into(), name: "c".into() };
        let outcome = Outcome {
            sync: "dev".into(),
            revision: "0123456789abcdef".into(),
            dry_run: true,
            changes: vec![Change { key, action: Action::Update, diff: Some(d) }],
            unchanged: 4,
            ..Default::default()
        };
        let text = outcome.render();
        assert!(
            text.starts_with("sync dev at 0123456789ab (dry run: nothing written): 0 created, 1 updated"),
            "{text}"
        );
        assert!(text.contains("would update  ConfigMap d/c\n    --- live"), "{text}");
    }
}
