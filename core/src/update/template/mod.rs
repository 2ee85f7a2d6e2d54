//! Go `text/template`, as Flux's image-automation-controller runs a commit `messageTemplate`:
//! the actions (`{{.Field}}`, pipelines, `if`/`else if`/`range`/`with`, variables, `{{- -}}`
//! trimming, comments), Go's built-in functions and the hermetic part of Sprig that Flux adds.
//!
//! Why not a crate: the Go-template crates on crates.io (gtmpl) key maps by string only, and
//! Flux's documented templates range over `.Changed.Objects`, a map keyed by a *struct*
//! (`{{range $resource, $changes := .Changed.Objects}}{{$resource.Kind}}`). The evaluator here
//! is small, pure and table-tested against outputs of Go's own implementation.
//!
//! Unsupported constructs (`define`, `template`, `block`, a function outside the list in
//! [`funcs::NAMES`]) are parse errors naming the line, never silently printed.

mod exec;
pub mod funcs;
mod parse;
mod printf;

use std::fmt::Write as _;

pub use parse::Template;

/// A value a template sees: Go's dynamic values, reduced to what Flux's data holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's `nil` (and a missing map key).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A slice.
    List(Vec<Value>),
    /// A map, its entries sorted by key (Go's templates range over maps in key order).
    Map(Vec<(Value, Value)>),
    /// A struct: named fields, and what `String()` returns when the Go type has that method.
    Struct(Struct),
}

/// A Go struct value: its type name (for error messages), fields in declaration order, and the
/// text printing it shows when the Go type implements `fmt.Stringer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// Go type name, e.g. `update.Change`.
    pub type_name: String,
    /// Fields (and zero-argument methods, which templates call the same way).
    pub fields: Vec<(String, Value)>,
    /// `String()` when the Go type has it; `None` prints Go's `{field field}` form.
    pub string: Option<String>,
}

impl Struct {
    /// A struct of type `type_name` with `fields`.
    pub fn new(type_name: &str, fields: Vec<(&str, Value)>) -> Self {
        Self {
            type_name: type_name.to_owned(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            string: None,
        }
    }

    /// The same struct printing as `string` (a Go `String()` method).
    pub fn with_string(mut self, string: impl Into<String>) -> Self {
        self.string = Some(string.into());
        self
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(s.into())
    }

    /// A map from entries, sorted by key as Go's templates see them.
    pub fn map(mut entries: Vec<(Value, Value)>) -> Self {
        entries.sort_by(|a, b| order(&a.0, &b.0));
        Value::Map(entries)
    }

    /// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    /// The Go kind name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Struct(_) => "struct",
        }
    }

    /// The value as `fmt.Sprint` (`%v`) prints it.
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self, true);
        out
    }
}

fn write_value(out: &mut String, v: &Value, top: bool) {
    match v {
        Value::Nil if top => out.push_str("<nil>"),
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&go_float(*f)),
        Value::Str(s) => out.push_str(s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item, false);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push_str("map[");
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, k, false);
                out.push(':');
                write_value(out, val, false);
            }
            out.push(']');
        }
        Value::Struct(s) => match &s.string {
            Some(text) => out.push_str(text),
            None => {
                out.push('{');
                for (i, (_, val)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    write_value(out, val, false);
                }
                out.push('}');
            }
        },
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` for the values templates meet: integral floats print
/// without a fraction, others with Rust's shortest round-trip digits.
fn go_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{f}")
    }
}

/// Total order over values for map keys and `sortAlpha`: by kind, then by value; structs field
/// by field, as Go's `fmtsort` does.
pub(crate) fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Struct(x), Value::Struct(y)) => x
            .fields
            .iter()
            .zip(&y.fields)
            .map(|((_, p), (_, q))| order(p, q))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal),
        _ => a.kind().cmp(b.kind()),
    }
}

/// A template that does not parse or fails while running, with the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TemplateError {
    /// 1-based line of the action.
    pub line: usize,
    /// What is wrong, as Go's `text/template` words it where possible.
    pub message: String,
}

/// Parses `source` and runs it on `data`.
pub fn render(source: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(source)?.execute(data)
}

#[cfg(test)]
mod tests;
