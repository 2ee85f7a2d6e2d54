//! Where the parts of a `branch-commit-build` tag come from: flags, then the CodeBuild
//! environment, then the local git checkout. The first source that has a part wins, part by part.
//!
//! [`resolve_tag`] is pure: the environment is a lookup function and the checkout a closure that
//! is called at most once, and only when flags and environment leave a part open.

use serde::Serialize;

use crate::git::LocalCheckout;
use crate::image::tag::{self, ImageTag, TagError};

/// Tag parts given explicitly (the `--branch`, `--commit`, `--build` flags).
#[derive(Debug, Clone, Default)]
pub struct TagFlags {
    /// `--branch`: a branch name, `refs/heads/` optional.
    pub branch: Option<String>,
    /// `--commit`: a commit SHA, at least 7 hex characters.
    pub commit: Option<String>,
    /// `--build`: a positive build number.
    pub build: Option<String>,
}

/// Which source supplied a part of the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A command-line flag.
    Flag,
    /// A CodeBuild environment variable.
    Codebuild,
    /// The local git checkout.
    GitCheckout,
}

/// The source of each part of a resolved tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Origins {
    /// Source of the branch.
    pub branch: Origin,
    /// Source of the commit.
    pub commit: Origin,
    /// Source of the build number.
    pub build: Origin,
}

/// A tag and where its parts came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTag {
    /// The tag.
    pub tag: ImageTag,
    /// Where each part came from.
    pub origins: Origins,
}

/// Why no tag could be resolved. Every message names the flag or variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A supplied value is malformed; `input` names the flag or variable it came from.
    #[error("{input}: {source}")]
    Invalid {
        /// The flag or environment variable, e.g. `--commit` or `CODEBUILD_BUILD_NUMBER`.
        input: String,
        /// What is wrong with its value.
        source: TagError,
    },
    /// HEAD is detached and nothing else names a branch.
    #[error(
        "the git checkout at {path} has a detached HEAD, so it names no branch: pass --branch NAME \
         (or set CODEBUILD_WEBHOOK_HEAD_REF=refs/heads/NAME)"
    )]
    DetachedHead {
        /// The checkout.
        path: String,
    },
    /// Parts are missing and there is no usable git checkout to take them from.
    #[error(
        "no {missing} from flags or CodeBuild environment, and no git checkout to read it from: pass {flags} ({reason})"
    )]
    NoCheckout {
        /// The missing parts, e.g. `branch and commit`.
        missing: String,
        /// The flags that would supply them.
        flags: String,
        /// Why the checkout could not be read.
        reason: String,
    },
}

/// Resolves the tag from flags, then `env` (CodeBuild variables), then `checkout`, part by part.
///
/// CodeBuild variables read:
/// - branch: `CODEBUILD_WEBHOOK_HEAD_REF`, then `CODEBUILD_SOURCE_VERSION`, each only when it is a
///   `refs/heads/...` ref (a commit id, `pr/7` or a tag ref names no branch);
/// - commit: `CODEBUILD_RESOLVED_SOURCE_VERSION`;
/// - build: `CODEBUILD_BUILD_NUMBER`.
///
/// Empty variables count as unset.
pub fn resolve_tag<E, C>(flags: &TagFlags, env: E, checkout: C) -> Result<ResolvedTag, ResolveError>
where
    E: Fn(&str) -> Option<String>,
    C: FnOnce() -> Result<LocalCheckout, String>,
{
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let branch_ref = |name: &'static str| {
        env(name).and_then(|v| v.strip_prefix("refs/heads/").map(|b| (b.to_owned(), Origin::Codebuild, name)))
    };
    let branch = flags
        .branch
        .clone()
        .map(|b| (b, Origin::Flag, "--branch"))
        .or_else(|| branch_ref("CODEBUILD_WEBHOOK_HEAD_REF"))
        .or_else(|| branch_ref("CODEBUILD_SOURCE_VERSION"));
    let commit = flags.commit.clone().map(|c| (c, Origin::Flag, "--commit")).or_else(|| {
        env("CODEBUILD_RESOLVED_SOURCE_VERSION").map(|c| (c, Origin::Codebuild, "CODEBUILD_RESOLVED_SOURCE_VERSION"))
    });
    let build = flags
        .build
        .clone()
        .map(|b| (b, Origin::Flag, "--build"))
        .or_else(|| env("CODEBUILD_BUILD_NUMBER").map(|b| (b, Origin::Codebuild, "CODEBUILD_BUILD_NUMBER")));

    // Validate what we have before touching git, so a bad flag is reported as such.
    let invalid = |input: &str, source| ResolveError::Invalid { input: input.to_owned(), source };
    let commit =
        commit.map(|(c, o, input)| tag::short_commit(&c).map(|_| (c, o)).map_err(|e| invalid(input, e))).transpose()?;
    let build =
        build.map(|(b, o, input)| tag::parse_build(&b).map(|n| (n, o)).map_err(|e| invalid(input, e))).transpose()?;
    let branch = branch
        .map(|(b, o, input)| tag::sanitize_branch(&b).map(|_| (b, o)).map_err(|e| invalid(input, e)))
        .transpose()?;

    let (branch, commit, build) = match (branch, commit, build) {
        (Some(branch), Some(commit), Some(build)) => (branch, commit, build),
        (branch, commit, build) => {
            let missing: Vec<(&str, &str)> = [
                branch.is_none().then_some(("branch", "--branch")),
                commit.is_none().then_some(("commit", "--commit")),
                build.is_none().then_some(("build number", "--build")),
            ]
            .into_iter()
            .flatten()
            .collect();
            let local = checkout().map_err(|reason| ResolveError::NoCheckout {
                missing: missing.iter().map(|m| m.0).collect::<Vec<_>>().join(" and "),
                flags: missing.iter().map(|m| m.1).collect::<Vec<_>>().join(", "),
                reason,
            })?;
            let branch = match branch {
                Some(b) => b,
                None => match local.branch.clone() {
                    Some(b) => (b, Origin::GitCheckout),
                    None => return Err(ResolveError::DetachedHead { path: local.path }),
                },
            };
            let commit = commit.unwrap_or((local.commit.clone(), Origin::GitCheckout));
            let build = build.unwrap_or((local.commit_count.max(1), Origin::GitCheckout));
            (branch, commit, build)
        }
    };
    let tag = ImageTag::new(&branch.0, &commit.0, build.0).map_err(|e| {
        let input = match &e {
            TagError::EmptyBranch(_) => "branch",
            TagError::InvalidCommit(_) => "commit",
            _ => "build",
        };
        invalid(input, e)
    })?;
    Ok(ResolvedTag { tag, origins: Origins { branch: branch.1, commit: commit.1, build: build.1 } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashMap;

    const SHA: &str = "1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b";

    fn checkout(branch: Option<&str>) -> LocalCheckout {
        LocalCheckout {
            path: "/src/app".into(),
            branch: branch.map(Into::into),
            commit: "abcdef0123456789abcdef0123456789abcdef01".into(),
            commit_count: 42,
        }
    }

    fn resolve(
        flags: TagFlags,
        env: &[(&str, &str)],
        local: Result<LocalCheckout, String>,
    ) -> Result<ResolvedTag, ResolveError> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        resolve_tag(&flags, |k| env.get(k).cloned(), || local)
    }

    fn flags(branch: Option<&str>, commit: Option<&str>, build: Option<&str>) -> TagFlags {
        TagFlags { branch: branch.map(Into::into), commit: commit.map(Into::into), build: build.map(Into::into) }
    }

    #[test]
    fn source_precedence_table() {
        use Origin::*;
        let cb_full = [
            ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/feature/Login-Page"),
            ("CODEBUILD_SOURCE_VERSION", "refs/heads/other"),
            ("CODEBUILD_RESOLVED_SOURCE_VERSION", SHA),
            ("CODEBUILD_BUILD_NUMBER", "24"),
        ];
        // (name, flags, environment, checkout branch, expected tag, expected origins)
        type Case<'a> = (&'a str, TagFlags, Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str, Origins);
        let cases: Vec<Case> = vec![
            (
                "flags win over env",
                flags(Some("main"), Some("0123456789"), Some("7")),
                cb_full.to_vec(),
                None,
                "main-0123456-7",
                Origins { branch: Flag, commit: Flag, build: Flag },
            ),
            (
                "codebuild webhook env",
                TagFlags::default(),
                cb_full.to_vec(),
                None,
                "feature-login-page-1f49071-24",
                Origins { branch: Codebuild, commit: Codebuild, build: Codebuild },
            ),
            (
                "source version used when it is a branch ref",
                TagFlags::default(),
                vec![
                    ("CODEBUILD_SOURCE_VERSION", "refs/heads/release/2.0"),
                    ("CODEBUILD_RESOLVED_SOURCE_VERSION", SHA),
                    ("CODEBUILD_BUILD_NUMBER", "3"),
                ],
                None,
                "release-2.0-1f49071-3",
                Origins { branch: Codebuild, commit: Codebuild, build: Codebuild },
            ),
            (
                "source version that is a commit falls through to git",
                TagFlags::default(),
                vec![
                    ("CODEBUILD_SOURCE_VERSION", SHA),
                    ("CODEBUILD_RESOLVED_SOURCE_VERSION", SHA),
                    ("CODEBUILD_BUILD_NUMBER", "3"),
                ],
                Some("dev"),
                "dev-1f49071-3",
                Origins { branch: GitCheckout, commit: Codebuild, build: Codebuild },
            ),
            (
                "empty variables count as unset",
                flags(Some("main"), None, None),
                vec![("CODEBUILD_RESOLVED_SOURCE_VERSION", ""), ("CODEBUILD_BUILD_NUMBER", " ")],
                Some("ignored"),
                "main-abcdef0-42",
                Origins { branch: Flag, commit: GitCheckout, build: GitCheckout },
            ),
            (
                "git checkout only",
                TagFlags::default(),
                vec![],
                Some("Feature/X"),
                "feature-x-abcdef0-42",
                Origins { branch: GitCheckout, commit: GitCheckout, build: GitCheckout },
            ),
        ];
        for (name, f, env, branch, want, origins) in cases {
            let got = resolve(f, &env, Ok(checkout(branch))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.tag.to_string(), want, "{name}");
            assert_eq!(got.origins, origins, "{name}");
        }
    }

    #[test]
    fn checkout_is_not_read_when_flags_and_env_suffice() {
        let called = Cell::new(false);
        let got = resolve_tag(
            &flags(Some("main"), Some(SHA), Some("1")),
            |_| None,
            || {
                called.set(true);
                Err("unused".into())
            },
        );
        assert_eq!(got.unwrap().tag.to_string(), "main-1f49071-1");
        assert!(!called.get());
    }

    #[test]
    fn detached_head_names_the_flag() {
        let err = resolve(TagFlags::default(), &[], Ok(checkout(None))).unwrap_err();
        assert!(matches!(err, ResolveError::DetachedHead { .. }));
        assert!(err.to_string().contains("--branch"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_source() {
        let err = resolve(flags(Some("main"), Some("nothex!"), Some("1")), &[], Err("no repo".into())).unwrap_err();
        assert!(err.to_string().starts_with("--commit: commit \"nothex!\""), "{err}");
        let err = resolve(TagFlags::default(), &[("CODEBUILD_BUILD_NUMBER", "0")], Err("no repo".into())).unwrap_err();
        assert!(err.to_string().starts_with("CODEBUILD_BUILD_NUMBER: build number \"0\""), "{err}");
        let err = resolve(flags(Some("///"), Some(SHA), Some("1")), &[], Err("no repo".into())).unwrap_err();
        assert!(err.to_string().starts_with("--branch: branch \"///\""), "{err}");
    }

    #[test]
    fn missing_parts_without_checkout_name_the_flags() {
        let err = resolve(flags(Some("main"), None, None), &[], Err("not a git repository".into())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no commit and build number"), "{msg}");
        assert!(msg.contains("pass --commit, --build"), "{msg}");
        assert!(msg.contains("not a git repository"), "{msg}");
    }
}
