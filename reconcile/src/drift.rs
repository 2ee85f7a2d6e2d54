//! Drift detection without writes: is everything git sets still set, with the same value, in the
//! live object?
//!
//! The live object holds more than git (defaults, status, other managers' fields), so the test is
//! containment, not equality. Where the API server normalises a value (quantities such as
//! `0.5` -> `500m`, `stringData` -> base64 `data`), containment is checked on the normalised
//! form. What containment cannot decide (e.g. another manager added an element to a list git
//! sets) counts as "maybe drifted", and the caller confirms with a server-side dry-run apply,
//! which writes nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

/// Whether every field of `desired` (an applied manifest) is present in `live` with an equal
/// value. `status` and server-managed metadata are ignored.
pub fn contains(desired: &Value, live: &Value) -> bool {
    let (Value::Object(d), Value::Object(l)) = (desired, live) else { return false };
    d.iter().filter(|(k, _)| k.as_str() != "status").all(|(k, dv)| match k.as_str() {
        "stringData" => string_data_matches(dv, l.get("data")),
        _ => field_contains(dv, l.get(k)),
    })
}

fn field_contains(desired: &Value, live: Option<&Value>) -> bool {
    match (desired, live) {
        // `null` in git asks for the field to be unset; the server may default it.
        (Value::Null, _) => true,
        (desired, Some(live)) => value_contains(desired, live),
        // The server drops empty maps and lists on some fields.
        (desired, None) => is_empty(desired),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn value_contains(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| field_contains(dv, l.get(k))),
        (Value::Array(d), Value::Array(l)) => d.len() == l.len() && d.iter().zip(l).all(|(a, b)| value_contains(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => a == b || quantities_equal(a, b),
        (Value::Number(a), Value::String(b)) => quantities_equal(&a.to_string(), b),
        (a, b) => a == b,
    }
}

fn string_data_matches(desired: &Value, live_data: Option<&Value>) -> bool {
    let Value::Object(d) = desired else { return false };
    let empty = Map::new();
    let l = live_data.and_then(Value::as_object).unwrap_or(&empty);
    d.iter().all(|(k, v)| {
        let Some(text) = v.as_str() else { return false };
        l.get(k).and_then(Value::as_str).is_some_and(|b64| b64 == BASE64.encode(text))
    })
}

/// Whether two strings are the same Kubernetes quantity (`0.5` and `500m`, `1Gi` and
/// `1073741824`). Strings that are not quantities are never equal here.
pub fn quantities_equal(a: &str, b: &str) -> bool {
    match (quantity(a), quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()) * 4.0,
        _ => false,
    }
}

fn quantity(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || !number.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * scale)
}

/// The parts of an object that say what it is, for comparing a dry-run result with the live
/// object: drops `metadata.managedFields`, `resourceVersion`, `generation` and timestamps, which
/// change on every write without changing the object.
pub fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"] {
            meta.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn containment_table() {
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "d", "labels": {"a": "1"}, "resourceVersion": "9"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1",
                "imagePullPolicy": "IfNotPresent", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}},
            "status": {"replicas": 0}
        });
        type Case<'a> = (&'a str, Value, bool);
        let cases: Vec<Case> = vec![
            ("same fields", json!({"metadata": {"name": "web", "labels": {"a": "1"}}, "spec": {"replicas": 2}}), true),
            (
                "defaults in live are fine",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}),
                true,
            ),
            ("changed scalar", json!({"spec": {"replicas": 3}}), false),
            ("missing label", json!({"metadata": {"labels": {"b": "2"}}}), false),
            (
                "quantity normalised",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": 0.5, "memory": "1073741824"}}}]}}}}),
                true,
            ),
            (
                "extra list element in git",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "d"}]}}}}),
                false,
            ),
            ("status ignored", json!({"status": {"replicas": 5}}), true),
            ("empty map absent in live", json!({"spec": {"strategy": {}}}), true),
            ("null means unset", json!({"spec": {"paused": null}}), true),
            ("1 equals 1.0", json!({"spec": {"replicas": 2.0}}), true),
        ];
        for (name, desired, want) in cases {
            assert_eq!(contains(&desired, &live), want, "{name}");
        }
    }

    #[test]
    fn secret_string_data_compares_with_data() {
        let live = json!({"data": {"user": "YWRtaW4=", "pw": "aHVudGVyMg=="}});
        assert!(contains(&json!({"stringData": {"user": "admin", "pw": "hunter2"}}), &live));
        assert!(!contains(&json!({"stringData": {"user": "root"}}), &live));
    }

    #[test]
    fn quantity_table() {
        let cases = [
            ("500m", "0.5", true),
            ("1Gi", "1073741824", true),
            ("1k", "1000", true),
            ("1e3", "1k", true),
            ("100m", "0.2", false),
            ("abc", "abc", false),
            ("1Ki", "1k", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(quantities_equal(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn comparable_drops_write_noise() {
        let v = json!({"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [], "generation": 2}, "status": {}, "spec": {"x": 1}});
        assert_eq!(comparable(&v), json!({"metadata": {"name": "a"}, "spec": {"x": 1}}));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            (0i64..1000).prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// An object contains itself, and stays contained when the server adds fields.
        #[test]
        fn contains_itself_and_supersets(spec in json_value(), extra in json_value()) {
            let desired = json!({"metadata": {"name": "x"}, "spec": spec});
            prop_assert!(contains(&desired, &desired));
            let mut live = desired.clone();
            live["metadata"]["uid"] = Value::from("u");
            live["serverAdded"] = extra;
            prop_assert!(contains(&desired, &live));
        }

        /// Changing any scalar leaf git sets is seen as drift.
        #[test]
        fn changed_leaf_is_drift(value in 0i64..1000) {
            let desired = json!({"spec": {"a": {"b": [value, "x"]}}});
            let live = json!({"spec": {"a": {"b": [value + 1, "x"]}}});
            prop_assert!(!contains(&desired, &live));
        }
    }
}
