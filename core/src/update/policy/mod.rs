//! Image policies: which of an image repository's tags is the newest.
//!
//! The policies are Flux's (image-reflector-controller, `internal/policy`): `numerical`,
//! `alphabetical` and `semver`, each behind an optional `filterTags` regex whose `extract`
//! template picks the part of the tag that is ordered. shipline adds its own default,
//! [`Choice::BranchCommitBuild`], for the `branch-commit-build` tags of [`crate::image::tag`].
//!
//! Two of Flux's traps are fixed here:
//! - A candidate that the policy cannot read (`numerical` on `latest`) is skipped with a reason
//!   in [`Selection::skipped`]; Flux fails the whole policy.
//! - Ties are broken deterministically. Candidates that rank equal (`1.0.0` and `v1.0.0`; `01`
//!   and `1`; two tags with the same extracted value) are ordered by their original tag, byte by
//!   byte, and the greatest wins, whatever the order option. Flux keeps whichever came first or
//!   last, so its answer depends on the order the registry listed the tags in.
//!
//! Everything here is pure: no I/O. [`flux`] holds the serde types for Flux's own `ImagePolicy`
//! manifests.

pub mod flux;
mod semver_range;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::image::tag::{ImageTag, sanitize_branch};
use semver_range::{Range, Version};

/// Which end of the order is "newest". As in Flux, ascending (the default) picks the greatest
/// value and descending the least.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The greatest value is the newest (`9` over `0`, `z` over `a`).
    #[default]
    Asc,
    /// The least value is the newest.
    Desc,
}

/// How candidate values are ordered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Choice {
    /// Values are numbers, parsed like Go's `strconv.ParseFloat(s, 64)` (`12`, `-3.5`, `1e3`).
    Numerical(Order),
    /// Values are compared as byte strings.
    Alphabetical(Order),
    /// Values are semantic versions (`1.2.3`, `v1.2.3`; see [`ImagePolicy`] for the exact rules)
    /// and only those within `range` count; the highest wins.
    Semver {
        /// A Masterminds/semver constraint, as Flux takes it: `>=1.0.0 <2.0.0`, `^1.2`, `~1.2.3`,
        /// `1.2.x`, `1.2 - 1.4.5`, `!=1.3.0`, `, ` or space for AND, `||` for OR.
        range: String,
    },
    /// Values are shipline's `branch-commit-build` tags ([`ImageTag`]); the highest build number
    /// wins.
    BranchCommitBuild {
        /// Only tags of this (sanitised) branch count; `None` takes every branch.
        branch: Option<String>,
    },
}

/// Why a policy cannot be built. Each message names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `filterTags.pattern` is not a valid regular expression.
    #[error("invalid filterTags.pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
    /// `filterTags.extract` refers to a group the pattern lacks, or has a stray `$`.
    #[error("invalid filterTags.extract {extract:?}: {reason}")]
    InvalidExtract {
        /// The template as given.
        extract: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The semver range does not parse.
    #[error("invalid semver range {range:?}: {reason}")]
    InvalidRange {
        /// The range as given.
        range: String,
        /// What the parser said.
        reason: String,
    },
    /// The branch of a branch-commit-build policy could never match a tag.
    #[error("invalid branch {branch:?}: {reason}")]
    InvalidBranch {
        /// The branch as given.
        branch: String,
        /// Why no tag can carry it.
        reason: String,
    },
    /// A Flux `spec.policy` sets none of `semver`, `alphabetical`, `numerical`.
    #[error("spec.policy sets none of semver, alphabetical, numerical")]
    NoPolicyChoice,
    /// A Flux `spec.policy` sets more than one of them.
    #[error("spec.policy sets more than one of semver, alphabetical, numerical: {0}")]
    AmbiguousPolicyChoice(String),
    /// A manifest that is not a Flux `ImagePolicy` of a supported API version.
    #[error("unsupported manifest {api_version}/{kind}: expected ImagePolicy of {}", flux::API_VERSIONS.join(" or "))]
    UnsupportedManifest {
        /// The manifest's `apiVersion`.
        api_version: String,
        /// The manifest's `kind`.
        kind: String,
    },
}

/// Why a tag was not a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The tag does not match `filterTags.pattern`.
    FilterMismatch,
    /// Numerical policy: the value is not a number.
    NotANumber {
        /// The value that was to be ordered (the extracted one, if `extract` is set).
        value: String,
    },
    /// Numerical policy: the value is NaN, which has no place in an order.
    NotOrderable {
        /// The value that was to be ordered.
        value: String,
    },
    /// Semver policy: the value is not a version.
    NotSemver {
        /// The value that was to be ordered.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// Semver policy: the version is outside the range.
    OutOfRange {
        /// The value that was to be ordered.
        value: String,
        /// The policy's range.
        range: String,
    },
    /// Branch-commit-build policy: the value is not such a tag.
    NotBranchCommitBuild {
        /// What [`ImageTag::parse`] said.
        reason: String,
    },
    /// Branch-commit-build policy: the tag is of another branch.
    OtherBranch {
        /// The tag's branch.
        branch: String,
        /// The policy's branch.
        wanted: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FilterMismatch => f.write_str("does not match filterTags.pattern"),
            Self::NotANumber { value } => write!(f, "{value:?} is not a number"),
            Self::NotOrderable { value } => write!(f, "{value:?} is NaN, which cannot be ordered"),
            Self::NotSemver { value, reason } => write!(f, "{value:?} is not a semantic version: {reason}"),
            Self::OutOfRange { value, range } => write!(f, "version {value:?} is outside range {range:?}"),
            Self::NotBranchCommitBuild { reason } => f.write_str(reason),
            Self::OtherBranch { branch, wanted } => write!(f, "branch {branch:?} is not {wanted:?}"),
        }
    }
}

/// A tag that [`ImagePolicy::select`] passed over, and why: material for a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The tag as listed.
    pub tag: String,
    /// Why it was not a candidate.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag {:?} skipped: {}", self.tag, self.reason)
    }
}

/// What [`ImagePolicy::select`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The newest candidate, as the original tag; `None` when no tag was a candidate.
    pub latest: Option<String>,
    /// Every tag that was not a candidate, sorted by tag, each once.
    pub skipped: Vec<Skipped>,
}

/// A validated policy: filter, extraction and ordering. Build it with [`ImagePolicy::new`] or
/// from a Flux manifest ([`flux::ImagePolicySpec::to_policy`]).
///
/// Semver values follow Flux exactly: a version needs at least `MAJOR.MINOR.PATCH` (two dots),
/// may start with `v` and may have leading zeros (`v1.2.3`, `2025.01.02`); `1.2` and `1` are not
/// versions. Pre-releases match a range only when an AND group of the range names a
/// pre-release itself (`>=1.0.0-0`), as Masterminds/semver v3.4 decides.
#[derive(Debug, Clone)]
pub struct ImagePolicy {
    choice: Choice,
    filter: Option<Filter>,
    /// Parsed from `Choice::Semver::range`.
    range: Option<Range>,
}

#[derive(Debug, Clone)]
struct Filter {
    pattern: Regex,
    /// `None` when empty: Flux orders the whole tag then.
    extract: Option<String>,
}

/// What a tag is ordered by.
#[derive(Debug, Clone)]
enum Key {
    Number(f64),
    Text(String),
    Semver(Version),
    Build(ImageTag),
}

#[derive(Debug)]
struct Candidate<'t> {
    tag: &'t str,
    key: Key,
}

impl ImagePolicy {
    /// Validates and builds a policy.
    ///
    /// `filter_pattern` keeps only the tags it matches (anywhere in the tag, like Go's
    /// `regexp.MatchString`; anchor it with `^…$` if needed). `extract`, a template in Go's
    /// `regexp.Expand` syntax (`$1`, `$name`, `${name}`, `$$` for a literal `$`), replaces the
    /// tag with the expansion for ordering; an empty template means no extraction. Note that
    /// `$1x` means the group named `1x`, not group 1 then `x`: write `${1}x`.
    pub fn new(choice: Choice, filter_pattern: Option<&str>, extract: Option<&str>) -> Result<Self, PolicyError> {
        let extract = extract.filter(|e| !e.is_empty());
        let filter = match (filter_pattern, extract) {
            (None, None) => None,
            (None, Some(e)) => {
                return Err(PolicyError::InvalidExtract {
                    extract: e.to_owned(),
                    reason: "there is no filterTags.pattern to take groups from".to_owned(),
                });
            }
            (Some(p), e) => {
                let pattern = Regex::new(p)
                    .map_err(|err| PolicyError::InvalidPattern { pattern: p.to_owned(), reason: err.to_string() })?;
                if let Some(e) = e {
                    check_template(e, &pattern)
                        .map_err(|reason| PolicyError::InvalidExtract { extract: e.to_owned(), reason })?;
                }
                Some(Filter { pattern, extract: e.map(str::to_owned) })
            }
        };
        let range = match &choice {
            Choice::Semver { range } => {
                Some(Range::parse(range).map_err(|reason| PolicyError::InvalidRange { range: range.clone(), reason })?)
            }
            Choice::BranchCommitBuild { branch: Some(branch) } => {
                match sanitize_branch(branch) {
                    Ok(clean) if clean == *branch => {}
                    Ok(clean) => {
                        return Err(PolicyError::InvalidBranch {
                            branch: branch.clone(),
                            reason: format!("tags carry sanitised branch names; use {clean:?}"),
                        });
                    }
                    Err(e) => return Err(PolicyError::InvalidBranch { branch: branch.clone(), reason: e.to_string() }),
                }
                None
            }
            _ => None,
        };
        Ok(Self { choice, filter, range })
    }

    /// The ordering this policy applies.
    pub fn choice(&self) -> &Choice {
        &self.choice
    }

    /// Picks the newest tag. The result depends only on the set of tags, not on their order or
    /// repetition: see the module docs for how ties are broken.
    pub fn select<I, S>(&self, tags: I) -> Selection
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tags: Vec<S> = tags.into_iter().collect();
        let mut tags: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
        tags.sort_unstable();
        tags.dedup();
        let mut best: Option<Candidate> = None;
        let mut skipped = Vec::new();
        for tag in tags {
            match self.candidate(tag) {
                Ok(c) => {
                    if best.as_ref().is_none_or(|b| self.rank(&c, b) == Ordering::Greater) {
                        best = Some(c);
                    }
                }
                Err(reason) => skipped.push(Skipped { tag: tag.to_owned(), reason }),
            }
        }
        Selection { latest: best.map(|c| c.tag.to_owned()), skipped }
    }

    /// Whether `candidate` is strictly newer than `current`, for "never downgrade".
    ///
    /// `candidate` must be a tag [`ImagePolicy::select`] would accept. `current` only needs a
    /// value of the policy's kind (it passes the filter and parses), so an image deployed before
    /// the range or branch changed still counts. Only the policy's own order decides: the
    /// tie-breaks of `select` do not, so `v1.0.0` is not newer than `1.0.0`, nor is a rebuild
    /// of the same build number newer than the original.
    pub fn is_newer(&self, candidate: &str, current: &str) -> bool {
        self.compare(candidate, current) == Some(Ordering::Greater)
    }

    /// How `candidate` stands against `current` in the policy's order (`Greater`: newer), or
    /// `None` when either cannot be compared; see [`ImagePolicy::is_newer`].
    pub fn compare(&self, candidate: &str, current: &str) -> Option<Ordering> {
        let candidate = self.candidate(candidate).ok()?;
        let current = self.key(&self.value(current).ok()?).ok()?;
        Some(self.compare_keys(&candidate.key, &current))
    }

    fn candidate<'t>(&self, tag: &'t str) -> Result<Candidate<'t>, SkipReason> {
        let value = self.value(tag)?;
        let key = self.key(&value)?;
        self.check_eligible(&value, &key)?;
        Ok(Candidate { tag, key })
    }

    /// The filtered and extracted value of a tag.
    fn value<'t>(&self, tag: &'t str) -> Result<Cow<'t, str>, SkipReason> {
        let Some(filter) = &self.filter else { return Ok(Cow::Borrowed(tag)) };
        let caps = filter.pattern.captures(tag).ok_or(SkipReason::FilterMismatch)?;
        Ok(match &filter.extract {
            None => Cow::Borrowed(tag),
            Some(template) => {
                let mut out = String::new();
                caps.expand(template, &mut out);
                Cow::Owned(out)
            }
        })
    }

    fn key(&self, value: &str) -> Result<Key, SkipReason> {
        match &self.choice {
            Choice::Numerical(_) => match parse_go_float(value) {
                Some(n) if n.is_nan() => Err(SkipReason::NotOrderable { value: value.to_owned() }),
                Some(n) => Ok(Key::Number(n)),
                None => Err(SkipReason::NotANumber { value: value.to_owned() }),
            },
            Choice::Alphabetical(_) => Ok(Key::Text(value.to_owned())),
            Choice::Semver { .. } => Version::parse_tag(value)
                .map(Key::Semver)
                .map_err(|reason| SkipReason::NotSemver { value: value.to_owned(), reason }),
            Choice::BranchCommitBuild { .. } => ImageTag::parse(value)
                .map(Key::Build)
                .map_err(|e| SkipReason::NotBranchCommitBuild { reason: e.to_string() }),
        }
    }

    /// The conditions beyond having a key: the semver range and the branch.
    fn check_eligible(&self, value: &str, key: &Key) -> Result<(), SkipReason> {
        match (&self.choice, key) {
            (Choice::Semver { range: text }, Key::Semver(v)) => {
                if self.range.as_ref().is_some_and(|r| r.matches(v)) {
                    Ok(())
                } else {
                    Err(SkipReason::OutOfRange { value: value.to_owned(), range: text.clone() })
                }
            }
            (Choice::BranchCommitBuild { branch: Some(wanted) }, Key::Build(tag)) if tag.branch() != wanted => {
                Err(SkipReason::OtherBranch { branch: tag.branch().to_owned(), wanted: wanted.clone() })
            }
            _ => Ok(()),
        }
    }

    /// The policy's own order: `Greater` means `a` is newer.
    fn compare_keys(&self, a: &Key, b: &Key) -> Ordering {
        let natural = match (a, b) {
            // NaN never gets here, so partial_cmp is total; -0 and 0 tie, as in Go.
            (Key::Number(a), Key::Number(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Key::Text(a), Key::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Key::Semver(a), Key::Semver(b)) => a.cmp(b),
            (Key::Build(a), Key::Build(b)) => a.build().cmp(&b.build()),
            // Both keys always come from the same choice.
            _ => Ordering::Equal,
        };
        match self.choice {
            Choice::Numerical(Order::Desc) | Choice::Alphabetical(Order::Desc) => natural.reverse(),
            _ => natural,
        }
    }

    /// The order of `select`: the policy's, then tie-breaks, so it is total over distinct tags.
    fn rank(&self, a: &Candidate, b: &Candidate) -> Ordering {
        self.compare_keys(&a.key, &b.key)
            .then_with(|| match (&a.key, &b.key) {
                (Key::Build(x), Key::Build(y)) => x.commit().cmp(y.commit()),
                _ => Ordering::Equal,
            })
            .then_with(|| a.tag.cmp(b.tag))
    }
}

/// Go's `strconv.ParseFloat(s, 64)`, as far as tags go. Rust's parser accepts the same decimal
/// forms, `inf`/`infinity`/`nan` in any case included; Go alone also takes hex floats
/// (`0x1p4`), which no tag scheme uses. Go rejects finite literals beyond f64's range where Rust
/// rounds them to infinity, so those are turned away here.
fn parse_go_float(s: &str) -> Option<f64> {
    let n: f64 = s.parse().ok()?;
    let literal_infinity = s.trim_start_matches(['+', '-']).to_ascii_lowercase().starts_with("inf");
    if n.is_infinite() && !literal_infinity {
        return None;
    }
    Some(n)
}

/// Checks an `extract` template against the pattern with the grammar of Go's `regexp.Expand`
/// (which the regex crate's `Captures::expand` shares): Go silently expands a missing group to
/// nothing, which would order every tag by the empty string.
fn check_template(template: &str, pattern: &Regex) -> Result<(), String> {
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
            continue;
        }
        let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| "\"${\" without a closing \"}\"".to_owned())?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = rest.bytes().position(|b| !is_name_byte(b)).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() || !name.bytes().all(is_name_byte) {
            return Err("'$' not followed by a group name or number (write $$ for a literal '$')".to_owned());
        }
        let defined = match name.parse::<usize>() {
            Ok(n) => n < pattern.captures_len(),
            Err(_) => pattern.capture_names().flatten().any(|n| n == name),
        };
        if !defined {
            let hint = match name.find(|c: char| !c.is_ascii_digit()) {
                Some(i) if i > 0 => format!(
                    " (\"${name}\" means the group named {name:?}; for group {} followed by {:?}, write \"${{{}}}{}\")",
                    &name[..i],
                    &name[i..],
                    &name[..i],
                    &name[i..]
                ),
                _ => String::new(),
            };
            return Err(format!("refers to group {name:?}, which the pattern does not define{hint}"));
        }
        rest = after;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
