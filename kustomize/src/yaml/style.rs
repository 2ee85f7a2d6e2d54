//! Which scalar style `yaml.v2` (libyaml's emitter) picks for a string, in block context.

use super::resolve::plain_is_str_v2;

/// Whether `s` is a non-empty run of ASCII letters, digits, `_`, `-`, `.` and `/` starting
/// with a letter. Such a text has no indicator, space, line break or special character, so
/// libyaml's analysis of it is fixed (one line; plain, single-quoted and block allowed), and
/// its style is decided without the character walk. Most keys and many values are like this
/// (the walk was a fifth of printing).
fn plain_word(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

/// Whether `key` can be written as a simple key (`key: value`): at most `max` bytes, one line.
pub(super) fn is_simple_key(key: &str, max: usize) -> bool {
    key.len() <= max && (plain_word(key) || !analyze(key).multiline)
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    multiline: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

/// The style `yaml.v2` picks for a string.
pub(super) fn str_style(s: &str, simple_key: bool) -> Style {
    if plain_word(s) {
        // Fixed analysis: one line, plain allowed (see `plain_word`).
        return if plain_is_str_v2(s) { Style::Plain } else { Style::Double };
    }
    str_style_walked(s, simple_key)
}

/// [`str_style`] by libyaml's full analysis of the text.
fn str_style_walked(s: &str, simple_key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if plain_is_str_v2(s) {
        Style::Plain
    } else {
        Style::Double
    };
    select_style(s, requested, simple_key)
}

/// libyaml's `yaml_emitter_select_scalar_style` for block context.
fn select_style(s: &str, requested: Style, simple_key: bool) -> Style {
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block || simple_key) {
        style = Style::Double;
    }
    style
}

pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// go-yaml's `is_printable`: note that characters outside the BMP are not "printable".
pub(super) fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0a
        || (0x20..=0x7e).contains(&v)
        || (0xa0..=0xd7ff).contains(&v)
        || ((0xe000..=0xfffd).contains(&v) && v != 0xfeff)
}

/// libyaml's `yaml_emitter_analyze_scalar`, reduced to the block-context outcomes.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis { multiline: false, block_plain: true, single: true, block: false };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    // Walked once per printed scalar and key: one look-ahead character, no collected copy.
    let mut chars = s.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let is_last = next.is_none();
        let followed_by_ws = next.is_none_or(is_blank);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= is_last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= is_last;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    let mut a = Analysis { multiline: line_breaks, block_plain: true, single: true, block: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_indicators {
        a.block_plain = false;
    }
    a
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn words_and_others() {
        let table: &[(&str, bool, Style)] = &[
            ("name", true, Style::Plain),
            ("app.kubernetes.io/name", true, Style::Plain),
            ("yes", true, Style::Double),
            ("null", true, Style::Double),
            ("e1", true, Style::Plain),
            ("1e3", false, Style::Double),
            ("a: b", false, Style::Single),
            ("-x", false, Style::Plain),
            ("", false, Style::Double),
        ];
        for &(s, word, style) in table {
            assert_eq!(plain_word(s), word, "{s:?}");
            assert_eq!(str_style(s, true), style, "{s:?}");
            assert_eq!(str_style(s, true), str_style_walked(s, true), "{s:?}");
        }
    }

    proptest! {
        /// The shortcut for plain words picks what libyaml's full analysis picks.
        #[test]
        fn plain_words_get_the_walked_style(
            s in prop_oneof!["[a-zA-Z0-9_./-]{0,10}", "[a-zA-Z][a-zA-Z0-9_./ :#'\"\n-]{0,10}", "(y|yes|on|No|null|true|~|0x1F|1e3|.inf)"],
            simple_key in any::<bool>(),
        ) {
            prop_assert_eq!(str_style(&s, simple_key), str_style_walked(&s, simple_key));
            prop_assert_eq!(is_simple_key(&s, 128), s.len() <= 128 && !analyze(&s).multiline);
        }
    }
}
