use super::*;

const SHA: &str = "1f49071c2e5d8d1f0d3c0f0c6f3b3a9d8e7f6a5b";
const OTHER: &str = "abcdef0123456789abcdef0123456789abcdef01";

fn build(id: &str, number: i64, source: &str, resolved: Option<&str>, start: i64) -> BuildFacts {
    BuildFacts {
        id: id.into(),
        number: Some(number),
        source_version: Some(source.into()),
        resolved_source_version: resolved.map(Into::into),
        webhook_head_ref: None,
        start_time: Some(start),
    }
}

#[test]
fn commit_tag_table() {
    let cases = [
        (SHA, true, true),
        ("1f49071", true, true),
        ("1f4907", false, false),
        ("1F49071", false, false),
        ("main-1f49071-24", false, false),
        ("latest", false, false),
        ("v1.2.3", false, false),
        (&"a".repeat(41), false, false),
    ];
    for (tag, commit, needs) in cases {
        assert_eq!((is_commit_tag(tag), needs_build_tag(tag)), (commit, needs), "{tag}");
    }
}

#[test]
fn choose_build_takes_the_newest_build_of_the_commit() {
    let builds = [
        build("p:1", 1, "refs/heads/main", Some(SHA), 100),
        build("p:2", 2, "refs/heads/main", Some(OTHER), 200),
        build("p:3", 3, "refs/heads/main", Some(SHA), 300),
        // An emulator (or a build started on a commit) with no resolvedSourceVersion.
        build("q:9", 9, SHA, None, 250),
        // sourceVersion that is not a full SHA never counts as the commit.
        build("q:10", 10, "1f49071", None, 400),
    ];
    let cases: [(&str, Option<&str>); 5] = [
        (SHA, Some("p:3")),
        ("1f49071", Some("p:3")),
        ("1F49071C", Some("p:3")),
        (&OTHER[..12], Some("p:2")),
        ("0000000", None),
    ];
    for (commit, want) in cases {
        assert_eq!(choose_build(&builds, commit).map(|b| b.id.as_str()), want, "{commit}");
    }
    assert_eq!(choose_build(&builds[3..4], SHA).map(|b| b.id.as_str()), Some("q:9"));
}

#[test]
fn tag_of_build_table() {
    let mut webhook = build("p:7", 7, SHA, Some(SHA), 1);
    webhook.webhook_head_ref = Some("refs/heads/feature/Login".into());
    let cases: [(BuildFacts, Result<&str, &str>); 5] = [
        (build("p:24", 24, "refs/heads/main", Some(SHA), 1), Ok("main-1f49071-24")),
        (build("p:3", 3, SHA, None, 1), Err("names no branch")),
        (webhook, Ok("feature-login-1f49071-7")),
        (build("p:5", 5, "pr/12", Some(SHA), 1), Err("sourceVersion is \"pr/12\"")),
        (BuildFacts { number: None, ..build("p:x", 1, "refs/heads/main", Some(SHA), 1) }, Err("build number")),
    ];
    for (facts, want) in cases {
        let got = tag_of_build(&facts).map(|r| r.tag.to_string()).map_err(|e| e.to_string());
        match (want, got) {
            (Ok(want), Ok(got)) => assert_eq!(got, want, "{facts:?}"),
            (Err(want), Err(got)) => {
                assert!(got.contains(want), "{got}");
                if want.contains("branch") {
                    assert!(got.contains(&facts.id), "the message names the build: {got}");
                }
            }
            (want, got) => panic!("{facts:?}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn only_api_failures_are_transient() {
    let api = CommitRetagError::Build(CiContextError::Api {
        service: "CodeBuild",
        operation: "BatchGetBuilds",
        subject: "p".into(),
        message: "throttled".into(),
    });
    assert!(api.is_transient());
    let none = CommitRetagError::NoBuild { projects: "p".into(), commit: SHA.into() };
    assert!(!none.is_transient());
    assert!(none.to_string().contains(SHA) && none.to_string().contains("project(s) p"), "{none}");
}
