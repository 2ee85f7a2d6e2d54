use super::*;

fn image(r: &str, policy: &str) -> Option<(ImageRef, PolicyRef)> {
    Some((ImageRef::parse(r).unwrap(), PolicyRef::parse(policy).unwrap()))
}

fn object(kind: &str, name: &str, namespace: &str) -> ObjectId {
    ObjectId { api_version: "apps/v1".into(), kind: kind.into(), name: name.into(), namespace: namespace.into() }
}

/// Two changes in two files, the shape of the Go program the expectations below came from.
fn sample() -> Vec<ChangeRecord> {
    vec![
        ChangeRecord {
            file: "overlays/dev/a.yaml".into(),
            object: object("Deployment", "a", "dev"),
            old: "reg/a:1".into(),
            new: "reg/a:2".into(),
            setter: "flux-system:a".into(),
            image: image("reg/a:2", "flux-system:a"),
        },
        ChangeRecord {
            file: "overlays/dev/b.yaml".into(),
            object: object("Deployment", "b", ""),
            old: "v1".into(),
            new: "v2".into(),
            setter: "flux-system:b:tag".into(),
            image: image("reg/b:v2", "flux-system:b"),
        },
    ]
}

fn run(source: &str) -> Result<String, TemplateError> {
    let automation = Automation { namespace: "flux-system".into(), name: "apps".into() };
    let values = BTreeMap::from([("env".to_owned(), "dev".to_owned())]);
    render_flux(source, &automation, &values, &sample())
}

/// Expected outputs are those of Go 1.19's text/template on the same data (a Go program with
/// Flux's `TemplateData` shape, `ObjectIdentifier` map keys included).
#[test]
fn flux_templates_render_as_go_does() {
    let cases: &[(&str, &str)] = &[
        (
            "Automation: {{.AutomationObject}} ns={{.AutomationObject.Namespace}}",
            "Automation: flux-system/apps ns=flux-system",
        ),
        (
            "{{range $filename, $_ := .Changed.FileChanges -}}\n- {{ $filename }}\n{{ end -}}",
            "- overlays/dev/a.yaml\n- overlays/dev/b.yaml\n",
        ),
        (
            "Objects:\n{{ range $resource, $changes := .Changed.Objects -}}\n- {{ $resource.Kind }} {{ $resource.Name }} {{ $resource.Namespace }} {{ $resource.APIVersion }}\n  Changes:\n{{- range $_, $change := $changes }}\n    - {{ $change.OldValue }} -> {{ $change.NewValue }} ({{ $change.Setter }})\n{{ end -}}\n{{ end -}}",
            "Objects:\n- Deployment a dev apps/v1\n  Changes:\n    - reg/a:1 -> reg/a:2 (flux-system:a)\n- Deployment b  apps/v1\n  Changes:\n    - v1 -> v2 (flux-system:b:tag)\n",
        ),
        (
            "{{ if eq .Values.env \"dev\" }}dev{{ else if eq .Values.env \"prod\" }}prod{{ else }}other{{ end }}|{{.Values.missing}}|{{ len .Values }}",
            "dev|<no value>|1",
        ),
        (
            "{{ printf \"%s-%d-%5s|%-4d|%q|%v|%x\" \"a\" 42 \"b\" 7 \"q\\\"x\" true 255 }} {{ print 1 2 \"a\" \"b\" 3 }} {{ println \"x\" 1 }}",
            "a-42-    b|7   |\"q\\\"x\"|true|ff 1 2ab3 x 1\n",
        ),
        (
            "{{ $x := \"one\" }}{{ with .Values.env }}{{ $x = . }}{{ end }}{{ $x }} {{ and 1 0 \"z\" }} {{ or 0 \"\" \"y\" }} {{ not 0 }}",
            "dev 0 y true",
        ),
        (
            "{{ slice \"abcdef\" 1 3 }} {{ index .Values \"env\" }} {{ html \"<a&'\\\"b>\" }} {{ js \"it's <x>\" }} {{ urlquery \"a b&c\" }}",
            "bc dev &lt;a&amp;&#39;&#34;b&gt; it\\'s \\u003Cx\\u003E a+b%26c",
        ),
        (
            "{{/* comment */ -}}\n  x {{- \" y \" -}}   z {{ 3 | printf \"%d-%s\" \"p\" }} {{ \"a\" | printf \"%s%s\" \"b\" }}",
            "x y z %!d(string=p)-%!s(int=3) ba",
        ),
        (
            "{{ range .Values }}{{ . }}{{ else }}none{{ end }}{{ range $k, $v := .Values }}{{ $k }}={{ $v }}{{ break }}{{ end }}",
            "devenv=dev",
        ),
        (
            "{{ lt 1 2 }} {{ ge \"b\" \"a\" }} {{ eq 1 2 3 1 }} {{ ne \"a\" \"a\" }} {{ 0x1F }} {{ -3 }} {{ 1.5 }} {{ 'a' }} {{ `raw\\n` }}",
            "true true true false 31 -3 1.5 97 raw\\n",
        ),
        ("{{ range $i, $c := .Changed.Changes }}{{ $i }}:{{ $c.NewValue }} {{ end }}", "0:reg/a:2 1:v2 "),
        // Go 1.22+ (Flux's builds): range over an integer, `else with`.
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ with $x := .Values.nothing }}yes{{ else with .Values.env }}{{ . }}{{ end }}", "dev"),
        // The AWS/GitLab tutorial's template and Flux's `.Updated` projections.
        ("{{range .Updated.Images}}{{println .}}{{end}}", "reg/a:2\nreg/b:v2\n"),
        (
            "{{range $f, $r := .Updated.Files}}{{$f}}:{{range $o, $imgs := $r.Objects}}{{$o.Name}}={{range $imgs}}{{.Identifier}}{{end}}{{end}} {{end}}",
            "overlays/dev/a.yaml:a=2 overlays/dev/b.yaml:b=v2 ",
        ),
        (
            "{{range .Changed.ImageResult.Images}}{{.Repository}}@{{.Registry}} {{.Name}} {{.Policy.Name}}; {{end}}",
            "reg/a@index.docker.io index.docker.io/reg/a:2 a; reg/b@index.docker.io index.docker.io/reg/b:v2 b; ",
        ),
        // Sprig's hermetic functions Flux adds.
        (
            "{{ .Values.env | upper | printf \"[%s]\" }} {{ list \"b\" \"a\" | sortAlpha | join \",\" }} {{ \"x-y\" | replace \"-\" \"_\" }} {{ trimPrefix \"reg/\" \"reg/a\" }} {{ default \"d\" .Values.missing }} {{ \"abc\" | trunc 2 }} {{ 3 | add 4 }}",
            "[DEV] a,b x_y a d ab 7",
        ),
    ];
    for (source, want) in cases {
        assert_eq!(run(source).unwrap_or_else(|e| panic!("{source}: {e}")), *want, "{source}");
    }
}

#[test]
fn template_errors_name_the_line_and_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("{{ .Changed.Nope }}", "line 1: can't evaluate field Nope in type update.ResultV2"),
        ("{{ if }}x{{ end }}", "line 1: missing value for if"),
        ("ok\n{{ nofunc 1 }}", "line 2: function \"nofunc\" not defined"),
        ("{{ .Values.env.Foo }}", "line 1: can't evaluate field Foo in type string"),
        ("{{ template \"x\" }}", "not supported"),
        ("{{ if 1 }}", "missing {{end}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ break }}", "outside {{range}}"),
        ("{{ \"open }}", "unterminated quoted string"),
        ("{{ .Values", "unclosed action"),
        ("{{ $nope }}", "undefined variable: $nope"),
    ];
    for (source, want) in cases {
        let e = run(source).expect_err(source);
        assert!(e.to_string().contains(want), "{source}: got {e}, want {want}");
    }
}

#[test]
fn default_message_names_only_changed_images() {
    let records = sample();
    let message = default_message(&records, None);
    assert_eq!(
        message,
        "Update images: reg/a:2, reg/b:v2\n\noverlays/dev/a.yaml: reg/a:1 -> reg/a:2\noverlays/dev/b.yaml: v1 -> v2\n"
    );
    let one = default_message(&records[..1], Some("deploy {images}"));
    assert!(one.starts_with("deploy reg/a:2\n\n"), "{one}");
    assert!(!one.contains("reg/b"), "{one}");
}

#[test]
fn trailers_follow_one_blank_line() {
    let t = vec![("Image-Digest".to_owned(), "sha256:ab".to_owned())];
    assert_eq!(with_trailers("subject\n".into(), &t), "subject\n\nImage-Digest: sha256:ab\n");
    assert_eq!(with_trailers("subject\n\n".into(), &t), "subject\n\nImage-Digest: sha256:ab\n");
    assert_eq!(with_trailers("subject".into(), &t), "subject\n\nImage-Digest: sha256:ab\n");
    assert_eq!(with_trailers("subject".into(), &[]), "subject");
}

#[test]
fn objects_are_found_by_document() {
    let text = "# c\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  namespace: dev\n  labels: {name: x}\nspec:\n  name: inner\n---\nkind: Kustomization\nimages:\n- name: b\n";
    let objects = objects_by_line(text);
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert_eq!(objects[0].1, object("Deployment", "a", "dev"));
    assert_eq!(objects[1].1, ObjectId { kind: "Kustomization".into(), ..ObjectId::default() });
    assert!(objects[1].0 >= 10 && objects[1].0 <= 11, "{objects:?}");
}
