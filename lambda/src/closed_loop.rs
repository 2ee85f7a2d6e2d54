//! The closed loop with CodePipeline, as pure functions: the continuation token that carries a
//! waiting job from one invocation to the next, what a sync's status ConfigMap says, and the
//! verdict "healthy at the commit / unhealthy / failed / still waiting / timed out".
//!
//! CodePipeline hands the token back verbatim in `data.continuationToken`, but the job's data
//! can be read and replayed by anyone who can call the function, so [`Continuation::decode`]
//! treats it as untrusted input: bounded size, exact fields, a commit id, the sync this action
//! waits for, and a start time that is not in the future (a start time set later would stretch
//! the deadline).
//!
//! The status ConfigMap (`shipline-status-SYNC` in the reconciler's namespace) is the one
//! `reconcile::status` writes: `lastAppliedRevision`, `lastAppliedAt` (RFC 3339, when the
//! revision was first applied, after the workloads were waited for), `lastAttemptedRevision`
//! and `conditions` (JSON: `Ready`, `Healthy`, `Stalled`). The Lambda does not link the
//! reconciler, so the few keys it reads are named here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Longest continuation token CodePipeline accepts.
pub const MAX_CONTINUATION_TOKEN: usize = 2048;
/// How far in the future a token's start time may be (clock skew between invocations).
pub const CLOCK_SKEW_SECONDS: i64 = 300;
/// The reconciler's namespace when none is configured.
pub const DEFAULT_NAMESPACE: &str = "shipline-system";
/// How long a job waits when neither `UserParameters` nor the function say.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 1800;
/// Longest wait accepted: CodePipeline stops a Lambda action after its own limit anyway; a
/// longer deadline would only hide that.
pub const MAX_TIMEOUT_SECONDS: u64 = 12 * 3600;
/// Token format version.
const VERSION: u8 = 1;

/// The status ConfigMap's name for a sync (as `reconcile::status::configmap_name`).
pub fn configmap_name(sync: &str) -> String {
    format!("shipline-status-{sync}")
}

/// Whether `name` can be a sync name inside a ConfigMap name: a DNS-1123 label body (lower-case
/// letters, digits, `-`, not at the ends), short enough for `shipline-status-` in front.
pub fn is_sync_name(name: &str) -> bool {
    is_dns_label(name) && name.len() <= 253 - "shipline-status-".len()
}

/// Whether `name` is a DNS-1123 label (a namespace name).
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether `id` is a full git commit id (SHA-1 or SHA-256, lower-case hex).
pub fn is_commit_id(id: &str) -> bool {
    (id.len() == 40 || id.len() == 64) && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a waiting job carries from one invocation to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Continuation {
    /// Format version.
    v: u8,
    /// The commit pushed by the first invocation.
    pub commit: String,
    /// The sync waited for.
    pub sync: String,
    /// When the first invocation started (seconds since the Unix epoch): the deadline counts
    /// from here.
    pub started: i64,
    /// The branch the commit went to: a later revision of it that contains the commit counts as
    /// the commit applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl Continuation {
    /// A token for `commit` on `sync`, started at `started`.
    pub fn new(commit: &str, sync: &str, started: i64) -> Self {
        Self { v: VERSION, commit: commit.to_owned(), sync: sync.to_owned(), started, branch: None }
    }

    /// The same token, naming the branch the commit was pushed to.
    pub fn on_branch(self, branch: Option<&str>) -> Self {
        Self { branch: branch.map(str::to_owned), ..self }
    }

    /// The token's text (compact JSON, well under [`MAX_CONTINUATION_TOKEN`]).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a token handed back by CodePipeline, for an action that waits for `sync`, at `now`.
    /// The error says what is wrong without echoing more than a short prefix of the input.
    pub fn decode(text: &str, sync: &str, now: i64) -> Result<Self, String> {
        if text.len() > MAX_CONTINUATION_TOKEN {
            return Err(format!("{} bytes, longer than CodePipeline's {MAX_CONTINUATION_TOKEN}", text.len()));
        }
        let token: Self = serde_json::from_str(text).map_err(|e| {
            let start: String = text.chars().take(32).flat_map(char::escape_default).collect();
            format!("not a token of this function ({e}; starts with \"{start}\")")
        })?;
        if token.v != VERSION {
            return Err(format!("version {} is not {VERSION}", token.v));
        }
        if !is_commit_id(&token.commit) {
            return Err(format!(
                "commit {:?} is not a full commit id",
                token.commit.chars().take(80).collect::<String>()
            ));
        }
        if token.sync != sync {
            return Err(format!(
                "it waits for sync {:?}, but this action waits for {sync:?}",
                token.sync.chars().take(80).collect::<String>()
            ));
        }
        if let Some(b) = token.branch.as_deref().filter(|b| !shipline_core::git::is_valid_branch_name(b)) {
            return Err(format!("branch {:?} is not a branch name", b.chars().take(80).collect::<String>()));
        }
        if token.started > now + CLOCK_SKEW_SECONDS || token.started < 0 {
            return Err(format!("start time {} is not between 1970 and now ({now}): in the future", token.started));
        }
        Ok(token)
    }
}

/// One condition as the reconciler records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Healthy` or `Stalled`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// Detail.
    #[serde(default)]
    pub message: String,
}

/// What a sync's status ConfigMap says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSeen {
    /// `lastAppliedRevision`.
    pub applied_revision: String,
    /// `lastAppliedAt` (RFC 3339).
    pub applied_at: String,
    /// `lastAttemptedRevision`.
    pub attempted_revision: String,
    /// The conditions; an unreadable `conditions` value counts as none.
    pub conditions: Vec<Condition>,
}

impl SyncSeen {
    /// Reads the ConfigMap's `data`.
    pub fn from_data(data: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| data.get(k).cloned().unwrap_or_default();
        Self {
            applied_revision: get("lastAppliedRevision"),
            applied_at: get("lastAppliedAt"),
            attempted_revision: get("lastAttemptedRevision"),
            conditions: serde_json::from_str(&get("conditions")).unwrap_or_default(),
        }
    }

    /// The condition of `kind`.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    fn is(&self, kind: &str, status: &str) -> bool {
        self.condition(kind).is_some_and(|c| c.status == status)
    }

    /// One line for messages: what was applied, what was attempted, and the conditions.
    pub fn describe(&self) -> String {
        let short = |r: &str| if r.is_empty() { "nothing".to_owned() } else { r.chars().take(12).collect() };
        let mut out = format!("applied {}", short(&self.applied_revision));
        if !self.applied_at.is_empty() {
            out.push_str(&format!(" at {}", self.applied_at));
        }
        if self.attempted_revision != self.applied_revision {
            out.push_str(&format!(", attempted {}", short(&self.attempted_revision)));
        }
        for kind in ["Ready", "Healthy", "Stalled"] {
            let Some(c) = self.condition(kind) else { continue };
            out.push_str(&format!(", {kind} {}", c.status));
            if !c.reason.is_empty() {
                out.push_str(&format!(" ({}", c.reason));
                if !c.message.is_empty() && c.status != "True" {
                    out.push_str(&format!(": {}", c.message));
                }
                out.push(')');
            }
        }
        out
    }
}

/// Where a waiting job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The sync applied the commit and its workloads are healthy.
    Healthy {
        /// The revision the cluster reports.
        revision: String,
        /// When it was applied (RFC 3339, as recorded).
        applied_at: String,
        /// From the first invocation to `lastAppliedAt` (or to now, when that is unreadable).
        seconds: u64,
    },
    /// The reconciler applied the commit and found workloads unhealthy.
    Unhealthy {
        /// The objects and why (the reconciler's words: `Deployment.apps ns/name: ...`).
        objects: String,
        /// The condition's reason (`HealthCheckFailed`).
        reason: String,
    },
    /// The commit cannot become healthy without a change: the reconciler stalled on it (build,
    /// configuration, field conflict), or the sync does not check health at all.
    Failed {
        /// The reason.
        reason: String,
        /// The detail.
        message: String,
    },
    /// Not there yet; what was seen.
    Waiting(String),
    /// The deadline passed; what was seen last.
    TimedOut {
        /// Seconds since the first invocation.
        waited: u64,
        /// What was seen last.
        seen: String,
    },
}

/// The later revision worth an ancestry check: the sync applied `D` (not `commit`), tried
/// nothing newer, and reports it ready and healthy. If `D` contains `commit`, `commit` runs.
pub fn descendant_to_check<'a>(commit: &str, seen: &'a SyncSeen) -> Option<&'a str> {
    let d = seen.applied_revision.as_str();
    (!d.is_empty()
        && d != commit
        && seen.attempted_revision == d
        && seen.is("Ready", "True")
        && seen.is("Healthy", "True"))
    .then_some(d)
}

/// The verdict for `commit` on a sync whose status is `seen` (`None`: no status ConfigMap yet),
/// for a job started at `started` with `timeout` seconds, at `now` (seconds since the epoch).
/// `applied_contains` says that the applied revision, a later one, contains `commit` (see
/// [`descendant_to_check`]). `applied_at` parses through `parse_time` (RFC 3339 to epoch
/// seconds).
pub fn assess(
    commit: &str,
    seen: Option<&SyncSeen>,
    applied_contains: bool,
    started: i64,
    now: i64,
    timeout: u64,
    parse_time: impl Fn(&str) -> Option<i64>,
) -> Verdict {
    let waited = u64::try_from(now.saturating_sub(started)).unwrap_or(0);
    let waiting = |seen: String| {
        if waited >= timeout { Verdict::TimedOut { waited, seen } } else { Verdict::Waiting(seen) }
    };
    let Some(s) = seen else {
        return waiting("no status ConfigMap yet: the reconciler has not recorded this sync".into());
    };
    if applied_contains && descendant_to_check(commit, s).is_some() {
        let at = parse_time(&s.applied_at).unwrap_or(now);
        return Verdict::Healthy {
            revision: s.applied_revision.clone(),
            applied_at: s.applied_at.clone(),
            seconds: u64::try_from(at.saturating_sub(started)).unwrap_or(0),
        };
    }
    if s.attempted_revision == commit || s.applied_revision == commit {
        let healthy = s.condition("Healthy");
        if s.applied_revision == commit && s.attempted_revision == commit && s.is("Ready", "True") {
            match healthy {
                Some(h) if h.status == "True" => {
                    let at = parse_time(&s.applied_at).unwrap_or(now);
                    return Verdict::Healthy {
                        revision: s.applied_revision.clone(),
                        applied_at: s.applied_at.clone(),
                        seconds: u64::try_from(at.saturating_sub(started)).unwrap_or(0),
                    };
                }
                Some(h) if h.reason == "HealthNotChecked" => {
                    return Verdict::Failed {
                        reason: h.reason.clone(),
                        message: format!(
                            "the sync applied the commit but does not check its workloads' health ({}): \
                             turn waiting on for the sync (drop --no-wait / wait: false) so the loop can tell",
                            h.message
                        ),
                    };
                }
                _ => {}
            }
        }
        if s.attempted_revision == commit {
            if let Some(h) = healthy.filter(|h| h.status == "False") {
                return Verdict::Unhealthy {
                    objects: unhealthy_objects(&h.message).to_owned(),
                    reason: h.reason.clone(),
                };
            }
            if s.is("Stalled", "True") {
                let ready = s.condition("Ready").cloned().unwrap_or_default();
                return Verdict::Failed { reason: ready.reason, message: ready.message };
            }
        }
    }
    waiting(s.describe())
}

/// The objects part of the reconciler's unhealthy message (`sync S: not healthy after 300s:
/// Deployment.apps ns/a: why; ...` → `Deployment.apps ns/a: why; ...`), or all of it.
pub fn unhealthy_objects(message: &str) -> &str {
    message
        .find("not healthy after ")
        .and_then(|at| message[at..].find(": ").map(|colon| &message[at + colon + 2..]))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(message)
}

/// The output variables of a healthy job (CodePipeline: `#{Namespace.commitId}` and so on).
pub fn output_variables(commit: &str, sync: &str, verdict: &Verdict) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([("commitId".to_owned(), commit.to_owned()), ("sync".to_owned(), sync.to_owned())]);
    if let Verdict::Healthy { revision, applied_at, seconds } = verdict {
        out.insert("status".into(), "healthy".into());
        out.insert("revision".into(), revision.clone());
        out.insert("appliedAt".into(), applied_at.clone());
        out.insert("timeToHealthySeconds".into(), seconds.to_string());
    }
    out
}

#[cfg(test)]
#[path = "closed_loop_tests.rs"]
mod tests;
