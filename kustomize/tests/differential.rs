//! Differential test: every tree under `tests/corpus/` is built by `kubectl kustomize` (the
//! oracle, kustomize v5.5) and by `shipline_kustomize::build`; stdout must match byte for
//! byte, or both must fail.
//!
//! Convention: a case is a directory `tests/corpus/<case>/`. It is built at its root, unless
//! it holds a file `BUILD` whose first line is the relative directory to build (for overlays).

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn build_dir(case: &Path) -> PathBuf {
    match std::fs::read_to_string(case.join("BUILD")) {
        Ok(s) => case.join(s.lines().next().unwrap_or("").trim()),
        Err(_) => case.to_path_buf(),
    }
}

/// Runs the oracle. Panics if kubectl cannot be run at all: this test must never skip.
fn kubectl(dir: &Path) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("kubectl is required for the differential test and could not be run: {e}"));
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("kubectl output is UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Builds `dir` (or its subdirectory `sub`) with kubectl and with this crate and panics, keeping
/// the tree and showing a line diff, unless both print the same bytes; when `both_may_fail`, a
/// failure of both is accepted too. Returns whether the build succeeded.
fn assert_same_as_kubectl(seed: &str, dir: tempfile::TempDir, sub: Option<&str>, both_may_fail: bool) -> bool {
    let build = sub.map_or_else(|| dir.path().to_owned(), |s| dir.path().join(s));
    let want = kubectl(&build);
    let got = shipline_kustomize::build(&build).map_err(|e| e.to_string());
    match (want, got) {
        (Ok(w), Ok(g)) if w == g => true,
        (Err(_), Err(_)) if both_may_fail => false,
        (w, g) => {
            let kept = dir.keep();
            let detail = match (&w, &g) {
                (Ok(w), Ok(g)) => line_diff(w, g),
                _ => format!("kubectl: {w:?}\nshipline: {g:?}"),
            };
            panic!("seed {seed} differs from kubectl (tree kept in {}):\n{detail}", kept.display());
        }
    }
}

/// A line diff (longest common subsequence), `-` for kubectl, `+` for shipline.
fn line_diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("  + {:>4}: {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("  - {:>4}: {}\n", i + 1, a[i]));
            i += 1;
        }
    }
    if out.is_empty() && want != got {
        out.push_str("  (outputs differ only in trailing newlines)\n");
    }
    out
}

#[test]
fn corpus_matches_kubectl_kustomize() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/corpus exists")
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "the corpus is empty");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let dir = build_dir(case);
        let want = kubectl(&dir);
        let got = shipline_kustomize::build(&dir).map_err(|e| e.to_string());
        match (&want, &got) {
            (Ok(w), Ok(g)) if w == g => println!("ok      {name}"),
            (Err(_), Err(e)) => println!("ok      {name} (both fail; shipline: {e})"),
            (Ok(w), Ok(g)) => failures.push(format!("DIFF    {name}\n{}", line_diff(w, g))),
            (Ok(_), Err(e)) => failures.push(format!("FAIL    {name}: kubectl succeeded, shipline failed: {e}")),
            (Err(e), Ok(_)) => {
                failures.push(format!("FAIL    {name}: shipline succeeded, kubectl failed: {}", e.trim()))
            }
        }
    }
    println!("{} cases, {} failing", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ from kubectl:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A small deterministic generator (xorshift), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "a",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "~",
    "1",
    "0x1F",
    "017",
    "1e3",
    "1.0",
    "-",
    "--",
    "---",
    "...",
    "2024-01-01",
    "1:20",
    "a: b",
    "a:b",
    "#x",
    "a #b",
    "*x",
    "&x",
    "!x",
    "'q'",
    "\"d\"",
    "x'y",
    "[x",
    "{y}",
    "%p",
    "@a",
    "`b",
    "?q",
    "? q",
    "|x",
    ">x",
    "héllo",
    "日本語",
    "🚀",
    "tab\there",
    "back\\slash",
    " ",
    "trailing ",
    " leading",
    "line\nbreak",
    "end\n",
    "\n",
    "crlf\r\n",
    "<html>&amp;",
    "=",
    ",",
    ".",
    "0",
    "-1",
    "+1",
    "1_000",
    ".5",
    "Infinity",
    "NaN",
    ".inf",
    "<<",
    "=x",
    "path/to/file",
    "http://example.com/x?y=z#w",
];

fn random_string(rng: &mut Rng) -> String {
    let n = rng.below(4);
    if n == 3 {
        // A long sentence, to exercise folding at column 80.
        return (0..rng.below(30) + 5)
            .map(|_| rng.pick(&["lorem", "ipsum", "dolor", "sit", "amet", "x", "a:"]))
            .collect::<Vec<_>>()
            .join(" ");
    }
    (0..n + 1).map(|_| rng.pick(WORDS)).collect::<Vec<_>>().join(if rng.below(2) == 0 { "" } else { " " })
}

fn random_value(rng: &mut Rng, depth: usize) -> String {
    let choice = if depth == 0 { rng.below(5) } else { rng.below(8) };
    match choice {
        0 => json_string(&random_string(rng)),
        1 => rng
            .pick(&[
                "0",
                "1",
                "-7",
                "42",
                "1.5",
                "0.000001",
                "1e21",
                "1234567.5",
                "123456.5",
                "12345678901234567890",
                "-0.0",
                "3.0",
            ])
            .to_string(),
        2 => rng.pick(&["true", "false", "null"]).to_string(),
        3 => json_string(rng.pick(WORDS)),
        4 => "[]".to_string(),
        5 | 6 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| random_value(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => random_object(rng, depth - 1),
    }
}

fn random_object(rng: &mut Rng, depth: usize) -> String {
    random_object_with(rng, depth, "")
}

fn random_object_with(rng: &mut Rng, depth: usize, key_prefix: &str) -> String {
    let n = rng.below(5);
    // Keys never hold line breaks: kyaml drops `? |` complex keys read from YAML.
    let mut keys: Vec<String> =
        (0..n).map(|_| format!("{key_prefix}{}", random_string(rng)).replace(['\n', '\r'], " ")).collect();
    keys.sort();
    keys.dedup();
    let fields: Vec<String> = keys.iter().map(|k| format!("{}:{}", json_string(k), random_value(rng, depth))).collect();
    format!("{{{}}}", fields.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Random resources (written as JSON, which is YAML) with tricky keys and scalars must print
/// exactly as kubectl prints them: this exercises the parser, key order, quoting and folding.
#[test]
fn generated_trees_match_kubectl_kustomize() {
    // SHIPLINE_KUSTOMIZE_EXTRA_SEEDS=N adds N more seeds for a longer local run.
    let extra: u64 = std::env::var("SHIPLINE_KUSTOMIZE_EXTRA_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let seeds = [0x9e3779b97f4a7c15u64, 0xdeadbeefcafef00d, 0x0123456789abcdef, 42, 7, 0xfeedface];
    for seed in seeds.into_iter().chain((1..=extra).map(|i| i.wrapping_mul(0x2545f4914f6cdd1d))) {
        let mut rng = Rng(seed);
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut docs = Vec::new();
        for i in 0..25 {
            // Annotation keys are prefixed: kustomize itself fails on keys that read as numbers.
            let labels = random_object_with(&mut rng, 0, "k-");
            docs.push(format!(
                "{{\"apiVersion\":\"example.com/v1\",\"kind\":\"Thing\",\"metadata\":{{\"name\":\"t{i}\",\"annotations\":{labels}}},\"spec\":{}}}",
                random_object(&mut rng, 3)
            ));
        }
        // The same objects again as block YAML (renamed), so both input syntaxes are exercised.
        let as_yaml: Vec<String> = docs
            .iter()
            .map(|d| {
                let v = shipline_kustomize::yaml::parse_one(&d.replace("\"name\":\"t", "\"name\":\"y"))
                    .expect("own JSON parses");
                shipline_kustomize::yaml::to_string(&v)
            })
            .collect();
        std::fs::write(dir.path().join("things.yaml"), docs.join("\n---\n")).expect("write resources");
        std::fs::write(dir.path().join("things2.yaml"), as_yaml.join("---\n")).expect("write resources");
        std::fs::write(dir.path().join("kustomization.yaml"), "resources:\n- things.yaml\n- things2.yaml\n")
            .expect("write kustomization");
        assert_same_as_kubectl(&format!("{seed:#x}"), dir, None, false);
    }
}

/// Resources for the generated kustomizations, named `{name}`.
const KINDS: &[&str] = &[
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      serviceAccountName: sa\n      containers:\n      - name: main\n        image: nginx:1.25\n        env:\n        - name: A\n          value: \"1\"\n        envFrom:\n        - configMapRef:\n            name: cfg\n      volumes:\n      - name: s\n        secret:\n          secretName: sec\n",
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: value\n",
    "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n",
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\nsubjects:\n- kind: ServiceAccount\n  name: sa\n",
    "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: '*/5 * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: job\n            image: busybox:1.36\n            envFrom:\n            - secretRef:\n                name: sec\n",
    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\nspec:\n  serviceName: svc\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n",
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\nspec:\n  rules:\n  - host: example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: svc\n            port:\n              number: 80\n",
    "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  size: 3\n  containers:\n  - name: w\n    image: nginx:1.25\n",
];

/// A random base plus overlay exercising the common transformers together.
fn random_kustomization(rng: &mut Rng, dir: &Path) {
    let base = dir.join("base");
    let overlay = dir.join("overlay");
    std::fs::create_dir_all(&base).expect("mkdir base");
    std::fs::create_dir_all(&overlay).expect("mkdir overlay");
    let mut docs = vec![
        KINDS[3].replace("{name}", "sa"),
        KINDS[1].replace("{name}", "svc"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\ntype: Opaque\ndata:\n  k: dg==\n".to_string(),
    ];
    for (i, kind) in KINDS.iter().enumerate() {
        if i != 3 && rng.below(3) > 0 {
            docs.push(kind.replace("{name}", &format!("r{i}")));
        }
    }
    std::fs::write(base.join("resources.yaml"), docs.join("---\n")).expect("write base resources");
    let mut k = String::from(
        "resources:\n- resources.yaml\nconfigMapGenerator:\n- name: cfg\n  literals:\n  - MODE=base\nsecretGenerator:\n- name: gsec\n  literals:\n  - token=abc\n",
    );
    if rng.below(2) == 0 {
        k.push_str("namePrefix: base-\n");
    }
    if rng.below(3) == 0 {
        k.push_str("namespace: base-ns\n");
    }
    if rng.below(2) == 0 {
        k.push_str("commonLabels:\n  tier: backend\n");
    }
    std::fs::write(base.join("kustomization.yaml"), k).expect("write base kustomization");

    let mut k = String::from("resources:\n- ../base\n");
    let pick = |rng: &mut Rng| rng.below(2) == 0;
    if pick(rng) {
        k.push_str(&format!("namespace: {}\n", rng.pick(&["prod", "team-a", "default"])));
    }
    if pick(rng) {
        k.push_str(&format!("namePrefix: {}\n", rng.pick(&["p-", "prod-", "x"])));
    }
    if pick(rng) {
        k.push_str(&format!("nameSuffix: {}\n", rng.pick(&["-v2", "-s", "z"])));
    }
    if pick(rng) {
        k.push_str(&format!("commonLabels:\n  env: {}\n", rng.pick(&["prod", "\"true\"", "'1'", "on-call"])));
    }
    if pick(rng) {
        let sel = rng.pick(&["true", "false"]);
        let tmpl = rng.pick(&["true", "false"]);
        k.push_str(&format!("labels:\n- pairs:\n    team: a\n  includeSelectors: {sel}\n  includeTemplates: {tmpl}\n"));
    }
    if pick(rng) {
        k.push_str(&format!(
            "commonAnnotations:\n  note: {}\n",
            rng.pick(&["hello", "\"yes\"", "'a: b'", "|\n    multi\n    line"])
        ));
    }
    if pick(rng) {
        k.push_str(&format!(
            "images:\n- name: {}\n  {}\n",
            rng.pick(&["nginx", "busybox", "postgres"]),
            rng.pick(&[
                "newTag: \"2.0\"",
                "newName: reg.io/x/y",
                "digest: sha256:abcdef",
                "newName: r.io/n\n  newTag: v1"
            ])
        ));
    }
    if pick(rng) {
        k.push_str("replicas:\n- name: r0\n  count: 4\n");
        // Make sure the target exists.
        if !docs.iter().any(|d| d.contains("name: r0\n")) {
            k = k
                .replace("- name: r0\n  count: 4\n", "- name: svc\n  count: 4\n")
                .replace("replicas:\n- name: svc\n  count: 4\n", "");
        }
    }
    if pick(rng) {
        k.push_str(&format!(
            "configMapGenerator:\n- name: cfg\n  behavior: {}\n  literals:\n  - MODE=overlay\n",
            rng.pick(&["merge", "replace"])
        ));
    }
    if pick(rng) {
        k.push_str("sortOptions:\n  order: fifo\n");
    }
    if pick(rng) {
        k.push_str("secretGenerator:\n- name: gsec\n  behavior: merge\n  literals:\n  - extra=1\n");
    }
    if pick(rng) {
        let comp = dir.join("component");
        std::fs::create_dir_all(&comp).expect("mkdir component");
        std::fs::write(
            comp.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- extra.yaml\ncommonAnnotations:\n  component: \"on\"\n",
        )
        .expect("write component");
        std::fs::write(
            comp.join("extra.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  x: \"1\"\n",
        )
        .expect("write component resource");
        k.push_str("components:\n- ../component\n");
    }
    if pick(rng) {
        k.push_str("replacements:\n- source:\n    kind: Service\n    name: svc\n  targets:\n  - select:\n      kind: ConfigMap\n      name: cfg\n    fieldPaths:\n    - data.SERVICE\n    options:\n      create: true\n");
    }
    let mut patches = Vec::new();
    if docs.iter().any(|d| d.contains("name: r0\n")) && pick(rng) {
        patches.push("- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: r0\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            env:\n            - name: B\n              value: two\n          - name: sidecar\n            image: busybox:1.36\n".to_string());
    }
    if pick(rng) {
        patches.push(format!(
            "- target:\n    kind: {}\n  patch: |-\n    - op: add\n      path: /metadata/annotations\n      value:\n        patched: \"1\"\n",
            rng.pick(&["Service", "ConfigMap", "ServiceAccount"])
        ));
    }
    if pick(rng) {
        patches.push(format!(
            "- target:\n    labelSelector: {}\n  patch: |-\n    - op: add\n      path: /metadata/labels/selected\n      value: \"yes\"\n",
            rng.pick(&["app", "app=r0", "tier=backend", "!app"])
        ));
    }
    if pick(rng) {
        patches.push("- patch: |-\n    apiVersion: v1\n    kind: ServiceAccount\n    metadata:\n      name: sa\n    $patch: delete\n".to_string());
    }
    if !patches.is_empty() {
        k.push_str("patches:\n");
        k.push_str(&patches.concat());
    }
    if rng.below(3) == 0 {
        k.push_str(rng.pick(&[
            "buildMetadata: [transformerAnnotations]\n",
            "buildMetadata: [originAnnotations, transformerAnnotations]\n",
            "buildMetadata: [managedByLabel, transformerAnnotations, originAnnotations]\n",
        ]));
    }
    std::fs::write(overlay.join("kustomization.yaml"), k).expect("write overlay kustomization");
}

/// Random base/overlay pairs combining namespace, prefixes, labels, annotations, images,
/// replicas, generators with behaviors and patches must build exactly as kubectl builds them.
#[test]
fn generated_kustomizations_match_kubectl_kustomize() {
    let extra: u64 = std::env::var("SHIPLINE_KUSTOMIZE_EXTRA_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (mut built, mut total) = (0, 0);
    for seed in (1..=8u64).chain((9..9 + extra).map(|i| i * 7919)) {
        total += 1;
        let mut rng = Rng(seed.wrapping_mul(0x9e3779b97f4a7c15) | 1);
        let dir = tempfile::tempdir().expect("temporary directory");
        random_kustomization(&mut rng, dir.path());
        if assert_same_as_kubectl(&seed.to_string(), dir, Some("overlay"), true) {
            built += 1;
        }
    }
    println!("{built} of {total} generated kustomizations built identically (the rest failed in both)");
    assert!(built * 4 >= total * 3, "too few generated kustomizations build at all: {built} of {total}");
}

/// One container for the strategic-merge generator; `patch` containers may delete entries.
fn random_container(rng: &mut Rng, name: &str, patch: bool) -> String {
    let mut s = format!("      - name: {name}\n");
    if !patch || rng.below(2) == 0 {
        s += &format!("        image: img-{name}:{}\n", rng.below(3) + 1);
    }
    if rng.below(5) < 3 {
        s += "        env:\n";
        for e in ["X", "Y", "Z", "W"] {
            if rng.below(2) == 0 {
                continue;
            }
            if patch && rng.below(5) == 0 {
                s += &format!("        - name: {e}\n          $patch: delete\n");
            } else {
                s += &format!("        - name: {e}\n          value: \"{}\"\n", rng.below(10));
            }
        }
    }
    if rng.below(2) == 0 {
        s += "        ports:\n";
        for p in [80, 8080, 9090] {
            if rng.below(2) == 0 {
                s += &format!("        - containerPort: {p}\n");
            }
        }
    }
    if rng.below(5) < 2 {
        s += "        volumeMounts:\n";
        for m in ["a", "b"] {
            s += &format!("        - mountPath: /{m}\n          name: v{m}\n");
        }
    }
    if rng.below(3) == 0 {
        s += &format!("        args: [\"--x={}\"]\n", rng.below(10));
    }
    // kustomize does not interpret these directives: they stay as ordinary fields.
    if patch && rng.below(6) == 0 {
        s += "        $deleteFromPrimitiveList/args: [\"--x=1\"]\n";
    }
    if patch && rng.below(6) == 0 {
        s += "        $retainKeys: [name, image]\n";
    }
    s.replace("        env:\n        ports", "        ports")
        .replace("        ports:\n        volumeMounts", "        volumeMounts")
}

/// Random Deployments patched by random strategic merge patches (merge keys, new and deleted
/// elements, nested keyed lists in new elements, replaced lists, uninterpreted directives such
/// as `$setElementOrder`) must match kubectl.
#[test]
fn generated_strategic_merge_patches_match_kubectl_kustomize() {
    let extra: u64 = std::env::var("SHIPLINE_KUSTOMIZE_EXTRA_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    for seed in 1..=10 + extra {
        let mut rng = Rng(seed.wrapping_mul(0xd1b54a32d192ed03) | 1);
        let mut base = String::from(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n",
        );
        for c in ["a", "b", "c"] {
            if rng.below(3) > 0 || c == "a" {
                base += &random_container(&mut rng, c, false);
            }
        }
        if rng.below(2) == 0 {
            base += "      volumes:\n      - name: va\n        emptyDir: {}\n      - name: vb\n        emptyDir: {}\n";
        }
        if rng.below(2) == 0 {
            base += "      tolerations:\n      - key: k1\n        operator: Exists\n";
        }
        let mut patch = String::from(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n",
        );
        patch += "      containers:\n";
        for c in ["a", "b", "c", "d"] {
            match rng.below(4) {
                0 => patch += &format!("      - name: {c}\n        $patch: delete\n"),
                1 => patch += &random_container(&mut rng, c, true),
                _ => {}
            }
        }
        if patch.ends_with("containers:\n") {
            patch += &random_container(&mut rng, "a", true);
        }
        if rng.below(4) == 0 {
            patch += "      $setElementOrder/containers: [{name: c}, {name: a}]\n";
        }
        if rng.below(3) == 0 {
            patch += "      volumes:\n      - name: vb\n        configMap:\n          name: cm\n      - name: vc\n        emptyDir: {}\n";
        }
        if rng.below(3) == 0 {
            patch += "      tolerations:\n      - key: k2\n        operator: Exists\n";
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("r.yaml"), &base).expect("write resource");
        std::fs::write(dir.path().join("p.yaml"), &patch).expect("write patch");
        std::fs::write(dir.path().join("kustomization.yaml"), "resources:\n- r.yaml\npatches:\n- path: p.yaml\n")
            .expect("write kustomization");
        assert_same_as_kubectl(&seed.to_string(), dir, None, false);
    }
}
