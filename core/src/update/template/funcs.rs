//! The functions a commit message template may call: Go's built-ins and the part of Sprig's
//! hermetic set (what Flux passes, `sprig.HermeticTxtFuncMap`) that text about images needs.
//! A name outside [`NAMES`] is a parse error, so a template never half-works.

use base64::Engine as _;

use super::printf::sprintf;
use super::{Value, order};

/// Every function name a template may use.
pub const NAMES: &[&str] = &[
    // Go's text/template built-ins (`call` has nothing to call in this data).
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    // Sprig, hermetic: strings.
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "title",
    "untitle",
    "repeat",
    "substr",
    "trunc",
    "abbrev",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "plural",
    "nospace",
    "toString",
    "join",
    "splitList",
    "split",
    "sortAlpha",
    // Lists and dictionaries.
    "list",
    "first",
    "last",
    "rest",
    "initial",
    "append",
    "prepend",
    "uniq",
    "compact",
    "reverse",
    "has",
    "dict",
    "get",
    "hasKey",
    "keys",
    // Defaults, logic, encodings, numbers, regular expressions.
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toJson",
    "toPrettyJson",
    "b64enc",
    "b64dec",
    "sha256sum",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "regexMatch",
    "regexFind",
    "regexReplaceAll",
];

type Result<T> = std::result::Result<T, String>;

fn arity(args: &[Value], n: usize) -> Result<()> {
    if args.len() == n { Ok(()) } else { Err(format!("wrong number of args: want {n} got {}", args.len())) }
}

fn s(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_go_string(),
    }
}

fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Str(t) => t.trim().parse().map_err(|_| format!("{t:?} is not a number")),
        Value::Nil => Ok(0),
        other => Err(format!("{} is not a number", other.kind())),
    }
}

fn list(v: &Value) -> Result<Vec<Value>> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!("expected a list, got {}", other.kind())),
    }
}

/// Calls function `name` with evaluated `args` (the piped value last).
pub(super) fn call(name: &str, args: Vec<Value>) -> Result<Value> {
    let a = &args;
    let str1 = |f: &dyn Fn(&str) -> String| -> Result<Value> {
        arity(a, 1)?;
        Ok(Value::Str(f(&s(&a[0]))))
    };
    let str2 = |f: &dyn Fn(&str, &str) -> Value| -> Result<Value> {
        arity(a, 2)?;
        Ok(f(&s(&a[0]), &s(&a[1])))
    };
    match name {
        "not" => {
            arity(a, 1)?;
            Ok(Value::Bool(!a[0].truthy()))
        }
        "len" => {
            arity(a, 1)?;
            match &a[0] {
                Value::Str(t) => Ok(Value::Int(t.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                other => Err(format!("len of type {}", other.kind())),
            }
        }
        "index" => index(a),
        "slice" => slice(a),
        "print" => Ok(Value::Str(sprint(a))),
        "println" => Ok(Value::Str(a.iter().map(s_go).collect::<Vec<_>>().join(" ") + "\n")),
        "printf" => {
            let (format, rest) = a.split_first().ok_or("wrong number of args: want at least 1 got 0")?;
            Ok(Value::Str(sprintf(&s(format), rest)))
        }
        "eq" => {
            let (first, rest) = a.split_first().ok_or("missing argument for comparison")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            for other in rest {
                if compare(first, other)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(a, 2)?;
            let o = compare(&a[0], &a[1])?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "html" => Ok(Value::Str(html(&sprint(a)))),
        "js" => Ok(Value::Str(js(&sprint(a)))),
        "urlquery" => Ok(Value::Str(urlquery(&sprint(a)))),
        "trim" => str1(&|t| t.trim().to_owned()),
        "upper" => str1(&str::to_uppercase),
        "lower" => str1(&str::to_lowercase),
        "title" => str1(&|t| map_words(t, |w| first_char(w, char::to_uppercase))),
        "untitle" => str1(&|t| map_words(t, |w| first_char(w, char::to_lowercase))),
        "nospace" => str1(&|t| t.chars().filter(|c| !c.is_whitespace()).collect()),
        "toString" => str1(&str::to_owned),
        "b64enc" => str1(&|t| base64::engine::general_purpose::STANDARD.encode(t)),
        "b64dec" => {
            arity(a, 1)?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(s(&a[0])).map_err(|e| e.to_string())?;
            Ok(Value::Str(String::from_utf8_lossy(&bytes).into_owned()))
        }
        "sha256sum" => str1(&|t| crate::digest::sha256_hex(t.as_bytes())),
        "quote" => Ok(Value::Str(
            a.iter().filter(|v| **v != Value::Nil).map(|v| format!("{:?}", s(v))).collect::<Vec<_>>().join(" "),
        )),
        "squote" => Ok(Value::Str(
            a.iter().filter(|v| **v != Value::Nil).map(|v| format!("'{}'", s(v))).collect::<Vec<_>>().join(" "),
        )),
        "cat" => Ok(Value::Str(a.iter().filter(|v| **v != Value::Nil).map(s).collect::<Vec<_>>().join(" "))),
        "trimAll" => str2(&|cut, t| Value::str(t.trim_matches(|c| cut.contains(c)))),
        "trimPrefix" => str2(&|p, t| Value::str(t.strip_prefix(p).unwrap_or(t))),
        "trimSuffix" => str2(&|p, t| Value::str(t.strip_suffix(p).unwrap_or(t))),
        "contains" => str2(&|sub, t| Value::Bool(t.contains(sub))),
        "hasPrefix" => str2(&|p, t| Value::Bool(t.starts_with(p))),
        "hasSuffix" => str2(&|p, t| Value::Bool(t.ends_with(p))),
        "splitList" => str2(&|sep, t| Value::List(t.split(sep).map(Value::str).collect())),
        "split" => str2(&|sep, t| {
            Value::map(t.split(sep).enumerate().map(|(i, p)| (Value::Str(format!("_{i}")), Value::str(p))).collect())
        }),
        "repeat" => {
            arity(a, 2)?;
            Ok(Value::Str(s(&a[1]).repeat(usize::try_from(int(&a[0])?).unwrap_or(0).min(1 << 16))))
        }
        "indent" | "nindent" => {
            arity(a, 2)?;
            let pad = " ".repeat(usize::try_from(int(&a[0])?).unwrap_or(0).min(1024));
            let text = format!("{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}")));
            Ok(Value::Str(if name == "nindent" { format!("\n{text}") } else { text }))
        }
        "replace" => {
            arity(a, 3)?;
            Ok(Value::Str(s(&a[2]).replace(&s(&a[0]), &s(&a[1]))))
        }
        "trunc" => {
            arity(a, 2)?;
            let (n, t) = (int(&a[0])?, s(&a[1]));
            let chars: Vec<char> = t.chars().collect();
            let len = chars.len() as i64;
            Ok(Value::Str(match n {
                n if n >= 0 && len > n => chars[..n as usize].iter().collect(),
                n if n < 0 && len + n > 0 => chars[(len + n) as usize..].iter().collect(),
                n if n < 0 => String::new(),
                _ => t,
            }))
        }
        "abbrev" => {
            arity(a, 2)?;
            let (n, t) = (int(&a[0])?, s(&a[1]));
            let chars: Vec<char> = t.chars().collect();
            Ok(Value::Str(if n < 4 || chars.len() as i64 <= n {
                t
            } else {
                chars[..(n - 3) as usize].iter().collect::<String>() + "..."
            }))
        }
        "substr" => {
            arity(a, 3)?;
            let (start, end, t) = (int(&a[0])?, int(&a[1])?, s(&a[2]));
            let bytes = t.as_bytes();
            let start = start.clamp(0, bytes.len() as i64) as usize;
            let end = if end < 0 || end as usize > bytes.len() { bytes.len() } else { end as usize };
            Ok(Value::Str(String::from_utf8_lossy(bytes.get(start..end.max(start)).unwrap_or_default()).into_owned()))
        }
        "plural" => {
            arity(a, 3)?;
            Ok(if int(&a[2])? == 1 { Value::Str(s(&a[0])) } else { Value::Str(s(&a[1])) })
        }
        "join" => {
            arity(a, 2)?;
            let items = match &a[1] {
                Value::List(l) => l.iter().map(s).collect::<Vec<_>>(),
                other => vec![s(other)],
            };
            Ok(Value::Str(items.join(&s(&a[0]))))
        }
        "sortAlpha" => {
            arity(a, 1)?;
            let mut items: Vec<String> = list(&a[0])?.iter().map(s).collect();
            items.sort();
            Ok(Value::List(items.into_iter().map(Value::Str).collect()))
        }
        "list" => Ok(Value::List(args)),
        "first" | "last" | "rest" | "initial" | "uniq" | "compact" | "reverse" => {
            arity(a, 1)?;
            let mut l = list(&a[0])?;
            Ok(match name {
                "first" => l.first().cloned().unwrap_or(Value::Nil),
                "last" => l.last().cloned().unwrap_or(Value::Nil),
                "rest" => Value::List(l.get(1..).unwrap_or_default().to_vec()),
                "initial" => Value::List(l[..l.len().saturating_sub(1)].to_vec()),
                "uniq" => {
                    let mut out: Vec<Value> = Vec::new();
                    for v in l {
                        if !out.contains(&v) {
                            out.push(v);
                        }
                    }
                    Value::List(out)
                }
                "compact" => Value::List(l.into_iter().filter(Value::truthy).collect()),
                _ => {
                    l.reverse();
                    Value::List(l)
                }
            })
        }
        "append" | "prepend" => {
            arity(a, 2)?;
            let mut l = list(&a[0])?;
            if name == "append" {
                l.push(a[1].clone())
            } else {
                l.insert(0, a[1].clone())
            }
            Ok(Value::List(l))
        }
        "has" => {
            arity(a, 2)?;
            Ok(Value::Bool(list(&a[1])?.contains(&a[0])))
        }
        "dict" => {
            if a.len() % 2 == 1 {
                return Err("dict needs key/value pairs".into());
            }
            Ok(Value::map(a.chunks(2).map(|p| (Value::Str(s(&p[0])), p[1].clone())).collect()))
        }
        "get" | "hasKey" => {
            arity(a, 2)?;
            let Value::Map(entries) = &a[0] else { return Err(format!("{name} needs a dict, got {}", a[0].kind())) };
            let key = s(&a[1]);
            let found = entries.iter().find(|(k, _)| s(k) == key).map(|(_, v)| v.clone());
            Ok(if name == "get" { found.unwrap_or_else(|| Value::str("")) } else { Value::Bool(found.is_some()) })
        }
        "keys" => {
            let mut out = Vec::new();
            for d in a {
                let Value::Map(entries) = d else { return Err(format!("keys needs dicts, got {}", d.kind())) };
                out.extend(entries.iter().map(|(k, _)| Value::Str(s(k))));
            }
            Ok(Value::List(out))
        }
        "default" => match a.as_slice() {
            [d] => Ok(d.clone()),
            [d, given] => Ok(if given.truthy() { given.clone() } else { d.clone() }),
            _ => Err(format!("wrong number of args: want 1 or 2 got {}", a.len())),
        },
        "empty" => {
            arity(a, 1)?;
            Ok(Value::Bool(!a[0].truthy()))
        }
        "coalesce" => Ok(a.iter().find(|v| v.truthy()).cloned().unwrap_or(Value::Nil)),
        "ternary" => {
            arity(a, 3)?;
            Ok(if a[2].truthy() { a[0].clone() } else { a[1].clone() })
        }
        "toJson" | "toPrettyJson" => {
            arity(a, 1)?;
            let json = to_json(&a[0]);
            let text =
                if name == "toJson" { serde_json::to_string(&json) } else { serde_json::to_string_pretty(&json) };
            Ok(Value::Str(text.map_err(|e| e.to_string())?))
        }
        "add" | "mul" => {
            let mut acc = i64::from(name == "mul");
            for v in a {
                acc = if name == "add" { acc.wrapping_add(int(v)?) } else { acc.wrapping_mul(int(v)?) };
            }
            Ok(Value::Int(acc))
        }
        "add1" => {
            arity(a, 1)?;
            Ok(Value::Int(int(&a[0])?.wrapping_add(1)))
        }
        "sub" | "div" | "mod" => {
            arity(a, 2)?;
            let (x, y) = (int(&a[0])?, int(&a[1])?);
            match name {
                "sub" => Ok(Value::Int(x.wrapping_sub(y))),
                _ if y == 0 => Err("integer divide by zero".into()),
                "div" => Ok(Value::Int(x.wrapping_div(y))),
                _ => Ok(Value::Int(x.wrapping_rem(y))),
            }
        }
        "max" | "min" => {
            let mut values = a.iter().map(int);
            let mut acc = values.next().ok_or("wrong number of args: want at least 1 got 0")??;
            for v in values {
                let v = v?;
                acc = if name == "max" { acc.max(v) } else { acc.min(v) };
            }
            Ok(Value::Int(acc))
        }
        "regexMatch" | "regexFind" | "regexReplaceAll" => {
            let want = if name == "regexReplaceAll" { 3 } else { 2 };
            arity(a, want)?;
            let re = regex::Regex::new(&s(&a[0])).map_err(|e| e.to_string())?;
            let text = s(&a[1]);
            Ok(match name {
                "regexMatch" => Value::Bool(re.is_match(&text)),
                "regexFind" => Value::str(re.find(&text).map_or("", |m| m.as_str())),
                _ => Value::Str(re.replace_all(&text, s(&a[2]).as_str()).into_owned()),
            })
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

/// What `fmt.Sprint` would write for one operand.
fn s_go(v: &Value) -> String {
    v.to_go_string()
}

/// `fmt.Sprint`: operands are separated by a space when neither side is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&v.to_go_string());
    }
    out
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) => Ok((*x as f64).partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal)),
        (Value::Float(x), Value::Int(y)) => Ok(x.partial_cmp(&(*y as f64)).unwrap_or(std::cmp::Ordering::Equal)),
        (Value::Nil, Value::Nil) => Ok(std::cmp::Ordering::Equal),
        (Value::Int(_), Value::Int(_))
        | (Value::Float(_), Value::Float(_))
        | (Value::Str(_), Value::Str(_))
        | (Value::Bool(_), Value::Bool(_)) => Ok(order(a, b)),
        (Value::Struct(x), Value::Struct(y)) if x.type_name == y.type_name => {
            Ok(if x == y { std::cmp::Ordering::Equal } else { std::cmp::Ordering::Less })
        }
        _ => Err(format!("incompatible types for comparison: {} and {}", a.kind(), b.kind())),
    }
}

fn index(a: &[Value]) -> Result<Value> {
    let (first, keys) = a.split_first().ok_or("wrong number of args: want at least 1 got 0")?;
    let mut v = first.clone();
    for key in keys {
        v = match &v {
            Value::List(l) => {
                let i = int(key)?;
                l.get(usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?)
                    .cloned()
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map_or(Value::Nil, |(_, v)| v.clone()),
            Value::Nil => return Err("index of untyped nil".into()),
            other => return Err(format!("can't index item of type {}", other.kind())),
        };
    }
    Ok(v)
}

fn slice(a: &[Value]) -> Result<Value> {
    let (first, bounds) = a.split_first().ok_or("wrong number of args: want at least 1 got 0")?;
    let len = match first {
        Value::Str(t) => t.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.kind())),
    };
    let idx = |i: usize, default: usize| -> Result<usize> {
        match bounds.get(i) {
            Some(v) => usize::try_from(int(v)?).map_err(|_| "index out of range".to_owned()),
            None => Ok(default),
        }
    };
    let (lo, hi) = (idx(0, 0)?, idx(1, len)?);
    if lo > hi || hi > len || bounds.len() > 2 {
        return Err(format!("invalid slice indices: {lo} > {hi} or out of range {len}"));
    }
    Ok(match first {
        Value::Str(t) => Value::Str(String::from_utf8_lossy(&t.as_bytes()[lo..hi]).into_owned()),
        Value::List(l) => Value::List(l[lo..hi].to_vec()),
        _ => Value::Nil,
    })
}

fn map_words(t: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in t.chars() {
        if c.is_whitespace() {
            out.push_str(&f(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out + &f(&word)
}

fn first_char<I: Iterator<Item = char>>(w: &str, f: impl Fn(char) -> I) -> String {
    let mut chars = w.chars();
    chars.next().map(|c| f(c).chain(chars).collect()).unwrap_or_default()
}

fn html(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn urlquery(t: &str) -> String {
    let mut out = String::new();
    for b in t.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(t) => t.clone().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (s(k), to_json(v))).collect::<serde_json::Map<_, _>>().into(),
        Value::Struct(st) => {
            st.fields.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<serde_json::Map<_, _>>().into()
        }
    }
}
