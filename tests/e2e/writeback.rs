//! Write-back the way teams ship, against the real git server: Flux's `messageTemplate` on
//! Flux's data, subjects naming only what changed, and Flux's push semantics (push branch
//! created from the checkout branch, then updated on top of itself; `push.refspec`; every ref
//! update a compare-and-swap).

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Once};

use shipline_core::git::{self, GitAuth, GitError};
use shipline_core::image::Candidate;
use shipline_core::secret::Secret;
use shipline_core::update::updater::{self, UpdateError, UpdateRequest, WriteOptions};
use shipline_e2e::{GitServer, SeededRepo, unique_name};

fn server() -> GitServer {
    static TRUST: Once = Once::new();
    let server = GitServer::from_env();
    TRUST.call_once(|| git::trust_ca_file(&server.ca_file).expect("trust test CA"));
    server
}

fn auth(server: &GitServer) -> GitAuth {
    GitAuth::UserPassword { username: server.user.clone(), password: Secret::new(server.password.clone()) }
}

fn deployment(name: &str, namespace: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {image} # {{\"$imagepolicy\": \"flux-system:{name}\"}}\n"
    )
}

/// Flux's own objects for two images, `a` and `b`, and an automation with `git` settings.
fn flux_config(git_spec: &str) -> String {
    let mut out = String::new();
    for name in ["a", "b"] {
        out.push_str(&format!(
            "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata: {{name: {name}, namespace: flux-system}}\nspec: {{image: reg.example/{name}}}\n---\n\
             apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata: {{name: {name}, namespace: flux-system}}\nspec:\n  imageRepositoryRef: {{name: {name}}}\n  policy: {{semver: {{range: '>=1.0.0'}}}}\n---\n"
        ));
    }
    out.push_str(&format!(
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageUpdateAutomation\nmetadata: {{name: apps, namespace: flux-system}}\nspec:\n  update: {{path: ./apps, strategy: Setters}}\n  git:\n{git_spec}"
    ));
    out
}

fn seed(server: &GitServer, prefix: &str, config: &str) -> SeededRepo {
    let a = deployment("a", "dev", "reg.example/a:1.0.0");
    let b = deployment("b", "dev", "reg.example/b:1.0.0");
    server.seed_repo(
        &unique_name(prefix),
        &[("clusters/automation.yaml", config), ("apps/a.yaml", a.as_str()), ("apps/b.yaml", b.as_str())],
    )
}

fn request(server: &GitServer, repo: &SeededRepo, images: &[(&str, &str)]) -> UpdateRequest {
    let mut candidates: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for (repository, tag) in images {
        candidates
            .entry((*repository).to_owned())
            .or_default()
            .push(Candidate { tag: (*tag).to_owned(), digest: None });
    }
    UpdateRequest {
        url: repo.https_url.clone(),
        auth: auth(server),
        branch: None,
        config_path: "clusters".into(),
        candidates,
        trailers: vec![("Shipline-Source".into(), "e2e".into())],
        dry_run: false,
        author: None,
        write: WriteOptions::default(),
    }
}

/// The tip of `branch` on the server, if it exists.
fn tip(repo: &SeededRepo, branch: &str) -> Option<(git2::Oid, String, Vec<git2::Oid>)> {
    let bare = git2::Repository::open_bare(&repo.path).expect("open bare repo");
    let commit = bare.find_reference(&format!("refs/heads/{branch}")).and_then(|r| r.peel_to_commit()).ok()?;
    let message = commit.message().unwrap_or_default().to_owned();
    Some((commit.id(), message, commit.parent_ids().collect()))
}

fn file_on(repo: &SeededRepo, branch: &str, file: &str) -> String {
    let bare = git2::Repository::open_bare(&repo.path).expect("open bare repo");
    let tree = bare.find_reference(&format!("refs/heads/{branch}")).and_then(|r| r.peel_to_tree()).expect("tree");
    let blob = bare.find_blob(tree.get_path(std::path::Path::new(file)).expect("entry").id()).expect("blob");
    String::from_utf8_lossy(blob.content()).into_owned()
}

const GIT_MAIN: &str = "    checkout: {ref: {branch: main}}\n    push: {branch: main}\n";

#[test]
fn flux_message_template_sees_flux_data_and_only_changed_images() {
    let server = server();
    let template = "    commit:\n      author: {name: fluxbot, email: flux@example.invalid}\n      messageTemplate: |\n        Automated update by {{ .AutomationObject }} for {{ .Values.env }}\n        {{ range $resource, $changes := .Changed.Objects -}}\n        - {{ $resource.Kind }}/{{ $resource.Name }} in {{ $resource.Namespace }}:{{ range $changes }} {{ .OldValue }} -> {{ .NewValue }} ({{ .Setter }}){{ end }}\n        {{ end -}}\n        legacy: {{ range .Updated.Images }}{{ println . }}{{ end }}\n      messageTemplateValues: {env: dev}\n";
    let repo = seed(&server, "wb-template", &flux_config(&format!("{GIT_MAIN}{template}")));
    // b's candidate is what b already runs: chosen, but not a change.
    let req = request(&server, &repo, &[("reg.example/a", "1.1.0"), ("reg.example/b", "1.0.0")]);
    let outcome = updater::run(&req, None).expect("update");
    let commit = outcome.commit.expect("a commit");
    let (id, message, _) = tip(&repo, "main").expect("main");
    assert_eq!(id.to_string(), commit);
    assert_eq!(
        message,
        "Automated update by flux-system/apps for dev\n- Deployment/a in dev: reg.example/a:1.0.0 -> reg.example/a:1.1.0 (flux-system:a)\nlegacy: reg.example/a:1.1.0\n\nShipline-Source: e2e\n"
    );
    let bare = git2::Repository::open_bare(&repo.path).unwrap();
    assert_eq!(bare.find_commit(id).unwrap().author().name().ok(), Some("fluxbot"));
}

#[test]
fn default_subject_lists_only_images_that_changed() {
    let server = server();
    let config = "policies:\n- {name: 'flux-system:a', image: reg.example/a, policy: {semver: {range: '>=1.0.0'}}}\n- {name: 'flux-system:b', image: reg.example/b, policy: {semver: {range: '>=1.0.0'}}}\n";
    let a = deployment("a", "dev", "reg.example/a:1.0.0");
    let b = deployment("b", "dev", "reg.example/b:1.0.0");
    let repo = server.seed_repo(
        &unique_name("wb-subject"),
        &[("shipline.yaml", config), ("apps/a.yaml", a.as_str()), ("apps/b.yaml", b.as_str())],
    );
    let mut req = request(&server, &repo, &[("reg.example/a", "1.0.0"), ("reg.example/b", "2.0.0")]);
    req.config_path = "shipline.yaml".into();
    updater::run(&req, None).expect("update").commit.expect("a commit");
    let (_, message, _) = tip(&repo, "main").unwrap();
    let subject = message.lines().next().unwrap();
    assert_eq!(subject, "Update images: reg.example/b:2.0.0", "{message}");
    assert!(message.contains("apps/b.yaml: reg.example/b:1.0.0 -> reg.example/b:2.0.0\n"), "{message}");
}

#[test]
fn template_errors_are_configuration_errors_and_push_nothing() {
    let server = server();
    // Parses, fails when run: `.Nope` is not in Flux's data.
    let runtime = "    commit: {messageTemplate: '{{ .Changed.Nope }}'}\n";
    let repo = seed(&server, "wb-template-run-error", &flux_config(&format!("{GIT_MAIN}{runtime}")));
    let err = updater::run(&request(&server, &repo, &[("reg.example/a", "1.1.0")]), None).unwrap_err();
    assert!(matches!(err, UpdateError::CommitMessage(_)), "{err:?}");
    assert!(err.to_string().contains("can't evaluate field Nope in type update.ResultV2"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(repo.commits_on_main(), 1, "nothing pushed");

    // Does not parse: the file and the field are named, before anything is edited.
    let parse = "    commit: {messageTemplate: '{{ range .Updated.Images }}'}\n";
    let repo = seed(&server, "wb-template-parse-error", &flux_config(&format!("{GIT_MAIN}{parse}")));
    let err = updater::run(&request(&server, &repo, &[("reg.example/a", "1.1.0")]), None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, UpdateError::Config(_)), "{err:?}");
    assert!(text.contains("automation.yaml") && text.contains("spec.git.commit.messageTemplate"), "{text}");
    assert!(text.contains("missing {{end}}"), "{text}");
    assert_eq!(repo.commits_on_main(), 1, "nothing pushed");
}

const GIT_PUSH_BRANCH: &str = "    checkout: {ref: {branch: main}}\n    push: {branch: image-updates}\n";

#[test]
fn push_branch_is_created_from_checkout_then_updated_on_top_of_itself() {
    let server = server();
    let repo = seed(&server, "wb-push-branch", &flux_config(GIT_PUSH_BRANCH));
    let (main_tip, _, _) = tip(&repo, "main").unwrap();
    assert!(tip(&repo, "image-updates").is_none());

    let first = updater::run(&request(&server, &repo, &[("reg.example/a", "1.1.0")]), None).expect("first update");
    assert_eq!((first.branch.as_str(), first.checkout_branch.as_str()), ("image-updates", "main"));
    let (created, _, parents) = tip(&repo, "image-updates").expect("push branch created");
    assert_eq!(created.to_string(), first.commit.clone().unwrap());
    assert_eq!(parents, [main_tip], "created from the checkout branch's tip");
    assert_eq!(tip(&repo, "main").unwrap().0, main_tip, "the checkout branch is untouched");

    // Someone adds a commit to the push branch; the next update goes on top of it, keeping it.
    let bare = git2::Repository::open_bare(&repo.path).unwrap();
    let parent = bare.find_commit(created).unwrap();
    let blob = bare.blob(b"reviewed\n").unwrap();
    let mut builder = bare.treebuilder(Some(&parent.tree().unwrap())).unwrap();
    builder.insert("REVIEW.md", blob, 0o100644).unwrap();
    let tree = bare.find_tree(builder.write().unwrap()).unwrap();
    let sig = git2::Signature::now("reviewer", "r@example.invalid").unwrap();
    let reviewed = bare.commit(Some("refs/heads/image-updates"), &sig, &sig, "review", &tree, &[&parent]).unwrap();

    let second = updater::run(&request(&server, &repo, &[("reg.example/b", "1.2.0")]), None).expect("second update");
    let (updated, _, parents) = tip(&repo, "image-updates").unwrap();
    assert_eq!(updated.to_string(), second.commit.unwrap());
    assert_eq!(parents, [reviewed], "updated on top of itself");
    assert_eq!(file_on(&repo, "image-updates", "REVIEW.md"), "reviewed\n");
    assert!(file_on(&repo, "image-updates", "apps/a.yaml").contains("reg.example/a:1.1.0"), "first change kept");
    assert!(file_on(&repo, "image-updates", "apps/b.yaml").contains("reg.example/b:1.2.0"));
    assert_eq!(tip(&repo, "main").unwrap().0, main_tip);

    // The same event again: nothing to do on the push branch, no commit.
    let again = updater::run(&request(&server, &repo, &[("reg.example/b", "1.2.0")]), None).expect("again");
    assert_eq!(again.commit, None);
}

#[test]
fn concurrent_creations_of_the_push_branch_all_land() {
    let server = server();
    let repo = seed(&server, "wb-push-race", &flux_config(GIT_PUSH_BRANCH));
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = [("reg.example/a", "1.3.0"), ("reg.example/b", "1.4.0")]
        .into_iter()
        .map(|image| {
            let (barrier, req) = (barrier.clone(), request(&server, &repo, &[image]));
            std::thread::spawn(move || {
                barrier.wait();
                updater::run(&req, None)
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread").expect("update")).collect();
    assert!(outcomes.iter().all(|o| o.commit.is_some()));
    // Both changes survive: the loser of the creation race went on top of the winner.
    assert!(file_on(&repo, "image-updates", "apps/a.yaml").contains("reg.example/a:1.3.0"));
    assert!(file_on(&repo, "image-updates", "apps/b.yaml").contains("reg.example/b:1.4.0"));
    assert_eq!(repo.commits_on_main(), 1);
}

#[test]
fn push_refspec_is_a_lease_and_never_forced() {
    let server = server();
    let git_spec = "    checkout: {ref: {branch: main}}\n    push: {branch: image-updates, refspec: 'refs/heads/image-updates:refs/heads/review'}\n";
    let repo = seed(&server, "wb-refspec", &flux_config(git_spec));
    let first = updater::run(&request(&server, &repo, &[("reg.example/a", "1.1.0")]), None).expect("update");
    let pushed = first.commit.unwrap();
    assert_eq!(tip(&repo, "review").unwrap().0.to_string(), pushed, "refspec destination created");

    // The next update fast-forwards the refspec's destination.
    let second = updater::run(&request(&server, &repo, &[("reg.example/a", "1.2.0")]), None).expect("update");
    assert_eq!(tip(&repo, "review").unwrap().0.to_string(), second.commit.unwrap());

    // The destination moved to an unrelated commit: refused, not overwritten.
    let bare = git2::Repository::open_bare(&repo.path).unwrap();
    let main_tip = tip(&repo, "main").unwrap().0;
    bare.reference("refs/heads/review", main_tip, true, "elsewhere").unwrap();
    let err = updater::run(&request(&server, &repo, &[("reg.example/a", "1.3.0")]), None).unwrap_err();
    match &err {
        UpdateError::Git(GitError::PushRejected { reference, reason, .. }) => {
            assert_eq!(reference, "refs/heads/review");
            assert!(reason.contains("never force-pushes"), "{reason}");
        }
        other => panic!("expected a refused refspec push, got {other:?}"),
    }
    assert_eq!(tip(&repo, "review").unwrap().0, main_tip, "not overwritten");
}

#[test]
fn request_options_override_the_configuration_and_bad_ones_are_refused() {
    let server = server();
    let repo = seed(&server, "wb-push-override", &flux_config(GIT_MAIN));
    let mut req = request(&server, &repo, &[("reg.example/a", "1.1.0")]);
    req.write.push_branch = Some("from-cli".into());
    let outcome = updater::run(&req, None).expect("update");
    assert_eq!(tip(&repo, "from-cli").unwrap().0.to_string(), outcome.commit.unwrap());
    assert_eq!(repo.commits_on_main(), 1);

    let bad = flux_config("    checkout: {ref: {branch: main}}\n    push: {branch: main, refspec: '+main:review'}\n");
    let repo = seed(&server, "wb-push-forced", &bad);
    let err = updater::run(&request(&server, &repo, &[("reg.example/a", "1.1.0")]), None).unwrap_err();
    assert!(
        err.to_string().contains("spec.git.push.refspec") && err.to_string().contains("never force-pushes"),
        "{err}"
    );
}
