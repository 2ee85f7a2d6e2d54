//! Finding what the updater may edit in a YAML file, with exact byte spans: scalars carrying a
//! setter marker, and the entries of a kustomization's `images:` list.
//!
//! Built on granit-parser's event stream (the parser under serde-saphyr), which reports every
//! scalar and comment with its byte range, so edits can splice bytes and leave everything else
//! (comments, blank lines, `---`, quoting, CRLF, BOM) untouched.

use granit_parser::{Event, Options, Parser, ScalarStyle as GranitStyle, Span};

use super::marker::{Marker, MarkerParse, parse_marker};
use super::scalar::ScalarStyle;

/// A YAML syntax error, with the 1-based line and column where the parser gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

/// A scalar and where it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarSpan {
    /// Byte offset of the first byte (the opening quote for quoted scalars).
    pub start: usize,
    /// Byte offset one past the last byte (past the closing quote).
    pub end: usize,
    /// 1-based line of the start.
    pub line: usize,
    /// The scalar's value after unescaping.
    pub value: String,
    /// Its style; `None` for block scalars (`|`, `>`), which the updater never rewrites.
    pub style: Option<ScalarStyle>,
}

/// A scalar with a setter marker on its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedScalar {
    /// The scalar.
    pub scalar: ScalarSpan,
    /// The marker.
    pub marker: Marker,
}

/// A comment that mentions `$imagepolicy` but cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredMarker {
    /// 1-based line of the comment.
    pub line: usize,
    /// Why it was ignored.
    pub reason: String,
}

/// One entry of a top-level `images:` list of a kustomization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagesEntry {
    /// Keys with scalar values, in source order (`name`, `newName`, `newTag`, `digest`).
    pub fields: Vec<(String, ScalarSpan)>,
    /// Column (0-based, in characters) of the entry's keys, for inserting a key below them.
    pub key_column: usize,
    /// Byte offset of the end of the entry's last line (before its line break), where a new
    /// key line can be inserted; `None` for flow-style entries (`{name: app}`).
    pub insert_at: Option<usize>,
}

impl ImagesEntry {
    /// The scalar of `key`, if present.
    pub fn field(&self, key: &str) -> Option<&ScalarSpan> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }
}

/// Everything of interest in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Scalars with markers, in file order.
    pub marked: Vec<MarkedScalar>,
    /// Marker-like comments that were not used.
    pub ignored: Vec<IgnoredMarker>,
    /// Entries of top-level `images:` lists, in file order (every document).
    pub images: Vec<ImagesEntry>,
    /// Every scalar (keys included) with its start offset, in order: the baseline an edit is
    /// verified against, so the original need not be parsed twice.
    pub scalars: Vec<(usize, String)>,
}

/// Where the event stream is, for telling keys from values.
enum Frame {
    Sequence,
    Mapping { expect_key: bool, key: Option<String> },
}

struct Walker<'a> {
    text: &'a str,
    stack: Vec<Frame>,
    values: Vec<ScalarSpan>,
    all: Vec<(usize, String)>,
    comments: Vec<(usize, usize, String)>,
    images: Vec<ImagesEntry>,
    /// Depth (stack length) of the `images:` sequence while inside it.
    images_depth: Option<usize>,
    current_entry: Option<(ImagesEntry, bool)>,
}

fn syntax_error(e: &granit_parser::ScanError) -> SyntaxError {
    let m = e.marker();
    SyntaxError { line: m.line(), column: m.col() + 1, message: e.info().to_owned() }
}

fn parser(text: &str) -> Parser<'_, granit_parser::StrInput<'_>> {
    let mut options = Options::default();
    options.max_buffered_comment_events = 4096;
    Parser::new_from_str_with_options(text, options)
}

fn byte_range(span: &Span) -> (usize, usize) {
    (span.start.byte_offset().unwrap_or(0), span.end.byte_offset().unwrap_or(0))
}

impl<'a> Walker<'a> {
    /// Records that a node (scalar or collection start) occurred at the current position, and
    /// returns whether it is a mapping key and, for values, the key it belongs to.
    fn node(&mut self) -> (bool, Option<String>) {
        match self.stack.last_mut() {
            Some(Frame::Mapping { expect_key, key }) => {
                let was_key = *expect_key;
                *expect_key = !*expect_key;
                if was_key { (true, None) } else { (false, key.take()) }
            }
            _ => (false, None),
        }
    }

    fn on_scalar(&mut self, value: &str, style: GranitStyle, span: &Span) {
        self.all.push((byte_range(span).0, value.to_owned()));
        let (is_key, key) = self.node();
        if is_key {
            if let Some(Frame::Mapping { key, .. }) = self.stack.last_mut() {
                *key = Some(value.to_owned());
            }
            return;
        }
        let (start, end) = byte_range(span);
        let style = match style {
            GranitStyle::Plain => Some(ScalarStyle::Plain),
            GranitStyle::SingleQuoted => Some(ScalarStyle::SingleQuoted),
            GranitStyle::DoubleQuoted => Some(ScalarStyle::DoubleQuoted),
            _ => None,
        };
        let scalar = ScalarSpan { start, end, line: span.start.line(), value: value.to_owned(), style };
        // Inside an images entry (a mapping directly in the images sequence)?
        let in_entry = self.images_depth.is_some_and(|depth| self.stack.len() == depth + 1);
        if let (true, Some((entry, _)), Some(key)) = (in_entry, self.current_entry.as_mut(), &key) {
            entry.fields.push((key.clone(), scalar.clone()));
        }
        self.values.push(scalar);
    }

    fn on_collection_start(&mut self, is_mapping: bool, flow: bool, span: &Span) {
        let (_, key) = self.node();
        let depth = self.stack.len();
        // The top-level mapping is at depth 1; its `images` value is a sequence at depth 1.
        if !is_mapping && depth == 1 && key.as_deref() == Some("images") && self.images_depth.is_none() {
            self.images_depth = Some(depth + 1);
        }
        if is_mapping && self.images_depth == Some(depth) {
            let entry =
                ImagesEntry { fields: Vec::new(), key_column: span.start.col(), insert_at: (!flow).then_some(0) };
            self.current_entry = Some((entry, flow));
        }
        self.stack.push(if is_mapping { Frame::Mapping { expect_key: true, key: None } } else { Frame::Sequence });
    }

    fn on_collection_end(&mut self, span: &Span) {
        self.stack.pop();
        let depth = self.stack.len();
        match self.images_depth {
            Some(d) if depth == d => {
                if let Some((mut entry, flow)) = self.current_entry.take() {
                    if !flow {
                        let last_end = entry.fields.iter().map(|(_, s)| s.end).max().unwrap_or(byte_range(span).0);
                        let line_end =
                            self.text[last_end..].find(['\n', '\r']).map_or(self.text.len(), |i| last_end + i);
                        entry.insert_at = Some(line_end);
                        if let Some((_, first)) = entry.fields.first() {
                            entry.key_column = key_column(self.text, first.start);
                        }
                    }
                    self.images.push(entry);
                }
            }
            Some(d) if depth + 1 == d => self.images_depth = None,
            _ => {}
        }
    }
}

/// Column (in characters) where the key of the `key: value` pair whose value starts at
/// `value_start` begins: the first character after indentation and `- ` indicators.
fn key_column(text: &str, value_start: usize) -> usize {
    let line_start = text[..value_start].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..value_start];
    let mut col = 0;
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                col += 1;
                chars.next();
            }
            '-' => {
                chars.next();
                if chars.peek() == Some(&' ') {
                    col += 1;
                } else {
                    break;
                }
            }
            _ => break,
        }
    }
    col
}

/// Scans `text` for marked scalars and (when `with_images`) kustomization `images:` entries.
pub fn scan(text: &str, with_images: bool) -> Result<Scan, SyntaxError> {
    let mut w = Walker {
        text,
        stack: Vec::new(),
        values: Vec::new(),
        all: Vec::new(),
        comments: Vec::new(),
        images: Vec::new(),
        images_depth: None,
        current_entry: None,
    };
    let mut parser = parser(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| syntax_error(&e))?;
        match event {
            Event::Scalar(value, style, _, _) => w.on_scalar(&value, style, &span),
            Event::Alias(_) => {
                w.node();
            }
            Event::SequenceStart(style, _, _) => {
                w.on_collection_start(false, style == granit_parser::StructureStyle::Flow, &span)
            }
            Event::MappingStart(style, _, _) => {
                w.on_collection_start(true, style == granit_parser::StructureStyle::Flow, &span)
            }
            Event::SequenceEnd | Event::MappingEnd => w.on_collection_end(&span),
            Event::Comment(body, _) if body.contains("$imagepolicy") => {
                let (start, _) = byte_range(&span);
                w.comments.push((start, span.start.line(), body.into_owned()));
            }
            Event::DocumentStart(..) => {
                w.stack.clear();
                w.images_depth = None;
            }
            _ => {}
        }
    }
    let mut out = Scan { images: if with_images { w.images } else { Vec::new() }, scalars: w.all, ..Scan::default() };
    for (comment_start, line, body) in w.comments {
        let marker = match parse_marker(&body) {
            MarkerParse::NotAMarker => continue,
            MarkerParse::Invalid(reason) => {
                out.ignored.push(IgnoredMarker { line, reason });
                continue;
            }
            MarkerParse::Marker(m) => m,
        };
        // The value scalar that ends last before the comment, with only blanks in between.
        let owner = w.values.iter().rev().find(|s| s.end <= comment_start);
        let owner = owner.filter(|s| text[s.end..comment_start].chars().all(|c| c == ' ' || c == '\t'));
        match owner {
            Some(s) if s.style.is_none() => out
                .ignored
                .push(IgnoredMarker { line, reason: "marker on a block scalar (| or >) is not supported".into() }),
            Some(s) if s.start == s.end => out.ignored.push(IgnoredMarker {
                line,
                reason: "marker on an empty value: write the current image in the value first".into(),
            }),
            Some(s) => out.marked.push(MarkedScalar { scalar: s.clone(), marker }),
            None => out.ignored.push(IgnoredMarker {
                line,
                reason: "marker is not on the same line as a scalar value (it must follow `key: value` or `- value`)"
                    .into(),
            }),
        }
    }
    Ok(out)
}

/// Every scalar value of every document, keys included, in order: used to check that an edit
/// changed only what it meant to.
pub fn scalar_values(text: &str) -> Result<Vec<String>, SyntaxError> {
    Ok(scalar_values_at(text)?.into_iter().map(|(_, v)| v).collect())
}

/// Like [`scalar_values`], with the byte offset where each scalar starts.
pub fn scalar_values_at(text: &str) -> Result<Vec<(usize, String)>, SyntaxError> {
    let mut out = Vec::new();
    let mut parser = parser(text);
    while let Some(next) = parser.next_event() {
        if let (Event::Scalar(value, ..), span) = next.map_err(|e| syntax_error(&e))? {
            out.push((byte_range(&span).0, value.into_owned()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::overlay::marker::SetterField;

    fn marked(text: &str) -> Vec<(usize, String, SetterField)> {
        scan(text, false).unwrap().marked.into_iter().map(|m| (m.scalar.line, m.scalar.value, m.marker.field)).collect()
    }

    #[test]
    fn markers_on_values_of_any_kind() {
        let text = r#"apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: app
        image: ghcr.io/org/app:v1 # {"$imagepolicy": "flux-system:app"}
      - image: "ghcr.io/org/side:v1" # {"$imagepolicy": "flux-system:side"}
      initContainers:
        - 'ghcr.io/org/init:v1' # {"$imagepolicy": "flux-system:init"}
---
images:
- name: app
  newName: ghcr.io/org/app # {"$imagepolicy": "flux-system:app:name"}
  newTag: v1 # {"$imagepolicy": "flux-system:app:tag"}
"#;
        let got = marked(text);
        assert_eq!(
            got,
            vec![
                (8, "ghcr.io/org/app:v1".into(), SetterField::Image),
                (9, "ghcr.io/org/side:v1".into(), SetterField::Image),
                (11, "ghcr.io/org/init:v1".into(), SetterField::Image),
                (15, "ghcr.io/org/app".into(), SetterField::Name),
                (16, "v1".into(), SetterField::Tag),
            ]
        );
        let s = &scan(text, false).unwrap().marked[1].scalar;
        assert_eq!(&text[s.start..s.end], "\"ghcr.io/org/side:v1\"", "span includes the quotes");
    }

    #[test]
    fn comments_that_are_not_usable_markers_are_reported() {
        let text = "a: # {\"$imagepolicy\": \"ns:a\"}\n\
                    b: | # {\"$imagepolicy\": \"ns:b\"}\n  text\n\
                    c: x # {\"$imagepolicy\": \"bad\"}\n\
                    # {\"$imagepolicy\": \"ns:d\"}\n\
                    d: [x, y] # {\"$imagepolicy\": \"ns:d\"}\n\
                    e:\n  f: g\n";
        let result = scan(text, false).unwrap();
        assert!(result.marked.is_empty(), "{:?}", result.marked);
        let lines: Vec<usize> = result.ignored.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![1, 2, 4, 5, 6]);
    }

    #[test]
    fn keys_are_never_marked() {
        let text = "spec: # {\"$imagepolicy\": \"ns:a\"}\n  image: x\n";
        let result = scan(text, false).unwrap();
        assert!(result.marked.is_empty());
        assert_eq!(result.ignored.len(), 1);
    }

    #[test]
    fn byte_offsets_after_bom_crlf_and_non_ascii() {
        let text = "\u{feff}# ünïcode comment\r\nname: é\r\nimage: app:v1 # {\"$imagepolicy\": \"ns:app\"}\r\n";
        let m = &scan(text, false).unwrap().marked[0].scalar;
        assert_eq!(&text[m.start..m.end], "app:v1");
    }

    #[test]
    fn images_entries_with_spans_and_insertion_points() {
        let text = "resources:\n- ../base\nimages:\n- name: app\n  newTag: v1\n-   name: other\n    newName: reg/other\n\
                    - {name: flow, newTag: x}\nnamePrefix: p-\n";
        let result = scan(text, true).unwrap();
        assert_eq!(result.images.len(), 3);
        let app = &result.images[0];
        assert_eq!(app.field("name").unwrap().value, "app");
        assert_eq!(app.field("newTag").unwrap().value, "v1");
        assert_eq!(app.key_column, 2);
        assert_eq!(&text[..app.insert_at.unwrap()], "resources:\n- ../base\nimages:\n- name: app\n  newTag: v1");
        let other = &result.images[1];
        assert_eq!(other.key_column, 4);
        assert_eq!(other.field("newName").unwrap().value, "reg/other");
        assert_eq!(result.images[2].insert_at, None, "flow entries cannot take new lines");
        assert_eq!(result.images[2].field("newTag").unwrap().value, "x");
    }

    #[test]
    fn nested_images_keys_are_not_kustomization_images() {
        let text = "spec:\n  images:\n  - name: app\n    newTag: v1\n";
        assert!(scan(text, true).unwrap().images.is_empty());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = scan("a: [b\nc: d\n", false).unwrap_err();
        assert!(err.line >= 1 && !err.message.is_empty(), "{err}");
    }
}
