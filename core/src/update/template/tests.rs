use super::*;

fn data() -> Value {
    Value::map(vec![
        (Value::str("list"), Value::List(vec![Value::str("x"), Value::str("y")])),
        (Value::str("n"), Value::Int(2)),
    ])
}

#[test]
fn actions_and_trimming() {
    let cases: &[(&str, &str)] = &[
        ("a {{- .n -}} b", "a2b"),
        ("{{- /* only a comment */ -}}\n\nz", "z"),
        ("{{range $i, $v := .list}}{{$i}}{{$v}}{{end}}", "0x1y"),
        ("{{range .list}}{{.}}{{continue}}no{{end}}", "xy"),
        ("{{if gt .n 1}}big{{else}}small{{end}}", "big"),
        ("{{with .missing}}a{{else}}b{{end}}", "b"),
        ("{{(len .list) | printf \"%02d\"}}", "02"),
        ("{{$.n}}{{range .list}}{{$.n}}{{end}}", "222"),
        ("{{.list}} {{.}}", "[x y] map[list:[x y] n:2]"),
        ("{{ printf \"%-3s|%3d|%.2f|%t\" \"a\" 5 1.234 false }}", "a  |  5|1.23|false"),
        ("{{ printf \"%d\" }}", "%!d(MISSING)"),
        ("{{ dict \"k\" \"v\" | toJson }}", "{\"k\":\"v\"}"),
        ("{{ \"a b\" | title }} {{ indent 2 \"x\\ny\" }}", "A B   x\n  y"),
        ("{{ regexReplaceAll \"[0-9]+\" \"v12\" \"N\" }} {{ \"main-1\" | regexMatch \"^main-\" }}", "vN true"),
    ];
    for (source, want) in cases {
        assert_eq!(render(source, &data()).unwrap_or_else(|e| panic!("{source}: {e}")), *want, "{source}");
    }
}

#[test]
fn output_is_bounded() {
    let e = render("{{range 100000}}{{ repeat 1000 \"x\" }}{{end}}", &data()).unwrap_err();
    assert!(e.message.contains("output exceeds"), "{e}");
}

#[test]
fn errors_never_panic_on_arbitrary_input() {
    // Every prefix of a template exercising most of the grammar: errors, never panics.
    let full = "{{- $a, $b := .list -}}{{ range $i, $v := .list }}{{ if and $i (eq $v \"y\") }}{{ printf \"%q\" $v | upper }}{{ else if not $i }}{{ `r` }}{{ end }}{{ end }}{{/* c */}}";
    for end in 0..=full.len() {
        if full.is_char_boundary(end) {
            let _ = render(&full[..end], &data());
        }
    }
}
