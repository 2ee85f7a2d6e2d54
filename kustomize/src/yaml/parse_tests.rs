//! Tests of `parse.rs` (kept apart to keep that file readable).

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
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let err = parse_one(&text).unwrap_err();
    assert!(err.0.contains("excessive aliasing"), "{err}");
    // Modest reuse stays fine.
    let v = parse_one("a: &a {x: [1, 2, 3]}\nb: [*a, *a, *a]\n").unwrap();
    assert_eq!(v.get("b").and_then(|b| b.as_seq()).map(Vec::len), Some(3));
    // Few nodes, many bytes: 2,000 aliases of one 10 KB scalar would copy 20 MB.
    let big = "x".repeat(10_000);
    let mut text = format!("a: &a {big}\nb:\n");
    text.push_str(&"- *a\n".repeat(2_000));
    let err = parse_one(&text).unwrap_err();
    assert!(err.0.contains("MiB of text"), "{err}");
    // The same scalar copied a hundred times (1 MB) is fine.
    let text = format!("a: &a {big}\nb:\n{}", "- *a\n".repeat(100));
    assert!(parse_one(&text).is_ok());
}

#[test]
fn block_scalar_at_end_of_input_without_line_break() {
    let get = |text: &str| parse_one(text).unwrap().get("a").and_then(Value::as_str).map(str::to_string);
    assert_eq!(get("a: |\n  x\n  y").as_deref(), Some("x\ny"));
    assert_eq!(get("a: |\n  x\n  y\n").as_deref(), Some("x\ny\n"));
    assert_eq!(get("a: >\n  x\n  y").as_deref(), Some("x y"));
    assert_eq!(get("a: |\n  x\nb: 1").as_deref(), Some("x\n"));
}

#[test]
fn under_indented_quoted_scalars_parse_as_libyaml_reads_them() {
    let v = parse_one("a:\n  d: 'one\n  two'\n  e: \"x\n  y\"\n").unwrap();
    assert_eq!(v.get("a").and_then(|a| a.get("d")).and_then(Value::as_str), Some("one two"));
    assert_eq!(v.get("a").and_then(|a| a.get("e")).and_then(Value::as_str), Some("x y"));
}

#[test]
fn deep_nesting_is_refused() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_one(&ok).is_ok());
    for deep in [
        format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1)),
        format!("{}{}", "{a: ".repeat(100_000), "}".repeat(100_000)),
        "- ".repeat(MAX_DEPTH + 1),
    ] {
        let err = parse_one(&deep).unwrap_err();
        assert!(err.0.contains("nested more than"), "{err}");
    }
    // Through aliases: a deep anchor used deep again.
    let half = MAX_DEPTH / 2 + 1;
    let text =
        format!("a: &a {}{}\nb: {}*a{}\n", "[".repeat(half), "]".repeat(half), "[".repeat(half), "]".repeat(half));
    assert!(parse_one(&text).unwrap_err().0.contains("nested more than"));
}

#[test]
fn duplicate_keys_are_errors() {
    assert!(parse_one("a: 1\na: 2\n").is_err());
    // Small mappings (collected, then moved into a map) and large ones (built directly)
    // treat duplicates alike: yaml.v3 refuses them, yaml.v2 keeps the first position and
    // the last value.
    for n in [3, SMALL_MAP - 1, SMALL_MAP, SMALL_MAP + 1, 3 * SMALL_MAP] {
        let mut text: String = (0..n).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k1: last\nz: 0\n");
        let err = parse_one(&text).unwrap_err();
        assert_eq!(err.0, "mapping key \"k1\" already defined", "{n} keys");
        let v = parse_one_yaml11(&text).unwrap();
        let m = v.as_map().unwrap();
        assert_eq!(m.len(), n + 1, "{n} keys");
        assert_eq!(m.get_index(1), Some((&"k1".to_string(), &Value::from("last"))), "{n} keys");
        assert_eq!(m.get_index(n).map(|(k, _)| k.as_str()), Some("z"), "{n} keys");
        // Nested mappings share the collection stack: order and contents stay apart.
        let nested = format!(
            "a:\n  x: 1\n  w:\n{}  z: 2\nb: 3\n",
            text.lines().map(|l| format!("    {l}\n")).collect::<String>()
        );
        let v = parse_one_yaml11(&nested).unwrap();
        let keys: Vec<&str> = v.get("a").unwrap().as_map().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["x", "w", "z"]);
        assert_eq!(v.get("a").and_then(|a| a.get("w")).and_then(Value::as_map).map(|m| m.len()), Some(n + 1));
        assert_eq!(v.get("b"), Some(&Value::Int(3)));
    }
}
