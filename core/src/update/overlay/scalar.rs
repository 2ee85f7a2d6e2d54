//! Writing a string as a YAML scalar in a given style, so that every YAML reader (Kubernetes reads
//! YAML 1.1; kustomize and Flux read 1.2) gets the same string back.

/// The source style of a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Unquoted.
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"`.
    DoubleQuoted,
}

/// Renders `value` in `style`; a plain scalar that would not read back as this exact string
/// (`on`, `1.10`, `2024-01-01`, `a: b`, ...) is double-quoted instead.
pub fn render(value: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::Plain if plain_reads_back_as_string(value) => value.to_owned(),
        ScalarStyle::SingleQuoted if !value.contains(['\n', '\r']) => format!("'{}'", value.replace('\'', "''")),
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` written plain is read back as the same string by YAML 1.1 and 1.2 readers.
/// Conservative: anything that any of them could take for a null, bool, number or timestamp, or
/// that has YAML syntax in it, is not plain-safe.
pub fn plain_reads_back_as_string(value: &str) -> bool {
    let Some(first) = value.chars().next() else { return false };
    if value.trim() != value || value.contains(['\n', '\r', '\t']) || value.chars().any(char::is_control) {
        return false;
    }
    // Indicators that cannot start a plain scalar (`-`, `?`, `:` only when followed by space or
    // at the end, but quoting them always is simpler and still correct).
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if value.contains(": ") || value.contains(" #") || value.ends_with(':') {
        return false;
    }
    !looks_like_non_string(value)
}

/// YAML 1.1 and 1.2 core-schema scalars that resolve to something other than a string.
fn looks_like_non_string(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
        "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<", "=",
    ];
    if WORDS.contains(&v) {
        return true;
    }
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    let bytes = unsigned.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    // Integers and floats in any base or notation YAML 1.1 knows (0b, 0o, 0x, octal 0..., 1_000,
    // sexagesimal 1:30, 1e3, .5, 1.): all start with a digit or a dot followed by a digit, and
    // consist only of digits and a few punctuation characters.
    let numeric_start = bytes[0].is_ascii_digit() || (bytes[0] == b'.' && bytes.get(1).is_some_and(u8::is_ascii_digit));
    if numeric_start {
        let lower = unsigned.to_ascii_lowercase();
        let radix = lower.strip_prefix("0x").map(|r| (r, 16)).or_else(|| lower.strip_prefix("0b").map(|r| (r, 2)));
        let radix = radix.or_else(|| lower.strip_prefix("0o").map(|r| (r, 8)));
        if let Some((digits, base)) = radix {
            return !digits.is_empty() && digits.chars().all(|c| c == '_' || c.is_digit(base));
        }
        if lower.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'e' | b'+' | b'-')) {
            return true;
        }
    }
    // Timestamps: YYYY-M-D at the start (YAML 1.1 timestamp type).
    let b = v.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5].is_ascii_digit()
        && (b[6] == b'-' || (b[6].is_ascii_digit() && b.get(7) == Some(&b'-')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn render_table() {
        use ScalarStyle::*;
        let cases = [
            ("repo/app:main-1f49071-24", Plain, "repo/app:main-1f49071-24"),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
                Plain,
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
            ),
            ("main-1f49071-24", Plain, "main-1f49071-24"),
            ("1.0", Plain, "\"1.0\""),
            ("1.10", Plain, "\"1.10\""),
            ("20240101", Plain, "\"20240101\""),
            ("0x1F", Plain, "\"0x1F\""),
            ("1e3", Plain, "\"1e3\""),
            ("1:30", Plain, "\"1:30\""),
            ("on", Plain, "\"on\""),
            ("yes", Plain, "\"yes\""),
            ("null", Plain, "\"null\""),
            ("2024-01-01", Plain, "\"2024-01-01\""),
            ("v1.0", Plain, "v1.0"),
            ("1.0-alpine", Plain, "1.0-alpine"),
            ("sha256:abc", Plain, "sha256:abc"),
            ("a: b", Plain, "\"a: b\""),
            ("-x", Plain, "\"-x\""),
            ("", Plain, "\"\""),
            ("v1", SingleQuoted, "'v1'"),
            ("it's", SingleQuoted, "'it''s'"),
            ("v1", DoubleQuoted, "\"v1\""),
            ("a\"b\\c", DoubleQuoted, "\"a\\\"b\\\\c\""),
        ];
        for (value, style, want) in cases {
            assert_eq!(render(value, style), want, "{value:?} as {style:?}");
        }
    }

    proptest! {
        /// Whatever we render parses back (as YAML 1.2 via the same parser the editor uses) to
        /// the exact string, in every style.
        #[test]
        fn rendered_scalars_read_back(value in "[ -~]{0,30}", style in 0..3u8) {
            let style = [ScalarStyle::Plain, ScalarStyle::SingleQuoted, ScalarStyle::DoubleQuoted][style as usize];
            let doc = format!("key: {}\n", render(&value, style));
            let parsed = super::super::scan::scalar_values(&doc).expect("rendered YAML parses");
            prop_assert_eq!(parsed, vec!["key".to_owned(), value]);
        }
    }
}
