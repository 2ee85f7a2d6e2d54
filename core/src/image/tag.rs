//! The image tag `branch-commit-build` (e.g. `main-1f49071-24`): building it from raw inputs and
//! parsing it back.
//!
//! Everything here is pure: no environment, no git. [`crate::image::build_info`] decides where the raw
//! inputs come from.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Longest tag the OCI distribution spec allows (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;

/// Number of hex characters of the commit SHA kept in a tag.
pub const SHORT_COMMIT_LEN: usize = 7;

/// Why a raw input cannot become part of a tag, or why a string is not a `branch-commit-build` tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The branch has no character that survives sanitising.
    #[error("branch {0:?} has no character usable in an image tag (a-z, 0-9, '_', '.', '-')")]
    EmptyBranch(String),
    /// The commit is not a hex SHA of at least 7 characters.
    #[error("commit {0:?} is not a git SHA: expected at least 7 hex characters (0-9, a-f)")]
    InvalidCommit(String),
    /// The build number is not a positive integer.
    #[error("build number {0:?} is not a positive integer")]
    InvalidBuild(String),
    /// A tag string does not have the `branch-commit-build` shape.
    #[error("tag {tag:?} is not a branch-commit-build tag: {reason}")]
    NotBranchCommitBuild {
        /// The tag that failed to parse.
        tag: String,
        /// Which part is wrong.
        reason: &'static str,
    },
}

/// A tag of the form `branch-commit-build`, every part already valid.
///
/// Built with [`ImageTag::new`] from raw inputs, or parsed from a tag with [`str::parse`].
/// `Display` writes the tag; [`ImageTag::parse`] of that output gives the same value back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageTag {
    branch: String,
    commit: String,
    build: u64,
}

impl ImageTag {
    /// Builds a tag from a raw branch name (`feature/Login-Page`, `refs/heads/main`), a commit SHA
    /// (full or abbreviated, at least 7 hex characters) and a build number.
    ///
    /// The branch is sanitised with [`sanitize_branch`] and shortened so the whole tag fits in
    /// [`MAX_TAG_LEN`] characters.
    pub fn new(branch: &str, commit: &str, build: u64) -> Result<Self, TagError> {
        let commit = short_commit(commit)?;
        if build == 0 {
            return Err(TagError::InvalidBuild(build.to_string()));
        }
        let mut branch = sanitize_branch(branch)?;
        let suffix_len = 1 + SHORT_COMMIT_LEN + 1 + decimal_len(build);
        let max_branch = MAX_TAG_LEN - suffix_len;
        if branch.len() > max_branch {
            branch.truncate(max_branch); // ASCII only, so any byte index is a char boundary
            let kept = branch.trim_end_matches('-').len();
            branch.truncate(kept);
        }
        Ok(Self { branch, commit, build })
    }

    /// Parses a `branch-commit-build` tag from the right, so branches containing `-` are fine.
    ///
    /// Only canonical tags parse: what [`ImageTag::new`] could have produced. Anything else
    /// (upper-case hex, a build number with leading zeros, a branch that sanitising would change)
    /// is an error, so policies never mistake a foreign tag for one of ours.
    pub fn parse(tag: &str) -> Result<Self, TagError> {
        let bad = |reason| TagError::NotBranchCommitBuild { tag: tag.to_owned(), reason };
        if tag.len() > MAX_TAG_LEN {
            return Err(bad("longer than 128 characters"));
        }
        let (rest, build) = tag.rsplit_once('-').ok_or_else(|| bad("no '-' before the build number"))?;
        let (branch, commit) = rest.rsplit_once('-').ok_or_else(|| bad("no '-' before the commit"))?;
        let build =
            parse_build(build).map_err(|_| bad("build number is not a positive integer without leading zeros"))?;
        if commit.len() != SHORT_COMMIT_LEN || !commit.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("commit is not 7 lower-case hex characters"));
        }
        if branch.is_empty() || sanitize_branch(branch).as_deref() != Ok(branch) {
            return Err(bad("branch is empty or not in sanitised form"));
        }
        Ok(Self { branch: branch.to_owned(), commit: commit.to_owned(), build })
    }

    /// The sanitised branch part.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The 7-character commit part.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The build number.
    pub fn build(&self) -> u64 {
        self.build
    }
}

impl fmt::Display for ImageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.branch, self.commit, self.build)
    }
}

impl FromStr for ImageTag {
    type Err = TagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Turns a branch name into a tag fragment: `refs/heads/` is dropped, letters are lower-cased,
/// every character outside `[a-z0-9_.-]` becomes `-`, runs of `-` collapse to one, and leading
/// `.`/`-` and trailing `-` are removed.
///
/// `feature/Login-Page` → `feature-login-page`; `release/2.0` → `release-2.0`.
pub fn sanitize_branch(raw: &str) -> Result<String, TagError> {
    let name = raw.strip_prefix("refs/heads/").unwrap_or(raw);
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '.') => c,
            _ => '-',
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue; // collapses runs and drops a leading '-'
        }
        if c == '.' && out.is_empty() {
            continue;
        }
        out.push(c);
    }
    let kept = out.trim_end_matches('-').len();
    out.truncate(kept);
    if out.is_empty() {
        return Err(TagError::EmptyBranch(raw.to_owned()));
    }
    Ok(out)
}

/// The first 7 characters of a commit SHA, lower-cased; rejects anything that is not hex.
pub fn short_commit(raw: &str) -> Result<String, TagError> {
    let sha = raw.trim();
    if sha.len() < SHORT_COMMIT_LEN || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TagError::InvalidCommit(raw.to_owned()));
    }
    Ok(sha[..SHORT_COMMIT_LEN].to_ascii_lowercase())
}

/// Parses a build number: a positive decimal integer without sign or leading zeros.
pub fn parse_build(raw: &str) -> Result<u64, TagError> {
    let err = || TagError::InvalidBuild(raw.to_owned());
    let digits = raw.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(err());
    }
    digits.parse().map_err(|_| err())
}

fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The OCI distribution spec's tag grammar.
    fn is_valid_oci_tag(tag: &str) -> bool {
        let mut bytes = tag.bytes();
        matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && tag.len() <= MAX_TAG_LEN
    }

    #[test]
    fn sanitize_branch_table() {
        let cases = [
            ("main", "main"),
            ("feature/Login-Page", "feature-login-page"),
            ("release/2.0", "release-2.0"),
            ("refs/heads/feature/x", "feature-x"),
            ("FOO__bar", "foo__bar"),
            ("a//b", "a-b"),
            ("a - b", "a-b"),
            ("--lead", "lead"),
            (".hidden", "hidden"),
            ("-.-x", "x"),
            ("..x", "x"),
            ("trail/", "trail"),
            ("trail-", "trail"),
            ("dots..ok", "dots..ok"),
            ("ünïcode", "n-code"),
            ("dependabot/npm_and_yarn/lodash-4.17.21", "dependabot-npm_and_yarn-lodash-4.17.21"),
            ("_under", "_under"),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_branch(raw).as_deref(), Ok(want), "sanitize_branch({raw:?})");
        }
    }

    #[test]
    fn sanitize_branch_rejects_empty_results() {
        for raw in ["", "/", "---", "...", "ü", "refs/heads/"] {
            assert_eq!(sanitize_branch(raw), Err(TagError::EmptyBranch(raw.to_owned())), "{raw:?}");
        }
    }

    #[test]
    fn short_commit_table() {
        let ok = [
            ("1f49071", "1f49071"),
            ("1F49071ABCDEF", "1f49071"),
            ("1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b", "1f49071"),
        ];
        for (raw, want) in ok {
            assert_eq!(short_commit(raw).as_deref(), Ok(want), "{raw:?}");
        }
        for raw in ["", "1f4907", "1f4907g", "main", "1f49071 extra", "0x1f49071"] {
            assert_eq!(short_commit(raw), Err(TagError::InvalidCommit(raw.to_owned())), "{raw:?}");
        }
    }

    #[test]
    fn parse_build_table() {
        assert_eq!(parse_build("24"), Ok(24));
        assert_eq!(parse_build("1"), Ok(1));
        assert_eq!(parse_build("18446744073709551615"), Ok(u64::MAX));
        for raw in ["", "0", "-1", "+1", "024", "1.5", "abc", "18446744073709551616"] {
            assert_eq!(parse_build(raw), Err(TagError::InvalidBuild(raw.to_owned())), "{raw:?}");
        }
    }

    #[test]
    fn new_formats_the_tag() {
        let tag = ImageTag::new("main", "1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b", 24).unwrap();
        assert_eq!(tag.to_string(), "main-1f49071-24");
        let tag = ImageTag::new("feature/Login-Page", "ABCDEF0123", 7).unwrap();
        assert_eq!(tag.to_string(), "feature-login-page-abcdef0-7");
        assert_eq!(ImageTag::new("main", "1f49071", 0), Err(TagError::InvalidBuild("0".into())));
        assert!(matches!(ImageTag::new("main", "xyz", 1), Err(TagError::InvalidCommit(_))));
    }

    #[test]
    fn new_truncates_long_branches_to_fit_128() {
        let tag = ImageTag::new(&"b".repeat(300), "1f49071", 123456).unwrap().to_string();
        assert_eq!(tag.len(), MAX_TAG_LEN);
        assert!(tag.ends_with("-1f49071-123456"));
        // Truncation that ends on a '-' must not leave "--" before the commit.
        let branch = format!("{}-x", "a".repeat(MAX_TAG_LEN - 11));
        let tag = ImageTag::new(&branch, "1f49071", 1).unwrap().to_string();
        assert!(!tag.contains("--"), "{tag}");
        assert_eq!(ImageTag::parse(&tag).unwrap().branch(), "a".repeat(MAX_TAG_LEN - 11));
    }

    #[test]
    fn parse_table() {
        let ok = [
            ("main-1f49071-24", ("main", "1f49071", 24)),
            ("feature-login-page-abcdef0-7", ("feature-login-page", "abcdef0", 7)),
            ("release-2.0-0000000-1", ("release-2.0", "0000000", 1)),
            ("a-b-c-1234567-99", ("a-b-c", "1234567", 99)),
        ];
        for (raw, (branch, commit, build)) in ok {
            let tag = ImageTag::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!((tag.branch(), tag.commit(), tag.build()), (branch, commit, build), "{raw}");
        }
        let bad = [
            "latest",
            "main-24",
            "main-1f49071",
            "-1f49071-24",
            "main-1F49071-24",
            "main-1f4907-24",
            "main-1f49071-024",
            "main-1f49071-0",
            "main-1f49071-",
            "Main-1f49071-24",
            "main--1f49071-24",
            "v1.2.3",
        ];
        for raw in bad {
            assert!(
                matches!(ImageTag::parse(raw), Err(TagError::NotBranchCommitBuild { .. })),
                "{raw:?} should not parse"
            );
        }
        let too_long = format!("{}-1f49071-1", "a".repeat(MAX_TAG_LEN));
        assert!(ImageTag::parse(&too_long).is_err());
    }

    proptest! {
        #[test]
        fn any_branch_yields_a_valid_tag_that_parses_back(
            branch in "\\PC{0,200}",
            commit in "[0-9a-fA-F]{7,40}",
            build in 1u64..,
        ) {
            match ImageTag::new(&branch, &commit, build) {
                Ok(tag) => {
                    let text = tag.to_string();
                    prop_assert!(is_valid_oci_tag(&text), "invalid OCI tag {text:?}");
                    prop_assert_eq!(ImageTag::parse(&text), Ok(tag.clone()));
                    prop_assert_eq!(tag.commit(), commit[..7].to_ascii_lowercase());
                    prop_assert_eq!(tag.build(), build);
                    // The branch part is a prefix of the sanitised branch (truncated only to fit).
                    prop_assert!(sanitize_branch(&branch).unwrap().starts_with(tag.branch()));
                }
                Err(TagError::EmptyBranch(_)) => {
                    let name = branch.strip_prefix("refs/heads/").unwrap_or(&branch);
                    prop_assert!(!name.chars().any(|c| c.is_ascii_alphanumeric() || c == '_'));
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn sanitize_is_idempotent(branch in "[A-Za-z0-9/._ -]{1,80}") {
            if let Ok(once) = sanitize_branch(&branch) {
                prop_assert_eq!(sanitize_branch(&once), Ok(once.clone()));
            }
        }
    }
}
