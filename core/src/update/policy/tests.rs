use std::cmp::Ordering;

use proptest::prelude::*;

use super::flux::{FluxImagePolicy, ImagePolicySpec, NumericalPolicy};
use super::*;

/// label, choice, tags, expected newest tag.
type Case<'a> = (&'a str, Choice, &'a [&'a str], Option<&'a str>);

fn latest(policy: &ImagePolicy, tags: &[&str]) -> Option<String> {
    let forward = policy.select(tags.iter().copied());
    let backward = policy.select(tags.iter().rev().copied());
    assert_eq!(forward, backward, "selection depends on input order for {tags:?}");
    forward.latest
}

fn run(cases: &[Case]) {
    for (label, choice, tags, want) in cases {
        let policy = ImagePolicy::new(choice.clone(), None, None).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(latest(&policy, tags).as_deref(), *want, "{label}");
    }
}

fn semver(range: &str) -> Choice {
    Choice::Semver { range: range.to_owned() }
}

/// Ported from fluxcd/image-reflector-controller `internal/policy/numerical_test.go`
/// (`TestNumerical_Latest`, all 10 cases; Flux shuffles the inputs, `latest` tries both orders).
#[test]
fn flux_numerical_latest() {
    use Order::*;
    let cases: &[Case] = &[
        (
            "With unordered list of integers ascending",
            Choice::Numerical(Asc),
            &["-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"],
            Some("73"),
        ),
        (
            "With unordered list of integers descending",
            Choice::Numerical(Desc),
            &["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"],
            Some("-78"),
        ),
        (
            "With unordered list of floats ascending",
            Choice::Numerical(Asc),
            &[
                "47.40896403322944",
                "-27.8520927455902",
                "-27.930666514224427",
                "-31.352485948094568",
                "-50.41072694704882",
                "-21.962849842263736",
                "24.71884721436865",
                "-39.99177354004344",
                "53.47333823144817",
                "3.2008658570411086",
            ],
            Some("53.47333823144817"),
        ),
        (
            "With unordered list of floats descending",
            Choice::Numerical(Desc),
            &[
                "-65.27202780220686",
                "57.82948329142309",
                "22.40184684363291",
                "-86.36934305697784",
                "-90.29082099756083",
                "-12.041712603564264",
                "77.70488240399305",
                "-38.98425003883552",
                "16.06867070412028",
                "53.735674335181216",
            ],
            Some("-90.29082099756083"),
        ),
        (
            "With Unix Timestamps ascending",
            Choice::Numerical(Asc),
            &["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
            Some("1606364286"),
        ),
        (
            "With Unix Timestamps descending",
            Choice::Numerical(Desc),
            &["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
            Some("1606234201"),
        ),
        ("With single value ascending", Choice::Numerical(Asc), &["1"], Some("1")),
        ("With single value descending", Choice::Numerical(Desc), &["1"], Some("1")),
        // Flux fails the whole policy here; we skip the two non-numbers (trap fixed).
        ("With invalid numerical value", Choice::Numerical(Asc), &["0", "1a", "b"], Some("0")),
        // Flux returns an error; we return no tag.
        ("Empty version list", Choice::Numerical(Asc), &[], None),
    ];
    run(cases);
}

#[test]
fn numerical_skips_non_numbers_with_reasons() {
    let policy = ImagePolicy::new(Choice::Numerical(Order::Asc), None, None).unwrap();
    let selection = policy.select(["0", "1a", "b", "NaN", "1e400", "7"]);
    assert_eq!(selection.latest.as_deref(), Some("7"));
    let reasons: Vec<String> = selection.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            r#"tag "1a" skipped: "1a" is not a number"#,
            r#"tag "1e400" skipped: "1e400" is not a number"#,
            r#"tag "NaN" skipped: "NaN" is NaN, which cannot be ordered"#,
            r#"tag "b" skipped: "b" is not a number"#,
        ]
    );
}

#[test]
fn numerical_parses_like_go_parse_float() {
    let numbers =
        [("12", 12.0), ("-3.5", -3.5), ("+4", 4.0), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("1E-2", 0.01)];
    for (text, want) in numbers {
        assert_eq!(parse_go_float(text), Some(want), "{text}");
    }
    assert_eq!(parse_go_float("Inf"), Some(f64::INFINITY));
    assert_eq!(parse_go_float("-infinity"), Some(f64::NEG_INFINITY));
    for text in ["", " 1", "1_000", "1,5", "0x10", "1e400", "-1e400", "v1", "1.2.3"] {
        assert_eq!(parse_go_float(text), None, "{text:?}");
    }
}

/// Ported from `internal/policy/alphabetical_test.go` (`TestAlphabetical_Latest`, all 8 cases).
#[test]
fn flux_alphabetical_latest() {
    use Order::*;
    let ubuntu: &[&str] = &["16.04", "16.04.1", "16.10", "20.04", "20.10"];
    let names: &[&str] = &["xenial", "yakkety", "zesty", "artful", "bionic"];
    let stamps: &[&str] = &["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"];
    let cases: &[Case] = &[
        ("Ubuntu CalVer", Choice::Alphabetical(Asc), ubuntu, Some("20.10")),
        ("Ubuntu CalVer descending", Choice::Alphabetical(Desc), ubuntu, Some("16.04")),
        ("Ubuntu code names", Choice::Alphabetical(Asc), names, Some("zesty")),
        ("Ubuntu code names descending", Choice::Alphabetical(Desc), names, Some("artful")),
        ("Timestamps", Choice::Alphabetical(Asc), stamps, Some("1606364286")),
        ("Timestamps desc", Choice::Alphabetical(Desc), stamps, Some("1606234201")),
        (
            "Timestamps with prefix",
            Choice::Alphabetical(Asc),
            &["rel-1606234201", "rel-1606364286", "rel-1606334092", "rel-1606334284", "rel-1606334201"],
            Some("rel-1606364286"),
        ),
        ("Empty version list", Choice::Alphabetical(Asc), &[], None),
    ];
    run(cases);
}

#[test]
fn alphabetical_is_byte_wise() {
    run(&[
        ("upper case sorts before lower", Choice::Alphabetical(Order::Asc), &["a", "B"], Some("a")),
        ("digits before letters", Choice::Alphabetical(Order::Desc), &["a1", "11"], Some("11")),
        ("no natural sort", Choice::Alphabetical(Order::Asc), &["v9", "v10"], Some("v9")),
    ]);
}

/// Ported from `internal/policy/semver_test.go` (`TestSemVer_Latest`, all 5 cases).
#[test]
fn flux_semver_latest() {
    let cases: &[Case] = &[
        ("Regular", semver("1.0.x"), &["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], Some("1.0.1")),
        ("Regular with prefix", semver("1.0.x"), &["v1.2.3", "v1.0.0", "v0.1.0"], Some("v1.0.0")),
        // Flux returns an error for the next three; we return no tag.
        ("With invalid prefix", semver("1.0.x"), &["b1.2.3", "b1.0.0", "b0.1.0"], None),
        ("With empty list", semver("1.0.x"), &[], None),
        ("With non-matching version list", semver("1.0.x"), &["1.2.0"], None),
    ];
    run(cases);
}

/// Ported from `internal/policy/semver_test.go` (`TestNewSemVer`: 6 valid, 6 invalid ranges).
#[test]
fn flux_new_semver() {
    for range in ["1.0.x", "^1.0", "=1.0.0", "~1.0", ">=1.0", ">0,<2.0"] {
        assert!(ImagePolicy::new(semver(range), None, None).is_ok(), "{range:?} should be valid");
    }
    for range in ["1.0.0p", "1x", "x1", "-1", "a", ""] {
        let err = ImagePolicy::new(semver(range), None, None).unwrap_err();
        assert!(matches!(&err, PolicyError::InvalidRange { range: r, .. } if r == range), "{range:?}: {err:?}");
        assert!(err.to_string().starts_with(&format!("invalid semver range {range:?}: ")), "{err}");
    }
}

#[test]
fn semver_ranges_and_pre_releases() {
    let tags: &[&str] = &["1.0.0", "1.4.2", "1.10.0", "2.0.0-rc.1", "2.0.0", "3.0.0-alpha", "latest", "1.2"];
    run(&[
        ("caret", semver("^1.0"), tags, Some("1.10.0")),
        ("any release", semver("*"), tags, Some("2.0.0")),
        ("pre-releases excluded", semver(">=2.0.0-0 <2.0.0 || >=3"), &["2.0.0", "3.0.0-alpha"], None),
        ("a pre-release in the group opts in", semver(">=2.0.0-0"), tags, Some("3.0.0-alpha")),
        ("hyphen range", semver("1.2 - 1.4.5"), tags, Some("1.4.2")),
        ("not equal", semver(">=1, !=1.10.0, <2"), tags, Some("1.4.2")),
        ("or", semver("~1.0.0 || ^2.0"), tags, Some("2.0.0")),
        ("tilde", semver("~1.4"), tags, Some("1.4.2")),
        ("leading zeros are a version", semver(">=2025.1.1"), &["2025.01.02", "2024.12.31"], Some("2025.01.02")),
    ]);
    let policy = ImagePolicy::new(semver("^1.0"), None, None).unwrap();
    let skipped = policy.select(tags).skipped;
    let reasons: Vec<String> = skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            r#"tag "1.2" skipped: "1.2" is not a semantic version: expected MAJOR.MINOR.PATCH"#,
            r#"tag "2.0.0" skipped: version "2.0.0" is outside range "^1.0""#,
            r#"tag "2.0.0-rc.1" skipped: version "2.0.0-rc.1" is outside range "^1.0""#,
            r#"tag "3.0.0-alpha" skipped: version "3.0.0-alpha" is outside range "^1.0""#,
            r#"tag "latest" skipped: "latest" is not a semantic version: expected MAJOR.MINOR.PATCH"#,
        ]
    );
}

/// The trap Flux falls into: equal ranks resolved by input order. Here the greatest tag wins.
#[test]
fn ties_are_broken_by_the_tag() {
    use Order::*;
    run(&[
        ("semver prefix", semver("*"), &["1.0.0", "v1.0.0"], Some("v1.0.0")),
        ("semver metadata", semver("*"), &["1.0.0+b.2", "1.0.0+b.10", "1.0.0"], Some("1.0.0+b.2")),
        ("semver leading zero", semver("*"), &["1.02.0", "1.2.0"], Some("1.2.0")),
        ("numerical asc", Choice::Numerical(Asc), &["01", "1", "1.0"], Some("1.0")),
        ("numerical desc", Choice::Numerical(Desc), &["01", "1", "5"], Some("1")),
        ("signed zero", Choice::Numerical(Asc), &["-0", "0"], Some("0")),
        (
            "build then commit",
            Choice::BranchCommitBuild { branch: None },
            &["main-bbbbbbb-7", "main-aaaaaaa-7", "dev-aaaaaaa-7"],
            Some("main-bbbbbbb-7"),
        ),
        (
            "build, commit, then tag",
            Choice::BranchCommitBuild { branch: None },
            &["main-aaaaaaa-7", "dev-aaaaaaa-7"],
            Some("main-aaaaaaa-7"),
        ),
    ]);
    // Two tags with one extracted value: Flux keeps whichever it saw last.
    let policy = ImagePolicy::new(Choice::Numerical(Order::Asc), Some(r"^[a-z]+-(?P<ts>\d+)$"), Some("$ts")).unwrap();
    assert_eq!(latest(&policy, &["main-100", "dev-100", "main-99"]).as_deref(), Some("main-100"));
}

/// Ported from `internal/policy/filter_test.go` (`TestRegexFilter`, all 3 cases). Flux's test
/// compares with `if reflect.DeepEqual(...) { t.Errorf }`, inverted, so it never checked
/// anything; these do.
#[test]
fn flux_regex_filter() {
    type FilterCase<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>, &'a [&'a str]);
    let cases: &[FilterCase] = &[
        ("none", &["a"], None, None, &["a"]),
        ("valid pattern", &["ver1", "ver2", "ver3", "rel1"], Some("^ver"), None, &["ver1", "ver2", "ver3"]),
        (
            "valid pattern with capture group",
            &["ver1", "ver2", "ver3", "rel1"],
            Some(r"ver(\d+)"),
            Some("$1"),
            &["1", "2", "3"],
        ),
    ];
    for (label, tags, pattern, extract, want) in cases {
        let policy = ImagePolicy::new(Choice::Alphabetical(Order::Asc), *pattern, *extract).unwrap();
        let values: Vec<String> = tags.iter().filter_map(|t| policy.value(t).ok()).map(|v| v.into_owned()).collect();
        assert_eq!(values, *want, "{label}");
    }
}

#[test]
fn extract_follows_go_expand() {
    // (pattern, extract, tag, value)
    type ExpandCase<'a> = (&'a str, &'a str, &'a str, &'a str);
    let cases: &[ExpandCase] = &[
        (r"^(\w+)-(?P<n>\d+)$", "$1", "main-42", "main"),
        (r"^(\w+)-(?P<n>\d+)$", "$n", "main-42", "42"),
        (r"^(\w+)-(?P<n>\d+)$", "${n}", "main-42", "42"),
        (r"^(\w+)-(?P<n>\d+)$", "${1}x", "main-42", "mainx"),
        (r"^(\w+)-(?P<n>\d+)$", "$2.$1", "main-42", "42.main"),
        (r"^(\w+)-(?P<n>\d+)$", "$$n", "main-42", "$n"),
        (r"^(\w+)-(?P<n>\d+)$", "$0", "main-42", "main-42"),
        (r"^(\w+)-(?P<n>\d+)$", "${n}-${1}", "main-42", "42-main"),
        (r"^(\w+)-(?P<n>\d+)(-rc)?$", "$n$3", "main-42", "42"),
        (r"^v(?P<v>.+)$", "$v", "v1.2.3", "1.2.3"),
    ];
    for (pattern, extract, tag, want) in cases {
        let policy = ImagePolicy::new(Choice::Alphabetical(Order::Asc), Some(pattern), Some(extract))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(policy.value(tag).unwrap(), *want, "{pattern} {extract} {tag}");
    }
    // Flux's own docs example: a timestamp taken out of `master-<sha>-<ts>`.
    let policy =
        ImagePolicy::new(Choice::Numerical(Order::Asc), Some("^master-[a-f0-9]+-(?P<ts>[0-9]+)"), Some("$ts")).unwrap();
    let tags = ["master-a1b2c3d-1606364286", "master-ffff000-1606234201", "dev-0000000-1700000000", "latest"];
    let selection = policy.select(tags);
    assert_eq!(selection.latest.as_deref(), Some("master-a1b2c3d-1606364286"));
    assert_eq!(selection.skipped.len(), 2);
    assert!(selection.skipped.iter().all(|s| s.reason == SkipReason::FilterMismatch));
}

#[test]
fn bad_extract_templates_are_rejected() {
    // (pattern, extract, expected message)
    let cases = [
        (
            r"^(\d+)",
            "$1x",
            r#"invalid filterTags.extract "$1x": refers to group "1x", which the pattern does not define ("$1x" means the group named "1x"; for group 1 followed by "x", write "${1}x")"#,
        ),
        (r"^(\d+)", "$2", r#"invalid filterTags.extract "$2": refers to group "2", which the pattern does not define"#),
        (
            r"^(?P<ts>\d+)",
            "$tss",
            r#"invalid filterTags.extract "$tss": refers to group "tss", which the pattern does not define"#,
        ),
        (r"^(\d+)", "${1", r#"invalid filterTags.extract "${1": "${" without a closing "}""#),
        (
            r"^(\d+)",
            "$1$",
            r#"invalid filterTags.extract "$1$": '$' not followed by a group name or number (write $$ for a literal '$')"#,
        ),
        (
            r"^(\d+)",
            "${a-b}",
            r#"invalid filterTags.extract "${a-b}": '$' not followed by a group name or number (write $$ for a literal '$')"#,
        ),
    ];
    for (pattern, extract, want) in cases {
        let err = ImagePolicy::new(Choice::Alphabetical(Order::Asc), Some(pattern), Some(extract)).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
    let err = ImagePolicy::new(Choice::Alphabetical(Order::Asc), None, Some("$1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid filterTags.extract "$1": there is no filterTags.pattern to take groups from"#
    );
    // An empty template is no extraction, as in Flux.
    assert!(ImagePolicy::new(Choice::Alphabetical(Order::Asc), None, Some("")).is_ok());
}

#[test]
fn bad_patterns_are_named() {
    let err = ImagePolicy::new(Choice::Alphabetical(Order::Asc), Some("("), None).unwrap_err();
    assert!(matches!(&err, PolicyError::InvalidPattern { pattern, .. } if pattern == "("));
    assert!(err.to_string().starts_with(r#"invalid filterTags.pattern "(": "#), "{err}");
}

#[test]
fn branch_commit_build_policy() {
    let any = ImagePolicy::new(Choice::BranchCommitBuild { branch: None }, None, None).unwrap();
    let main = ImagePolicy::new(Choice::BranchCommitBuild { branch: Some("main".into()) }, None, None).unwrap();
    let tags = ["main-1f49071-24", "main-abcdef0-9", "feature-x-1234567-30", "latest", "main-1f49071-024"];
    assert_eq!(latest(&any, &tags).as_deref(), Some("feature-x-1234567-30"));
    let selection = main.select(tags);
    assert_eq!(selection.latest.as_deref(), Some("main-1f49071-24"));
    let reasons: Vec<String> = selection.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            r#"tag "feature-x-1234567-30" skipped: branch "feature-x" is not "main""#,
            r#"tag "latest" skipped: tag "latest" is not a branch-commit-build tag: no '-' before the build number"#,
            r#"tag "main-1f49071-024" skipped: tag "main-1f49071-024" is not a branch-commit-build tag: build number is not a positive integer without leading zeros"#,
        ]
    );
    // Build numbers order numerically, not as text.
    assert_eq!(latest(&main, &["main-1111111-9", "main-2222222-10"]).as_deref(), Some("main-2222222-10"));
    // A filter and extraction work on top, e.g. tags with a registry-side prefix.
    let prefixed =
        ImagePolicy::new(Choice::BranchCommitBuild { branch: None }, Some("^app-(?P<t>.+)$"), Some("$t")).unwrap();
    assert_eq!(latest(&prefixed, &["app-main-1111111-9", "main-2222222-10"]).as_deref(), Some("app-main-1111111-9"));
}

#[test]
fn branches_must_be_sanitised() {
    let err = ImagePolicy::new(Choice::BranchCommitBuild { branch: Some("Feature/X".into()) }, None, None).unwrap_err();
    assert_eq!(err.to_string(), r#"invalid branch "Feature/X": tags carry sanitised branch names; use "feature-x""#);
    let err = ImagePolicy::new(Choice::BranchCommitBuild { branch: Some("//".into()) }, None, None).unwrap_err();
    assert!(err.to_string().starts_with(r#"invalid branch "//": "#), "{err}");
}

#[test]
fn is_newer_never_downgrades() {
    let main = ImagePolicy::new(Choice::BranchCommitBuild { branch: Some("main".into()) }, None, None).unwrap();
    assert!(main.is_newer("main-abcdef0-25", "main-1f49071-24"));
    assert!(!main.is_newer("main-1f49071-24", "main-abcdef0-25"), "a late event");
    assert!(!main.is_newer("main-1f49071-24", "main-1f49071-24"), "a duplicate event");
    assert!(!main.is_newer("main-fffffff-24", "main-1f49071-24"), "a rebuild of the same number");
    // The deployed image may be of another branch (the policy changed): still comparable.
    assert!(main.is_newer("main-abcdef0-25", "feature-x-1234567-3"));
    assert!(!main.is_newer("main-abcdef0-25", "feature-x-1234567-30"));
    // A candidate the policy would not select is never newer.
    assert!(!main.is_newer("feature-x-1234567-30", "main-1f49071-24"));
    // Nothing to compare with.
    assert_eq!(main.compare("main-abcdef0-25", "latest"), None);
    assert_eq!(main.compare("latest", "main-abcdef0-25"), None);
    assert_eq!(main.compare("main-abcdef0-25", "main-1f49071-25"), Some(Ordering::Equal));

    let range = ImagePolicy::new(semver("^1.0"), None, None).unwrap();
    assert!(range.is_newer("1.2.0", "0.9.0"), "the deployed version may be below the range");
    assert!(!range.is_newer("v1.2.0", "1.2.0"));
    assert!(!range.is_newer("2.0.0", "1.2.0"), "out of range");

    let desc = ImagePolicy::new(Choice::Numerical(Order::Desc), None, None).unwrap();
    assert!(desc.is_newer("3", "5"));
    assert!(!desc.is_newer("5", "3"));
    assert!(!desc.is_newer("1", "01"));
}

/// Ported from `internal/policy/factory_test.go` (`TestFactory_PolicerFromSpec`, 4 cases), on
/// the spec types.
#[test]
fn flux_policy_from_spec() {
    let spec = |policy: serde_json::Value| -> ImagePolicySpec {
        serde_json::from_value(serde_json::json!({ "imageRepositoryRef": { "name": "podinfo" }, "policy": policy }))
            .unwrap()
    };
    assert_eq!(spec(serde_json::json!({})).to_policy().unwrap_err(), PolicyError::NoPolicyChoice);
    assert!(spec(serde_json::json!({ "semver": { "range": "1.0.x" } })).to_policy().is_ok());
    assert!(spec(serde_json::json!({ "alphabetical": {} })).to_policy().is_ok());
    let err = spec(serde_json::json!({ "semver": { "range": "*-*" } })).to_policy().unwrap_err();
    assert!(err.to_string().starts_with(r#"invalid semver range "*-*": "#), "{err}");
    // Ours, not Flux's: Flux takes the first that is set.
    let err = spec(serde_json::json!({ "semver": { "range": "*" }, "numerical": {} })).to_policy().unwrap_err();
    assert_eq!(err.to_string(), "spec.policy sets more than one of semver, alphabetical, numerical: semver, numerical");
}

/// Ported from `TestNewNumerical` and `TestNewAlphabetical` (4 cases each): the order field.
#[test]
fn flux_order_field() {
    for kind in ["numerical", "alphabetical"] {
        let parse = |body: &str| serde_json::from_str::<NumericalPolicy>(body).map(|p| p.order);
        assert_eq!(parse("{}").unwrap(), Order::Asc, "{kind}: empty order");
        assert_eq!(parse(r#"{"order":"asc"}"#).unwrap(), Order::Asc, "{kind}");
        assert_eq!(parse(r#"{"order":"desc"}"#).unwrap(), Order::Desc, "{kind}");
        assert!(parse(r#"{"order":"invalid"}"#).is_err(), "{kind}");
        let spec: ImagePolicySpec = serde_json::from_str(&format!(
            r#"{{"imageRepositoryRef":{{"name":"a"}},"policy":{{"{kind}":{{"order":"desc"}}}}}}"#
        ))
        .unwrap();
        let want = if kind == "numerical" { Choice::Numerical(Order::Desc) } else { Choice::Alphabetical(Order::Desc) };
        assert_eq!(spec.to_policy().unwrap().choice(), &want);
    }
}

#[test]
fn reads_flux_manifests() {
    for api_version in ["image.toolkit.fluxcd.io/v1beta2", "image.toolkit.fluxcd.io/v1"] {
        let manifest: FluxImagePolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": api_version,
            "kind": "ImagePolicy",
            "metadata": { "name": "podinfo", "namespace": "flux-system", "labels": { "a": "b" } },
            "spec": {
                "imageRepositoryRef": { "name": "podinfo", "namespace": "flux-system" },
                "filterTags": { "pattern": "^master-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts" },
                "policy": { "numerical": { "order": "asc" } },
                "digestReflectionPolicy": "Never",
                "suspend": false
            },
            "status": { "latestRef": { "name": "x", "tag": "y" } }
        }))
        .unwrap();
        assert_eq!(manifest.metadata.namespace.as_deref(), Some("flux-system"));
        assert_eq!(manifest.spec.image_repository_ref.namespace.as_deref(), Some("flux-system"));
        let policy = manifest.to_policy().unwrap();
        assert_eq!(policy.choice(), &Choice::Numerical(Order::Asc));
        assert_eq!(policy.select(["master-abc-2", "master-abc-10"]).latest.as_deref(), Some("master-abc-10"));
    }
    let manifest: FluxImagePolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1beta1",
        "kind": "ImagePolicy",
        "spec": { "imageRepositoryRef": { "name": "podinfo" }, "policy": { "semver": { "range": ">=1.0.0" } } }
    }))
    .unwrap();
    assert_eq!(manifest.metadata.name, "");
    assert_eq!(
        manifest.to_policy().unwrap_err().to_string(),
        "unsupported manifest image.toolkit.fluxcd.io/v1beta1/ImagePolicy: expected ImagePolicy of \
         image.toolkit.fluxcd.io/v1beta2 or image.toolkit.fluxcd.io/v1"
    );
    // Round trip: what is written back reads the same.
    let text = serde_json::to_string(&manifest).unwrap();
    assert_eq!(serde_json::from_str::<FluxImagePolicy>(&text).unwrap(), manifest);
    assert!(!text.contains("filterTags"), "{text}");
}

fn policies() -> Vec<ImagePolicy> {
    let make =
        |choice, pattern: Option<&str>, extract: Option<&str>| ImagePolicy::new(choice, pattern, extract).unwrap();
    vec![
        make(Choice::Numerical(Order::Asc), None, None),
        make(Choice::Numerical(Order::Desc), None, None),
        make(Choice::Alphabetical(Order::Asc), None, None),
        make(Choice::Alphabetical(Order::Desc), Some("^[a-z]"), None),
        make(Choice::Semver { range: "*".into() }, None, None),
        make(Choice::Semver { range: ">=1.0.0-0 <3 || ~7".into() }, None, None),
        make(Choice::BranchCommitBuild { branch: None }, None, None),
        make(Choice::BranchCommitBuild { branch: Some("main".into()) }, None, None),
        make(Choice::Numerical(Order::Asc), Some(r"-(?P<n>\d+)$"), Some("$n")),
        make(Choice::Alphabetical(Order::Asc), Some(r"^(?:v)?(\d+)"), Some("$1")),
    ]
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?0?[0-9]{1,2}(\\.[0-9])?",
        "v?0?[0-9]\\.[0-9]{1,2}\\.[0-9](-rc\\.[0-9])?(\\+b[0-9])?",
        "(main|dev)-[0-9a-f]{7}-[1-9][0-9]?",
        "[a-z]{1,5}",
    ]
}

fn tags_and_permutation() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    prop::collection::vec(tag(), 0..16).prop_flat_map(|tags| (Just(tags.clone()), Just(tags).prop_shuffle()))
}

proptest! {
    #[test]
    fn select_is_independent_of_input_order((tags, shuffled) in tags_and_permutation(), which in 0..10usize) {
        let policy = &policies()[which];
        let selection = policy.select(&tags);
        prop_assert_eq!(&policy.select(&shuffled), &selection);
        let doubled: Vec<&String> = tags.iter().chain(&shuffled).collect();
        prop_assert_eq!(&policy.select(doubled), &selection);
    }

    #[test]
    fn selected_tag_is_an_eligible_input_and_none_is_newer(tags in prop::collection::vec(tag(), 0..16), which in 0..10usize) {
        let policy = &policies()[which];
        let selection = policy.select(&tags);
        let candidates: Vec<&String> = tags.iter().filter(|t| policy.candidate(t).is_ok()).collect();
        // Every tag is either a candidate or skipped, never both.
        for t in &tags {
            prop_assert_ne!(policy.candidate(t).is_ok(), selection.skipped.iter().any(|s| &s.tag == t));
        }
        match &selection.latest {
            None => prop_assert!(candidates.is_empty()),
            Some(latest) => {
                prop_assert!(tags.contains(latest));
                prop_assert!(policy.value(latest).is_ok(), "selected tag fails the filter");
                prop_assert!(policy.candidate(latest).is_ok());
                for c in &candidates {
                    prop_assert!(!policy.is_newer(c, latest), "{} is newer than the selected {}", c, latest);
                    prop_assert_ne!(policy.compare(latest, c), Some(Ordering::Less));
                }
            }
        }
    }

    #[test]
    fn is_newer_is_a_strict_order(a in tag(), b in tag(), which in 0..10usize) {
        let policy = &policies()[which];
        prop_assert!(!policy.is_newer(&a, &a));
        prop_assert!(!(policy.is_newer(&a, &b) && policy.is_newer(&b, &a)));
    }
}
