//! No split brain, end to end: the real `sweeper` binary against moto fences an original found
//! only from its replacement's tag, follows a chain of replacements over three Outposts, and
//! fences again an original that runs again.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_B, OUTPOST_C, Seeded, State};
use serde_json::Value;

const ANSWER_WITHIN: Duration = Duration::from_secs(120);

struct Setup {
    _moto: Moto,
    clients: Clients,
    seeded: Seeded,
    api: RuntimeApi,
    _function: Function,
}

/// The sweeper against a seeded world whose failed Outpost is down and has been recovered.
async fn recovered() -> Setup {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    world::failed_outpost_in(&clients, "ALARM").await;
    let api = RuntimeApi::start();
    let function = Function::start(
        "sweeper",
        api.address(),
        moto.endpoint(),
        &world::sweep_env(&seeded),
    );
    let s = Setup {
        _moto: moto,
        clients,
        seeded,
        api,
        _function: function,
    };
    sweep(&s);
    world::notices(&s.clients, &s.seeded).await;
    s
}

fn sweep(s: &Setup) -> Value {
    let report = response(s.api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    assert!(
        report["errors"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    report
}

/// The fencing report of `outpost` in a sweep report.
fn fencing<'r>(report: &'r Value, outpost: &str) -> &'r Value {
    report["fencing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["outpost"] == outpost)
        .map(|f| &f["fencing"])
        .unwrap_or_else(|| panic!("no fencing of {outpost}: {report:#}"))
}

fn fenced_ids(fencing: &Value) -> Vec<String> {
    let mut ids: Vec<String> = fencing["fenced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["instance_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn replacement_of(state: &State, original: &str) -> String {
    let found = state.replacements_of(original);
    assert_eq!(found.len(), 1, "{original}");
    found[0].id.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_tag_is_repaired_and_an_original_running_again_is_fenced_again() {
    let s = recovered().await;
    let web1 = s.seeded.web1.clone();
    // A failed CreateTags, a crash, a person: the original no longer names its replacement.
    s.clients
        .ec2
        .delete_tags()
        .resources(&web1)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("autorestart:replaced-by")
                .build(),
        )
        .send()
        .await
        .unwrap();
    world::set_alarms(&s.clients, &[(FAILED_OUTPOST, "OK")]).await;

    let report = sweep(&s);
    let on_a = fencing(&report, FAILED_OUTPOST);
    let mut expected = vec![web1.clone(), s.seeded.web2.clone()];
    expected.sort();
    assert_eq!(fenced_ids(on_a), expected, "{on_a:#}");
    let after = State::read(&s.clients, &s.seeded).await;
    let replacement = replacement_of(&after, &web1);
    assert_eq!(on_a["repaired"][0][0], web1.as_str(), "{on_a:#}");
    let view = after.instance(&web1);
    assert_eq!(view.state, "stopped");
    assert_eq!(view.tags["autorestart:replaced-by"], replacement);
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert!(
        notices
            .iter()
            .any(|(_, body)| body.contains("had lost the tag autorestart:replaced-by")),
        "{notices:?}"
    );

    // The server's power comes back and the original starts again.
    s.clients
        .ec2
        .start_instances()
        .instance_ids(&web1)
        .send()
        .await
        .unwrap();
    let report = sweep(&s);
    let on_a = fencing(&report, FAILED_OUTPOST);
    assert_eq!(fenced_ids(on_a), std::slice::from_ref(&web1), "{on_a:#}");
    assert_eq!(on_a["fenced"][0]["again"], true);
    let after = State::read(&s.clients, &s.seeded).await;
    assert_eq!(after.instance(&web1).state, "stopped");
    assert_eq!(after.instance(&replacement).state, "running");
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert!(
        notices
            .iter()
            .any(|(_, body)| body.contains("FOUND RUNNING AGAIN")),
        "{notices:?}"
    );

    sweep(&s);
    assert!(
        world::notices(&s.clients, &s.seeded).await.is_empty(),
        "said once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_over_three_outposts_is_fenced_against_its_live_end() {
    let s = recovered().await;
    let first = State::read(&s.clients, &s.seeded).await;
    let on_b: Vec<String> = [&s.seeded.web1, &s.seeded.web2]
        .iter()
        .map(|o| replacement_of(&first, o))
        .collect();
    // The copies on B are protected in turn, from a template for Outpost C.
    s.clients
        .ec2
        .create_tags()
        .set_resources(Some(on_b.clone()))
        .tags(world::ec2_tag(
            "autorestart:recovery-templates",
            &s.seeded.templates["lt-c"],
        ))
        .send()
        .await
        .unwrap();
    // Outpost B fails while A is still down: the copies on B are replaced on C.
    world::set_alarms(&s.clients, &[(OUTPOST_B, "ALARM")]).await;
    sweep(&s);
    let second = State::read(&s.clients, &s.seeded).await;
    let on_c: Vec<String> = on_b.iter().map(|b| replacement_of(&second, b)).collect();
    for c in &on_c {
        assert_eq!(second.instance(c).subnet_id, s.seeded.subnets[OUTPOST_C]);
    }

    // B comes back first: its copies are fenced, the originals on A (still down) are not.
    world::set_alarms(&s.clients, &[(OUTPOST_B, "OK")]).await;
    let report = sweep(&s);
    let fenced_on_b = fenced_ids(fencing(&report, OUTPOST_B));
    for b in &on_b {
        assert!(fenced_on_b.contains(b), "{fenced_on_b:?}");
    }
    let third = State::read(&s.clients, &s.seeded).await;
    for b in &on_b {
        assert_eq!(third.instance(b).state, "stopped");
    }
    assert_eq!(third.instance(&s.seeded.web1).state, "running");

    // Then A: its originals' replacements are stopped, but the chains' live ends run on C.
    world::set_alarms(&s.clients, &[(FAILED_OUTPOST, "OK")]).await;
    let report = sweep(&s);
    let on_a = fencing(&report, FAILED_OUTPOST);
    let mut expected = vec![s.seeded.web1.clone(), s.seeded.web2.clone()];
    expected.sort();
    assert_eq!(fenced_ids(on_a), expected, "{on_a:#}");
    for f in on_a["fenced"].as_array().unwrap() {
        let end = f["replacement_id"].as_str().unwrap();
        assert!(on_c.iter().any(|c| c == end), "{f}: the live end on C");
    }
    let last = State::read(&s.clients, &s.seeded).await;
    for original in [&s.seeded.web1, &s.seeded.web2] {
        assert_eq!(last.instance(original).state, "stopped");
    }
    for c in &on_c {
        assert_eq!(last.instance(c).state, "running", "one copy serves");
    }
}

/// The claims a fencing report lists: (instance, claimed) pairs.
fn claims(fencing: &Value) -> Vec<(String, Vec<String>)> {
    fencing["unproven"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let claimed = u["claimed"].as_array().unwrap();
            (
                u["instance_id"].as_str().unwrap().to_owned(),
                claimed
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_copied_links_stop_nothing_and_are_reported_once() {
    let s = recovered().await;
    let (db1, web3) = (s.seeded.db1.clone(), s.seeded.web3.clone());
    // A forged pair: db-1, running and never protected, tagged as an opted-in original that
    // web-3 (healthy, serving on B) replaced; web-3 tagged as its replacement.
    let tag = |id: &str, key: &str, value: &str| {
        let (id, key, value) = (id.to_owned(), key.to_owned(), value.to_owned());
        let ec2 = s.clients.ec2.clone();
        async move {
            ec2.create_tags()
                .resources(id)
                .tags(world::ec2_tag(&key, &value))
                .send()
                .await
                .unwrap();
        }
    };
    tag(&db1, "autorestart:enabled", "true").await;
    tag(&db1, "autorestart:replaced-by", &web3).await;
    tag(&web3, "autorestart:replacement-of", &db1).await;
    world::set_alarms(&s.clients, &[(FAILED_OUTPOST, "OK")]).await;

    let report = sweep(&s);
    let on_a = fencing(&report, FAILED_OUTPOST);
    let mut expected = vec![s.seeded.web1.clone(), s.seeded.web2.clone()];
    expected.sort();
    assert_eq!(fenced_ids(on_a), expected, "the real chains: {on_a:#}");
    assert_eq!(
        claims(on_a),
        [(db1.clone(), vec![web3.clone()])],
        "{on_a:#}"
    );
    let after = State::read(&s.clients, &s.seeded).await;
    assert_eq!(after.instance(&db1).state, "running");
    assert_eq!(after.instance(&web3).state, "running");
    let notices = world::notices(&s.clients, &s.seeded).await;
    let claim = format!("claims replacement {web3}, which the agent did not launch for it");
    assert!(
        notices.iter().any(|(_, body)| body.contains(&claim)),
        "{notices:?}"
    );

    // "Launch more like this" on the fenced web-1: every tag of it on a new instance (the
    // console leaves out the aws: tags, which only EC2 may write).
    let web1 = after.instance(&s.seeded.web1).clone();
    let copied: Vec<(&str, &str)> = web1
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(web1.tags.contains_key("autorestart:fenced"), "{web1:?}");
    let copy = world::launch_tagged(&s.clients, &s.seeded, FAILED_OUTPOST, &copied).await;
    let report = sweep(&s);
    let on_a = fencing(&report, FAILED_OUTPOST);
    let replacement = replacement_of(&after, &s.seeded.web1);
    assert!(
        claims(on_a).contains(&(copy.clone(), vec![replacement])),
        "{on_a:#}"
    );
    assert!(fenced_ids(on_a).is_empty(), "{on_a:#}");
    let last = State::read(&s.clients, &s.seeded).await;
    assert_eq!(last.instance(&copy).state, "running");
    assert_eq!(last.instance(&db1).state, "running");
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert_eq!(
        notices.len(),
        1,
        "only the copy's claim is new: {notices:?}"
    );
    assert!(!notices[0].1.contains(&claim) || notices[0].1.contains("reported before"));

    sweep(&s);
    assert!(
        world::notices(&s.clients, &s.seeded).await.is_empty(),
        "said once"
    );
    let last = State::read(&s.clients, &s.seeded).await;
    assert_eq!(last.instance(&copy).state, "running");
}
