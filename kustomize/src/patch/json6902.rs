//! JSON patch (RFC 6902) over the value tree.

use crate::yaml::{Map, Value};

/// Decodes an RFC 6902 operation list from YAML or JSON text.
pub fn parse_ops(text: &str) -> Result<Vec<Map>, String> {
    let v = crate::yaml::parse_one(text).map_err(|e| format!("invalid JSON patch: {e}"))?;
    match v {
        Value::Seq(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Map(m) => Ok(m),
                other => Err(format!("JSON patch operation is a {}, not an object", other.type_name())),
            })
            .collect(),
        Value::Null | Value::Blank => Ok(Vec::new()),
        other => Err(format!("JSON patch must be a list of operations, found a {}", other.type_name())),
    }
}

/// Splits a JSON pointer into unescaped tokens.
fn pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path.strip_prefix('/').ok_or_else(|| format!("JSON pointer {path:?} must start with '/'"))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn get_mut<'a>(root: &'a mut Value, tokens: &[String], path: &str) -> Result<&'a mut Value, String> {
    let mut cur = root;
    for t in tokens {
        cur = match cur {
            Value::Map(m) => m.get_mut(t).ok_or_else(|| format!("path {path:?}: key {t:?} not found"))?,
            Value::Seq(s) => {
                let i: usize = t.parse().map_err(|_| format!("path {path:?}: {t:?} is not a list index"))?;
                let len = s.len();
                s.get_mut(i).ok_or_else(|| format!("path {path:?}: index {i} out of range (length {len})"))?
            }
            _ => return Err(format!("path {path:?}: {t:?} is inside a scalar")),
        };
    }
    Ok(cur)
}

fn remove(root: &mut Value, path: &str) -> Result<Value, String> {
    let tokens = pointer(path)?;
    let (last, parent) = tokens.split_last().ok_or("cannot remove the whole document")?;
    match get_mut(root, parent, path)? {
        Value::Map(m) => m.shift_remove(last).ok_or_else(|| format!("path {path:?}: key {last:?} not found")),
        Value::Seq(s) => {
            let i: usize = last.parse().map_err(|_| format!("path {path:?}: {last:?} is not a list index"))?;
            if i >= s.len() {
                return Err(format!("path {path:?}: index {i} out of range"));
            }
            Ok(s.remove(i))
        }
        _ => Err(format!("path {path:?}: parent is a scalar")),
    }
}

fn add(root: &mut Value, path: &str, value: Value, replace: bool) -> Result<(), String> {
    let tokens = pointer(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        *root = value;
        return Ok(());
    };
    match get_mut(root, parent, path)? {
        Value::Map(m) => {
            // evanphx/json-patch v4 (kustomize's) lets `replace` create a missing key.
            m.insert(last.clone(), value);
        }
        Value::Seq(s) => {
            if last == "-" && !replace {
                s.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| format!("path {path:?}: {last:?} is not a list index"))?;
                if replace {
                    let len = s.len();
                    *s.get_mut(i).ok_or_else(|| format!("path {path:?}: index {i} out of range (length {len})"))? =
                        value;
                } else if i > s.len() {
                    return Err(format!("path {path:?}: index {i} out of range"));
                } else {
                    s.insert(i, value);
                }
            }
        }
        _ => return Err(format!("path {path:?}: parent is a scalar")),
    }
    Ok(())
}

/// Applies the operations in order.
pub fn apply(doc: &mut Value, ops: &[Map]) -> Result<(), String> {
    for (n, op) in ops.iter().enumerate() {
        let field = |k: &str| op.get(k).and_then(Value::as_str).ok_or_else(|| format!("operation {n}: missing `{k}`"));
        let value = || op.get("value").cloned().ok_or_else(|| format!("operation {n}: missing `value`"));
        let path = field("path")?;
        let res = match field("op")? {
            "add" => add(doc, path, value()?, false),
            "replace" => add(doc, path, value()?, true),
            "remove" => remove(doc, path).map(|_| ()),
            "move" => {
                let v = remove(doc, field("from")?)?;
                add(doc, path, v, false)
            }
            "copy" => {
                let from = field("from")?;
                let v = get_mut(doc, &pointer(from)?, from)?.clone();
                add(doc, path, v, false)
            }
            "test" => {
                let want = value()?;
                let got = get_mut(doc, &pointer(path)?, path)?;
                if *got == want { Ok(()) } else { Err(format!("test failed at {path:?}")) }
            }
            other => Err(format!("unknown operation {other:?}")),
        };
        res.map_err(|e| format!("operation {n} ({}): {e}", field("op").unwrap_or("?")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_one;

    #[test]
    fn rfc6902_operations() {
        let mut doc = parse_one("a: {b: [1, 2]}\nc: x\n").unwrap();
        let ops = parse_ops(
            "- {op: add, path: /a/b/-, value: 3}\n- {op: add, path: /a/b/0, value: 0}\n- {op: replace, path: /c, value: y}\n- {op: copy, from: /c, path: /d}\n- {op: move, from: /d, path: /e~1f}\n- {op: remove, path: /a/b/1}\n- {op: test, path: /c, value: y}\n",
        )
        .unwrap();
        apply(&mut doc, &ops).unwrap();
        assert_eq!(doc, parse_one("a: {b: [0, 2, 3]}\nc: y\ne/f: y\n").unwrap());
    }

    #[test]
    fn replace_creates_missing_keys_but_not_indexes() {
        let mut doc = parse_one("a: [1]\n").unwrap();
        apply(&mut doc, &parse_ops("- {op: replace, path: /b, value: 1}\n").unwrap()).unwrap();
        assert_eq!(doc["b"], Value::Int(1));
        assert!(apply(&mut doc, &parse_ops("- {op: replace, path: /a/3, value: 1}\n").unwrap()).is_err());
        assert!(apply(&mut doc, &parse_ops("- {op: remove, path: /zz}\n").unwrap()).is_err());
    }
}
