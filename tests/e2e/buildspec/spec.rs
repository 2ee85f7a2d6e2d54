//! A CodeBuild buildspec (version 0.2), read into what the runner needs: the shell, `env`'s
//! `variables` and `exported-variables`, and the four phases' `commands`, `finally` and
//! `on-failure`. Pure: text in, [`Buildspec`] or an error naming the file and field out.
//!
//! What CodeBuild documents and the runner follows (build-spec-ref, view-build-details-phases):
//! - `env.shell` is `bash` or `/bin/sh` on Linux; commands are Shell Command Language (`sh`).
//! - `phases.<phase>.on-failure` is `ABORT` (the default) or `CONTINUE`.
//! - `finally` commands run after `commands`, even when one of them failed.
//! - A failed `install` or `pre_build` ends the build (on to FINALIZING); a failed `build` still
//!   runs `post_build` (with `CODEBUILD_BUILD_SUCCEEDING=0`).
//!
//! Parts of the format the runner does not emulate (`parameter-store`, `secrets-manager`,
//! `run-as`, `RETRY` failure modes...) are refused by name, so a buildspec that uses them cannot
//! pass this test by being half-read. Sections that do not run commands (`artifacts`, `reports`,
//! `cache`) are ignored.

use serde_json::Value;

/// The four phases, in the order CodeBuild runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseName {
    /// `install`
    Install,
    /// `pre_build`
    PreBuild,
    /// `build`
    Build,
    /// `post_build`
    PostBuild,
}

impl PhaseName {
    /// Every phase, in run order.
    pub const ALL: [PhaseName; 4] = [PhaseName::Install, PhaseName::PreBuild, PhaseName::Build, PhaseName::PostBuild];

    /// The key in `phases:`.
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    /// Whether `self` runs after `failed` failed with on-failure ABORT: only `post_build` after a
    /// failed `build` (CodeBuild's phase transitions).
    pub fn runs_after_aborted(self, failed: PhaseName) -> bool {
        failed == PhaseName::Build && self == PhaseName::PostBuild
    }
}

/// `on-failure` of a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop the build (the default).
    Abort,
    /// Go on with the next phase; the build still fails.
    Continue,
}

/// One phase's commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Which phase.
    pub name: PhaseName,
    /// `commands`, run in order in one shell; the first failing one stops them.
    pub commands: Vec<String>,
    /// `finally`, run after `commands` in the same shell whether they failed or not.
    pub finally: Vec<String>,
    /// `on-failure`.
    pub on_failure: OnFailure,
}

/// A buildspec, as far as running it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    /// The shell every phase runs in: `sh` unless `env.shell` says `bash`.
    pub shell: String,
    /// `env.variables`, in file order.
    pub variables: Vec<(String, String)>,
    /// `env.exported-variables`.
    pub exported: Vec<String>,
    /// The phases present, in run order.
    pub phases: Vec<Phase>,
}

/// Parses buildspec `text` read from `file` (named in errors).
pub fn parse(text: &str, file: &str) -> Result<Buildspec, String> {
    let err = |field: &str, msg: &str| format!("{file}: {field}: {msg}");
    let docs = shipline_core::update::yaml::parse_documents(text).map_err(|e| format!("{file}: {e}"))?;
    let [root] = docs.as_slice() else {
        return Err(err("(document)", &format!("expected one YAML document, found {}", docs.len())));
    };
    let root = root.as_object().ok_or_else(|| err("(document)", "expected a mapping"))?;
    match root.get("version") {
        Some(Value::Number(n)) if n.as_f64() == Some(0.2) => {}
        Some(Value::String(s)) if s == "0.2" => {}
        other => return Err(err("version", &format!("only 0.2 is supported, found {}", show(other)))),
    }
    for key in root.keys() {
        if !["version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"]
            .contains(&key.as_str())
        {
            return Err(err(key, "unknown top-level key"));
        }
    }
    for key in ["run-as", "proxy", "batch"] {
        if root.contains_key(key) {
            return Err(err(key, "not emulated by this runner"));
        }
    }

    let mut spec = Buildspec { shell: "sh".into(), variables: Vec::new(), exported: Vec::new(), phases: Vec::new() };
    if let Some(env) = root.get("env") {
        let env = env.as_object().ok_or_else(|| err("env", "expected a mapping"))?;
        for (key, value) in env {
            match key.as_str() {
                "shell" => {
                    spec.shell = match value.as_str() {
                        Some("bash") => "bash".into(),
                        Some("/bin/sh") => "sh".into(),
                        _ => {
                            return Err(err(
                                "env.shell",
                                &format!("bash or /bin/sh on Linux, found {}", show(Some(value))),
                            ));
                        }
                    }
                }
                "variables" => {
                    let vars = value.as_object().ok_or_else(|| err("env.variables", "expected a mapping"))?;
                    for (name, v) in vars {
                        let v = scalar(v).ok_or_else(|| err(&format!("env.variables.{name}"), "expected a scalar"))?;
                        spec.variables.push((name.clone(), v));
                    }
                }
                "exported-variables" => spec.exported = strings(value, &err("env.exported-variables", ""))?,
                "parameter-store" | "secrets-manager" | "git-credential-helper" => {
                    return Err(err(&format!("env.{key}"), "not emulated by this runner"));
                }
                _ => return Err(err(&format!("env.{key}"), "unknown key")),
            }
        }
    }

    let phases = match root.get("phases") {
        Some(p) => p.as_object().ok_or_else(|| err("phases", "expected a mapping"))?,
        None => return Err(err("phases", "missing")),
    };
    for key in phases.keys() {
        if !PhaseName::ALL.iter().any(|p| p.key() == key) {
            return Err(err(&format!("phases.{key}"), "unknown phase (install, pre_build, build, post_build)"));
        }
    }
    for name in PhaseName::ALL {
        let Some(body) = phases.get(name.key()) else { continue };
        let at = |field: &str| format!("phases.{}.{field}", name.key());
        let body = body.as_object().ok_or_else(|| err(&format!("phases.{}", name.key()), "expected a mapping"))?;
        let mut phase = Phase { name, commands: Vec::new(), finally: Vec::new(), on_failure: OnFailure::Abort };
        for (key, value) in body {
            match key.as_str() {
                "commands" => phase.commands = strings(value, &err(&at("commands"), ""))?,
                "finally" => phase.finally = strings(value, &err(&at("finally"), ""))?,
                "on-failure" => {
                    phase.on_failure = match value.as_str() {
                        Some("ABORT") => OnFailure::Abort,
                        Some("CONTINUE") => OnFailure::Continue,
                        _ => {
                            return Err(err(
                                &at("on-failure"),
                                &format!("ABORT or CONTINUE, found {}", show(Some(value))),
                            ));
                        }
                    }
                }
                "runtime-versions" if name == PhaseName::Install => {
                    return Err(err(&at(key), "not emulated by this runner"));
                }
                "run-as" => return Err(err(&at(key), "not emulated by this runner")),
                _ => return Err(err(&at(key), "unknown key")),
            }
        }
        spec.phases.push(phase);
    }
    Ok(spec)
}

/// A YAML scalar as CodeBuild reads a variable's value: strings as they are, numbers and
/// booleans as written.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A sequence of strings, or an error `prefix` + what was wrong.
fn strings(v: &Value, prefix: &str) -> Result<Vec<String>, String> {
    let items = v.as_array().ok_or_else(|| format!("{prefix}expected a sequence of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str().map(str::to_owned).ok_or_else(|| format!("{prefix}item {i} is not a string: {item}"))
        })
        .collect()
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_phases_finally_and_on_failure() {
        let spec = parse(
            "version: 0.2\n\
             env:\n  shell: bash\n  variables:\n    A: one\n    N: 3\n  exported-variables: [IMAGE_TAG, IMAGE_DIGEST]\n\
             phases:\n  post_build:\n    commands: [echo post]\n  install:\n    on-failure: CONTINUE\n    commands:\n      - echo a\n      - 'echo \"b: c\"'\n    finally: [echo f]\n\
             artifacts:\n  files: ['**/*']\n",
            "b.yml",
        )
        .unwrap();
        assert_eq!(spec.shell, "bash");
        assert_eq!(spec.variables, [("A".into(), "one".into()), ("N".into(), "3".into())]);
        assert_eq!(spec.exported, ["IMAGE_TAG", "IMAGE_DIGEST"]);
        // Run order, not file order.
        assert_eq!(spec.phases.iter().map(|p| p.name).collect::<Vec<_>>(), [PhaseName::Install, PhaseName::PostBuild]);
        let install = &spec.phases[0];
        assert_eq!(install.commands, ["echo a", "echo \"b: c\""]);
        assert_eq!(install.finally, ["echo f"]);
        assert_eq!(install.on_failure, OnFailure::Continue);
        assert_eq!(spec.phases[1].on_failure, OnFailure::Abort);
    }

    #[test]
    fn defaults_to_sh_and_accepts_a_quoted_version() {
        let spec = parse("version: '0.2'\nphases:\n  build:\n    commands: [true]\n", "b.yml");
        // `true` unquoted is a YAML boolean, not a command string: refused by position.
        assert!(spec.unwrap_err().contains("phases.build.commands: item 0 is not a string"));
        let spec = parse("version: \"0.2\"\nphases:\n  build:\n    commands: ['true']\n", "b.yml").unwrap();
        assert_eq!(spec.shell, "sh");
        assert!(spec.variables.is_empty() && spec.exported.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let cases = [
            ("version: 0.1\nphases: {}\n", "b.yml: version: only 0.2 is supported, found 0.1"),
            ("phases: {}\n", "b.yml: version: only 0.2 is supported, found nothing"),
            ("version: 0.2\n", "b.yml: phases: missing"),
            ("version: 0.2\nphases:\n  test:\n    commands: [a]\n", "b.yml: phases.test: unknown phase"),
            (
                "version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n",
                "b.yml: phases.build.on-failure: ABORT or CONTINUE, found \"RETRY\"",
            ),
            ("version: 0.2\nphases:\n  build:\n    command: [a]\n", "b.yml: phases.build.command: unknown key"),
            ("version: 0.2\nenv:\n  shell: zsh\nphases: {}\n", "b.yml: env.shell: bash or /bin/sh"),
            (
                "version: 0.2\nenv:\n  secrets-manager:\n    K: s:k\nphases: {}\n",
                "b.yml: env.secrets-manager: not emulated",
            ),
            ("version: 0.2\nenv:\n  variables:\n    K: [1]\nphases: {}\n", "b.yml: env.variables.K: expected a scalar"),
            (
                "version: 0.2\nenv:\n  exported-variables: A\nphases: {}\n",
                "b.yml: env.exported-variables: expected a sequence",
            ),
            ("version: 0.2\nrun-as: root\nphases: {}\n", "b.yml: run-as: not emulated"),
            ("version: 0.2\nphase: {}\n", "b.yml: phase: unknown top-level key"),
            ("- a\n", "b.yml: (document): expected a mapping"),
        ];
        for (text, want) in cases {
            let got = parse(text, "b.yml").unwrap_err();
            assert!(got.starts_with(want), "{text:?}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn only_post_build_runs_after_an_aborted_phase_and_only_after_build() {
        use PhaseName::*;
        let table = [
            (Install, PreBuild, false),
            (Install, PostBuild, false),
            (PreBuild, Build, false),
            (PreBuild, PostBuild, false),
            (Build, PostBuild, true),
        ];
        for (failed, later, runs) in table {
            assert_eq!(later.runs_after_aborted(failed), runs, "{later:?} after {failed:?} failed");
        }
    }

    #[test]
    fn the_project_buildspecs_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../buildspec");
        for name in ["buildspec.yml", "buildspec-oci-layout.yml"] {
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            let spec = parse(&text, name).unwrap();
            assert_eq!(spec.exported, ["IMAGE_TAG", "IMAGE_DIGEST"], "{name}");
            let install = &spec.phases[0];
            assert_eq!(install.name, PhaseName::Install);
            // The checksum is checked before anything downloaded runs.
            let check = install.commands.iter().position(|c| c.contains("sha256sum -c")).expect("a checksum step");
            let first_run =
                install.commands.iter().position(|c| c.contains("shipline --version")).expect("a version step");
            let unpack = install.commands.iter().position(|c| c.contains("tar -xzf")).expect("an unpack step");
            assert!(check < unpack && unpack < first_run, "{name}: verify, then unpack, then run");
        }
    }
}
