//! Tests of `fast.rs`: wherever the fast source does not decline, its events are granit-parser's
//! (over the shared corpus, the crate's fixtures, generated block YAML and hostile inputs).

use std::path::{Path, PathBuf};

use granit_parser::Event;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::*;
use crate::yaml::parse::{parse_documents, test_events};

/// Events of `text` with the empty-span flag (kept for scalars only: the only events whose
/// flag the builder reads), from the fast source (`None` when it declines) or the full parser.
fn events(text: &str, fast: bool) -> Option<Result<Vec<(Event<'_>, bool)>, String>> {
    let out = test_events(text, fast).ok()?;
    Some(out.map(|evs| {
        evs.into_iter()
            .map(|(ev, empty)| {
                let empty = empty && matches!(ev, Event::Scalar(..));
                (ev, empty)
            })
            .collect()
    }))
}

/// Compares the fast source with the full parser on `text`: `true` when the fast source read it.
fn check(text: &str) -> Result<bool, String> {
    let Some(fast) = events(text, true) else { return Ok(false) };
    let fast = fast.map_err(|e| format!("fast source failed without declining: {e}"))?;
    let full = match events(text, false) {
        Some(Ok(full)) => full,
        other => return Err(format!("the fast source read a text the full parser refuses: {other:?}")),
    };
    if fast != full {
        let at = fast.iter().zip(&full).position(|(a, b)| a != b).unwrap_or(fast.len().min(full.len()));
        return Err(format!(
            "events differ at {at}: fast {:?} vs full {:?}",
            fast.get(at.saturating_sub(2)..(at + 2).min(fast.len())),
            full.get(at.saturating_sub(2)..(at + 2).min(full.len()))
        ));
    }
    Ok(true)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            yaml_files(&path, out);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The shared corpus, found as `tests/corpus_shared.rs` finds it.
fn corpus_dir() -> PathBuf {
    match std::env::var_os("SHIPLINE_KUSTOMIZE_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/kustomize-corpus"),
    }
}

#[test]
fn corpus_and_fixtures_give_the_same_events() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = corpus_dir();
    assert!(corpus.join("krusty").is_dir(), "the shared corpus is required at {}", corpus.display());
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    yaml_files(&manifest.join("tests"), &mut files);
    // More trees to compare on (the bench trees, say), separated by `:`.
    let extra: Vec<PathBuf> =
        std::env::var_os("SHIPLINE_FAST_DIRS").map(|d| std::env::split_paths(&d).collect()).unwrap_or_default();
    for dir in &extra {
        yaml_files(dir, &mut files);
    }
    let (mut fast, mut declined, mut not_utf8) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            not_utf8 += 1;
            continue;
        };
        match check(&text) {
            Ok(true) => fast += 1,
            Ok(false) => {
                declined += 1;
                if std::env::var_os("SHIPLINE_FAST_DECLINES").is_some() {
                    // Where: the line the fast source was reading (offset 0 for characters).
                    let at = test_events(&text, true).err().unwrap_or(0);
                    let line = text.get(at..).and_then(|t| t.lines().next()).unwrap_or("");
                    println!("declined at {at}: {line:?} {}", path.display());
                }
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    println!(
        "fast source vs granit-parser: {} files, {fast} fast, {declined} declined, {not_utf8} not UTF-8",
        files.len()
    );
    assert!(failures.is_empty(), "{} files differ:\n{}", failures.len(), failures.join("\n"));
    assert!(files.len() > 1000, "only {} YAML files found", files.len());
    // The point of the fast source: it must read most real files.
    assert!(fast * 10 > files.len() * 8, "the fast source read only {fast} of {} files", files.len());
}

#[test]
fn typical_manifests_are_read_fast() {
    for text in [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x # trailing\n  labels: {}\ndata:\n  a: \"1\"\n  b: 'it''s'\n",
        "# c\n---\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args:\n          - -v\n          - --x=y\n        env: []\n---\na: 1\n",
        "data:\n  f: |\n    line 1\n\n      indented\n    #not a comment\n  g: |-\n    x\n  h: |+\n    y\n\n\nz: 1\n",
        "a:\n  b:\nc: ~\n- x\n",
    ] {
        let expected = !text.ends_with("- x\n");
        assert_eq!(check(text), Ok(expected), "{text:?}");
    }
}

#[test]
fn block_and_multi_line_scalars() {
    let lit = |text: &str| match events(text, true) {
        Some(Ok(evs)) => evs.into_iter().find_map(|(ev, _)| match ev {
            Event::Scalar(t, ScalarStyle::Literal, ..) => Some(t.into_owned()),
            _ => None,
        }),
        _ => None,
    };
    assert_eq!(lit("a: |\n  x\n\n  y\n\n").as_deref(), Some("x\n\ny\n"));
    assert_eq!(lit("a: |-\n  x\n\n").as_deref(), Some("x"));
    assert_eq!(lit("a: |+\n  x\n\n").as_deref(), Some("x\n\n"));
    assert_eq!(lit("- |\n   x\n    y\n").as_deref(), Some("x\n y\n"));
    let plain = |text: &str| match events(text, true) {
        Some(Ok(evs)) => evs.into_iter().find_map(|(ev, _)| match ev {
            Event::Scalar(t, ScalarStyle::Plain, ..) if t != "a" => Some(t.into_owned()),
            _ => None,
        }),
        _ => None,
    };
    assert_eq!(plain("a: x\n  y  \n\n\n   z\n").as_deref(), Some("x y\n\nz"));
    assert_eq!(plain("- x\n  y\n\n- b\n").as_deref(), Some("x y"));
    // At the end of an input without a final line break, leading blank lines, indicators.
    for text in ["a: |\n  x", "a: |\n\n  x\n", "a: |2\n  x\n", "a: >\n  x\n", "a: |\nb: 1\n", "|\n x\n"] {
        assert!(events(text, true).is_none(), "{text:?} must be declined");
        assert_eq!(check(text), Ok(false));
    }
}

#[test]
fn outside_the_subset_is_declined() {
    #[rustfmt::skip]
    let texts = [
        "a: 1\r\n", "\u{feff}a: 1\n", "a:\tb\n", "a: b # x\n  c\n", "a: &x 1\n", "a: *x\n", "a: !t 1\n",
        "%YAML 1.1\n---\na\n", "a: 1\n...\n", "--- a\n", "a: \"x\\ny\"\n", "a: [1, ]\n", "a: [1,\n  2]\n",
        "a: {b: 1}\n", "? a\n: b\n", "a: b: c\n", "a: 'x\n  y'\n", "k: v\n  - x\n", "a:\n  x\n",
        "a: x\n  - y\n", "a: x\n  y: z\n",
    ];
    for text in texts {
        assert!(events(text, true).is_none(), "{text:?} must be declined");
    }
}

#[test]
fn hostile_inputs_never_panic() {
    let deep_seq = "- ".repeat(MAX_DEPTH + 5);
    let deep_map: String = (0..MAX_DEPTH + 5).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let ok_map: String = (0..MAX_DEPTH - 1).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    for text in [&deep_seq, &deep_map] {
        assert!(events(text, true).is_none(), "too deep for the fast source");
    }
    assert!(parse_documents(&deep_seq).unwrap_err().0.contains("nested more than"));
    assert_eq!(check(&ok_map), Ok(true));
    let long = "x".repeat(1 << 20);
    // (text, read by the fast source, parses): over-long keys and unclosed quotes are declined.
    let cases = [
        (format!("a: {long}\n"), true, true),
        (format!("{long}: 1\n"), false, false),
        (format!("- '{long}\n"), false, false),
        (format!("a: |\n  {long}\n"), true, true),
        ("-".repeat(1 << 16), false, true),
        (" ".repeat(1 << 16), true, true),
        (format!("{}a", "\n".repeat(1 << 16)), true, true),
    ];
    for (text, fast, parses) in cases {
        assert_eq!(check(&text), Ok(fast), "{}", text.get(..40).unwrap_or(&text));
        assert_eq!(parse_documents(&text).is_ok(), parses, "{}", text.get(..40).unwrap_or(&text));
    }
}

/// Scalars and keys with the characters that change how a line reads: the first [`READ`] of
/// each list are ones the fast source reads, so that generated texts often stay in the subset.
#[rustfmt::skip]
const SCALARS: &[&str] = &[
    "a", "foo bar", "1", "-1", "0x1F", "1.5", "true", "yes", "~", "null", "''", "'it''s'", "\"q\"", "\"a: b\"",
    "a:b", "a #b", "a#b", "-a", "--", "--x=1", "...", "é", "<<", "http://x/y?z=1#f", "\"a\" # c", "x  ", "a  #c",
    "'#'", "\"'\"", "'\"'", "a]", "a}", "a,b", "[]", "{}", "[ ]", "[a, b]", "[ \"x\", 'y' ]", "[a,b]",
    "[\"a\", b] # c", "[--x=1, \"--y\"]", "[''] ", "[~, null, 1, true]", "[a b ,c ]", "?x", "\u{a0}x",
    "a\nb", "a b\n\nc", "x\n\n\ny z", "a  \nb  ", "-a\n--b\n",
    // Declined or refused from here on.
    "a: b", "- a", "---", "#x", ": x", ":x", "? x", "[a]x", "{a: 1}", "*x", "&x", "!x", "%x", "@x", "`x",
    "\"\\n\"", "'a", "\"a", "'", "a:", "'a' b", "|", "|-", ">", "[] x", "{}#", "-", "- ", "x: ", "[a, ]",
    "[a:b]", "[a, [b]]", "[a] x", "[a #b]", "[a,#b]", "[a,,b]", "[*a]",
    "a\n#c", "a\nb: c", "a\n- b", "a # c\nb", "a\n\tb", "a\nb #c", "a\n'b'",
];
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "a", "b", "key with space", "\"q k\"", "'s k'", "<<", "-k", "1", "x#y", "é", "\"\"", "''", "a\"",
    "metadata", "annotations", "items", "a.b/c", "'it''s'", "\"a:b\"", "~", "null", "- k", "k:", "a b ",
    // Declined or refused from here on.
    "\"a\":", "'a'b", "x #y", "[k]", "k,", "?", "-", "&a k", "!t k", "*a",
];
/// How many entries of [`SCALARS`] and [`KEYS`] come first (the ones the subset holds).
const READ: (usize, usize) = (51, 24);

/// A node of generated block YAML.
#[derive(Debug, Clone)]
enum Gen {
    Scalar(usize),
    Literal(Vec<String>, usize),
    Map(Vec<(usize, Gen)>),
    Seq(Vec<Gen>),
}

fn gen_node() -> impl Strategy<Value = Gen> {
    let line = prop_oneof![
        Just(String::new()),
        Just("  ".to_string()),
        "[a-z #:'\"-]{1,8}",
        Just("  more".to_string()),
        Just("\tx".to_string()),
    ];
    let leaf = prop_oneof![
        8 => (0..READ.0).prop_map(Gen::Scalar),
        1 => (0..SCALARS.len()).prop_map(Gen::Scalar),
        1 => (proptest::collection::vec(line, 0..4), 0..3usize).prop_map(|(l, c)| Gen::Literal(l, c)),
    ];
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            proptest::collection::vec((prop_oneof![8 => 0..READ.1, 1 => 0..KEYS.len()], inner.clone()), 1..4)
                .prop_map(Gen::Map),
            proptest::collection::vec(inner, 1..4).prop_map(Gen::Seq),
        ]
    })
}

/// Renders `g` at `indent`; `choices` picks layouts (indent widths, indentless sequences,
/// comments, blank lines) so a failing case shrinks with its text.
fn render(g: &Gen, indent: usize, out: &mut String, choices: &mut impl Iterator<Item = u8>) {
    let pad = |n: usize| " ".repeat(n);
    match g {
        Gen::Scalar(i) => {
            // Continuation lines at the node's indentation, or one less (the parent's: no longer
            // a continuation), or one more.
            let cont = format!("\n{}", pad((indent + pick(choices, 3) as usize).saturating_sub(1)));
            out.push_str(&SCALARS[*i].replace('\n', &cont));
            if pick(choices, 4) == 0 {
                out.push_str(" # c");
            }
            out.push('\n');
        }
        Gen::Literal(lines, chomp) => {
            out.push_str(["|", "|-", "|+"][*chomp]);
            out.push('\n');
            let at = indent + 1 + pick(choices, 3) as usize;
            for l in lines {
                if !l.is_empty() {
                    out.push_str(&pad(at));
                }
                out.push_str(l);
                out.push('\n');
            }
        }
        Gen::Map(entries) => {
            out.push('\n');
            let at = indent + pick(choices, 3) as usize;
            for (k, v) in entries {
                match pick(choices, 6) {
                    0 => out.push('\n'),
                    1 => out.push_str(&format!("{}# comment\n", pad(pick(choices, 5) as usize))),
                    _ => {}
                }
                out.push_str(&pad(at));
                out.push_str(KEYS[*k]);
                out.push(':');
                if !matches!(v, Gen::Map(_) | Gen::Seq(_)) {
                    out.push(' ');
                }
                // An indentless sequence (the dash at the key's column) or a nested one.
                let child =
                    if matches!(v, Gen::Seq(_)) && pick(choices, 2) == 0 { at.saturating_sub(1) } else { at + 1 };
                render(v, child, out, choices);
            }
        }
        Gen::Seq(items) => {
            out.push('\n');
            let at = indent + pick(choices, 2) as usize;
            for item in items {
                out.push_str(&pad(at));
                out.push('-');
                match item {
                    Gen::Map(_) | Gen::Seq(_) if pick(choices, 2) == 0 => {
                        render(item, at + 1, out, choices);
                    }
                    _ => {
                        out.push(' ');
                        render(item, at + 1, out, choices);
                    }
                }
            }
        }
    }
}

fn pick(choices: &mut impl Iterator<Item = u8>, n: u8) -> u8 {
    choices.next().unwrap_or(0) % n
}

/// Compact forms (`- k: v`, `- - x`) come from joining an item's dash with its first line.
fn compact(text: &str) -> String {
    text.replace("-\n  ", "- ").replace(":\n\n", ":\n")
}

/// Generated YAML: one to three documents of block collections (see [`render`]).
fn gen_text() -> impl Strategy<Value = String> {
    let docs = proptest::collection::vec(gen_node(), 1..3);
    let choices = proptest::collection::vec(any::<u8>(), 64);
    (docs, choices, any::<(bool, bool, bool)>()).prop_map(|(docs, choices, (explicit_first, squeeze, final_break))| {
        let mut text = String::new();
        let mut it = choices.iter().copied().cycle();
        for (i, d) in docs.iter().enumerate() {
            let explicit = i > 0 || explicit_first;
            if explicit {
                text.push_str("---");
            }
            let mut body = String::new();
            render(d, 0, &mut body, &mut it);
            if !body.starts_with('\n') && explicit {
                text.push('\n');
            }
            text.push_str(if explicit { &body } else { body.trim_start_matches('\n') });
        }
        if squeeze {
            text = compact(&text);
        }
        if !final_break {
            text.pop();
        }
        text
    })
}

#[test]
fn generated_texts_are_often_read_fast() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = gen_text();
    let (mut fast, mut full_ok) = (0, 0);
    for _ in 0..1000 {
        let text = strategy.new_tree(&mut runner).expect("a generated text").current();
        full_ok += usize::from(matches!(events(&text, false), Some(Ok(_))));
        fast += usize::from(check(&text).expect("same events") as u8 == 1);
    }
    println!("generated: 1000 texts, {full_ok} parsed by granit-parser, {fast} read by the fast source");
    // Otherwise the property test below would prove little.
    assert!(fast >= 250, "only {fast} of 1000 generated texts were read by the fast source");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_block_yaml_gives_the_same_events(text in gen_text()) {
        check(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
    }
}

#[test]
fn mutated_corpus_files_give_the_same_events() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    yaml_files(&manifest.join("tests"), &mut files);
    yaml_files(&corpus_dir().join("realworld"), &mut files);
    let texts: Vec<String> =
        files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).filter(|t| t.len() < 4096).collect();
    assert!(texts.len() > 100, "only {} small files", texts.len());
    // Small edits (a character inserted, removed or replaced, a line's indentation changed)
    // at pseudo-random places: real files near the edges of the subset.
    #[rustfmt::skip]
    const EDITS: &[&str] = &[" ", "  ", "\n", ":", ": ", "-", "- ", "#", " #", "'", "\"", "|", "|-", "[", "]", "{}", "~", "\t"];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let (mut tried, mut fast) = (0, 0);
    // 10 rounds here (~14,500 texts); 200 rounds (290,800 texts) were run once in release.
    for round in 0..10 {
        for text in &texts {
            let mut t = text.clone();
            for _ in 0..1 + round % 3 {
                let at = next(t.len());
                let Some(at) = (at..=t.len()).find(|&i| t.is_char_boundary(i)) else { continue };
                let edit = EDITS[next(EDITS.len())];
                match next(3) {
                    0 => t.insert_str(at, edit),
                    1 => {
                        let end = (at + 1..=t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(at);
                        t.replace_range(at..end, "");
                    }
                    _ => {
                        let end = (at + 1..=t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(at);
                        t.replace_range(at..end, edit);
                    }
                }
            }
            tried += 1;
            match check(&t) {
                Ok(read) => fast += usize::from(read),
                Err(e) => panic!("{e}\n{t:?}"),
            }
        }
    }
    println!("mutated: {tried} texts, {fast} read by the fast source");
    assert!(fast * 4 > tried, "only {fast} of {tried} mutated texts were read by the fast source");
}
