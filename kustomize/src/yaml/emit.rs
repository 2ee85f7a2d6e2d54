//! A YAML emitter reproducing what kustomize prints: Go `yaml.v2` (libyaml's emitter) fed
//! with JSON-decoded data, i.e. sorted keys, indentless sequences, 80-column folding of long
//! plain and quoted scalars, literal blocks for multi-line strings.

use std::borrow::Cow;

use super::keyorder::key_cmp;
use super::resolve::format_float;
use super::style::{Style, is_break, is_printable, is_simple_key, str_style};
use super::value::Value;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;
/// libyaml refuses simple (`key: value`) keys longer than this.
const MAX_SIMPLE_KEY: usize = 128;

/// Emits one document (no `---` marker), as `yaml.v2.Marshal` would.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    append_to(value, &mut out);
    out
}

/// [`to_string`], appended to `out` (which must be empty or end with a line break): a build
/// prints every resource into one buffer instead of joining copies.
pub fn append_to(value: &Value, out: &mut String) {
    let start = out.len();
    let mut e = Emitter { out: std::mem::take(out), column: 0, whitespace: true, indention: true };
    e.node(value, None, Ctx::Root);
    if e.out.len() == start || !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    *out = e.out;
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    /// A mapping value; the mapping's indent.
    MapValue,
    /// A sequence item.
    SeqItem,
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A line break that belongs to the scalar's text: `\n` is written as a newline, any other
    /// break (`\r`, U+0085, U+2028, U+2029) as itself, as yaml.v3's `write_break` does; writing
    /// `\n` for those changed the value.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(&mut self, s: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in s.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    /// Emits `value`; `indent` is the indent of the enclosing collection (None at the root).
    fn node(&mut self, value: &Value, indent: Option<usize>, ctx: Ctx) {
        match value {
            Value::Map(m) if !m.is_empty() => {
                let my = indent.map_or(0, |i| i + BEST_INDENT);
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| key_cmp(a.0, b.0));
                for (k, v) in entries {
                    self.write_indent(my);
                    self.map_entry(k, v, my);
                }
            }
            Value::Seq(s) if !s.is_empty() => {
                // Sequences directly under a mapping key are not indented (libyaml's
                // "indentless" sequence), those in sequences are.
                let my = match (indent, ctx) {
                    (None, _) => 0,
                    (Some(i), Ctx::MapValue) if !self.indention => i,
                    (Some(i), _) => i + BEST_INDENT,
                };
                for item in s {
                    self.write_indent(my);
                    self.indicator("-", true, false, true);
                    self.node(item, Some(my), Ctx::SeqItem);
                }
            }
            Value::Map(_) => self.flow_empty("{}"),
            Value::Seq(_) => self.flow_empty("[]"),
            scalar => {
                let scalar_indent = indent.map_or(0, |i| i + BEST_INDENT);
                self.scalar(scalar, scalar_indent, false);
            }
        }
    }

    fn flow_empty(&mut self, s: &str) {
        self.indicator(&s[..1], true, true, false);
        self.indicator(&s[1..], false, false, false);
    }

    fn map_entry(&mut self, key: &str, value: &Value, indent: usize) {
        let style = str_style(key, true);
        let simple = is_simple_key(key, MAX_SIMPLE_KEY);
        if simple {
            self.write_scalar(key, style, indent + BEST_INDENT, false);
            self.indicator(":", false, false, false);
        } else {
            self.indicator("?", true, false, true);
            self.write_scalar(key, str_style(key, false), indent + BEST_INDENT, true);
            self.write_indent(indent);
            self.indicator(":", true, false, true);
        }
        self.node(value, Some(indent), Ctx::MapValue);
    }

    fn scalar(&mut self, value: &Value, indent: usize, simple_key: bool) {
        let (text, style) = scalar_text_style(value, simple_key);
        self.write_scalar(&text, style, indent, !simple_key);
    }

    fn write_scalar(&mut self, text: &str, style: Style, indent: usize, allow_breaks: bool) {
        match style {
            Style::Plain => self.write_plain(text, indent, allow_breaks),
            Style::Single => self.write_single(text, indent, allow_breaks),
            Style::Double => self.write_double(text, indent, allow_breaks),
            Style::Literal => self.write_literal(text, indent),
        }
    }

    fn write_plain(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        if !allow_breaks || !text.contains(' ') {
            // Nothing to fold: the text goes out as it is (most keys and values).
            self.out.push_str(text);
            self.column += text.chars().count();
            self.whitespace = false;
            self.indention = false;
            return;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.indicator("'", false, false, false);
    }

    fn write_double(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let v = c as u32;
                        let (p, w) = if v <= 0xff {
                            ('x', 2)
                        } else if v <= 0xffff {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(p);
                        for h in format!("{v:0w$X}").chars() {
                            self.put(h);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != chars.len() - 1 {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
    }

    fn write_literal(&mut self, text: &str, indent: usize) {
        self.indicator("|", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut hints = String::new();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            hints.push_str(&BEST_INDENT.to_string());
        }
        match chars.last() {
            Some(&c) if !is_break(c) => hints.push('-'),
            None => hints.push('-'),
            Some(_) if chars.len() == 1 || is_break(chars[chars.len() - 2]) => hints.push('+'),
            Some(_) => {}
        }
        if !hints.is_empty() {
            self.indicator(&hints, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// The text of a scalar and the style `yaml.v2` picks for it.
fn scalar_text_style(value: &Value, simple_key: bool) -> (Cow<'_, str>, Style) {
    let s = match value {
        Value::Null | Value::Blank => return ("null".into(), Style::Plain),
        Value::Bool(b) => return (b.to_string().into(), Style::Plain),
        Value::Int(i) => return (i.to_string().into(), Style::Plain),
        Value::Float(f) => return (format_float(*f).into(), Style::Plain),
        Value::String(s) => s,
        Value::Seq(_) | Value::Map(_) => unreachable!("collections are not scalars"),
    };
    (Cow::Borrowed(s), str_style(s, simple_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style_of(s: &str) -> Style {
        scalar_text_style(&Value::String(s.into()), false).1
    }

    #[test]
    fn quoting_table_measured_against_kubectl() {
        let cases: &[(&str, Style)] = &[
            ("1", Style::Double),
            ("on", Style::Double),
            ("yes", Style::Double),
            ("y", Style::Double),
            ("true", Style::Double),
            ("1.0", Style::Double),
            ("0x1", Style::Double),
            ("2024-01-01", Style::Double),
            ("1:20", Style::Double),
            ("", Style::Double),
            ("a: b", Style::Single),
            ("a:", Style::Single),
            ("*x", Style::Single),
            ("a #b", Style::Single),
            ("- x", Style::Single),
            (" lead", Style::Single),
            ("trail ", Style::Single),
            ("'x'", Style::Single),
            ("a:b", Style::Plain),
            ("?x", Style::Plain),
            ("it's", Style::Plain),
            ("héllo ☃", Style::Plain),
            (".", Style::Plain),
            ("a\tb", Style::Double),
            ("a\nb\n", Style::Literal),
            ("a \nb\n", Style::Double),
        ];
        for (s, want) in cases {
            assert_eq!(style_of(s), *want, "string {s:?}");
        }
    }

    #[test]
    fn literal_chomping_and_indent_hints() {
        let doc = |s: &str| {
            let mut m = super::super::value::Map::new();
            m.insert("k".into(), Value::String(s.into()));
            to_string(&Value::Map(m))
        };
        assert_eq!(doc("a\nb\n"), "k: |\n  a\n  b\n");
        assert_eq!(doc("a\nb"), "k: |-\n  a\n  b\n");
        assert_eq!(doc("a\nb\n\n"), "k: |+\n  a\n  b\n\n");
        assert_eq!(doc("  a\nb\n"), "k: |2\n    a\n  b\n");
    }

    #[test]
    fn long_plain_scalars_fold_after_column_80() {
        let long = "word ".repeat(30);
        let long = long.trim_end();
        let mut m = super::super::value::Map::new();
        m.insert("k".into(), Value::String(long.into()));
        let out = to_string(&Value::Map(m));
        let first = out.lines().next().unwrap();
        assert!(first.len() > BEST_WIDTH && first.len() <= BEST_WIDTH + 5, "{out}");
        assert!(out.lines().nth(1).unwrap().starts_with("  word"), "{out}");
    }

    #[test]
    fn unicode_line_separators_are_written_as_kubectl_writes_them() {
        // Bytes from `kubectl kustomize` (v5.5) for a ConfigMap with these data: the separator
        // itself, then the indentation of the next line (not a `\n`, which changed the value).
        let data: super::super::value::Map = [
            ("a".to_string(), Value::String("p\u{2028}q".into())),
            ("k\u{2028}z".to_string(), Value::String("v".into())),
        ]
        .into_iter()
        .collect();
        let doc = Value::Map([("data".to_string(), Value::Map(data))].into_iter().collect());
        assert_eq!(to_string(&doc), "data:\n  a: 'p\u{2028}    q'\n  ? 'k\u{2028}    z'\n  : v\n");
    }

    mod roundtrip {
        use super::super::super::parse::parse_one;
        use super::super::super::value::{Map, Value};
        use super::super::to_string;
        use proptest::prelude::*;

        fn arb_string() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-zA-Z0-9 :#'\"\\\\,\\-\\[\\]{}*&!|>%@`?.~=]{0,12}",
                "[a-z \\n\\t]{0,30}",
                "(yes|no|on|off|y|n|true|null|~|1|0x1F|1e3|1.5|2024-01-01|1:20|-|---|<<)",
                "[a-z]{1,8}( [a-z]{1,8}){8,20}",
                "\\PC{0,10}",
            ]
            // U+2028/U+2029 go out raw inside quotes, as kubectl writes them
            // (`unicode_line_separators_are_written_as_kubectl_writes_them`), and a YAML reader
            // takes them back as line breaks, so they cannot round-trip.
            .prop_filter("unicode line separators", |s| !s.contains(['\u{2028}', '\u{2029}']))
        }

        fn arb_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|i| Value::Int(i as i128)),
                arb_string().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
                    // A plain `<<` key is a YAML merge key on the way back in (kubectl prints it
                    // plain too), so it cannot round-trip.
                    prop::collection::vec((arb_string().prop_filter("merge key", |k| k != "<<"), inner), 0..4)
                        .prop_map(|kv| Value::Map(kv.into_iter().collect::<Map>())),
                ]
            })
        }

        proptest! {
            #[test]
            fn emit_then_parse_is_identity(v in arb_value()) {
                let doc = Value::Map([("root".to_string(), v)].into_iter().collect());
                let text = to_string(&doc);
                let back = parse_one(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                prop_assert_eq!(back, doc, "emitted:\n{}", text);
            }
        }
    }
}
