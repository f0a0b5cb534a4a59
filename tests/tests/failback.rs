//! Failback, end to end: the real `sweeper` recovers a failed Outpost's instances and fences
//! the originals once it is back; the real `alarm-handler` answers a failback dry run (blocked
//! until the alarm has been OK for the settle time, then the plan) and a failback, after which
//! each original serves again and its replacement is a stopped standby; a second outage then
//! starts the standbys, in one StartInstances and without a launch.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, FAILED_OUTPOST, State};
use serde_json::{Value, json};

const ANSWER_WITHIN: Duration = Duration::from_secs(120);
/// The settle time the alarm handler runs with here: long enough that the first dry run, sent
/// right after the fencing sweep, comes before it on a slow machine too.
const SETTLE_SECONDS: u64 = 60;

fn statuses(report: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["original_id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn recovered_instances_fail_back_home_and_their_replacements_become_standbys() {
    let moto = Moto::start();
    let clients = world::Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    world::failed_outpost_in(&clients, "ALARM").await;
    let sweeper_api = RuntimeApi::start();
    let _sweeper = Function::start(
        "sweeper",
        sweeper_api.address(),
        moto.endpoint(),
        &world::sweep_env(&seeded),
    );
    let sweep = || {
        let report = response(sweeper_api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
        assert!(
            report["errors"].as_array().unwrap().is_empty(),
            "{report:#}"
        );
        report
    };
    // The outage: recovered.
    sweep();
    let recovered = State::read(&clients, &seeded).await;
    let originals = [seeded.web1.clone(), seeded.web2.clone()];
    let replacements: Vec<String> = originals
        .iter()
        .map(|o| recovered.replacements_of(o)[0].id.clone())
        .collect();
    // Back: the originals are fenced.
    world::set_alarms(&clients, &[(FAILED_OUTPOST, "OK")]).await;
    let back_at = std::time::Instant::now();
    sweep();
    let fenced = State::read(&clients, &seeded).await;
    for original in &originals {
        assert_eq!(
            fenced.instance(original).state,
            "stopped",
            "{original} fenced"
        );
    }

    let mut env = world::sweep_env(&seeded).to_vec();
    let settle = SETTLE_SECONDS.to_string();
    env.push(("FAILBACK_SETTLE_SECONDS", settle.as_str()));
    let handler_api = RuntimeApi::start();
    let _handler = Function::start(
        "alarm-handler",
        handler_api.address(),
        moto.endpoint(),
        &env,
    );
    let ask = |payload: Value| response(handler_api.invoke(&payload, ANSWER_WITHIN));

    // Too soon after the Outpost came back: each original is blocked, and why.
    let early = ask(sample("failback-dry-run.json"));
    assert_eq!(early["dry_run"], true, "{early:#}");
    let blocked = statuses(&early);
    assert_eq!(blocked.len(), 2, "{early:#}");
    assert!(blocked.iter().all(|(_, s)| s == "blocked"), "{early:#}");
    assert!(early.to_string().contains("not-settled"), "{early:#}");

    // Settled: the dry run's plan, nothing changed.
    let settled = Duration::from_secs(SETTLE_SECONDS + 1);
    if let Some(left) = settled.checked_sub(back_at.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let before = State::read(&clients, &seeded).await;
    let plan = ask(sample("failback-dry-run.json"));
    assert!(
        statuses(&plan).iter().all(|(_, s)| s == "would-fail-back"),
        "{plan:#}"
    );
    assert_eq!(
        State::read(&clients, &seeded).await,
        before,
        "a dry run changes nothing"
    );

    // The failback.
    let done = ask(sample("failback.json"));
    assert_eq!(done["dry_run"], false);
    assert!(
        statuses(&done).iter().all(|(_, s)| s == "failed-back"),
        "{done:#}"
    );
    let after = State::read(&clients, &seeded).await;
    for (original, replacement) in originals.iter().zip(&replacements) {
        let home = after.instance(original);
        assert_eq!(home.state, "running", "{original}");
        for gone in [
            "autorestart:replaced-by",
            "autorestart:fenced",
            "autorestart:failback",
        ] {
            assert!(
                !home.tags.contains_key(gone),
                "{gone} on {original}: {:?}",
                home.tags
            );
        }
        let standby = after.instance(replacement);
        assert_eq!(standby.state, "stopped", "{replacement}");
        assert_eq!(
            standby.tags.get("autorestart:standby-for"),
            Some(original),
            "{replacement}"
        );
        assert!(!standby.tags.contains_key("autorestart:replacement-of"));
        assert!(
            after.targets.iter().any(|(id, _)| id == original),
            "{:?}",
            after.targets
        );
        assert!(
            !after.targets.iter().any(|(id, _)| id == replacement),
            "{:?}",
            after.targets
        );
    }
    let notices = world::notices(&clients, &seeded).await;
    assert!(
        notices.iter().any(|(subject, _)| subject
            .contains(&format!("Failback of {FAILED_OUTPOST}: 2 failed back"))),
        "{notices:?}"
    );

    // Asked again: nothing to fail back; the sweep leaves the standbys alone.
    let again = ask(json!({"outpost": FAILED_OUTPOST, "mode": "failback", "dryRun": false}));
    assert!(statuses(&again).is_empty(), "{again:#}");
    sweep();
    // The sweep checks the readiness of the originals, protected again; it changes nothing else.
    let swept = State::read(&clients, &seeded).await;
    assert_eq!(swept.targets, after.targets);
    for (id, was) in &after.instances {
        let now = swept.instance(id);
        assert_eq!(now.state, was.state, "{id}");
        let link = |i: &e2e::world::InstanceView| {
            [
                "autorestart:standby-for",
                "autorestart:replacement-of",
                "autorestart:replaced-by",
            ]
            .map(|k| i.tags.get(k).cloned())
        };
        assert_eq!(link(now), link(was), "{id}");
    }
    for original in &originals {
        assert_eq!(
            swept
                .instance(original)
                .tags
                .get("autorestart:readiness")
                .map(String::as_str),
            Some("ready"),
            "{original} is protected again"
        );
    }
    // The second outage: the standbys start, nothing is launched.
    let launches = moto.count("RunInstances");
    let starts = moto.count("StartInstances");
    world::set_alarms(&clients, &[(FAILED_OUTPOST, "ALARM")]).await;
    let report = sweep();
    let recovery = &report["recoveries"][0];
    let instances = recovery["instances"].as_array().unwrap();
    for original in &originals {
        let entry = instances
            .iter()
            .find(|i| i["instance_id"] == original.as_str())
            .unwrap_or_else(|| panic!("{original} in {recovery:#}"));
        assert_eq!(entry["from_standby"], true, "{entry:#}");
    }
    assert_eq!(moto.count("RunInstances"), launches, "no launch");
    assert_eq!(
        moto.count("StartInstances"),
        starts + 1,
        "one start for both"
    );
    let second = State::read(&clients, &seeded).await;
    for (original, standby) in originals.iter().zip(&replacements) {
        let started = second.instance(standby);
        assert_eq!(started.state, "running", "{standby}");
        assert_eq!(
            started.tags.get("autorestart:replacement-of"),
            Some(original),
            "{standby}"
        );
        assert!(!started.tags.contains_key("autorestart:standby-for"));
        assert_eq!(
            second
                .instance(original)
                .tags
                .get("autorestart:replaced-by"),
            Some(standby)
        );
    }
}
