//! Tests of [`super::load`].

use super::*;

fn fixture_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn flux_tutorial_manifests_work_unchanged() {
    let config = load(&fixture_root(), "flux-tutorial").unwrap();
    assert_eq!(config.paths, ["deploy/kubernetes/overlays/development"]);
    assert_eq!(config.branch.as_deref(), Some("main"));
    assert_eq!(config.commit.author_name, "fluxcdbot");
    assert_eq!(config.policies.len(), 1);
    let entry = &config.policies[0];
    assert_eq!(entry.policy_ref.to_string(), "flux-system:front-end");
    assert_eq!(entry.repository, "123456789012.dkr.ecr.us-east-1.amazonaws.com/front-end");
    let tags = ["master-1f49071-9", "master-abcdef0-10", "main-1234567-99", "master-zzz-11", "latest"];
    assert_eq!(entry.policy.select(tags).latest.as_deref(), Some("master-abcdef0-10"));
}

#[test]
fn shipline_yaml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shipline.yaml",
        "apiVersion: shipline.dev/v1alpha1\nkind: ShiplineConfig\npaths: [overlays/dev]\nbranch: trunk\n\
         commit: {authorName: bot, authorEmail: bot@example.invalid}\npolicies:\n\
         - name: apps:front-end\n  image: reg/front-end\n  kustomizeImages: [front-end]\n\
         - name: apps:api\n  image: reg/api\n  policy: {semver: {range: '>=1.0.0'}}\n",
    );
    let config = load(dir.path(), "shipline.yaml").unwrap();
    assert_eq!(config.paths, ["overlays/dev"]);
    assert_eq!(config.branch.as_deref(), Some("trunk"));
    assert_eq!(config.commit.author_email, "bot@example.invalid");
    let names: Vec<String> = config.policies.iter().map(|p| p.policy_ref.to_string()).collect();
    assert_eq!(names, ["apps:api", "apps:front-end"]);
    assert_eq!(config.policies[1].kustomize_images, ["front-end"]);
    assert_eq!(config.policies[1].policy.choice(), &Choice::BranchCommitBuild { branch: None }, "the default policy");
    assert_eq!(config.policies[0].policy.select(["1.0.0", "0.9.0", "2.1.0"]).latest.as_deref(), Some("2.1.0"));
}

#[test]
fn errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("typo.yaml", "policies:\n- name: a:b\n  image: reg/x\n  imgae: oops\n", "unknown field `imgae`"),
        ("badref.yaml", "policies:\n- name: nocolon\n  image: reg/x\n", "policies[].name"),
        ("tagged.yaml", "policies:\n- name: a:b\n  image: reg/x:v1\n", "without tag or digest"),
        (
            "two.yaml",
            "policies:\n- name: a:b\n  image: reg/x\n  policy: {numerical: {}, alphabetical: {}}\n",
            "set only one",
        ),
        ("regex.yaml", "policies:\n- name: a:b\n  image: reg/x\n  filterTags: {pattern: '('}\n", "filterTags.pattern"),
        ("escape.yaml", "paths: [../../etc]\npolicies:\n- name: a:b\n  image: reg/x\n", "outside the repository"),
        ("broken.yaml", "policies: [\n", "broken.yaml"),
        ("empty.yaml", "kind: Something\n", "no image policies found"),
    ];
    for (file, text, want) in cases {
        write(dir.path(), file, text);
        let err = load(dir.path(), file).unwrap_err().to_string();
        assert!(err.contains(file) && err.contains(want), "{file}: {err}");
    }
    let err = load(dir.path(), "../outside").unwrap_err().to_string();
    assert!(err.contains("outside the repository"), "{err}");
}

#[test]
fn flux_policy_without_its_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string(fixture_root().join("flux-tutorial/policy.yaml")).unwrap();
    write(dir.path(), "policy.yaml", &policy);
    let err = load(dir.path(), ".").unwrap_err().to_string();
    assert!(err.contains("names no ImageRepository"), "{err}");
}

#[test]
fn the_shipped_example_configuration_loads() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/sock-shop");
    let config = load(&examples, "shipline.yaml").unwrap();
    assert_eq!(config.paths, ["overlays/development"]);
    assert_eq!(config.policies[0].policy_ref.to_string(), "flux-system:front-end");
    assert_eq!(config.policies[0].policy.choice(), &Choice::BranchCommitBuild { branch: Some("main".into()) });
}
