//! Image references: `name[:tag][@digest]`, split into the parts a setter can write.

use std::fmt;

/// A container image reference such as
/// `123456789012.dkr.ecr.us-east-1.amazonaws.com/app:main-1f49071-24@sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Repository name, registry host included (`ghcr.io/org/app`).
    pub name: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest (`sha256:<64 hex>`), if any.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an image reference (expected name:tag, name@sha256:..., or name:tag@sha256:...): {reason}")]
pub struct ImageRefError {
    /// The rejected input.
    pub input: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl ImageRef {
    /// Parses `name[:tag][@digest]`. A `:` after the last `/` starts the tag, so registry ports
    /// (`localhost:5000/app`) are part of the name. At least a tag or a digest is required: a
    /// bare name says nothing to update to.
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        let bad = |reason| ImageRefError { input: input.to_owned(), reason };
        if input.is_empty() || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("empty or contains whitespace"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest.strip_prefix("sha256:").ok_or_else(|| bad("digest must start with sha256:"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(bad("digest must be sha256: followed by 64 lower-case hex characters"));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        if let Some(tag) = tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-')));
            if !valid {
                return Err(bad("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("no tag or digest"));
        }
        Ok(Self { name: name.to_owned(), tag: tag.map(str::to_owned), digest })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parse_table() {
        let with_digest = format!("ghcr.io/org/app:v1@{DIGEST}");
        let digest_only = format!("app@{DIGEST}");
        // (input, (name, tag, digest))
        type Case<'a> = (&'a str, (&'a str, Option<&'a str>, Option<&'a str>));
        let ok: Vec<Case> = vec![
            ("app:1.0", ("app", Some("1.0"), None)),
            ("localhost:5000/app:main-1f49071-24", ("localhost:5000/app", Some("main-1f49071-24"), None)),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:main-1f49071-24",
                ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app", Some("main-1f49071-24"), None),
            ),
            (&with_digest, ("ghcr.io/org/app", Some("v1"), Some(DIGEST))),
            (&digest_only, ("app", None, Some(DIGEST))),
        ];
        for (input, (name, tag, digest)) in ok {
            let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((r.name.as_str(), r.tag.as_deref(), r.digest.as_deref()), (name, tag, digest), "{input}");
            assert_eq!(r.to_string(), input, "round trip");
        }
        for bad in
            ["", "app", "localhost:5000/app", "app:", "app:-x", "app@sha256:abc", "app:v1@md5:00", "a b:1", ":tag"]
        {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
