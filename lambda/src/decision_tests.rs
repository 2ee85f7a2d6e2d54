use shipline_core::update::config::{CommitSettings, PolicyEntry};
use shipline_core::update::overlay::PolicyRef;
use shipline_core::update::policy::{Choice, ImagePolicy};

use super::*;

const URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/front-end";

fn entry(name: &str, repository: &str, choice: Choice, filter: Option<&str>) -> PolicyEntry {
    PolicyEntry {
        policy_ref: PolicyRef::parse(name).unwrap(),
        repository: repository.into(),
        policy: ImagePolicy::new(choice, filter, None).unwrap(),
        kustomize_images: Vec::new(),
    }
}

fn config() -> UpdateConfig {
    UpdateConfig {
        policies: vec![
            entry("apps:front-end", URI, Choice::BranchCommitBuild { branch: Some("main".into()) }, None),
            entry("apps:front-end-semver", URI, Choice::Semver { range: ">=1.0.0".into() }, None),
            entry(
                "apps:other",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/other",
                Choice::BranchCommitBuild { branch: None },
                None,
            ),
            entry("apps:filtered", "localhost:4566/app", Choice::Alphabetical(Default::default()), Some("^rc-")),
        ],
        paths: Vec::new(),
        branch: None,
        commit: CommitSettings::default(),
        push: Default::default(),
        automation: Default::default(),
    }
}

fn image(repository: &str, account: Option<&str>, tag: &str) -> ImageSpec {
    ImageSpec { repository: repository.into(), account: account.map(Into::into), tag: tag.into(), digest: None }
}

#[test]
fn repository_matching_table() {
    let cases = [
        (URI, image("team/front-end", Some("123456789012"), "t"), true),
        (URI, image("team/front-end", None, "t"), true),
        (URI, image("team/front-end", Some("210987654321"), "t"), false),
        (URI, image("front-end", None, "t"), false),
        (URI, image(URI, None, "t"), true),
        (URI, image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/front-end", None, "t"), false),
        ("localhost:4566/app", image("app", Some("123456789012"), "t"), true),
        ("localhost:4566/app", image("localhost:4566/app", None, "t"), true),
        ("reg/app", image("reg/app", None, "t"), true),
    ];
    for (policy, img, want) in cases {
        assert_eq!(repository_matches(policy, &img), want, "{policy} vs {img:?}");
    }
}

#[test]
fn policies_fed_wanting_and_refusing() {
    let cfg = config();
    let m = match_policies(&cfg, &image("team/front-end", Some("123456789012"), "main-1f49071-24"));
    assert_eq!(m.fed, ["apps:front-end", "apps:front-end-semver"]);
    assert_eq!(m.wanting, ["apps:front-end"]);
    assert_eq!(m.refused.len(), 1);
    assert!(m.refused[0].starts_with("apps:front-end-semver: "), "{:?}", m.refused);
    assert_eq!(m.candidates.len(), 1);
    assert_eq!(m.candidates[URI], [Candidate { tag: "main-1f49071-24".into(), digest: None }]);

    let semver = match_policies(&cfg, &image("team/front-end", None, "v1.2.3"));
    assert_eq!(semver.wanting, ["apps:front-end-semver"]);

    let filtered = match_policies(&cfg, &image("app", None, "latest"));
    assert_eq!(filtered.wanting, Vec::<String>::new());
    assert!(filtered.refused[0].contains("filterTags"), "{:?}", filtered.refused);

    assert_eq!(match_policies(&cfg, &image("unknown", None, "v1")), PolicyMatch::default());
}

#[test]
fn decisions_table() {
    let img = image("team/front-end", None, "main-1f49071-24");
    let outcome = |commit: Option<&str>| UpdateOutcome {
        commit: commit.map(Into::into),
        branch: "main".into(),
        checkout_branch: "main".into(),
        message: None,
        records: Vec::new(),
        files: Vec::new(),
        chosen: BTreeMap::new(),
        attempts: 1,
    };
    let fed = PolicyMatch { fed: vec!["a:b".into()], wanting: vec!["a:b".into()], ..Default::default() };
    let refused = PolicyMatch { fed: vec!["a:b".into()], refused: vec!["a:b: no".into()], ..Default::default() };
    let cases = [
        (PolicyMatch::default(), outcome(None), Status::Ignored, "no policy in shipline.yaml takes"),
        (refused, outcome(None), Status::Ignored, "no policy wants tag \"main-1f49071-24\": a:b: no"),
        (fed.clone(), outcome(Some("0123456789abcdef0123")), Status::Updated, "pushed 0123456789ab to main"),
        (fed, outcome(None), Status::Unchanged, "already hold"),
    ];
    for (found, out, status, reason) in cases {
        let report = decide(&img, &found, &out, "shipline.yaml");
        assert_eq!(report.status, status);
        assert!(report.reason.contains(reason), "{}", report.reason);
    }
    let json = serde_json::to_value(Report::simple(Status::Ignored, "why", None)).unwrap();
    assert_eq!(json, serde_json::json!({"status": "ignored", "reason": "why"}));
}
