//! The value tree every resource lives in: JSON's data model with YAML's insertion order.

use indexmap::IndexMap;

/// An ordered mapping from string keys to values.
pub type Map = IndexMap<String, Value>;

/// A YAML/JSON value as kustomize sees it after `yaml.v3` decoding.
///
/// Kustomize prints every resource by marshalling it to JSON and back to YAML, so only
/// JSON's types survive; the scalar style of the input is already resolved here.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` or `~`.
    Null,
    /// An empty plain scalar (`key:` with no value): null too, but kustomize's strategic merge
    /// drops such fields where it walks, so the distinction is kept.
    Blank,
    /// A boolean.
    Bool(bool),
    /// An integer (covers Go's `int64` and `uint64`).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping, in input order (output order is decided by the emitter).
    Map(Map),
}

impl Value {
    /// Whether this is a null (`null`, `~` or blank).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::Blank)
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is a mapping.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The mutable mapping, if this is a mapping.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence, if this is a sequence.
    pub fn as_seq(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The mutable sequence, if this is a sequence.
    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| map_get(m, key))
    }

    /// Looks up a key of a mapping, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let m = self.as_map_mut()?;
        let i = map_index(m, key)?;
        m.get_index_mut(i).map(|(_, v)| v)
    }

    /// Follows a path of mapping keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    /// The scalar as text the way kustomize compares field values (`yaml.v3` node value).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some("null".into()),
            Value::Blank => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// A short name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null | Value::Blank => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

/// Mappings with at most this many entries are searched by comparing keys: hashing a key
/// (SipHash) costs more than a few short comparisons, and most Kubernetes mappings are this
/// small (looking up `metadata`, `name` and `kind` was 6% of a large build).
const SCAN_MAX: usize = 8;

/// `m.get(key)`, by a scan for small mappings (same result: keys are unique).
pub fn map_get<'a>(m: &'a Map, key: &str) -> Option<&'a Value> {
    if m.len() <= SCAN_MAX { m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v) } else { m.get(key) }
}

/// `m.get_index_of(key)`, by a scan for small mappings.
fn map_index(m: &Map, key: &str) -> Option<usize> {
    if m.len() <= SCAN_MAX { m.keys().position(|k| k.as_str() == key) } else { m.get_index_of(key) }
}

static NULL: Value = Value::Null;

impl std::ops::Index<&str> for Value {
    type Output = Value;

    /// The value of a mapping key, or `Null` when absent or not a mapping.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;

    /// The element of a sequence, or `Null` when absent or not a sequence.
    fn index(&self, i: usize) -> &Value {
        self.as_seq().and_then(|s| s.get(i)).unwrap_or(&NULL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree_with_the_hash_index_on_both_sides_of_the_scan_limit() {
        for n in 0..=2 * SCAN_MAX + 1 {
            let m: Map = (0..n).map(|i| (format!("k{i}"), Value::Int(i as i128))).collect();
            let mut v = Value::Map(m.clone());
            for key in (0..=n + 1).map(|i| format!("k{i}")).chain(["".into(), "k".into()]) {
                assert_eq!(v.get(&key), m.get(&key), "{n} entries, {key:?}");
                assert_eq!(map_get(&m, &key), m.get(&key), "{n} entries, {key:?}");
                assert_eq!(map_index(&m, &key), m.get_index_of(&key), "{n} entries, {key:?}");
                if let Some(x) = v.get_mut(&key) {
                    *x = Value::from("changed");
                }
                assert_eq!(v.get(&key).is_some_and(|x| x.as_str() == Some("changed")), m.contains_key(&key));
            }
        }
        assert_eq!(Value::Int(1).get("k0"), None);
    }
}
