//! DRS end to end, with the launcher's DRS stub where moto has none: the real `alarm-handler`
//! recovers template instances when DRS cannot be read, and the real `sweeper` finishes a DRS
//! launch whose event was lost once the Outpost is back, tagging the launch-into target.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_C, Seeded, State};
use serde_json::{Value, json};

const ANSWER_WITHIN: Duration = Duration::from_secs(120);
const SERVER: &str = "s-1234567890abcdef0";
const JOB: &str = "drsjob-00000000000000001";

struct Setup {
    moto: Moto,
    clients: Clients,
    seeded: Seeded,
    api: RuntimeApi,
    _function: Function,
    /// The DRS-protected original on the failed Outpost.
    db: String,
}

/// `binary` against the seeded world plus `db`, DRS-protected on the failed Outpost and in
/// the target group.
async fn setup(binary: &str, db_tags: &[(&str, &str)]) -> Setup {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    let mut tags = vec![
        ("Name", "db-1"),
        ("autorestart:enabled", "true"),
        ("autorestart:strategy", "drs"),
    ];
    tags.extend_from_slice(db_tags);
    let db = world::launch_tagged(&clients, &seeded, FAILED_OUTPOST, &tags).await;
    world::register(&clients, &seeded, &db).await;
    let api = RuntimeApi::start();
    let function = Function::start(
        binary,
        api.address(),
        moto.endpoint(),
        &world::sweep_env(&seeded),
    );
    Setup {
        moto,
        clients,
        seeded,
        api,
        _function: function,
        db,
    }
}

fn instance<'r>(report: &'r Value, id: &str) -> &'r Value {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn drs_not_initialised_leaves_the_template_instances_recovering() {
    let s = setup("alarm-handler", &[]).await;
    s.moto
        .drs(&json!({"error": "UninitializedAccountException"}));
    world::outpost_down(&s.clients).await;

    let report = response(
        s.api
            .invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN),
    );

    for original in [&s.seeded.web1, &s.seeded.web2] {
        assert_eq!(
            instance(&report, original)["outcome"],
            "recovered",
            "{report:#}"
        );
    }
    let db = instance(&report, &s.db);
    assert_eq!(db["strategy"], "drs");
    let reason = db["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not initialised in this Region"), "{db:#}");
    let after = State::read(&s.clients, &s.seeded).await;
    for original in [&s.seeded.web1, &s.seeded.web2] {
        assert_eq!(after.replacements_of(original).len(), 1);
    }
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert!(
        notices
            .iter()
            .any(|(_, body)| body.contains("not initialised in this Region")),
        "{notices:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_drs_launch_event_is_finished_by_the_sweep_once_the_outpost_is_back() {
    // The alarm handler started job JOB for db-1 during the outage; the launch succeeded
    // into the stopped target on Outpost C, but its event never reached the agent.
    let s = setup(
        "sweeper",
        &[
            ("autorestart:drs-job", JOB),
            (
                "autorestart:incident",
                "op-0a1b2c3d4e5f60718-20261124T031000Z-00000000",
            ),
        ],
    )
    .await;
    let target = world::launch_tagged(
        &s.clients,
        &s.seeded,
        OUTPOST_C,
        &[
            ("Name", "db-1"),
            ("AWSDRS", "AllowLaunchingIntoThisInstance"),
        ],
    )
    .await;
    s.moto.drs(&json!({
        "source_servers": [{"id": SERVER, "hostname": "db-1", "instance_id": s.db}],
        "jobs": [{"id": JOB, "status": "COMPLETED", "servers": {SERVER: "LAUNCHED"}}],
        "recovery_instances": [{"server": SERVER, "job": JOB, "instance_id": target}],
    }));
    world::failed_outpost_in(&s.clients, "OK").await;

    let report = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    assert!(
        report["errors"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    let finished = &report["drs_results"][0];
    assert_eq!(finished["succeeded"], true, "{report:#}");
    assert_eq!(finished["recovery_instance_id"], target.as_str());

    let after = State::read(&s.clients, &s.seeded).await;
    // Both sides tagged: the launch-into target, not opted in, carries the audit tags too.
    assert_eq!(
        after.instance(&s.db).tags["autorestart:replaced-by"],
        target
    );
    assert_eq!(
        after.instance(&target).tags["autorestart:replacement-of"],
        s.db
    );
    assert!(
        after.targets.iter().any(|(id, _)| id == &target),
        "{after:?}"
    );
    assert!(
        !after.targets.iter().any(|(id, _)| id == &s.db),
        "{after:?}"
    );
    // ...so fencing finds the original, in the same sweep.
    assert_eq!(after.instance(&s.db).state, "stopped");
    assert_eq!(after.instance(&target).state, "running");
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert!(
        notices
            .iter()
            .any(|(subject, _)| subject.contains("DRS recovery launched")),
        "{notices:?}"
    );

    let again = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    assert!(
        again["drs_results"].as_array().unwrap().is_empty(),
        "{again:#}"
    );
    assert_eq!(State::read(&s.clients, &s.seeded).await, after, "done once");
}
