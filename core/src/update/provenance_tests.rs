use super::*;

const REG: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn commit(id: &str, added: &[&str], trailers: &[(&str, &str)]) -> HistoryCommit {
    HistoryCommit {
        id: id.into(),
        time: format!("t-{id}"),
        summary: format!("commit {id}"),
        trailers: trailers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        added: added.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn trailers_table() {
    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("subject only", &[]),
        (
            "subject\n\nImage-Digest: sha256:ab\nCodeBuild-Build-Id: p:1\n",
            &[("Image-Digest", "sha256:ab"), ("CodeBuild-Build-Id", "p:1")],
        ),
        ("subject\n\nbody text\n\nShipline-Source: lambda ecr-push", &[("Shipline-Source", "lambda ecr-push")]),
        ("subject\n\nnot: a trailer paragraph\nbecause this line is prose\n", &[]),
        ("Key: looks like one\n", &[]),
        ("subject\n\nBad Key: value\n", &[]),
    ];
    for (message, want) in cases {
        let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(parse_trailers(message), want, "{message:?}");
    }
}

#[test]
fn introduces_table() {
    let image = ImageRef::parse(&format!("{REG}/shop/cart:main-1f49071-24@{D1}")).unwrap();
    let cases = [
        (format!("image: {REG}/shop/cart:main-1f49071-24@{D1} # {{\"$imagepolicy\": \"apps:cart\"}}"), true),
        (format!("image: {REG}/shop/cart:main-1f49071-24"), true),
        ("newTag: main-1f49071-24".to_owned(), true),
        ("- newTag: \"main-1f49071-24\"".to_owned(), true),
        (format!("digest: {D1}"), true),
        ("newTag: main-1f49071-2".to_owned(), false),
        (format!("image: {REG}/shop/cart:main-1f49071-23"), false),
        (format!("image: {REG}/shop/carts:main-0000000-1"), false),
        ("replicas: 3".to_owned(), false),
    ];
    for (line, want) in cases {
        assert_eq!(introduces(&line, &image), want, "{line}");
    }
}

#[test]
fn rows_join_each_image_with_the_newest_commit_that_put_it_there() {
    let cart = format!("{REG}/shop/cart:main-1f49071-24@{D1}");
    let front = format!("{REG}/shop/front-end:main-abcdef0-7");
    let history = vec![
        commit("c3", &["replicas: 2"], &[]),
        commit("c2", &[&format!("image: {cart} # marker")], &[("CodeBuild-Build-Id", "cart:24"), ("Image-Digest", D1)]),
        commit("c1", &[&format!("image: {REG}/shop/cart:main-0000000-1"), "newTag: main-abcdef0-7"], &[]),
    ];
    let running = |workload: &str, image: &str| RunningImage {
        workload: workload.into(),
        container: "app".into(),
        image: image.into(),
    };
    let syncs = [
        SyncFacts {
            name: "shop".into(),
            applied_revision: "c3".into(),
            applied_at: "2026-11-30T20:00:00Z".into(),
            ready: Some(ConditionFacts {
                status: "True".into(),
                reason: "ReconciliationSucceeded".into(),
                since: "x".into(),
            }),
            healthy: None,
            images: vec![
                running("Deployment shop/cart", &cart),
                running("Deployment shop/front-end", &front),
                running("Deployment shop/redis", "redis:7"),
            ],
        },
        SyncFacts { name: "never-applied".into(), ..Default::default() },
    ];
    let histories = BTreeMap::from([("c3".to_owned(), history)]);
    let rows = rows(&syncs, &histories);
    assert_eq!(rows.len(), 2);
    let got: Vec<Option<&str>> = rows[0].images.iter().map(|i| i.commit.as_ref().map(|c| c.id.as_str())).collect();
    assert_eq!(got, [Some("c2"), Some("c1"), None], "cart from c2, front-end's newTag from c1, redis not from git");
    assert_eq!(rows[0].images[0].commit.as_ref().unwrap().trailers[0], ("CodeBuild-Build-Id".into(), "cart:24".into()));
    assert!(rows[1].images.is_empty() && rows[1].applied_revision.is_empty());

    // Where does the build run?
    let cases = [
        ("shop/cart:main-1f49071-24", vec!["Deployment shop/cart"]),
        (&format!("{REG}/shop/cart:main-1f49071-24") as &str, vec!["Deployment shop/cart"]),
        ("shop/cart:main-1f49071-23", vec![]),
        ("shop/front-end:main-abcdef0-7", vec!["Deployment shop/front-end"]),
        ("redis:7", vec!["Deployment shop/redis"]),
    ];
    for (query, want) in cases {
        let found = where_runs(&rows, &ImageRef::parse(query).unwrap());
        let workloads: Vec<&str> =
            found.iter().flat_map(|r| r.images.iter().map(|i| i.running.workload.as_str())).collect();
        assert_eq!(workloads, want, "{query}");
    }
}

#[test]
fn rfc3339_table() {
    let cases = [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_796_069_716, "2026-11-30T20:15:16Z"),
        (-1, "1969-12-31T23:59:59Z"),
    ];
    for (secs, want) in cases {
        assert_eq!(history::rfc3339(secs), want, "{secs}");
    }
}

#[test]
fn history_walk_reads_added_lines_and_trailers() {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(1_796_069_716, 0)).unwrap();
    let mut parent: Option<git2::Oid> = None;
    for (n, (content, message)) in
        [("image: a:1\n", "first"), ("image: a:2\n", "second\n\nCodeBuild-Build-Id: p:2\n")].iter().enumerate()
    {
        std::fs::write(dir.path().join("d.yaml"), content).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("d.yaml")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent.iter().map(|p| repo.find_commit(*p).unwrap()).collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        parent = Some(repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &refs).unwrap());
        assert!(n < 2);
    }
    let walked = history::walk(dir.path(), "HEAD", 10).unwrap();
    assert_eq!(walked.len(), 2);
    assert_eq!(walked[0].added, ["image: a:2"]);
    assert_eq!(walked[0].trailers, [("CodeBuild-Build-Id".to_owned(), "p:2".to_owned())]);
    assert_eq!(walked[0].time, "2026-11-30T20:15:16Z");
    assert_eq!(walked[1].added, ["image: a:1"]);
    assert_eq!(history::walk(dir.path(), "HEAD", 1).unwrap().len(), 1, "bounded");
    let err = history::walk(dir.path(), "no-such-branch", 10).unwrap_err();
    assert!(err.to_string().contains("no-such-branch"), "{err}");
}
