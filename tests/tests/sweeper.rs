//! The real `sweeper` and `drill` binaries, run through the Lambda runtime API against moto
//! (CloudWatch alarms served by the launcher): the AWS state after each invocation.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_B, Seeded, State};
use serde_json::json;

const ANSWER_WITHIN: Duration = Duration::from_secs(120);

struct Setup {
    _moto: Moto,
    clients: Clients,
    seeded: Seeded,
    api: RuntimeApi,
    _function: Function,
}

/// Starts `binary` against a seeded world whose alarms are in `failed_state` (the failed
/// Outpost) and OK (the others).
async fn setup(binary: &str, failed_state: &str) -> Setup {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    world::failed_outpost_in(&clients, failed_state).await;
    let api = RuntimeApi::start();
    let env = world::sweep_env(&seeded);
    let function = Function::start(binary, api.address(), moto.endpoint(), &env);
    Setup {
        _moto: moto,
        clients,
        seeded,
        api,
        _function: function,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_alarm_event_is_recovered_by_the_sweep_and_further_sweeps_change_nothing() {
    let s = setup("sweeper", "ALARM").await;
    let report = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    let after = State::read(&s.clients, &s.seeded).await;
    for original in [&s.seeded.web1, &s.seeded.web2] {
        let replacements = after.replacements_of(original);
        assert_eq!(replacements.len(), 1, "{original}: {report}");
        assert_eq!(replacements[0].subnet_id, s.seeded.subnets[OUTPOST_B]);
        assert!(
            after
                .targets
                .iter()
                .any(|(id, _)| id == &replacements[0].id),
            "moved into the target group"
        );
    }
    assert!(
        after.replacements_of(&s.seeded.db1).is_empty(),
        "not opted in"
    );
    assert!(
        after.replacements_of(&s.seeded.web3).is_empty(),
        "its Outpost is up"
    );
    assert_eq!(report["recoveries"][0]["action"], "recovery");
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    // web-3 (lt-c on Outpost C) is ready. The new replacements run on Outpost B, where their
    // lt-b points: web-1's (lt-a on the failed Outpost, lt-b) is not ready, and said so once;
    // web-2's still has lt-c, so it is ready, with a warning.
    let readiness = &report["readiness"];
    assert_eq!(readiness["ready"], 2, "{readiness}");
    assert_eq!(readiness["not_ready"], 1, "{readiness}");
    let notices = world::notices(&s.clients, &s.seeded).await;
    let subjects: Vec<&str> = notices
        .iter()
        .map(|(subject, _)| subject.as_str())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects.iter().any(|s| s.contains("down: 2 recovered")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Readiness: 1 not ready")),
        "{subjects:?}"
    );

    for _ in 0..2 {
        let again = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
        assert_eq!(
            again["recoveries"][0]["notification"]["status"],
            "already-reported"
        );
        assert!(again["readiness"]["changed"].as_array().unwrap().is_empty());
    }
    assert_eq!(
        State::read(&s.clients, &s.seeded).await,
        after,
        "sweeps 2 and 3 changed nothing"
    );
    assert!(
        world::notices(&s.clients, &s.seeded).await.is_empty(),
        "and said nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_the_outpost_is_back_the_sweep_stops_each_original_once() {
    let s = setup("sweeper", "ALARM").await;
    response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    world::notices(&s.clients, &s.seeded).await;
    world::set_alarms(&s.clients, &[(FAILED_OUTPOST, "OK")]).await;

    let report = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    let fenced = &report["fencing"][0]["fencing"]["fenced"];
    assert_eq!(fenced.as_array().unwrap().len(), 2, "{report}");
    let after = State::read(&s.clients, &s.seeded).await;
    for original in [&s.seeded.web1, &s.seeded.web2] {
        let view = after.instance(original);
        assert_eq!(view.state, "stopped");
        assert!(view.tags["autorestart:fenced"].starts_with("stop@"));
        let replacement = &after.replacements_of(original)[0];
        assert_eq!(replacement.state, "running", "the replacement serves on");
    }
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert!(
        notices
            .iter()
            .any(|(subject, _)| subject.contains("back: 2 original(s) stopped")),
        "{notices:?}"
    );

    let again = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    assert_eq!(again["fencing"][0]["fencing"]["already_fenced"], 2);
    assert_eq!(
        State::read(&s.clients, &s.seeded).await,
        after,
        "stopped once"
    );
    assert!(world::notices(&s.clients, &s.seeded).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_drill_returns_the_plan_and_changes_nothing_anywhere() {
    let s = setup("drill", "OK").await;
    let before = State::read(&s.clients, &s.seeded).await;
    let report = response(s.api.invoke(
        &json!({"outpost": FAILED_OUTPOST, "mode": "dry-run"}),
        ANSWER_WITHIN,
    ));
    assert_eq!(State::read(&s.clients, &s.seeded).await, before);
    assert!(world::notices(&s.clients, &s.seeded).await.is_empty());
    let plan = report["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 2, "{report}");
    let web1 = plan
        .iter()
        .find(|p| p["instance_id"] == s.seeded.web1.as_str())
        .unwrap();
    assert_eq!(web1["action"], "launch");
    assert_eq!(
        web1["template"],
        format!("{}:$Default", s.seeded.templates["lt-b"])
    );
    assert_eq!(web1["target_groups"][0], s.seeded.target_group.as_str());
    assert!(
        web1["notes"][0]
            .as_str()
            .unwrap()
            .contains("lies on the failed Outpost")
    );
    // web-1's lt-a points at its own Outpost, but lt-b is usable: ready (with a warning).
    let problems = report["readiness_problems"].as_array().unwrap();
    assert!(problems.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_drill_runs_copies_off_the_outpost_and_leaves_nothing_behind() {
    let s = setup("drill", "OK").await;
    let before = State::read(&s.clients, &s.seeded).await;
    let report = response(s.api.invoke(
        &json!({"outpost": FAILED_OUTPOST, "mode": "live"}),
        ANSWER_WITHIN,
    ));
    let copies = report["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 2, "{report}");
    for copy in copies {
        assert!(copy["running_after_seconds"].is_number(), "{copy}");
        assert!(copy["error"].is_null(), "{copy}");
    }
    assert_eq!(report["cleaned_up"].as_array().unwrap().len(), 2);
    assert!(report["left_behind"].as_array().unwrap().is_empty());
    let mut after = State::read(&s.clients, &s.seeded).await;
    // Each original rehearsed records the drill's result, for `autorestart status`.
    for original in [&s.seeded.web1, &s.seeded.web2] {
        let recorded = after
            .instances
            .get_mut(original)
            .unwrap()
            .tags
            .remove("autorestart:last-drill");
        assert_eq!(
            recorded,
            Some(format!("{} ok", report["drill_id"].as_str().unwrap())),
            "{original}"
        );
    }
    assert_eq!(
        after, before,
        "no copy left, originals (but for that record) and the production target group untouched"
    );
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0]
            .0
            .contains("Drill op-0a1b2c3d4e5f60718: 2/2 running"),
        "{:?}",
        notices[0]
    );
}
