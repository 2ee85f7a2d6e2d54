//! The two regex shapes kustomize builds from user text (anchored patch-target fields and image
//! names), matched without compiling a regex when the text is a plain name.
//!
//! Why: compiling a regex costs about 100 us, and a tree of N services names N distinct images
//! and patch targets (7% of a 4,800-resource build went to `Regex::new`). A plain name (ASCII
//! letters, digits, `-`, `_`, `/`, `:`, `@` and `.`) has one meaning as a regex: each character
//! matches itself, except `.`, which matches any one character but a line break. Such a pattern
//! is matched by hand with exactly the regex's semantics (checked against the regex by a
//! property test); anything else is compiled as before.

use regex::Regex;

/// A compiled target pattern: `is_match` answers exactly as the regex kustomize builds would.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// `^(?:NAME)$` for a plain name: the whole text matches the name.
    Anchored(Box<str>),
    /// kustomize's image matcher for a plain name: the name, then an optional `@sha256`, tag
    /// and digest (see [`Matcher::image`]).
    Image(Box<str>),
    /// Any other pattern, compiled.
    Regex(Regex),
}

/// Whether every character of `s` means itself in a regex (`.` aside: any character but `\n`).
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_/:@.".contains(&b))
}

impl Matcher {
    /// `^(?:s)$`, the anchored regex of a patch target's group, version, kind, name or namespace.
    pub fn anchored(s: &str) -> Result<Matcher, regex::Error> {
        if plain(s) {
            return Ok(Matcher::Anchored(s.into()));
        }
        crate::regex_cache::compile(&format!("^(?:{s})$")).map(Matcher::Regex)
    }

    /// kustomize's image matcher: `^NAME(@sha256)?(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9]*)?$`
    /// (the name is used as a regex, unescaped).
    pub fn image(name: &str) -> Result<Matcher, regex::Error> {
        if plain(name) {
            return Ok(Matcher::Image(name.into()));
        }
        crate::regex_cache::compile(&format!("^{name}(@sha256)?(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9]*)?$"))
            .map(Matcher::Regex)
    }

    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Anchored(name) => name_prefix(name, text) == Some(""),
            Matcher::Image(name) => name_prefix(name, text).is_some_and(image_suffix),
            Matcher::Regex(re) => re.is_match(text),
        }
    }
}

/// Matches the plain name `name` (as a regex) at the start of `text`: each of its characters
/// consumes exactly one character of `text`, so there is one way to match; returns the rest.
fn name_prefix<'t>(name: &str, text: &'t str) -> Option<&'t str> {
    let mut chars = text.char_indices();
    for p in name.bytes() {
        let (_, c) = chars.next()?;
        let ok = if p == b'.' { c != '\n' } else { c == char::from(p) };
        if !ok {
            return None;
        }
    }
    Some(chars.as_str())
}

/// Whether `rest` matches `(@sha256)?(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9]*)?$`.
fn image_suffix(rest: &str) -> bool {
    let tag_char = |c: char| c.is_ascii_alphanumeric() || "_.{}-".contains(c);
    // The digest group, then the end.
    let digest = |s: &str| {
        s.is_empty() || s.strip_prefix("@sha256:").is_some_and(|d| d.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    // The tag group: its class excludes `@`, so only its longest run can leave a valid
    // digest group (any shorter one leaves a tag character first).
    let tag_then_digest = |s: &str| {
        digest(s) || s.strip_prefix(':').is_some_and(|t| digest(&t[t.find(|c| !tag_char(c)).unwrap_or(t.len())..]))
    };
    tag_then_digest(rest) || rest.strip_prefix("@sha256").is_some_and(tag_then_digest)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Matcher;

    fn regex_anchored(s: &str) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{s})$")).unwrap()
    }

    fn regex_image(s: &str) -> regex::Regex {
        regex::Regex::new(&format!("^{s}(@sha256)?(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9]*)?$")).unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool, bool)] = &[
            // (pattern, text, anchored matches, image matches)
            ("nginx", "nginx", true, true),
            ("nginx", "nginx:1.2", false, true),
            ("nginx", "nginx@sha256:abc", false, true),
            ("nginx", "nginx@sha256", false, true),
            ("nginx", "nginx@sha256:1.0", false, true),
            ("nginx", "nginx:1.0@sha256:ab12", false, true),
            ("nginx", "nginx@sha256:1.0@sha256:ab", false, true),
            ("nginx", "nginx:1.0@sha256:a-b", false, false),
            ("nginx", "nginx:1.0:2", false, false),
            ("nginx", "nginxx", false, false),
            ("nginx", "ngin", false, false),
            ("a.b", "axb", true, true),
            ("a.b", "a\nb", false, false),
            ("a.b", "aéb:v1", false, true),
            ("registry.example.com/app", "registry.example.com/app:v1", false, true),
            ("localhost:5000/app", "localhost:5000/app:{{tag}}", false, true),
            ("", "", true, true),
            ("", ":v1", false, true),
        ];
        for &(p, t, anchored, image) in cases {
            assert_eq!(Matcher::anchored(p).unwrap().is_match(t), anchored, "anchored {p:?} {t:?}");
            assert_eq!(regex_anchored(p).is_match(t), anchored, "regex anchored {p:?} {t:?}");
            assert_eq!(Matcher::image(p).unwrap().is_match(t), image, "image {p:?} {t:?}");
            assert_eq!(regex_image(p).is_match(t), image, "regex image {p:?} {t:?}");
        }
        assert!(matches!(Matcher::anchored("(Role|RoleBinding)").unwrap(), Matcher::Regex(_)));
        assert!(Matcher::anchored("(Role|RoleBinding)").unwrap().is_match("RoleBinding"));
        assert!(Matcher::anchored("(").is_err(), "an invalid pattern stays an error");
    }

    proptest! {
        /// Plain names matched by hand answer exactly as the compiled regexes do, on texts
        /// built from the name, tags, digests and stray characters.
        #[test]
        fn hand_matching_equals_the_regex(
            name in "[a-c.:/@_-]{0,6}",
            text in prop_oneof![
                "[a-c.:/@_\n{}é-]{0,12}",
                "[a-c.]{0,6}(@sha256)?(:[a-c0-9_.{}@-]{0,4})?(@sha256:[a-c0-9.:-]{0,3})?",
            ],
            reuse_name in any::<bool>(),
        ) {
            let text = if reuse_name { format!("{name}{text}") } else { text };
            prop_assert_eq!(Matcher::anchored(&name).unwrap().is_match(&text), regex_anchored(&name).is_match(&text));
            prop_assert_eq!(Matcher::image(&name).unwrap().is_match(&text), regex_image(&name).is_match(&text));
        }
    }
}
