use proptest::prelude::*;

use super::*;

const C: &str = "1f49071a2b3c4d5e6f708192a3b4c5d6e7f80912";
const D: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NOW: i64 = 1_796_081_349;

fn time(text: &str) -> Option<i64> {
    shipline_core::utc::parse_rfc3339(text)
}

fn seen(applied: &str, attempted: &str, conditions: &[(&str, &str, &str, &str)]) -> SyncSeen {
    let conditions: Vec<_> = conditions
        .iter()
        .map(|(k, s, r, m)| serde_json::json!({"type": k, "status": s, "reason": r, "message": m, "lastTransitionTime": "t"}))
        .collect();
    let data = BTreeMap::from([
        ("lastAppliedRevision".to_owned(), applied.to_owned()),
        ("lastAppliedAt".to_owned(), "2026-11-30T23:30:09Z".to_owned()),
        ("lastAttemptedRevision".to_owned(), attempted.to_owned()),
        ("conditions".to_owned(), serde_json::to_string_pretty(&conditions).unwrap()),
        ("inventorySize".to_owned(), "3".to_owned()),
    ]);
    SyncSeen::from_data(&data)
}

const READY: (&str, &str, &str, &str) = ("Ready", "True", "ReconciliationSucceeded", "applied revision x");
const HEALTHY: (&str, &str, &str, &str) = ("Healthy", "True", "WorkloadsReady", "all workloads rolled out");
const NOT_STALLED: (&str, &str, &str, &str) = ("Stalled", "False", "ReconciliationSucceeded", "");
const UNHEALTHY_MSG: &str = "sync apps: not healthy after 5s: Deployment.apps shop/cart: 0 of 1 replicas available; \
                             Pods: cart-1 ImagePullBackOff";

#[test]
fn verdicts_table() {
    let started = NOW - 120;
    let healthy = seen(C, C, &[READY, HEALTHY, NOT_STALLED]);
    let cases: Vec<(&str, Option<SyncSeen>, i64, Verdict)> = vec![
        (
            "applied and healthy at C: seconds from the start to lastAppliedAt",
            Some(healthy.clone()),
            NOW,
            Verdict::Healthy { revision: C.into(), applied_at: "2026-11-30T23:30:09Z".into(), seconds: 180 },
        ),
        (
            "healthy even after the deadline: the answer is in",
            Some(healthy),
            NOW + 10_000,
            Verdict::Healthy { revision: C.into(), applied_at: "2026-11-30T23:30:09Z".into(), seconds: 180 },
        ),
        ("no ConfigMap yet", None, NOW, Verdict::Waiting("no status ConfigMap yet: the reconciler has not recorded this sync".into())),
        (
            "an older revision applied",
            Some(seen(D, D, &[READY, HEALTHY, NOT_STALLED])),
            NOW,
            Verdict::Waiting("applied aaaaaaaaaaaa at 2026-11-30T23:30:09Z, Ready True (ReconciliationSucceeded), Healthy True (WorkloadsReady), Stalled False (ReconciliationSucceeded)".into()),
        ),
        (
            "unhealthy at C names the object",
            Some(seen(D, C, &[("Ready", "False", "HealthCheckFailed", UNHEALTHY_MSG), ("Healthy", "False", "HealthCheckFailed", UNHEALTHY_MSG), ("Stalled", "False", "HealthCheckFailed", "")])),
            NOW,
            Verdict::Unhealthy {
                objects: "Deployment.apps shop/cart: 0 of 1 replicas available; Pods: cart-1 ImagePullBackOff".into(),
                reason: "HealthCheckFailed".into(),
            },
        ),
        (
            "stalled at C (build failed)",
            Some(seen(D, C, &[("Ready", "False", "BuildFailed", "sync apps: kustomization.yaml: bad"), ("Healthy", "Unknown", "BuildFailed", "x"), ("Stalled", "True", "BuildFailed", "")])),
            NOW,
            Verdict::Failed { reason: "BuildFailed".into(), message: "sync apps: kustomization.yaml: bad".into() },
        ),
        (
            "a fetch error at C is retried by the reconciler: keep waiting",
            Some(seen(D, C, &[("Ready", "False", "FetchFailed", "timeout"), ("Healthy", "Unknown", "FetchFailed", "timeout"), ("Stalled", "False", "FetchFailed", "")])),
            NOW,
            Verdict::Waiting("applied aaaaaaaaaaaa at 2026-11-30T23:30:09Z, attempted 1f49071a2b3c, Ready False (FetchFailed: timeout), Healthy Unknown (FetchFailed: timeout), Stalled False (FetchFailed)".into()),
        ),
        (
            "deadline passed while an older revision runs",
            Some(seen(D, D, &[READY])),
            started + 600,
            Verdict::TimedOut { waited: 600, seen: "applied aaaaaaaaaaaa at 2026-11-30T23:30:09Z, Ready True (ReconciliationSucceeded)".into() },
        ),
        (
            "deadline passed with no ConfigMap",
            None,
            started + 601,
            Verdict::TimedOut { waited: 601, seen: "no status ConfigMap yet: the reconciler has not recorded this sync".into() },
        ),
    ];
    for (name, status, now, want) in cases {
        let got = assess(C, status.as_ref(), false, started, now, 600, time);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_later_revision_that_contains_the_commit_counts_as_the_commit() {
    let later = seen(D, D, &[READY, HEALTHY, NOT_STALLED]);
    assert_eq!(descendant_to_check(C, &later), Some(D));
    let Verdict::Healthy { revision, seconds, .. } = assess(C, Some(&later), true, NOW - 10, NOW, 600, time) else {
        panic!("healthy")
    };
    assert_eq!((revision.as_str(), seconds), (D, 70), "the revision is D; time to lastAppliedAt");
    assert!(matches!(assess(C, Some(&later), false, NOW, NOW, 600, time), Verdict::Waiting(_)), "not contained");
    // Not ready, not healthy, or a newer attempt under way: nothing to check.
    for other in [
        seen(D, D, &[READY, ("Healthy", "False", "HealthCheckFailed", "x")]),
        seen(D, D, &[("Ready", "False", "ApplyFailed", "x"), HEALTHY]),
        seen(D, C, &[READY, HEALTHY]),
        seen(C, C, &[READY, HEALTHY]),
        seen("", "", &[READY, HEALTHY]),
    ] {
        assert_eq!(descendant_to_check(C, &other), None, "{other:?}");
        assert!(
            !matches!(assess(C, Some(&other), true, NOW, NOW, 600, time), Verdict::Healthy { revision, .. } if revision == D)
        );
    }
}

#[test]
fn health_not_checked_is_a_failure_that_says_how_to_fix_it() {
    let status =
        seen(C, C, &[READY, ("Healthy", "Unknown", "HealthNotChecked", "wait is off for this sync"), NOT_STALLED]);
    let Verdict::Failed { reason, message } = assess(C, Some(&status), false, NOW, NOW, 600, time) else {
        panic!("not failed")
    };
    assert_eq!(reason, "HealthNotChecked");
    assert!(message.contains("turn waiting on"), "{message}");
}

#[test]
fn garbage_in_the_configmap_is_waiting_not_a_crash() {
    let data = BTreeMap::from([
        ("conditions".to_owned(), "{not json".to_owned()),
        ("lastAppliedRevision".to_owned(), C.to_owned()),
    ]);
    let status = SyncSeen::from_data(&data);
    assert!(status.conditions.is_empty());
    assert!(matches!(assess(C, Some(&status), false, NOW, NOW, 600, time), Verdict::Waiting(_)));
    let unreadable_time = SyncSeen { applied_at: "yesterday".into(), ..seen(C, C, &[READY, HEALTHY]) };
    let Verdict::Healthy { seconds, .. } = assess(C, Some(&unreadable_time), false, NOW - 30, NOW, 600, time) else {
        panic!("healthy")
    };
    assert_eq!(seconds, 30, "an unreadable lastAppliedAt counts until now");
}

#[test]
fn unhealthy_objects_cuts_the_prefix_only_when_there() {
    assert_eq!(
        unhealthy_objects(UNHEALTHY_MSG),
        "Deployment.apps shop/cart: 0 of 1 replicas available; Pods: cart-1 ImagePullBackOff"
    );
    assert_eq!(unhealthy_objects("something else: x"), "something else: x");
    assert_eq!(unhealthy_objects("not healthy after 5s: "), "not healthy after 5s: ");
}

#[test]
fn output_variables_of_a_healthy_job() {
    let verdict = Verdict::Healthy { revision: C.into(), applied_at: "2026-11-30T23:30:09Z".into(), seconds: 42 };
    let vars = output_variables(C, "apps", &verdict);
    assert_eq!(vars["commitId"], C);
    assert_eq!(vars["revision"], C);
    assert_eq!(vars["timeToHealthySeconds"], "42");
    assert_eq!(vars["sync"], "apps");
    assert_eq!(vars["status"], "healthy");
}

#[test]
fn continuation_tokens_round_trip_and_forgeries_are_refused() {
    let token = Continuation::new(C, "apps", NOW - 60);
    let text = token.encode();
    assert!(text.len() < 200, "{text}");
    assert_eq!(Continuation::decode(&text, "apps", NOW), Ok(token.clone()));
    let on_main = token.on_branch(Some("main"));
    assert_eq!(Continuation::decode(&on_main.encode(), "apps", NOW), Ok(on_main));
    let cases = [
        ("", "not a token of this function"),
        ("garbage!!", "not a token of this function"),
        ("{}", "not a token of this function"),
        (r#"{"v":1,"commit":"x","sync":"apps","started":1}"#, "is not a full commit id"),
        (&format!(r#"{{"v":2,"commit":"{C}","sync":"apps","started":1}}"#), "version 2"),
        (&format!(r#"{{"v":1,"commit":"{C}","sync":"other","started":1}}"#), "this action waits for \"apps\""),
        (&format!(r#"{{"v":1,"commit":"{C}","sync":"apps","started":{}}}"#, NOW + 3600), "in the future"),
        (&format!(r#"{{"v":1,"commit":"{C}","sync":"apps","started":-5}}"#), "in the future"),
        (&format!(r#"{{"v":1,"commit":"{C}","sync":"apps","started":1,"extra":true}}"#), "unknown field"),
        (&format!(r#"{{"v":1,"commit":"{}","sync":"apps","started":1}}"#, C.to_uppercase()), "full commit id"),
        (&"x".repeat(5000), "longer than CodePipeline's 2048"),
        (&format!(r#"{{"v":1,"commit":"{C}","sync":"apps","started":1,"branch":"a..b"}}"#), "not a branch name"),
    ];
    for (text, want) in cases {
        let err = Continuation::decode(text, "apps", NOW).unwrap_err();
        assert!(err.contains(want), "{text:.60}: {err}");
        assert!(err.len() < 300, "bounded: {err}");
    }
}

#[test]
fn names() {
    assert!(is_sync_name("apps") && is_sync_name("shop-prod-1"));
    assert!(!is_sync_name("Apps") && !is_sync_name("-a") && !is_sync_name("") && !is_sync_name("a_b"));
    assert!(is_commit_id(C) && is_commit_id(&"0".repeat(64)));
    assert!(!is_commit_id(&C[..39]) && !is_commit_id(&"g".repeat(40)));
    assert_eq!(configmap_name("apps"), "shipline-status-apps");
}

proptest! {
    #[test]
    fn decode_never_panics_and_accepts_only_what_it_could_have_written(text in ".{0,300}") {
        if let Ok(token) = Continuation::decode(&text, "apps", NOW) {
            prop_assert!(is_commit_id(&token.commit));
            prop_assert_eq!(token.sync.as_str(), "apps");
            prop_assert!(token.started <= NOW + CLOCK_SKEW_SECONDS);
        }
    }

    #[test]
    fn tokens_round_trip(started in 0i64..NOW, commit in "[0-9a-f]{40}") {
        let token = Continuation::new(&commit, "apps", started);
        prop_assert_eq!(Continuation::decode(&token.encode(), "apps", NOW), Ok(token));
    }

    #[test]
    fn the_verdict_is_never_healthy_for_another_commit(
        applied in "[0-9a-f]{40}", attempted in "[0-9a-f]{40}",
        ready in "True|False|Unknown", health in "True|False|Unknown", now in 0i64..100_000,
    ) {
        let status = seen(&applied, &attempted, &[("Ready", &ready, "R", "m"), ("Healthy", &health, "H", "m")]);
        match assess(C, Some(&status), false, 0, now, 600, time) {
            Verdict::Healthy { .. } | Verdict::Unhealthy { .. } | Verdict::Failed { .. } => {
                prop_assert!(applied == C || attempted == C)
            }
            Verdict::TimedOut { waited, .. } => prop_assert!(waited >= 600),
            Verdict::Waiting(_) => prop_assert!(now < 600),
        }
    }
}
