//! YAML text to [`Value`]s, resolving plain scalars as Go's `yaml.v3` does.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Tag};

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

/// Parses every document of a YAML stream. Empty documents come back as [`Value::Null`].
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ParseError> {
    parse_with(text, false)
}

/// Parses a single-document stream with YAML 1.1 scalar rules (`yes` is a bool), as
/// kustomize reads kustomization files.
pub fn parse_one_yaml11(text: &str) -> Result<Value, ParseError> {
    let mut docs = parse_with(text, true)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(ParseError(format!("expected one YAML document, found {n}"))),
    }
}

fn parse_with(text: &str, yaml11: bool) -> Result<Vec<Value>, ParseError> {
    // Comments carry no data; without this, another crate enabling granit-parser's `comments`
    // feature (feature unification) would make the parser emit Comment events here.
    let mut options = granit_parser::Options::default();
    options.emit_comments = false;
    let mut b = Builder {
        events: Parser::new_from_str_with_options(text, options),
        anchors: HashMap::new(),
        yaml11,
        last_empty: false,
        path: Vec::new(),
    };
    let mut docs = Vec::new();
    loop {
        match b.next()? {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(docs),
            Event::DocumentStart(_, Some(v)) if (v.major, v.minor) != (1, 1) => {
                // yaml.v3 accepts no other %YAML directive.
                return Err(ParseError(format!("found incompatible YAML document (%YAML {}.{})", v.major, v.minor)));
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

/// Parses a stream that must hold exactly one document.
pub fn parse_one(text: &str) -> Result<Value, ParseError> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(ParseError(format!("expected one YAML document, found {n}"))),
    }
}

struct Builder<'a> {
    events: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    yaml11: bool,
    /// Whether the last event read spans no source text (an empty scalar, reported as `~`).
    last_empty: bool,
    /// Keys from the document root to the node being built (`[]` for sequence items).
    path: Vec<String>,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Event<'a>, ParseError> {
        match self.events.next_event() {
            None => Err(ParseError("unexpected end of YAML".into())),
            Some(Err(e)) => Err(ParseError(e.to_string())),
            Some(Ok((ev, span))) => {
                self.last_empty = span.start.index() == span.end.index();
                Ok(ev)
            }
        }
    }

    fn node(&mut self, ev: Event<'a>) -> Result<Value, ParseError> {
        let (value, anchor) = match ev {
            Event::Scalar(text, style, anchor, _) if self.in_top_annotations() => {
                let blank = self.last_empty && style == ScalarStyle::Plain;
                let text = if blank { String::new() } else { text.to_string() };
                (Value::String(text), anchor)
            }
            Event::Scalar(_, ScalarStyle::Plain, anchor, None) if self.last_empty && !self.yaml11 => {
                (Value::Blank, anchor)
            }
            Event::Scalar(text, style, anchor, tag) => (scalar(&text, style, tag.as_deref(), self.yaml11)?, anchor),
            Event::Alias(id) => {
                return self.anchors.get(&id).cloned().ok_or_else(|| ParseError("unknown YAML alias".into()));
            }
            Event::SequenceStart(_, anchor, _) => {
                let mut items = Vec::new();
                self.path.push("[]".into());
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        ev => items.push(self.node(ev)?),
                    }
                }
                self.path.pop();
                (Value::Seq(items), anchor)
            }
            Event::MappingStart(_, anchor, _) => (self.mapping()?, anchor),
            other => return Err(ParseError(format!("unexpected YAML event {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    /// Whether the node being built is a value of a resource's `metadata.annotations` (of
    /// the document or of a `List` item), which kustomize keeps as strings of the source text.
    fn in_top_annotations(&self) -> bool {
        if self.yaml11 {
            return false;
        }
        let p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        matches!(p.as_slice(), ["metadata", "annotations", _] | ["items", "[]", "metadata", "annotations", _])
    }

    fn mapping(&mut self) -> Result<Value, ParseError> {
        let mut map = Map::new();
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
            self.path.push(key_text(&key).unwrap_or_default());
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
            let key = key_text(&key)?;
            if map.contains_key(&key) {
                return Err(ParseError(format!("mapping key {key:?} already defined")));
            }
            map.insert(key, value);
        }
        for m in merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        Ok(Value::Map(map))
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
mod tests {
    use super::*;

    #[test]
    fn multi_document_and_styles() {
        let docs = parse_documents("a: 1\nb: '1'\n---\n- yes\n- !!str 2\n---\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].get("a"), Some(&Value::Int(1)));
        assert_eq!(docs[0].get("b"), Some(&Value::String("1".into())));
        assert_eq!(docs[1], Value::Seq(vec![Value::String("yes".into()), Value::String("2".into())]));
        assert!(docs[2].is_null(), "an empty document is null");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let v = parse_one("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n").unwrap();
        let d = v.get("d").unwrap();
        assert_eq!(d.get("x"), Some(&Value::Int(1)));
        assert_eq!(d.get("y"), Some(&Value::Int(3)));
    }

    #[test]
    fn folded_more_indented_lines_gain_a_break() {
        let v = parse_one("f: >\n  a\n    b\n    c\n  d\n").unwrap();
        assert_eq!(v.get("f"), Some(&Value::from("a\n\n  b\n  c\nd\n")));
    }

    #[test]
    fn empty_scalars_are_blank_not_null() {
        let v = parse_one("a:\nb: ~\nc: null\n").unwrap();
        assert_eq!(v.get("a"), Some(&Value::Blank));
        assert_eq!(v.get("b"), Some(&Value::Null));
        assert_eq!(v.get("c"), Some(&Value::Null));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(parse_one("a: 1\na: 2\n").is_err());
    }
}
