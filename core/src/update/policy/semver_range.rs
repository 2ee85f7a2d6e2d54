//! Masterminds/semver v3, the library behind Flux's `semver` policy: its lenient versions and its
//! range syntax.
//!
//! Cargo's `semver::VersionReq` cannot stand in: it has no `||`, no `!=`, no hyphen ranges, no
//! space-separated AND, and a different pre-release rule. So this is a port of Masterminds v3.4
//! `version.go` (`NewVersion` with its default `CoerceNewVersion`) and `constraints.go`, keeping
//! its regular expressions so odd inputs parse the same way. Go's `\s` is ASCII-only, hence `WS`.
//! The `semver` crate still validates and orders pre-release identifiers, which both libraries
//! take from the SemVer spec.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;
use semver::{BuildMetadata, Prerelease};

const WS: &str = r"[\t\n\f\r ]";
/// A version inside a constraint, wildcards allowed (Masterminds `cvRegex`, quirks included: the
/// `|` in the classes is literal).
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
/// The operators; the empty alternative (a bare version) is deliberate, as upstream.
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

fn compile(pattern: String) -> Regex {
    Regex::new(&pattern).unwrap_or_else(|e| panic!("built-in regex {pattern:?}: {e}"))
}

static LOOSE_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
            .to_owned(),
    )
});
static CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| compile(format!("^{WS}*({OPS}){WS}*({CV}){WS}*$")));
static HYPHEN_RANGE: LazyLock<Regex> = LazyLock::new(|| compile(format!("{WS}*({CV}){WS}+-{WS}+({CV}){WS}*")));
static FIND_CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| compile(format!("({OPS}){WS}*({CV})")));
static VALID_GROUP: LazyLock<Regex> =
    LazyLock::new(|| compile(format!("^({WS}*({OPS}){WS}*({CV}){WS}*)((?:{WS}+|,{WS}*)({OPS}){WS}*({CV}){WS}*)*$")));

/// A parsed version. Build metadata is validated but not kept: it never affects precedence, so
/// the derived equality agrees with [`Ord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Prerelease,
}

impl Version {
    /// Masterminds `NewVersion`: an optional `v`, optional minor and patch, leading zeros allowed.
    pub(crate) fn parse_loose(s: &str) -> Result<Self, String> {
        let m = LOOSE_VERSION.captures(s).ok_or_else(|| "invalid semantic version".to_owned())?;
        let number = |i: usize| -> Result<u64, String> {
            m.get(i).map_or(Ok(0), |g| {
                let digits = g.as_str().strip_prefix('.').unwrap_or(g.as_str());
                digits.parse().map_err(|e| format!("version segment {digits:?}: {e}"))
            })
        };
        let pre = match m.get(5) {
            None => Prerelease::EMPTY,
            Some(p) => Prerelease::new(p.as_str()).map_err(|e| format!("invalid prerelease {:?}: {e}", p.as_str()))?,
        };
        if let Some(b) = m.get(8) {
            BuildMetadata::new(b.as_str()).map_err(|e| format!("invalid metadata {:?}: {e}", b.as_str()))?;
        }
        Ok(Self { major: number(1)?, minor: number(2)?, patch: number(3)?, pre })
    }

    /// Flux's `version.ParseVersion` (fluxcd/pkg): `NewVersion`, but only for strings with at
    /// least two dots, so `1.2` and `1` are not versions while `v1.2.3` and `2025.01.02` are.
    pub(crate) fn parse_tag(s: &str) -> Result<Self, String> {
        if s.splitn(3, '.').count() != 3 {
            return Err("expected MAJOR.MINOR.PATCH".to_owned());
        }
        Self::parse_loose(s)
    }

    fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        // semver's Prerelease ordering already puts a release after its pre-releases.
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| self.pre.cmp(&other.pre))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Constraint {
    op: Op,
    con: Version,
    /// Some part is a wildcard (`1.x`, `*`) or missing (`1.2`).
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

#[derive(Debug, Clone)]
struct Group {
    constraints: Vec<Constraint>,
    /// Masterminds v3.4: one constraint naming a pre-release lets pre-releases through the whole
    /// AND group (`>=1.0.0-0 <2.0.0` matches `1.5.0-rc.1`).
    has_pre: bool,
}

/// A Masterminds constraint string: AND groups (`,` or spaces) joined by `||`.
#[derive(Debug, Clone)]
pub(crate) struct Range {
    groups: Vec<Group>,
}

impl Range {
    /// Masterminds `NewConstraint`.
    pub(crate) fn parse(range: &str) -> Result<Self, String> {
        let rewritten = rewrite_hyphen_ranges(range);
        let mut groups = Vec::new();
        for segment in rewritten.split("||") {
            if !VALID_GROUP.is_match(segment) {
                return Err(format!("improper constraint: {segment}"));
            }
            let mut found: Vec<&str> = FIND_CONSTRAINT.find_iter(segment).map(|m| m.as_str()).collect();
            if found.is_empty() {
                found.push(segment);
            }
            let constraints = found.into_iter().map(parse_constraint).collect::<Result<Vec<_>, _>>()?;
            let has_pre = constraints.iter().any(|c| c.con.is_prerelease());
            groups.push(Group { constraints, has_pre });
        }
        Ok(Self { groups })
    }

    /// Masterminds `Constraints.Check`.
    pub(crate) fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.constraints.iter().all(|c| c.check(v, g.has_pre)))
    }
}

/// `1.2 - 1.4.5` becomes `>= 1.2, <= 1.4.5 ` (the trailing space keeps a following constraint
/// separated, as upstream).
fn rewrite_hyphen_ranges(range: &str) -> String {
    let mut out = range.to_owned();
    for m in HYPHEN_RANGE.captures_iter(range) {
        let replacement = format!(">= {}, <= {} ", &m[1], &m[11]);
        out = out.replacen(&m[0], &replacement, 1);
    }
    out
}

fn is_x(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    let m = CONSTRAINT.captures(c).ok_or_else(|| format!("improper constraint: {c}"))?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    let op = match g(1) {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        other => return Err(format!("improper constraint: unknown operator {other:?}")),
    };
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let (minor, patch) = (minor.strip_prefix('.').unwrap_or(minor), patch.strip_prefix('.').unwrap_or(patch));
    let (version, dirty, minor_dirty, patch_dirty) = if is_x(major) || major.is_empty() {
        (format!("0.0.0{pre}"), true, false, false)
    } else if is_x(minor) || minor.is_empty() {
        (format!("{major}.0.0{pre}"), true, true, false)
    } else if is_x(patch) || patch.is_empty() {
        (format!("{major}.{minor}.0{pre}"), true, false, true)
    } else {
        (g(2).to_owned(), false, false, false)
    };
    let con = Version::parse_loose(&version).map_err(|e| format!("improper constraint: {}: {e}", c.trim()))?;
    Ok(Constraint { op, con, dirty, minor_dirty, patch_dirty })
}

impl Constraint {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if v.is_prerelease() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major || (c.minor != v.minor && !self.minor_dirty) {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        return v.pre != c.pre;
                    }
                }
                v != c
            }
            Op::Greater => {
                if !self.dirty {
                    v > c
                } else if v.major != c.major {
                    v.major > c.major
                } else if self.minor_dirty {
                    false // `>11` means 12 or later, so 11.1.0 is not greater
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v > c
                }
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => {
                if !self.dirty {
                    v <= c
                } else {
                    !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
                }
            }
            Op::Tilde => self.tilde(v),
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v == c
                }
            }
            Op::Caret => {
                if v < c {
                    false
                } else if c.major > 0 || self.minor_dirty {
                    v.major == c.major
                } else if v.major > 0 {
                    false
                } else if c.minor > 0 || self.patch_dirty {
                    v.minor == c.minor
                } else if v.minor > 0 {
                    false
                } else {
                    v.patch == c.patch
                }
            }
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v < c {
            return false;
        }
        // `~0.0.0` (and `*`) accepts everything.
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case<'a> = (&'a str, &'a str, bool);

    /// From Masterminds/semver `constraints_test.go` (`TestConstraintsCheck`), a representative
    /// subset: every operator, wildcards, hyphen ranges, `||`, and the pre-release rules.
    #[test]
    fn masterminds_constraint_check_table() {
        let cases: &[Case] = &[
            ("^0.0.0", "1.2.3", false),
            ("= 2.0", "1.2.3", false),
            ("= 2.0", "2.0.0", true),
            ("4.1", "4.1.0", true),
            ("4.1.x", "4.1.3", true),
            ("1.x", "1.4", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1-alpha", "4.1.0-alpha", false),
            ("!=4.1-alpha", "4.1.1-alpha", false),
            ("!=4.1-alpha", "4.1.0", true),
            ("!=4.1", "5.1.0", true),
            ("!=4.x", "5.1.0", true),
            ("!=4.x", "4.1.0", false),
            ("!=4.1.x", "4.2.0", true),
            ("!=4.2.x", "4.2.3", false),
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            ("<1.1", "0.1.0", true),
            ("<1.1", "1.1.0", false),
            ("<1.1", "1.1.1", false),
            ("<1.x", "1.1.1", false),
            ("<1.x", "0.1.1", true),
            ("<1.x", "2.0.0", false),
            ("<1.1.x", "1.2.1", false),
            ("<1.1.x", "1.1.500", false),
            ("<1.1.x", "1.0.500", true),
            ("<1.2.x", "1.1.1", true),
            (">=1.1", "4.1.0", true),
            (">=1.1", "4.1.0-beta", false),
            (">=1.1", "1.1.0", true),
            (">=1.1", "0.0.9", false),
            ("<=1.1", "0.1.0", true),
            ("<=1.1", "0.1.0-alpha", false),
            ("<=1.1-a", "0.1.0-alpha", true),
            ("<=1.1", "1.1.0", true),
            ("<=1.x", "1.1.0", true),
            ("<=2.x", "3.0.0", false),
            ("<=1.1", "1.1.1", true),
            ("<=1.1.x", "1.2.500", false),
            ("<=4.5", "3.4.0", true),
            ("<=4.5", "3.7.0", true),
            ("<=4.5", "4.6.3", false),
            (">1.1, <2", "1.1.1", false),
            (">1.1, <2", "1.2.1", true),
            (">1.1, <3", "4.3.2", false),
            (">=1.1, <2, !=1.2.3", "1.2.3", false),
            (">1.1 <2", "1.2.1", true),
            (">=1.1    <2    !=1.2.3", "1.2.3", false),
            (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
            (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", false),
            (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
            ("> 1.1, <     2", "1.1.1", false),
            (">= 1.1 <2 != 1.2.3 || >= 3", "3.0.0", true),
            (">= 1.0.0  <= 2.0.0-beta", "1.0.1-beta", true),
            (">= 1.0.0  <= 2.0.0-beta", "1.0.1", true),
            (">= 1.0.0  <= 2.0.0-beta", "3.0.0", false),
            (">= 1.0.0  <= 2.0.0-beta || > 3", "1.0.1-beta", true),
            (">= 1.0.0  <= 2.0.0-beta || > 3", "3.0.1-beta", false),
            (">= 1.0.0  <= 2.0.0-beta != 1.0.1 || > 3", "1.0.1-beta", true),
            (">= 1.0.0  <= 2.0.0-beta != 1.0.1-beta || > 3", "1.0.1-beta", false),
            (">= 1.0.0-0  <= 2.0.0", "1.0.1-beta", true),
            ("1.1 - 2", "1.1.1", true),
            ("1.5.0 - 4.5", "3.7.0", true),
            ("1.1-3", "4.3.2", false),
            ("^1.1", "1.1.1", true),
            ("^1.1", "4.3.2", false),
            ("^1.x", "1.1.1", true),
            ("^2.x", "1.1.1", false),
            ("^1.x", "2.1.1", false),
            ("^1.x", "1.1.1-beta1", false),
            ("^1.1.2-alpha", "1.2.1-beta1", true),
            ("^1.2.x-alpha", "1.1.1-beta1", false),
            ("^0.0.1", "0.0.1", true),
            ("^0.0.1", "0.3.1", false),
            ("~*", "2.1.1", true),
            ("~1", "2.1.1", false),
            ("~1", "1.3.5", true),
            ("~1", "1.4", true),
            ("~1.x", "2.1.1", false),
            ("~1.x", "1.3.5", true),
            ("~1.1", "1.1.1", true),
            ("~1.1", "1.1.1-alpha", false),
            ("~1.1-alpha", "1.1.1-beta", true),
            ("~1.1.1-beta", "1.1.1-alpha", false),
            ("~1.1.1-beta", "1.1.1", true),
            ("~1.2.3", "1.2.5", true),
            ("~1.2.3", "1.2.2", false),
            ("~1.2.3", "1.3.2", false),
            ("~1.1", "1.2.3", false),
            ("~1.3", "2.4.5", false),
            ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true),
            ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", true),
            // Caret below 1.0 (Masterminds' doc comments on constraintCaret).
            ("^0.2.3", "0.2.5", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0", "0.0.3", true),
            ("^0.0", "0.1.4", false),
            ("^0", "0.2.3", true),
            ("^0", "1.1.4", false),
            ("*", "1.2.3", true),
            ("*", "1.2.3-alpha", false),
            ("v1.2.x", "1.2.9", true),
        ];
        for &(range, version, want) in cases {
            let r = Range::parse(range).unwrap_or_else(|e| panic!("{range:?}: {e}"));
            let v = Version::parse_loose(version).unwrap_or_else(|e| panic!("{version:?}: {e}"));
            assert_eq!(r.matches(&v), want, "{range:?} vs {version:?}");
        }
    }

    #[test]
    fn masterminds_rejects_improper_constraints() {
        for range in ["", "1.0.0p", "1x", "x1", "-1", "a", "*-*", ">= bar", "BAR >= 1.2.3", "12.3.4.1234", "1.2.3-01"] {
            assert!(Range::parse(range).is_err(), "{range:?} should not parse");
        }
    }

    #[test]
    fn versions_parse_like_flux() {
        let ok = ["1.2.3", "v1.2.3", "01.02.03", "2025.01.02", "1.2.3-rc.1", "1.2.3+build.7", "v1.2.3-alpha.-1"];
        for s in ok {
            assert!(Version::parse_tag(s).is_ok(), "{s:?} should parse");
        }
        let bad =
            ["1", "1.2", "v1.2", "1.0.0.1", "1.0.0p", "b1.2.3", "V1.2.3", "1.2.3-alpha.01", "1.2.3-", "latest", ""];
        for s in bad {
            assert!(Version::parse_tag(s).is_err(), "{s:?} should not parse");
        }
        assert_eq!(Version::parse_tag("v01.2.3+x"), Version::parse_tag("1.2.3"));
    }

    #[test]
    fn precedence_follows_semver() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            let (a, b) = (Version::parse_tag(pair[0]).unwrap(), Version::parse_tag(pair[1]).unwrap());
            assert!(a < b, "{} < {}", pair[0], pair[1]);
        }
    }
}
