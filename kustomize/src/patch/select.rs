//! Patch targets: group/version/kind, anchored name and namespace regexes, label and
//! annotation selectors.

use crate::fields::Selector;
use crate::pattern::Matcher;
use crate::resource::Resource;
use crate::yaml::{Map, Value};

/// A compiled selector.
pub struct Compiled {
    group: Option<Matcher>,
    version: Option<Matcher>,
    kind: Option<Matcher>,
    name: Option<Matcher>,
    namespace: Option<Matcher>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

#[derive(Debug, PartialEq)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn anchored(re: &Option<String>) -> Result<Option<Matcher>, String> {
    re.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| Matcher::anchored(s).map_err(|e| format!("invalid regex {s:?}: {e}")))
        .transpose()
}

/// Splits `s` at each `sep` that is not inside a `brackets` pair (`a,b in (c,d)` -> `a`,
/// `b in (c,d)`). Shared by label selectors and replacement field paths.
pub(crate) fn split_outside(s: &str, brackets: (char, char), sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in s.chars() {
        if c == brackets.0 {
            depth += 1;
        } else if c == brackets.1 {
            depth -= 1;
        } else if c == sep && depth == 0 {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
}

/// Parses a Kubernetes label selector (`a=b,c!=d,e in (f,g),!h`).
fn parse_requirements(s: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    let parts = split_outside(s, ('(', ')'), ',');
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("invalid selector {p:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some((k, v)) = p.split_once("!=") {
            Requirement::NotEq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==") {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once('=') {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(rest)?)
        } else if let Some((k, rest)) = p.split_once(" in ") {
            Requirement::In(k.trim().into(), set(rest)?)
        } else if let Some(k) = p.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else if p.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            Requirement::Exists(p.into())
        } else {
            return Err(format!("invalid selector {p:?}"));
        };
        out.push(req);
    }
    Ok(out)
}

fn matches(reqs: &[Requirement], m: Option<&Map>) -> bool {
    let get = |k: &str| m.and_then(|m| m.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
        Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
    })
}

impl Compiled {
    /// Compiles a selector.
    pub fn new(sel: &Selector) -> Result<Compiled, String> {
        // kustomize's SelectorRegex: group, version and kind are anchored regexes too
        // (`kind: (Role|RoleBinding)` selects both).
        Ok(Compiled {
            group: anchored(&sel.group)?,
            version: anchored(&sel.version)?,
            kind: anchored(&sel.kind)?,
            name: anchored(&sel.name)?,
            namespace: anchored(&sel.namespace)?,
            labels: parse_requirements(sel.label_selector.as_deref().unwrap_or(""))?,
            annotations: parse_requirements(sel.annotation_selector.as_deref().unwrap_or(""))?,
        })
    }

    /// Whether the resource is selected (original or current name and namespace both count).
    pub fn selects(&self, r: &Resource) -> bool {
        let cur = r.cur_id();
        if let Some(ns) = &self.namespace
            && !ns.is_match(r.orig.effective_namespace())
            && !ns.is_match(cur.effective_namespace())
        {
            return false;
        }
        if let Some(n) = &self.name
            && !n.is_match(&r.orig.name)
            && !n.is_match(&cur.name)
        {
            return false;
        }
        let field = |re: &Option<Matcher>, v: &str| re.as_ref().is_none_or(|re| re.is_match(v));
        field(&self.group, &cur.gvk.group)
            && field(&self.version, &cur.gvk.version)
            && field(&self.kind, &cur.gvk.kind)
            && matches(&self.labels, r.meta_map("labels"))
            && matches(&self.annotations, r.meta_map("annotations"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_syntax() {
        let reqs = parse_requirements("app=web, tier in (a, b),!legacy,env!=dev").unwrap();
        assert_eq!(reqs.len(), 4);
        let labels: Map = [("app", "web"), ("tier", "b"), ("env", "prod")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect();
        assert!(matches(&reqs, Some(&labels)));
        let mut other = labels.clone();
        other.insert("legacy".into(), Value::from("x"));
        assert!(!matches(&reqs, Some(&other)));
    }
}
