//! The function's configuration, from environment variables (documented in the README, Lambda
//! section). Reading them is pure and does no I/O, so it runs at init without slowing cold
//! starts.

use std::path::PathBuf;

use shipline_core::secret::Secret;

use crate::error::LambdaError;

/// Default configuration path inside the microservices repository.
pub const DEFAULT_CONFIG_PATH: &str = "shipline.yaml";

/// How the function authenticates to the git host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// CodeCommit with the function role's credentials (SigV4, no stored secret). The default.
    Iam,
    /// HTTPS basic auth (CodeCommit HTTPS git credentials, a token).
    Password {
        /// User name.
        username: String,
        /// Password or token; never logged.
        password: Secret,
    },
    /// No credentials (public repositories, tests).
    None,
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `SHIPLINE_GIT_URL`: the microservices repository.
    pub git_url: String,
    /// `SHIPLINE_GIT_BRANCH`: branch to update; unset takes the repository configuration's.
    pub branch: Option<String>,
    /// `SHIPLINE_CONFIG_PATH`: configuration file or directory in the repository.
    pub config_path: String,
    /// `SHIPLINE_GIT_AUTH` (`iam`, `password`, `none`) with `SHIPLINE_GIT_USERNAME` and
    /// `SHIPLINE_GIT_PASSWORD` for `password`.
    pub auth: AuthMode,
    /// `SHIPLINE_GIT_CA_FILE`: extra CA certificate (PEM) for a private git host.
    pub ca_file: Option<PathBuf>,
    /// `SHIPLINE_DRY_RUN=true`: plan and log, never commit or push.
    pub dry_run: bool,
    /// `SHIPLINE_GIT_PUSH_BRANCH`: branch the commits go to (created from the checkout branch
    /// when missing); unset takes the repository configuration's, then the checkout branch.
    pub push_branch: Option<String>,
    /// `SHIPLINE_GIT_PUSH_REFSPEC`: a refspec pushed as well (`SRC:DST`, never forced).
    pub push_refspec: Option<String>,
    /// `SHIPLINE_SIGNING_KEY` (the key's text) or `SHIPLINE_SIGNING_KEY_FILE`, with
    /// `SHIPLINE_SIGNING_PASSPHRASE`: sign commits (checked at init, parsed again per update).
    pub signing_key: Option<(String, Secret, Option<Secret>)>,
    /// `SHIPLINE_COMMIT_AUTHOR_NAME` and `SHIPLINE_COMMIT_AUTHOR_EMAIL` (both or neither): the
    /// commit author; unset takes the repository configuration's.
    pub author: Option<(String, String)>,
    /// `SHIPLINE_RETAG_PROJECTS`: CodeBuild projects (comma-separated) whose builds name images
    /// pushed with a bare commit-SHA tag; set, such a push is re-tagged `branch-commit-build`
    /// instead of being offered to the policies. Empty: re-tagging is off.
    pub retag_projects: Vec<String>,
    /// The closed loop's cluster and wait (`SHIPLINE_EKS_*`, `SHIPLINE_KUBE_TOKEN`,
    /// `SHIPLINE_WAIT_*`), when configured; see [`crate::cluster::ClusterSettings`].
    pub cluster: Option<crate::cluster::ClusterSettings>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, LambdaError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (the environment, or a table in tests). Empty values
    /// count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, LambdaError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let bad = |message: String| LambdaError::Settings(message);
        let git_url = get("SHIPLINE_GIT_URL")
            .ok_or_else(|| bad("SHIPLINE_GIT_URL is not set: give the microservices repository's clone URL".into()))?;
        if git_url.contains('@') && git_url.starts_with("http") {
            return Err(bad(
                "SHIPLINE_GIT_URL must not contain credentials: use SHIPLINE_GIT_AUTH (iam or password)".into()
            ));
        }
        let auth = match get("SHIPLINE_GIT_AUTH").as_deref().unwrap_or("iam") {
            "iam" => {
                if !git_url.starts_with("https://") {
                    return Err(bad(format!(
                        "SHIPLINE_GIT_AUTH=iam signs CodeCommit HTTPS requests, but SHIPLINE_GIT_URL {git_url:?} is not https://"
                    )));
                }
                AuthMode::Iam
            }
            "password" => AuthMode::Password {
                username: get("SHIPLINE_GIT_USERNAME")
                    .ok_or_else(|| bad("SHIPLINE_GIT_AUTH=password needs SHIPLINE_GIT_USERNAME".into()))?,
                password: Secret::new(
                    get("SHIPLINE_GIT_PASSWORD")
                        .ok_or_else(|| bad("SHIPLINE_GIT_AUTH=password needs SHIPLINE_GIT_PASSWORD".into()))?,
                ),
            },
            "none" => AuthMode::None,
            other => return Err(bad(format!("SHIPLINE_GIT_AUTH={other:?}: expected iam, password or none"))),
        };
        let dry_run = match get("SHIPLINE_DRY_RUN").as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => return Err(bad(format!("SHIPLINE_DRY_RUN={other:?}: expected true or false"))),
        };
        let author = match (get("SHIPLINE_COMMIT_AUTHOR_NAME"), get("SHIPLINE_COMMIT_AUTHOR_EMAIL")) {
            (Some(name), Some(email)) if email.contains('@') => Some((name, email)),
            (Some(_), Some(email)) => {
                return Err(bad(format!("SHIPLINE_COMMIT_AUTHOR_EMAIL={email:?} is not an e-mail address")));
            }
            (None, None) => None,
            _ => {
                return Err(bad(
                    "set both SHIPLINE_COMMIT_AUTHOR_NAME and SHIPLINE_COMMIT_AUTHOR_EMAIL, or neither".into()
                ));
            }
        };
        let push_branch = get("SHIPLINE_GIT_PUSH_BRANCH");
        if let Some(b) = push_branch.as_deref().filter(|b| !shipline_core::git::is_valid_branch_name(b)) {
            return Err(bad(format!("SHIPLINE_GIT_PUSH_BRANCH={b:?} is not a valid branch name")));
        }
        let push_refspec = get("SHIPLINE_GIT_PUSH_REFSPEC");
        if let Some(r) = &push_refspec {
            shipline_core::git::parse_push_refspec(r)
                .map_err(|e| bad(format!("SHIPLINE_GIT_PUSH_REFSPEC={r:?}: {e}")))?;
        }
        let signing_text = match (get("SHIPLINE_SIGNING_KEY"), get("SHIPLINE_SIGNING_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(bad("set SHIPLINE_SIGNING_KEY or SHIPLINE_SIGNING_KEY_FILE, not both".into()));
            }
            (Some(text), None) => Some(("SHIPLINE_SIGNING_KEY".to_owned(), text)),
            (None, Some(file)) => Some((
                format!("SHIPLINE_SIGNING_KEY_FILE={file}"),
                std::fs::read_to_string(&file).map_err(|e| bad(format!("SHIPLINE_SIGNING_KEY_FILE={file:?}: {e}")))?,
            )),
            (None, None) => None,
        };
        let signing_key = match signing_text {
            Some((source, text)) => {
                let passphrase = get("SHIPLINE_SIGNING_PASSPHRASE").map(Secret::new);
                shipline_core::git::SigningKey::parse(&text, &source, passphrase.clone())
                    .map_err(|e| bad(e.to_string()))?;
                Some((source, Secret::new(text), passphrase))
            }
            None => None,
        };
        let retag_projects: Vec<String> = get("SHIPLINE_RETAG_PROJECTS")
            .map(|v| v.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        // CodeBuild project names: 2 to 255 of [A-Za-z0-9_-], starting with a letter or digit.
        if let Some(p) = retag_projects.iter().find(|p| {
            p.len() < 2
                || p.len() > 255
                || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || !p.as_bytes()[0].is_ascii_alphanumeric()
        }) {
            return Err(bad(format!("SHIPLINE_RETAG_PROJECTS: {p:?} is not a CodeBuild project name")));
        }
        let cluster = crate::cluster::ClusterSettings::from_lookup(get)?;
        Ok(Self {
            cluster,
            retag_projects,
            signing_key,
            push_branch,
            push_refspec,
            author,
            git_url,
            branch: get("SHIPLINE_GIT_BRANCH"),
            config_path: get("SHIPLINE_CONFIG_PATH").unwrap_or_else(|| DEFAULT_CONFIG_PATH.into()),
            auth,
            ca_file: get("SHIPLINE_GIT_CA_FILE").map(PathBuf::from),
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, LambdaError> {
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    const CC: &str = "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/microservices";

    #[test]
    fn defaults_are_iam_and_shipline_yaml() {
        let s = settings(&[("SHIPLINE_GIT_URL", CC)]).unwrap();
        assert_eq!(s.auth, AuthMode::Iam);
        assert_eq!(s.config_path, "shipline.yaml");
        assert_eq!((s.branch, s.ca_file, s.dry_run, s.author), (None, None, false, None));
        assert!(s.retag_projects.is_empty(), "re-tagging is off by default");
    }

    #[test]
    fn every_variable_is_read() {
        let s = settings(&[
            ("SHIPLINE_GIT_URL", "http://127.0.0.1:1/v1/repos/m"),
            ("SHIPLINE_GIT_BRANCH", "release"),
            ("SHIPLINE_CONFIG_PATH", "clusters/dev"),
            ("SHIPLINE_GIT_AUTH", "password"),
            ("SHIPLINE_GIT_USERNAME", "ci"),
            ("SHIPLINE_GIT_PASSWORD", "hunter2"),
            ("SHIPLINE_GIT_CA_FILE", "/opt/ca.pem"),
            ("SHIPLINE_DRY_RUN", "true"),
            ("SHIPLINE_COMMIT_AUTHOR_NAME", "deploy-bot"),
            ("SHIPLINE_COMMIT_AUTHOR_EMAIL", "deploy-bot@example.com"),
            ("SHIPLINE_RETAG_PROJECTS", " front-end-build, cart_build ,"),
        ])
        .unwrap();
        assert_eq!(s.retag_projects, ["front-end-build", "cart_build"]);
        assert_eq!(s.author, Some(("deploy-bot".into(), "deploy-bot@example.com".into())));
        assert_eq!(s.branch.as_deref(), Some("release"));
        assert_eq!(s.config_path, "clusters/dev");
        assert_eq!(s.auth, AuthMode::Password { username: "ci".into(), password: Secret::new("hunter2") });
        assert!(!format!("{s:?}").contains("hunter2"), "the password never shows");
        assert_eq!(s.ca_file, Some(PathBuf::from("/opt/ca.pem")));
        assert!(s.dry_run);
    }

    #[test]
    fn invalid_settings_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 9] = [
            (
                &[("SHIPLINE_GIT_URL", CC), ("SHIPLINE_RETAG_PROJECTS", "ok,bad/name")],
                "\"bad/name\" is not a CodeBuild",
            ),
            (&[("SHIPLINE_GIT_URL", CC), ("SHIPLINE_COMMIT_AUTHOR_NAME", "bot")], "or neither"),
            (
                &[
                    ("SHIPLINE_GIT_URL", CC),
                    ("SHIPLINE_COMMIT_AUTHOR_NAME", "bot"),
                    ("SHIPLINE_COMMIT_AUTHOR_EMAIL", "nope"),
                ],
                "SHIPLINE_COMMIT_AUTHOR_EMAIL=\"nope\"",
            ),
            (&[], "SHIPLINE_GIT_URL"),
            (&[("SHIPLINE_GIT_URL", "  ")], "SHIPLINE_GIT_URL"),
            (&[("SHIPLINE_GIT_URL", "http://x/y")], "SHIPLINE_GIT_AUTH=iam"),
            (&[("SHIPLINE_GIT_URL", CC), ("SHIPLINE_GIT_AUTH", "password")], "SHIPLINE_GIT_USERNAME"),
            (&[("SHIPLINE_GIT_URL", CC), ("SHIPLINE_GIT_AUTH", "oauth")], "expected iam, password or none"),
            (&[("SHIPLINE_GIT_URL", "https://u:p@host/r")], "must not contain credentials"),
        ];
        for (vars, want) in cases {
            let err = settings(vars).unwrap_err();
            assert!(err.to_string().contains(want), "{vars:?}: {err}");
            assert!(!err.is_transient());
        }
    }
}
