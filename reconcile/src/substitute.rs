//! `postBuild` variable substitution as Flux's kustomize-controller does it, on the build output,
//! one object at a time (pure; the variables are loaded by the reconciler).
//!
//! The grammar is the subset of `fluxcd/pkg/envsubst` (a fork of drone/envsubst) that Flux
//! documents for manifests:
//!
//! | expression | value |
//! |---|---|
//! | `${var}` | the variable; unset: empty, or an error when strict |
//! | `${var:=default}`, `${var:-default}` | the default when the variable is unset or empty |
//! | `${var=default}`, `${var-default}` | the default when the variable is unset |
//! | `$${var}` | the text `${var}` (escaped) |
//! | `$var` | left alone (Flux substitutes braced variables only) |
//!
//! Other bash operators (`${var:1}`, `${var/a/b}`, `${#var}`...) are refused with an error naming
//! the expression rather than approximated. As in Flux, nothing is substituted when no variable
//! is defined at all, and an object labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` is left as built. Variable names must match
//! `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.

use std::collections::BTreeMap;

use serde_json::Value;

/// The label or annotation that turns substitution off for one object, and its value.
pub const OPT_OUT: (&str, &str) = ("kustomize.toolkit.fluxcd.io/substitute", "disabled");

/// Whether `name` is a valid variable name (Flux's `^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Substitutes the variables in every document of a build's output (`---`-separated YAML), except
/// in objects that opt out. Errors name the object (`Kind name`) and the expression or variable.
pub fn substitute_stream(stream: &str, vars: &BTreeMap<String, String>, strict: bool) -> Result<String, String> {
    if vars.is_empty() {
        return Ok(stream.to_owned());
    }
    if let Some(bad) = vars.keys().find(|k| !valid_name(k)) {
        return Err(format!("variable name {bad:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"));
    }
    let mut out = String::with_capacity(stream.len());
    for doc in split_documents(stream) {
        if !out.is_empty() {
            out.push_str("---\n");
        }
        let object: Value = serde_saphyr::from_str(doc).unwrap_or(Value::Null);
        let opted_out = ["labels", "annotations"].iter().any(|field| {
            object.pointer(&format!("/metadata/{field}")).and_then(|m| m.get(OPT_OUT.0)).and_then(Value::as_str)
                == Some(OPT_OUT.1)
        });
        if opted_out {
            out.push_str(doc);
            continue;
        }
        let substituted = substitute(doc, vars, strict).map_err(|e| {
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or("object");
            let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
            format!("{kind} {name}: {e}")
        })?;
        out.push_str(&substituted);
    }
    Ok(out)
}

/// The documents of a YAML stream, each with its trailing newline.
fn split_documents(stream: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in stream.split_inclusive('\n') {
        if line.trim_end() == "---" {
            if offset > start {
                docs.push(&stream[start..offset]);
            }
            start = offset + line.len();
        }
        offset += line.len();
    }
    if stream.len() > start && !stream[start..].trim().is_empty() {
        docs.push(&stream[start..]);
    }
    docs
}

/// Substitutes the variables in one text. Unset variables without a default become empty, or
/// are an error when `strict` (Flux's `StrictPostBuildSubstitutions`).
pub fn substitute(text: &str, vars: &BTreeMap<String, String>, strict: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        if !tail.starts_with("${") {
            out.push('$');
            rest = &tail[1..];
            continue;
        }
        let Some(end) = tail.find('}') else {
            let shown: String = tail.chars().take(40).collect();
            return Err(format!("unterminated expression {shown:?}: missing '}}'"));
        };
        out.push_str(&expand(&tail[2..end], vars, strict)?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `${...}` body.
fn expand(body: &str, vars: &BTreeMap<String, String>, strict: bool) -> Result<String, String> {
    let name_len = body.bytes().take_while(|b| *b == b'_' || b.is_ascii_alphanumeric()).count();
    let (name, op) = body.split_at(name_len);
    if !valid_name(name) {
        return Err(format!("${{{body}}}: {name:?} is not a variable name"));
    }
    let value = vars.get(name);
    let (default, when_empty) = if op.is_empty() {
        (None, false)
    } else if let Some(d) = op.strip_prefix(":=").or_else(|| op.strip_prefix(":-")) {
        (Some(d), true)
    } else if let Some(d) = op.strip_prefix('=').or_else(|| op.strip_prefix('-')) {
        (Some(d), false)
    } else {
        return Err(format!(
            "${{{body}}}: unsupported expression (shipline substitutes ${{var}}, ${{var:=default}}, ${{var:-default}}, ${{var=default}}, ${{var-default}})"
        ));
    };
    match (value, default) {
        (Some(v), Some(d)) if when_empty && v.is_empty() => Ok(d.to_owned()),
        (Some(v), _) => Ok(v.clone()),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) if strict => Err(format!("variable {name} is referenced but not defined (strict substitution)")),
        (None, None) => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn grammar_table() {
        let v = vars(&[("env", "prod"), ("empty", ""), ("region", "eu-west-1")]);
        let cases: &[(&str, bool, Result<&str, &str>)] = &[
            ("a: ${env}", false, Ok("a: prod")),
            ("a: ${missing}", false, Ok("a: ")),
            ("a: ${missing}", true, Err("variable missing is referenced but not defined")),
            ("a: ${missing:=dev}", true, Ok("a: dev")),
            ("a: ${missing:-dev}", true, Ok("a: dev")),
            ("a: ${empty:=dev}", false, Ok("a: dev")),
            ("a: ${empty:-dev}", false, Ok("a: dev")),
            ("a: ${empty=dev}", false, Ok("a: ")),
            ("a: ${missing-dev}", true, Ok("a: dev")),
            ("a: ${env:=dev}", false, Ok("a: prod")),
            ("a: $${env}", true, Ok("a: ${env}")),
            ("a: $env and $$ and $", true, Ok("a: $env and $$ and $")),
            ("${env}-${region}", false, Ok("prod-eu-west-1")),
            ("a: ${env:1}", false, Err("unsupported expression")),
            ("a: ${env/p/q}", false, Err("unsupported expression")),
            ("a: ${#env}", false, Err("is not a variable name")),
            ("a: ${env", false, Err("unterminated")),
            ("a: ${missing:=}", true, Ok("a: ")),
        ];
        for (text, strict, want) in cases {
            let got = substitute(text, &v, *strict);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{text}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{text}: {g}"),
                _ => panic!("{text}: {got:?}"),
            }
        }
    }

    #[test]
    fn stream_skips_opted_out_objects_and_names_the_failing_one() {
        let stream = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: ${env}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  k: ${env}\n";
        let out = substitute_stream(stream, &vars(&[("env", "prod")]), true).unwrap();
        assert!(out.contains("k: prod\n---\n"), "{out}");
        assert!(out.ends_with("k: ${env}\n"), "{out}");
        let labelled = stream.replace("  annotations:\n", "  labels:\n");
        assert!(substitute_stream(&labelled, &vars(&[("env", "prod")]), true).unwrap().ends_with("k: ${env}\n"));
        let err = substitute_stream(stream, &vars(&[("other", "x")]), true).unwrap_err();
        assert!(err.starts_with("ConfigMap a: variable env"), "{err}");
        // No variables at all: nothing is substituted, not even defaults (as in Flux).
        assert_eq!(substitute_stream(stream, &BTreeMap::new(), true).unwrap(), stream);
        let err = substitute_stream(stream, &vars(&[("bad-name", "x")]), false).unwrap_err();
        assert!(err.contains("\"bad-name\" is invalid"), "{err}");
    }

    #[test]
    fn names() {
        for (name, ok) in [("a", true), ("_a1", true), ("A_B", true), ("1a", false), ("a-b", false), ("", false)] {
            assert_eq!(valid_name(name), ok, "{name}");
        }
    }
}
