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
        check_name(name).map_err(bad)?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(bad)?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("no tag or digest"));
        }
        Ok(Self { name: name.to_owned(), tag: tag.map(str::to_owned), digest })
    }
}

/// Checks a tag against the OCI distribution grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), &'static str> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-')));
    if valid { Ok(()) } else { Err("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}") }
}

/// Checks a repository name (no registry host) against the OCI distribution grammar: components
/// of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`, at most 255 characters.
pub fn check_repository_name(name: &str) -> Result<(), &'static str> {
    const WHY: &str =
        "repository name must be lower-case components [a-z0-9]+ joined by one of . _ __ -, separated by /";
    if name.is_empty() || name.len() > 255 {
        return Err("repository name must be 1 to 255 characters");
    }
    for component in name.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return Err(WHY);
        }
        let mut i = 0;
        while i < bytes.len() {
            if alnum(bytes[i]) {
                i += 1;
                continue;
            }
            // A separator run: `.`, `_`, `__` or any number of `-`.
            let start = i;
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
                return Err(WHY);
            }
        }
    }
    Ok(())
}

/// Checks a registry host: DNS labels (`[A-Za-z0-9]` and inner `-`) joined by `.`, or an IPv6
/// address in brackets, with an optional `:port`.
pub fn check_registry_host(host: &str) -> Result<(), &'static str> {
    const WHY: &str = "registry host must be a DNS name or [IPv6] address with an optional :port";
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']').ok_or(WHY)?;
            if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                return Err(WHY);
            }
            let port = if after.is_empty() { None } else { Some(after.strip_prefix(':').ok_or(WHY)?) };
            (None, port)
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        },
    };
    if let Some(name) = name {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(WHY);
        }
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(WHY);
    }
    Ok(())
}

/// Checks an image name: `[HOST[:PORT]/]PATH`. As Docker does, the first component is a registry
/// host when it holds a `.` or `:` or is `localhost`.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') => {
            check_registry_host(first)?;
            check_repository_name(rest)
        }
        _ => check_repository_name(name),
    }
}

/// Checks a repository URI as `push`/`retag` take it: `http[s]://HOST[:PORT]/NAME`, or
/// `[HOST[:PORT]/]NAME` (a bare NAME is an ECR repository of the account). Credentials in the
/// URI are refused without repeating the URI.
pub fn check_repository_uri(uri: &str) -> Result<(), String> {
    let stripped = uri.strip_prefix("https://").or_else(|| uri.strip_prefix("http://"));
    let rest = stripped.unwrap_or(uri);
    if rest.split('/').next().unwrap_or_default().contains('@') {
        return Err(CREDENTIALS_IN_URL.to_owned());
    }
    match stripped {
        Some(rest) => {
            let (host, name) = rest.split_once('/').ok_or_else(|| format!("{uri:?}: expected HOST/REPOSITORY"))?;
            check_registry_host(host).map_err(|e| format!("{uri:?}: {e}"))?;
            check_repository_name(name).map_err(|e| format!("{uri:?}: {e}"))
        }
        None => check_name(rest).map_err(|e| format!("{uri:?}: {e}")),
    }
}

/// The message for a repository URL with user-info; the URL itself is never repeated.
pub const CREDENTIALS_IN_URL: &str = "the repository URL holds credentials (user-info before @): refused; pass --username and SHIPLINE_REGISTRY_PASSWORD";

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
        for bad in [
            "",
            "app",
            "localhost:5000/app",
            "app:",
            "app:-x",
            "app@sha256:abc",
            "app:v1@md5:00",
            "a b:1",
            ":tag",
            "Reg/App:v1",
            "reg//app:v1",
            "rég/app:v1",
            "reg/app/:v1",
            "/app:v1",
            "reg/-app:v1",
            "reg/a--b..c:v1",
            "ghcr.io:x/app:v1",
            "ghcr..io/app:v1",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["a__b/c-d/e.f_g:v1", "Registry.Example.com:443/org/app:v1", "[::1]:5000/app:v1", "a---b:v1"] {
            assert!(ImageRef::parse(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn repository_uri_table() {
        for good in ["front-end", "team/app", "123.dkr.ecr.us-east-1.amazonaws.com/app", "http://127.0.0.1:5000/a/b"] {
            assert_eq!(check_repository_uri(good), Ok(()), "{good}");
        }
        for bad in
            ["https://u:SENTINEL@reg.example/app", "u:SENTINEL@reg.example/app", "Reg/App", "reg//app", "https://reg"]
        {
            let err = check_repository_uri(bad).unwrap_err();
            assert!(!err.contains("SENTINEL"), "{err}");
        }
    }
}
