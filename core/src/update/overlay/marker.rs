//! Flux's image setter markers: a line comment `# {"$imagepolicy": "NS:NAME[:FIELD]"}` on a
//! scalar says which image policy owns the value and which part of the image it holds.

use std::fmt;

use crate::image::ImageRef;

/// Which part of an image reference a marked scalar holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetterField {
    /// `NS:NAME`: the whole reference, `name:tag` (or `name:tag@digest` when a digest is known).
    Image,
    /// `NS:NAME:name`: the repository name.
    Name,
    /// `NS:NAME:tag`: the tag.
    Tag,
    /// `NS:NAME:digest`: the digest.
    Digest,
}

impl SetterField {
    /// The value this field takes for `image`, or `None` when the reference lacks that part
    /// (a `:digest` marker with no digest known, a `:tag` marker for a digest-only reference).
    pub fn value_for(self, image: &ImageRef) -> Option<String> {
        match self {
            SetterField::Image => Some(image.to_string()),
            SetterField::Name => Some(image.name.clone()),
            SetterField::Tag => image.tag.clone(),
            SetterField::Digest => image.digest.clone(),
        }
    }
}

/// An image policy named by `NAMESPACE:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyRef {
    /// Namespace of the policy.
    pub namespace: String,
    /// Name of the policy.
    pub name: String,
}

impl PolicyRef {
    /// Parses `NAMESPACE:NAME`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let (namespace, name) = input.split_once(':').ok_or_else(|| format!("{input:?} is not NAMESPACE:NAME"))?;
        for (what, part) in [("namespace", namespace), ("name", name)] {
            if !is_dns_label_like(part) {
                return Err(format!("{what} {part:?} in {input:?} is not a Kubernetes name (a-z, 0-9, '-', '.')"));
            }
        }
        Ok(Self { namespace: namespace.to_owned(), name: name.to_owned() })
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// A parsed setter marker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Marker {
    /// The policy that owns the value.
    pub policy: PolicyRef,
    /// Which part of the image the value holds.
    pub field: SetterField,
}

/// What a comment turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerParse {
    /// The comment does not mention `$imagepolicy`.
    NotAMarker,
    /// A valid marker.
    Marker(Marker),
    /// The comment mentions `$imagepolicy` but is not a valid marker; the reason says why. It is
    /// reported as a warning and never guessed at.
    Invalid(String),
}

/// Parses the text of a line comment (what follows `#`).
pub fn parse_marker(comment: &str) -> MarkerParse {
    if !comment.contains("$imagepolicy") {
        return MarkerParse::NotAMarker;
    }
    let object: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(comment.trim()) {
        Ok(o) => o,
        Err(e) => return MarkerParse::Invalid(format!("comment is not a JSON object ({e})")),
    };
    if object.len() != 1 {
        return MarkerParse::Invalid("the JSON object must have exactly one key, \"$imagepolicy\"".into());
    }
    let Some(serde_json::Value::String(value)) = object.get("$imagepolicy") else {
        return MarkerParse::Invalid("\"$imagepolicy\" must be a string \"NAMESPACE:NAME[:tag|:name|:digest]\"".into());
    };
    let mut parts = value.splitn(3, ':');
    let (namespace, name, field) = (parts.next().unwrap_or_default(), parts.next(), parts.next());
    let Some(name) = name else {
        return MarkerParse::Invalid(format!("{value:?} is not NAMESPACE:NAME[:tag|:name|:digest]"));
    };
    let field = match field {
        None => SetterField::Image,
        Some("tag") => SetterField::Tag,
        Some("name") => SetterField::Name,
        Some("digest") => SetterField::Digest,
        Some(other) => {
            return MarkerParse::Invalid(format!("unknown field {other:?} in {value:?}: expected tag, name or digest"));
        }
    };
    match PolicyRef::parse(&format!("{namespace}:{name}")) {
        Ok(policy) => MarkerParse::Marker(Marker { policy, field }),
        Err(reason) => MarkerParse::Invalid(reason),
    }
}

fn is_dns_label_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'))
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(ns: &str, name: &str, field: SetterField) -> MarkerParse {
        MarkerParse::Marker(Marker { policy: PolicyRef { namespace: ns.into(), name: name.into() }, field })
    }

    #[test]
    fn grammar_table() {
        use SetterField::*;
        let ok = [
            (r#" {"$imagepolicy": "flux-system:podinfo"}"#, marker("flux-system", "podinfo", Image)),
            (r#"{"$imagepolicy":"flux-system:podinfo:tag"}"#, marker("flux-system", "podinfo", Tag)),
            (r#" {"$imagepolicy": "apps:front-end:name"}  "#, marker("apps", "front-end", Name)),
            (r#" {"$imagepolicy": "apps:front-end:digest"}"#, marker("apps", "front-end", Digest)),
            (r#" {"$imagepolicy": "a.b:c.d"}"#, marker("a.b", "c.d", Image)),
            (" just a comment", MarkerParse::NotAMarker),
            (r#" {"$imagepolicyx": "a:b"}"#, MarkerParse::Invalid(String::new())),
        ];
        for (comment, want) in ok {
            let got = parse_marker(comment);
            match (&want, &got) {
                (MarkerParse::Invalid(_), MarkerParse::Invalid(_)) => {}
                _ => assert_eq!(got, want, "{comment:?}"),
            }
        }
    }

    #[test]
    fn invalid_markers_are_not_guessed() {
        let invalid = [
            r#" {"$imagepolicy": "flux-system:podinfo"#,   // unterminated JSON
            r#" {$imagepolicy: flux-system:podinfo}"#,     // YAML-ish, not JSON
            r#" {"$imagepolicy": "podinfo"}"#,             // no namespace
            r#" {"$imagepolicy": "ns:name:version"}"#,     // unknown field
            r#" {"$imagepolicy": "ns:Name"}"#,             // not a Kubernetes name
            r#" {"$imagepolicy": "ns:"}"#,                 // empty name
            r#" {"$imagepolicy": 7}"#,                     // not a string
            r#" {"$imagepolicy": "ns:n", "extra": true}"#, // extra key
            r#" ["$imagepolicy", "ns:n"]"#,                // not an object
            r#" {"$imagepolicy": "ns:n"} trailing"#,       // trailing text
        ];
        for comment in invalid {
            assert!(matches!(parse_marker(comment), MarkerParse::Invalid(_)), "{comment:?} must be invalid");
        }
    }

    #[test]
    fn field_values() {
        let image = ImageRef::parse("repo/app:v2").unwrap();
        assert_eq!(SetterField::Image.value_for(&image).as_deref(), Some("repo/app:v2"));
        assert_eq!(SetterField::Name.value_for(&image).as_deref(), Some("repo/app"));
        assert_eq!(SetterField::Tag.value_for(&image).as_deref(), Some("v2"));
        assert_eq!(SetterField::Digest.value_for(&image), None);
    }
}
