//! Runs a [`Buildspec`] the way CodeBuild does, on this machine:
//!
//! - each phase's commands run in ONE shell process (`sh`, or `bash` when `env.shell` says so),
//!   one after the other, so `cd`, variables and `export`s carry from one command to the next;
//!   the first command that exits non-zero stops the phase; `finally` runs after, in the same
//!   shell, whatever happened;
//! - variables set in a phase carry into the next phases and are what `exported-variables` reads
//!   at the end of the build (assignments are exported with `set -a` so the runner can read them
//!   back; CodeBuild carries plain assignments across phases the same way: the project's
//!   buildspecs set `IMAGE_TAG=...` in `build` and use it in `post_build`);
//! - every phase starts in `CODEBUILD_SRC_DIR`, with stdin from /dev/null;
//! - the environment is CodeBuild's variables, then `env.variables`, then the project's
//!   variables (the project's win over the buildspec's, as in CodeBuild);
//! - phase transitions follow [`PhaseName::runs_after_aborted`] and `on-failure`.
//!
//! Each command is written to its own file and sourced (`. FILE`), so a command with a syntax
//! error fails alone, as in CodeBuild, instead of breaking the phase script around it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::spec::{Buildspec, OnFailure, PhaseName};

/// What CodeBuild itself sets for a build (the `CODEBUILD_*` and region variables).
#[derive(Debug, Clone)]
pub struct CodeBuild {
    /// The build project's name (part of `CODEBUILD_BUILD_ID` and the ARN).
    pub project: String,
    /// `CODEBUILD_BUILD_NUMBER`.
    pub build_number: u32,
    /// `CODEBUILD_RESOLVED_SOURCE_VERSION`: the commit.
    pub resolved_source_version: String,
    /// `CODEBUILD_SOURCE_VERSION`: what the build was started with (a ref, a commit, `pr/N`).
    pub source_version: String,
    /// `CODEBUILD_WEBHOOK_HEAD_REF`, set on webhook builds only.
    pub webhook_head_ref: Option<String>,
    /// `CODEBUILD_SRC_DIR`: the checked-out source, where every phase starts.
    pub src_dir: PathBuf,
    /// `AWS_REGION` and `AWS_DEFAULT_REGION`.
    pub region: String,
}

impl CodeBuild {
    /// The variables CodeBuild puts in every build's environment.
    pub fn env(&self) -> BTreeMap<String, String> {
        let id = format!("{}:00000000-0000-4000-8000-{:012}", self.project, self.build_number);
        let mut env = BTreeMap::from([
            ("CODEBUILD_BUILD_ID".to_owned(), id.clone()),
            ("CODEBUILD_BUILD_ARN".to_owned(), format!("arn:aws:codebuild:{}:123456789012:build/{id}", self.region)),
            ("CODEBUILD_BUILD_NUMBER".to_owned(), self.build_number.to_string()),
            ("CODEBUILD_BUILD_SUCCEEDING".to_owned(), "1".to_owned()),
            ("CODEBUILD_INITIATOR".to_owned(), "codebuild-test".to_owned()),
            ("CODEBUILD_RESOLVED_SOURCE_VERSION".to_owned(), self.resolved_source_version.clone()),
            ("CODEBUILD_SOURCE_VERSION".to_owned(), self.source_version.clone()),
            ("CODEBUILD_SRC_DIR".to_owned(), self.src_dir.display().to_string()),
            ("AWS_REGION".to_owned(), self.region.clone()),
            ("AWS_DEFAULT_REGION".to_owned(), self.region.clone()),
        ]);
        if let Some(head) = &self.webhook_head_ref {
            env.insert("CODEBUILD_WEBHOOK_HEAD_REF".to_owned(), head.clone());
        }
        env
    }
}

/// How a phase ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseStatus {
    /// Every command (and `finally`) exited 0.
    Succeeded,
    /// `command` exited with `code` (`None`: the shell itself died, e.g. on `exit`).
    Failed {
        /// The failing command, as written in the buildspec.
        command: String,
        /// Its exit status.
        code: Option<i32>,
    },
    /// Not run: an earlier phase failed.
    Skipped,
}

/// What one build did.
#[derive(Debug)]
pub struct Outcome {
    /// Each phase present in the buildspec and how it ended, in run order.
    pub phases: Vec<(PhaseName, PhaseStatus)>,
    /// `exported-variables` read from the environment at the end of the build (absent ones left
    /// out).
    pub exported: BTreeMap<String, String>,
    /// Everything the phases printed (stdout and stderr, interleaved), with CodeBuild-like
    /// `[Container]` lines between commands.
    pub log: String,
}

impl Outcome {
    /// Whether the build succeeded (every phase that ran succeeded).
    pub fn succeeded(&self) -> bool {
        self.phases.iter().all(|(_, s)| *s == PhaseStatus::Succeeded)
    }

    /// How `phase` ended (`Skipped` also when the buildspec has no such phase).
    pub fn status(&self, phase: PhaseName) -> PhaseStatus {
        self.phases.iter().find(|(p, _)| *p == phase).map_or(PhaseStatus::Skipped, |(_, s)| s.clone())
    }
}

/// Variables of the runner's own that never reach the build's environment.
const INTERNAL: &str = "__sl_";

/// Runs `spec` with CodeBuild's variables `codebuild` and the project's `project` variables,
/// keeping scratch files under `work`. Errors are the runner's own (a shell that cannot start),
/// never the build's: a failing build is an [`Outcome`].
pub fn run(
    spec: &Buildspec,
    codebuild: &CodeBuild,
    project: &BTreeMap<String, String>,
    work: &Path,
) -> Result<Outcome, String> {
    let mut env = codebuild.env();
    env.extend(spec.variables.iter().cloned());
    env.extend(project.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut outcome = Outcome { phases: Vec::new(), exported: BTreeMap::new(), log: String::new() };
    // The phase that failed with ABORT, if any: later phases run only if CodeBuild would.
    let mut aborted: Option<PhaseName> = None;
    for phase in &spec.phases {
        if aborted.is_some_and(|failed| !phase.name.runs_after_aborted(failed)) {
            outcome.phases.push((phase.name, PhaseStatus::Skipped));
            continue;
        }
        if !outcome.succeeded() {
            env.insert("CODEBUILD_BUILD_SUCCEEDING".into(), "0".into());
        }
        let dir = work.join(phase.name.key());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (status, new_env, log) = run_phase(&spec.shell, &phase.commands, &phase.finally, &env, &dir)?;
        outcome.log.push_str(&format!("[Container] Entering phase {}\n{log}", phase.name.key().to_uppercase()));
        if let Some(new_env) = new_env {
            env = new_env;
        }
        if status != PhaseStatus::Succeeded && phase.on_failure == OnFailure::Abort && aborted.is_none() {
            aborted = Some(phase.name);
        }
        outcome.phases.push((phase.name, status));
    }
    outcome.exported = spec.exported.iter().filter_map(|name| Some((name.clone(), env.get(name)?.clone()))).collect();
    Ok(outcome)
}

/// A phase's status, the environment it ended with (`None` when the shell died before writing
/// it), and what it printed.
type PhaseRun = (PhaseStatus, Option<BTreeMap<String, String>>, String);

/// One phase in one shell.
fn run_phase(
    shell: &str,
    commands: &[String],
    finally: &[String],
    env: &BTreeMap<String, String>,
    dir: &Path,
) -> Result<PhaseRun, String> {
    let write = |path: &Path, text: &str| std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()));
    let mut script = String::from("exec 2>&1\nset -a\ncd \"$CODEBUILD_SRC_DIR\" || exit 97\n__sl_failed=\n");
    let all: Vec<(&String, bool)> =
        commands.iter().map(|c| (c, false)).chain(finally.iter().map(|c| (c, true))).collect();
    for (i, (command, is_finally)) in all.iter().enumerate() {
        let file = dir.join(format!("command-{i}.sh"));
        write(&file, &format!("{command}\n"))?;
        let current = dir.join("current");
        // A `commands` entry runs only while none failed; a `finally` entry runs anyway, but its
        // own block stops at its first failure too.
        let guard = if *is_finally { "[ -z \"$__sl_finally_failed\" ]" } else { "[ -z \"$__sl_failed\" ]" };
        script.push_str(&format!(
            "if {guard}; then\n  echo {i} > {current}\n  printf '[Container] Running command %s\\n' {shown}\n  . {file} </dev/null\n  __sl_rc=$?\n  if [ $__sl_rc -ne 0 ]; then\n    printf '[Container] Command did not exit successfully %s exit status %s\\n' {shown} $__sl_rc\n    [ -n \"$__sl_failed\" ] || __sl_failed=\"{i} $__sl_rc\"\n    {finally_mark}\n  fi\nfi\n",
            current = quote(&current.display().to_string()),
            shown = quote(command),
            file = quote(&file.display().to_string()),
            finally_mark = if *is_finally { "__sl_finally_failed=1" } else { ":" },
        ));
    }
    let status_file = dir.join("status");
    let env_file = dir.join("env");
    script.push_str(&format!(
        "printf '%s\\n' \"${{__sl_failed:-ok}}\" > {status}\nunset __sl_failed __sl_rc __sl_finally_failed\nenv -0 > {envf}\n",
        status = quote(&status_file.display().to_string()),
        envf = quote(&env_file.display().to_string()),
    ));
    let script_file = dir.join("phase.sh");
    write(&script_file, &script)?;

    let out = Command::new(shell)
        .arg(&script_file)
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("starting {shell}: {e}"))?;
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let command_at = |i: usize| all.get(i).map(|(c, _)| (*c).clone()).unwrap_or_default();
    let status = match std::fs::read_to_string(&status_file) {
        Ok(s) if s.trim() == "ok" => PhaseStatus::Succeeded,
        Ok(s) => {
            let mut parts = s.split_whitespace();
            let i = parts.next().and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
            PhaseStatus::Failed { command: command_at(i), code: parts.next().and_then(|c| c.parse().ok()) }
        }
        // The shell exited before the end (`exit` in a command, a fatal error): the command
        // it was running failed.
        Err(_) => {
            let i = std::fs::read_to_string(dir.join("current"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(usize::MAX);
            PhaseStatus::Failed { command: command_at(i), code: out.status.code() }
        }
    };
    let new_env = std::fs::read(&env_file).ok().map(|bytes| parse_env(&bytes));
    Ok((status, new_env, log))
}

/// `env -0` output as a map, without the shell's own bookkeeping (PWD, SHLVL, `_`) and the
/// runner's variables.
pub fn parse_env(bytes: &[u8]) -> BTreeMap<String, String> {
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (k, v) = entry.split_once('=')?;
            let internal = k.starts_with(INTERNAL) || ["PWD", "OLDPWD", "SHLVL", "_"].contains(&k);
            (!k.is_empty() && !internal).then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// `s` as one single-quoted shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_dump_drops_shell_bookkeeping_and_keeps_values_with_newlines_and_equals() {
        let env = parse_env(b"A=1\0PWD=/x\0SHLVL=2\0_=/usr/bin/env\0__sl_rc=0\0B=x=y\nz\0\0");
        assert_eq!(env, BTreeMap::from([("A".into(), "1".into()), ("B".into(), "x=y\nz".into())]));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
