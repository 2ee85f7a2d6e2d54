//! Making text safe to show: credentials in URLs removed, and bytes from untrusted input (YAML,
//! tar headers, registry bodies) unable to drive a terminal. The CLI passes everything it
//! prints through [`for_terminal`]; libraries use [`redact_urls`] when they build messages.

use std::borrow::Cow;

/// Removes the user-info (`user:password@`) of every `scheme://user-info@host` URL inside
/// `text`, wherever it appears (a message, a JSON document, a log line).
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        // The authority ends where a path, query, fragment or the surrounding text begins.
        let end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace())
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            out.push_str("***@");
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Escapes control characters (ANSI escape sequences, carriage returns that overwrite a line,
/// backspaces, C1 controls) as `\u{..}`, keeping newlines, tabs and CRLF line ends.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let is_bad = |c: char, next: Option<char>| {
        (c.is_control() && c != '\n' && c != '\t' && !(c == '\r' && next == Some('\n')))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let mut chars = text.chars().peekable();
    let mut clean = true;
    while let Some(c) = chars.next() {
        if is_bad(c, chars.peek().copied()) {
            clean = false;
            break;
        }
    }
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_bad(c, chars.peek().copied()) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Both: what the CLI writes to stdout and stderr.
pub fn for_terminal(text: &str) -> String {
    escape_controls(&redact_urls(text)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_urls_table() {
        let cases = [
            ("push to https://u:s3cr3t@reg.example/app failed", "push to https://***@reg.example/app failed"),
            (
                "{\"repository\":\"http://u:pw@127.0.0.1:5000/app\"}",
                "{\"repository\":\"http://***@127.0.0.1:5000/app\"}",
            ),
            ("a https://x@h b ssh://git@h:22/r c", "a https://***@h b ssh://***@h:22/r c"),
            ("https://h/a@b and mail@example.com", "https://h/a@b and mail@example.com"),
            ("no url", "no url"),
            ("https://a:b@c:d@host/x", "https://***@host/x"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_urls(input), want, "{input}");
        }
    }

    #[test]
    fn escape_controls_table() {
        let cases = [
            ("plain\ttext\n", "plain\ttext\n"),
            ("crlf\r\n", "crlf\r\n"),
            ("\x1b[31mred", "\\u{1b}[31mred"),
            ("over\rwrite", "over\\u{d}write"),
            ("bidi\u{202e}x", "bidi\\u{202e}x"),
            ("c1\u{9b}2J", "c1\\u{9b}2J"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_controls(input), want, "{input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn nothing_after_scheme_before_at_survives(user in "[a-z]{1,8}", pass in "[A-Za-z0-9]{8,16}", host in "[a-z]{1,8}") {
            let text = format!("x https://{user}:{pass}@{host}/r y");
            let shown = redact_urls(&text);
            proptest::prop_assert!(!shown.contains(&pass));
        }

        #[test]
        fn escaped_text_has_no_escape_byte(s in "\\PC*") {
            let shown = escape_controls(&s);
            proptest::prop_assert!(!shown.contains('\x1b'));
        }
    }
}
