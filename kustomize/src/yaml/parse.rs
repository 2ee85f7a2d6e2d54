//! YAML text to [`Value`]s, resolving plain scalars as Go's `yaml.v3` does.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Tag};

use super::fast::Fast;
use super::resolve::resolve_plain_v3;
use super::value::{Map, Value};

/// A YAML syntax or structure error, with the position the parser reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The deepest nesting of collections accepted (counting levels reached through aliases).
/// Every later pass (merge, emit, drop) recurses over the tree, so this bounds their stack use;
/// Kubernetes manifests, even CRD schemas, stay far below it.
pub const MAX_DEPTH: usize = 256;

/// How many nodes anchors and aliases may copy in one file. A "billion laughs" alias bomb
/// fails here instead of exhausting memory; real manifests copy a few hundred at most.
pub const MAX_ALIAS_NODES: usize = 250_000;

/// How many bytes of scalar text aliases may copy in one file. Counting nodes alone lets a few
/// aliases of one large scalar cost gigabytes; real manifests copy kilobytes at most.
pub const MAX_ALIAS_BYTES: usize = 16 << 20;

/// Parses every document of a YAML stream. Empty documents come back as [`Value::Null`].
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    parse_with(text, false, false)
}

/// Parses the documents of a patch: like [`parse_documents`], except that a null annotation
/// value stays null (it deletes the annotation when merged) instead of becoming its text.
pub fn parse_patch_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    parse_with(text, false, true)
}

/// Parses a single-document stream with YAML 1.1 scalar rules (`yes` is a bool), as
/// kustomize reads kustomization files.
pub fn parse_one_yaml11(text: &str) -> Result<Value, ParseError> {
    let mut docs = parse_with(text, true, false)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(ParseError(format!("expected one YAML document, found {n}"))),
    }
}

/// How many quoted scalars [`super::quoted_indent::repair`] may re-indent in one file (each
/// repair parses the file again).
const MAX_QUOTED_REPAIRS: usize = 500;

fn parse_with(text: &str, yaml11: bool, patch: bool) -> Result<Vec<Value>, ParseError> {
    // The fast source reads most files; on anything it declines, and on any error (which the
    // full parser must then word), the text is parsed again from scratch below.
    if let Ok(fast) = Fast::new(text)
        && let Ok(docs) = build(Source::Fast(fast), text, yaml11, patch, &mut None)
    {
        return Ok(docs);
    }
    let mut repaired: Option<String> = None;
    let mut first_error = None;
    for _ in 0..=MAX_QUOTED_REPAIRS {
        let current = repaired.as_deref().unwrap_or(text);
        let mut at = None;
        match parse_once(current, yaml11, patch, &mut at) {
            Ok(docs) => return Ok(docs),
            Err(e) => {
                let first = first_error.get_or_insert(e).clone();
                match at.and_then(|line| super::quoted_indent::repair(current, line.saturating_sub(1))) {
                    Some(fixed) => repaired = Some(fixed),
                    None => return Err(first),
                }
            }
        }
    }
    Err(first_error.unwrap_or_else(|| ParseError("too many under-indented quoted scalars".into())))
}

/// Parses `text`; on an under-indented quoted scalar, `quoted_indent_at` receives the line
/// (1-based) the parser stopped at.
fn parse_once(
    text: &str,
    yaml11: bool,
    patch: bool,
    quoted_indent_at: &mut Option<usize>,
) -> Result<Vec<Value>, ParseError> {
    build(Source::Full(Box::new(full_parser(text))), text, yaml11, patch, quoted_indent_at)
}

/// granit-parser over `text`, with the options this reader needs.
fn full_parser(text: &str) -> Parser<'_, granit_parser::StrInput<'_>> {
    // Comments carry no data; without this, another crate enabling granit-parser's `comments`
    // feature (feature unification) would make the parser emit Comment events here.
    let mut options = granit_parser::Options::default();
    options.emit_comments = false;
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = MAX_DEPTH;
    Parser::new_from_str_with_options(text, options)
}

/// Builds the documents of `text` from the events of `events`.
fn build<'a>(
    events: Source<'a>,
    text: &'a str,
    yaml11: bool,
    patch: bool,
    quoted_indent_at: &mut Option<usize>,
) -> Result<Vec<Value>, ParseError> {
    let mut b = Builder {
        events,
        src: text,
        src_chars: None,
        patch,
        anchors: HashMap::new(),
        yaml11,
        last_empty: false,
        path: Vec::new(),
        depth: 0,
        nodes: 0,
        copied: 0,
        bytes: 0,
        copied_bytes: 0,
        quoted_indent_at: None,
        pending: Vec::new(),
    };
    let mut docs = Vec::new();
    let result = b.documents(&mut docs);
    *quoted_indent_at = b.quoted_indent_at;
    result.map(|()| docs)
}

impl Builder<'_> {
    fn documents(&mut self, docs: &mut Vec<Value>) -> Result<(), ParseError> {
        let b = self;
        loop {
            match b.next()? {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart(_, Some(v)) if (v.major, v.minor) != (1, 1) => {
                    // yaml.v3 accepts no other %YAML directive.
                    return Err(ParseError(format!(
                        "found incompatible YAML document (%YAML {}.{})",
                        v.major, v.minor
                    )));
                }
                Event::DocumentStart(..) => {
                    b.anchors.clear();
                    let ev = b.next()?;
                    if matches!(ev, Event::DocumentEnd) {
                        docs.push(Value::Null);
                        continue;
                    }
                    docs.push(b.node(ev)?);
                }
                other => return Err(ParseError(format!("unexpected YAML event {other:?}"))),
            }
        }
    }
}

/// Parses a stream that must hold exactly one document.
pub fn parse_one(text: &str) -> Result<Value, ParseError> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(ParseError(format!("expected one YAML document, found {n}"))),
    }
}

/// Where a [`Builder`] reads its events: the full parser, or the fast one for plain block YAML
/// (which yields the same events for what it reads, and declines the rest).
enum Source<'a> {
    /// Boxed: the parser is large, and the fast source is the usual one.
    Full(Box<Parser<'a, granit_parser::StrInput<'a>>>),
    Fast(Fast<'a>),
}

/// Why a [`Source`] gave no event.
enum SourceError {
    /// The stream ended without `StreamEnd`.
    End,
    /// The fast source declined the text.
    Declined,
    /// The full parser's error.
    Full(granit_parser::ScanError),
}

impl<'a> Source<'a> {
    /// The next event of `src` and whether its source span is empty (`src_chars` caches the
    /// length of `src` in characters).
    fn next(&mut self, src: &str, src_chars: &mut Option<usize>) -> Result<(Event<'a>, bool), SourceError> {
        let parser = match self {
            Source::Full(parser) => parser,
            Source::Fast(fast) => return fast.next_event().map_err(|_| SourceError::Declined),
        };
        let (mut ev, span) = parser.next_event().ok_or(SourceError::End)?.map_err(SourceError::Full)?;
        // libyaml ends a block scalar that runs to the end of an input without a final line
        // break without that break (`|` then reads as `|-`); granit-parser adds it.
        if let Event::Scalar(text, ScalarStyle::Literal | ScalarStyle::Folded, ..) = &mut ev
            && !src.ends_with('\n')
            && text.ends_with('\n')
            && span.end.index() >= *src_chars.get_or_insert_with(|| src.chars().count())
        {
            text.to_mut().pop();
        }
        Ok((ev, span.start.index() == span.end.index()))
    }
}

/// Every event of `text` with its empty-span flag, from the fast source (`Err` with the offset
/// of the line it declined on) or the full parser, as the builder would read them.
#[cfg(test)]
#[allow(clippy::type_complexity)]
pub(super) fn test_events(text: &str, fast: bool) -> Result<Result<Vec<(Event<'_>, bool)>, String>, usize> {
    let mut source = if fast {
        Source::Fast(Fast::new(text).map_err(|_| 0usize)?)
    } else {
        Source::Full(Box::new(full_parser(text)))
    };
    let (mut out, mut chars) = (Vec::new(), None);
    loop {
        match source.next(text, &mut chars) {
            Ok((Event::StreamEnd, empty)) => {
                out.push((Event::StreamEnd, empty));
                return Ok(Ok(out));
            }
            Ok(ev) => out.push(ev),
            Err(SourceError::Declined) => return Err(if let Source::Fast(f) = &source { f.position() } else { 0 }),
            Err(SourceError::End) => return Ok(Err("unexpected end of YAML".into())),
            Err(SourceError::Full(e)) => return Ok(Err(e.to_string())),
        }
    }
}

struct Builder<'a> {
    events: Source<'a>,
    /// Anchored nodes: the value, its node count, its height and its scalar bytes.
    anchors: HashMap<usize, (Value, usize, usize, usize)>,
    yaml11: bool,
    /// Whether the last event read spans no source text (an empty scalar, reported as `~`).
    last_empty: bool,
    /// Keys from the document root to the node being built.
    path: Vec<Seg>,
    /// Collections currently open around the node being built.
    depth: usize,
    /// Nodes built so far, aliases counted with the size of what they copy.
    nodes: usize,
    /// Nodes copied by anchors and aliases so far (bounded by [`MAX_ALIAS_NODES`]).
    copied: usize,
    /// Bytes of scalar text built so far, aliases counted with the size of what they copy.
    bytes: usize,
    /// Bytes of scalar text copied by aliases so far (bounded by [`MAX_ALIAS_BYTES`]).
    copied_bytes: usize,
    /// Whether this is a patch (null annotation values stay null).
    patch: bool,
    /// The text being parsed, and its length in characters once needed.
    src: &'a str,
    src_chars: Option<usize>,
    /// The line of an under-indented quoted scalar's continuation, when that stopped the parse.
    quoted_indent_at: Option<usize>,
    /// Entries of the mappings being built, innermost last (see [`Builder::mapping`]).
    pending: Vec<(String, Value)>,
}

/// Mappings with at most this many keys are collected in [`Builder::pending`] (duplicate keys
/// found by a scan) and moved into a map of exact size; larger ones go into a map directly.
const SMALL_MAP: usize = 32;

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Event<'a>, ParseError> {
        match self.events.next(self.src, &mut self.src_chars) {
            Ok((ev, empty)) => {
                self.last_empty = empty;
                Ok(ev)
            }
            Err(SourceError::End) => Err(ParseError("unexpected end of YAML".into())),
            Err(SourceError::Declined) => Err(ParseError("not plain block YAML".into())),
            Err(SourceError::Full(e)) => {
                if matches!(e.kind(), granit_parser::ErrorKind::InvalidQuotedScalarIndent) {
                    self.quoted_indent_at = Some(e.marker().line());
                }
                let text = e.to_string();
                if text.contains("recursion limit exceeded") {
                    return Err(ParseError(format!("{}: {text}", too_deep().0)));
                }
                Err(ParseError(text))
            }
        }
    }

    fn node(&mut self, ev: Event<'a>) -> Result<Value, ParseError> {
        let start = self.nodes;
        let start_bytes = self.bytes;
        self.nodes += 1;
        if let Event::Scalar(text, ..) = &ev {
            self.bytes = self.bytes.saturating_add(text.len());
        }
        let (value, anchor) = match ev {
            Event::Scalar(text, style, anchor, _) if self.in_top_annotations() => {
                let blank = self.last_empty && style == ScalarStyle::Plain;
                let null = style == ScalarStyle::Plain && matches!(resolve_plain_v3(&text), Value::Null);
                if self.patch && (blank || null) {
                    (if blank { Value::Blank } else { Value::Null }, anchor)
                } else {
                    let text = if blank { String::new() } else { text.to_string() };
                    (Value::String(text), anchor)
                }
            }
            Event::Scalar(_, ScalarStyle::Plain, anchor, None) if self.last_empty && !self.yaml11 => {
                (Value::Blank, anchor)
            }
            Event::Scalar(text, style, anchor, tag) => (scalar(&text, style, tag.as_deref(), self.yaml11)?, anchor),
            Event::Alias(id) => {
                let (size, height, bytes) = match self.anchors.get(&id) {
                    Some((_, size, height, bytes)) => (*size, *height, *bytes),
                    None => return Err(ParseError("unknown YAML alias".into())),
                };
                self.copy_budget(size)?;
                self.copied_bytes = self.copied_bytes.saturating_add(bytes);
                if self.copied_bytes > MAX_ALIAS_BYTES {
                    return Err(ParseError(format!(
                        "document contains excessive aliasing: aliases would copy more than {} MiB of text",
                        MAX_ALIAS_BYTES >> 20
                    )));
                }
                self.bytes = self.bytes.saturating_add(bytes);
                if self.depth + height > MAX_DEPTH {
                    return Err(too_deep());
                }
                self.nodes += size;
                return Ok(self.anchors[&id].0.clone());
            }
            Event::SequenceStart(_, anchor, _) => {
                self.open()?;
                let mut items = Vec::new();
                self.path.push(Seg::Item);
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        ev => items.push(self.node(ev)?),
                    }
                }
                self.path.pop();
                self.depth -= 1;
                (Value::Seq(items), anchor)
            }
            Event::MappingStart(_, anchor, _) => {
                self.open()?;
                let map = self.mapping()?;
                self.depth -= 1;
                (map, anchor)
            }
            other => return Err(ParseError(format!("unexpected YAML event {other:?}"))),
        };
        if anchor != 0 {
            let size = self.nodes - start;
            self.copy_budget(size)?;
            let bytes = self.bytes - start_bytes;
            self.anchors.insert(anchor, (value.clone(), size, height(&value), bytes));
        }
        Ok(value)
    }

    /// Enters a collection, refusing nesting deeper than [`MAX_DEPTH`].
    fn open(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(too_deep()) } else { Ok(()) }
    }

    /// Accounts for `size` nodes copied by an anchor or alias.
    fn copy_budget(&mut self, size: usize) -> Result<(), ParseError> {
        self.copied = self.copied.saturating_add(size);
        if self.copied > MAX_ALIAS_NODES {
            return Err(ParseError(format!(
                "document contains excessive aliasing: anchors and aliases would copy more than {MAX_ALIAS_NODES} nodes"
            )));
        }
        Ok(())
    }

    /// Whether the node being built is a value of a resource's `metadata.annotations` (of
    /// the document or of a `List` item), which kustomize keeps as strings of the source text.
    fn in_top_annotations(&self) -> bool {
        use Seg::*;
        if self.yaml11 {
            return false;
        }
        matches!(self.path.as_slice(), [Metadata, Annotations, _] | [Items, Item, Metadata, Annotations, _])
    }
}

/// One step of [`Builder::path`]: only the keys that [`Builder::in_top_annotations`] looks for
/// are told apart (a closed set, so no key is copied to track the path).
#[derive(Clone, Copy, PartialEq)]
enum Seg {
    Metadata,
    Annotations,
    Items,
    /// A sequence item (or a key spelled `[]`, which the path test has always read as one).
    Item,
    Other,
}

impl Seg {
    fn of_key(key: &Value) -> Seg {
        match key {
            Value::String(s) => match s.as_str() {
                "metadata" => Seg::Metadata,
                "annotations" => Seg::Annotations,
                "items" => Seg::Items,
                "[]" => Seg::Item,
                _ => Seg::Other,
            },
            _ => Seg::Other,
        }
    }
}

impl Builder<'_> {
    /// Reads a mapping's entries. Growing a map entry by entry reallocated it a few times per
    /// object (a tenth of parsing), so a small mapping's entries wait in `pending` (a stack
    /// shared by the nested mappings) and move into a map of exact size at the end.
    fn mapping(&mut self) -> Result<Value, ParseError> {
        let start = self.pending.len();
        // Set once the mapping outgrows SMALL_MAP: from then on entries go straight into it.
        let mut big: Option<Map> = None;
        let mut merged: Vec<Map> = Vec::new();
        loop {
            let ev = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge = matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            // Measured: kubectl silently drops entries whose key is a quoted `<<`.
            let dropped = !self.yaml11 && !is_merge && matches!(&ev, Event::Scalar(t, _, _, None) if t == "<<");
            let key = self.node(ev)?;
            self.path.push(Seg::of_key(&key));
            let next = self.next()?;
            let value = self.node(next);
            let in_annotations = self.in_top_annotations();
            self.path.pop();
            let value = match value? {
                // kustomize reads annotations as map[string]string: collections become "".
                Value::Seq(_) | Value::Map(_) if in_annotations => Value::String(String::new()),
                v => v,
            };
            if is_merge {
                // `<<: *anchor` or `<<: [*a, *b]`: keys of the merged maps fill in gaps.
                match value {
                    Value::Map(m) => merged.push(m),
                    Value::Seq(items) => {
                        for item in items {
                            if let Value::Map(m) = item {
                                merged.push(m);
                            }
                        }
                    }
                    _ => return Err(ParseError("map merge requires map or sequence of maps as the value".into())),
                }
                continue;
            }
            if dropped {
                continue;
            }
            let key = match key {
                Value::String(s) => s,
                other => key_text(&other)?,
            };
            // yaml.v2 (kustomization files) keeps the last of duplicate keys; yaml.v3 refuses them.
            let Some(map) = &mut big else {
                match self.pending[start..].iter().position(|(k, _)| *k == key) {
                    Some(_) if !self.yaml11 => return Err(duplicate(&key)),
                    Some(i) => self.pending[start + i].1 = value,
                    None => {
                        self.pending.push((key, value));
                        if self.pending.len() - start > SMALL_MAP {
                            big = Some(self.pending.drain(start..).collect());
                        }
                    }
                }
                continue;
            };
            match map.entry(key) {
                indexmap::map::Entry::Occupied(e) if !self.yaml11 => return Err(duplicate(e.key())),
                indexmap::map::Entry::Occupied(mut e) => {
                    e.insert(value);
                }
                indexmap::map::Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
        }
        let mut map = big.unwrap_or_else(|| {
            let mut map = Map::with_capacity(self.pending.len() - start);
            map.extend(self.pending.drain(start..));
            map
        });
        for m in merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        Ok(Value::Map(map))
    }
}

fn duplicate(key: &str) -> ParseError {
    ParseError(format!("mapping key {key:?} already defined"))
}

fn too_deep() -> ParseError {
    ParseError(format!("collections nested more than {MAX_DEPTH} levels deep"))
}

/// Levels of collections in a value (a scalar is 0).
fn height(v: &Value) -> usize {
    match v {
        Value::Seq(items) => 1 + items.iter().map(height).max().unwrap_or(0),
        Value::Map(m) => 1 + m.values().map(height).max().unwrap_or(0),
        _ => 0,
    }
}

/// Map keys become strings, as JSON requires.
fn key_text(key: &Value) -> Result<String, ParseError> {
    match key {
        Value::String(s) => Ok(s.clone()),
        Value::Seq(_) | Value::Map(_) => Err(ParseError("mapping keys must be scalars".into())),
        Value::Float(f) => Ok(super::resolve::format_float(*f)),
        other => Ok(other.scalar_text().unwrap_or_default()),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>, yaml11: bool) -> Result<Value, ParseError> {
    if let Some(tag) = tag
        && tag.is_yaml_core_schema()
    {
        let v = resolve_plain_v3(text);
        return match tag.suffix() {
            "str" | "binary" | "timestamp" => Ok(Value::String(text.to_string())),
            "int" if matches!(v, Value::Int(_)) => Ok(v),
            "float" => match v {
                Value::Int(i) => Ok(Value::Float(i as f64)),
                Value::Float(_) => Ok(v),
                _ => Err(ParseError(format!("cannot decode !!float {text:?}"))),
            },
            "bool" if matches!(v, Value::Bool(_)) => Ok(v),
            "null" => Ok(Value::Null),
            other => Err(ParseError(format!("cannot decode !!{other} {text:?}"))),
        };
    }
    Ok(match style {
        ScalarStyle::Folded if !yaml11 => Value::String(folded_like_yaml_v3(text)),
        ScalarStyle::Plain if yaml11 => super::resolve::resolve_plain_v2(text),
        ScalarStyle::Plain => resolve_plain_v3(text),
        _ => Value::String(text.to_string()),
    })
}

/// Measured: in kubectl's output a folded (`>`) scalar gets one more line break before a
/// more-indented line that follows a normal one (`a\n  b` becomes `a\n\n  b`), unlike the
/// YAML spec (and this parser). Reproduced here for byte-identity.
fn folded_like_yaml_v3(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev_normal = false;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let more = line.starts_with([' ', '\t']);
        if more && prev_normal {
            out.push('\n');
        }
        if !line.is_empty() {
            prev_normal = !more;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
