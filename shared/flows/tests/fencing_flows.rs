//! Fencing on the in-memory AWS, as an operator meets it: originals found from either side of
//! the replacement tags, chains of replacements over several Outposts, originals that run
//! again, holds and notices said once.

use autorestart_testkit::Op;
use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::report::Action;
use autorestart_core::report::SweepReport;
use autorestart_core::settings::FenceAction;
use autorestart_core::settings::{Mode, Settings};
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::ports::{Target, TargetKind};
use autorestart_testkit::{InMemoryAws, World};

mod support;
use support::sweeps::{fencing_of, sweep_with};

const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const ARN_C: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3";
const OUTPOSTS: [(&str, &str); 3] = [
    ("a", "op-0aaaaaaaaaaaaaaa1"),
    ("b", "op-0bbbbbbbbbbbbbbb2"),
    ("c", "op-0ccccccccccccccc3"),
];
const TG_WEB: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";

/// Outposts A, B and C, all connected; `web` (i-x) on A was replaced by i-b on B.
fn world(x_tags: &[(&str, &str)]) -> World {
    let mut w = World::default();
    for (subnet, arn) in [
        ("subnet-a", ARN_A),
        ("subnet-b", ARN_B),
        ("subnet-c", ARN_C),
    ] {
        w.subnets.insert(subnet.into(), Some(arn.into()));
    }
    let mut tags = vec![(tags::NAME, "web"), (tags::ENABLED, "true")];
    tags.extend_from_slice(x_tags);
    w.add_instance("i-x", "subnet-a", &tags);
    w.add_replacement(
        "i-b",
        "subnet-b",
        "i-x",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::REPLACEMENT_OF, "i-x"),
        ],
    );
    for (name, outpost) in OUTPOSTS {
        set(&mut w, name, outpost, AlarmState::Ok);
    }
    w
}

fn set(w: &mut World, name: &str, outpost: &str, state: AlarmState) {
    w.set_alarm(AlarmChange::connected_status(
        &format!("outposts-autorestart-connected-{name}"),
        outpost,
        state,
        "2026-11-24T05:00:00Z".parse().unwrap(),
    ));
}

fn settings(fence_action: FenceAction) -> Settings {
    Settings {
        fence_action,
        ..Settings::default()
    }
}

async fn sweep(aws: &InMemoryAws, action: FenceAction) -> SweepReport {
    sweep_with(aws, settings(action)).await
}

/// The fencing notices published (not readiness's).
fn notices(aws: &InMemoryAws) -> Vec<String> {
    aws.with(|w| {
        w.published
            .iter()
            .filter(|n| n.subject.contains(" back: "))
            .map(|n| format!("{}\n{}", n.subject, n.body))
            .collect()
    })
}

#[tokio::test]
async fn an_original_that_lost_its_tag_is_found_from_its_replacement_repaired_and_fenced() {
    let aws = InMemoryAws::new(world(&[]), Duration::ZERO);
    let report = sweep(&aws, FenceAction::Stop).await;
    let fencing = fencing_of(&report, "op-0aaaaaaaaaaaaaaa1");
    assert_eq!(fencing.fenced.len(), 1, "{fencing:?}");
    assert_eq!(fencing.repaired, [("i-x".into(), "i-b".into())]);
    aws.with(|w| {
        let x = &w.instances["i-x"];
        assert_eq!(x.state, "stopped");
        assert_eq!(
            x.tag(tags::REPLACED_BY),
            Some("i-b"),
            "the lost tag is back"
        );
        assert!(x.tag(tags::FENCED).unwrap().starts_with("stop@"));
        assert_eq!(w.instances["i-b"].state, "running");
    });
    let said = notices(&aws).join("\n");
    assert!(
        said.contains("had lost the tag autorestart:replaced-by"),
        "{said}"
    );
    assert!(said.contains("1 original(s) stopped"), "{said}");

    let published = aws.with(|w| w.published.len());
    let again = sweep(&aws, FenceAction::Stop).await;
    assert_eq!(fencing_of(&again, "op-0aaaaaaaaaaaaaaa1").already_fenced, 1);
    assert_eq!(aws.with(|w| w.published.len()), published, "said once");
}

#[tokio::test]
async fn a_chain_over_three_outposts_is_followed_to_its_live_end_in_either_order() {
    // web on A was replaced by i-b on B; B failed too and i-b was replaced by i-c on C.
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    w.instances
        .get_mut("i-b")
        .unwrap()
        .tags
        .insert(tags::REPLACED_BY.into(), "i-c".into());
    w.add_replacement(
        "i-c",
        "subnet-c",
        "i-b",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::REPLACEMENT_OF, "i-b"),
        ],
    );
    set(&mut w, "a", "op-0aaaaaaaaaaaaaaa1", AlarmState::Alarm);
    let aws = InMemoryAws::new(w, Duration::ZERO);

    // B comes back first (A is still down): i-b is fenced, i-x is not touched.
    let first = sweep(&aws, FenceAction::Stop).await;
    let on_b = fencing_of(&first, "op-0bbbbbbbbbbbbbbb2");
    assert_eq!(on_b.fenced.len(), 1, "{on_b:?}");
    assert_eq!(on_b.fenced[0].instance_id, "i-b");
    assert_eq!(on_b.fenced[0].replacement_id, "i-c");
    aws.with(|w| {
        assert_eq!(w.instances["i-b"].state, "stopped");
        assert_eq!(w.instances["i-x"].state, "running", "A is still down");
    });

    // Then A: i-x's replacement i-b is stopped, but the chain's live end i-c runs on C.
    aws.with(|w| set(w, "a", "op-0aaaaaaaaaaaaaaa1", AlarmState::Ok));
    let second = sweep(&aws, FenceAction::Stop).await;
    let on_a = fencing_of(&second, "op-0aaaaaaaaaaaaaaa1");
    assert_eq!(on_a.fenced.len(), 1, "{on_a:?}");
    assert_eq!(on_a.fenced[0].replacement_id, "i-c", "the live end");
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "stopped");
        assert_eq!(w.instances["i-c"].state, "running", "one copy serves");
    });
}

#[tokio::test]
async fn an_original_is_not_fenced_while_its_live_end_is_down_or_unhealthy() {
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    w.target_groups.insert(
        TG_WEB.into(),
        (
            TargetKind::Instance,
            [Target {
                id: "i-b".into(),
                port: Some(80),
                availability_zone: None,
            }]
            .into(),
        ),
    );
    w.health.insert("i-b".into(), "unhealthy".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);

    let report = sweep(&aws, FenceAction::Stop).await;
    let fencing = fencing_of(&report, "op-0aaaaaaaaaaaaaaa1");
    assert!(fencing.fenced.is_empty(), "{fencing:?}");
    assert!(
        fencing.held[0].reason.contains("not healthy (unhealthy in"),
        "{fencing:?}"
    );
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "running");

    // Healthy now, but B's alarm is in ALARM: still held.
    aws.with(|w| {
        w.health.remove("i-b");
        set(w, "b", "op-0bbbbbbbbbbbbbbb2", AlarmState::Alarm);
    });
    let report = sweep(&aws, FenceAction::Stop).await;
    let fencing = fencing_of(&report, "op-0aaaaaaaaaaaaaaa1");
    assert!(
        fencing.held[0].reason.contains("whose alarm is not OK"),
        "{fencing:?}"
    );
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "running");

    aws.with(|w| set(w, "b", "op-0bbbbbbbbbbbbbbb2", AlarmState::Ok));
    let report = sweep(&aws, FenceAction::Stop).await;
    assert_eq!(fencing_of(&report, "op-0aaaaaaaaaaaaaaa1").fenced.len(), 1);
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "stopped");
}

#[tokio::test]
async fn a_chain_that_ends_in_nothing_live_holds_the_original_and_says_so_once() {
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    w.set_state("i-b", "stopped");
    let aws = InMemoryAws::new(w, Duration::ZERO);

    let first = sweep(&aws, FenceAction::Stop).await;
    let held = &fencing_of(&first, "op-0aaaaaaaaaaaaaaa1").held;
    assert_eq!(held.len(), 1);
    assert!(held[0].news);
    assert!(held[0].reason.contains("may be the only copy"), "{held:?}");
    let said = notices(&aws);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("may be the only copy"), "{}", said[0]);
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "running");
        assert_eq!(
            w.instances["i-x"].tag(tags::FENCE_HELD),
            Some("no-live-copy")
        );
    });

    let second = sweep(&aws, FenceAction::Stop).await;
    let held = &fencing_of(&second, "op-0aaaaaaaaaaaaaaa1").held;
    assert!(!held[0].news, "{held:?}");
    assert_eq!(notices(&aws).len(), 1, "a hold is reported once");

    // The alarm's OK event says everything, holds reported before included.
    let ok = aws.with(|w| w.alarms[0].clone());
    let back = Agent::new(Ports::all(aws.clone()), settings(FenceAction::Stop))
        .handle_alarm(&ok)
        .await
        .unwrap();
    assert_eq!(back.action, Action::OutpostBack);
    assert_eq!(notices(&aws).len(), 2);
}

#[tokio::test]
async fn a_fenced_original_found_running_again_is_fenced_again_and_reported() {
    let aws = InMemoryAws::new(world(&[(tags::REPLACED_BY, "i-b")]), Duration::ZERO);
    sweep(&aws, FenceAction::Stop).await;
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "stopped");

    // Power came back and the server started it, or someone did.
    aws.with(|w| w.set_state("i-x", "running"));
    let report = sweep(&aws, FenceAction::Stop).await;
    let fencing = fencing_of(&report, "op-0aaaaaaaaaaaaaaa1");
    assert_eq!(fencing.fenced.len(), 1, "{fencing:?}");
    assert!(fencing.fenced[0].again);
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "stopped");
    let said = notices(&aws);
    assert!(
        said.last().unwrap().contains("FOUND RUNNING AGAIN"),
        "{said:?}"
    );

    // Its only copy gone, a running original is the workload: left running.
    aws.with(|w| {
        w.set_state("i-x", "running");
        w.set_state("i-b", "terminated");
    });
    let report = sweep(&aws, FenceAction::Stop).await;
    let fencing = fencing_of(&report, "op-0aaaaaaaaaaaaaaa1");
    assert!(fencing.fenced.is_empty());
    assert!(fencing.held[0].reason.contains("only copy"));
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "running");
}

#[tokio::test]
async fn leave_and_notify_only_report_what_would_be_fenced_once() {
    for (mode, action, verb) in [
        (Mode::Recover, FenceAction::Leave, "left running"),
        (Mode::NotifyOnly, FenceAction::Stop, "would be stopped"),
    ] {
        let aws = InMemoryAws::new(world(&[(tags::REPLACED_BY, "i-b")]), Duration::ZERO);
        let agent = Agent::new(
            Ports::all(aws.clone()),
            Settings {
                mode,
                ..settings(action)
            },
        );
        let first = agent.sweep().await.unwrap();
        assert_eq!(fencing_of(&first, "op-0aaaaaaaaaaaaaaa1").fenced.len(), 1);
        let said = notices(&aws);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains(verb), "{mode:?}: {}", said[0]);
        agent.sweep().await.unwrap();
        assert_eq!(notices(&aws).len(), 1, "{mode:?}: said once");
        aws.with(|w| {
            assert_eq!(w.instances["i-x"].state, "running", "{mode:?}");
            assert!(!w.calls.contains(&Op::StopInstances), "{mode:?}");
        });
    }
}

#[tokio::test]
async fn an_ok_event_while_the_alarm_is_in_alarm_again_fences_nothing() {
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    let ok = w.alarms[0].clone();
    set(&mut w, "a", "op-0aaaaaaaaaaaaaaa1", AlarmState::Alarm);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = Agent::new(Ports::all(aws.clone()), settings(FenceAction::Stop))
        .handle_alarm(&ok)
        .await
        .unwrap();
    assert_eq!(report.action, Action::Stale);
    assert!(report.ignored_because.unwrap().contains("not OK now"));
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "running");
        assert!(!w.calls.contains(&Op::StopInstances));
    });
}

#[tokio::test]
async fn a_replacement_that_lost_its_replacement_of_is_followed_from_the_originals_tag() {
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    w.instances
        .get_mut("i-b")
        .unwrap()
        .tags
        .remove(tags::REPLACEMENT_OF);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = sweep(&aws, FenceAction::Stop).await;
    let fencing = fencing_of(&report, "op-0aaaaaaaaaaaaaaa1");
    assert_eq!(fencing.fenced.len(), 1, "{fencing:?}");
    assert_eq!(fencing.relinked, [("i-b".into(), "i-x".into())]);
    assert!(fencing.repaired.is_empty());
    let said = notices(&aws).join("\n");
    assert!(said.contains("i-b replaces i-x"), "{said}");
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "stopped");
        assert_eq!(
            w.instances["i-b"].tag(tags::REPLACEMENT_OF),
            Some("i-x"),
            "the lost tag is back"
        );
    });
}

#[tokio::test]
async fn a_live_end_on_an_outpost_without_data_or_outside_the_originals_groups_holds() {
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    set(
        &mut w,
        "b",
        "op-0bbbbbbbbbbbbbbb2",
        AlarmState::InsufficientData,
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = sweep(&aws, FenceAction::Stop).await;
    let held = &fencing_of(&report, "op-0aaaaaaaaaaaaaaa1").held;
    assert!(held[0].reason.contains("whose alarm is not OK"), "{held:?}");

    // B is OK, but the move into the target group never happened: the original still serves.
    aws.with(|w| {
        set(w, "b", "op-0bbbbbbbbbbbbbbb2", AlarmState::Ok);
        w.target_groups.insert(
            TG_WEB.into(),
            (
                TargetKind::Instance,
                [Target {
                    id: "i-x".into(),
                    port: Some(80),
                    availability_zone: None,
                }]
                .into(),
            ),
        );
    });
    let report = sweep(&aws, FenceAction::Stop).await;
    let held = &fencing_of(&report, "op-0aaaaaaaaaaaaaaa1").held;
    assert!(
        held[0].reason.contains("not registered in")
            && held[0].reason.contains("original still is"),
        "{held:?}"
    );
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "running");
}

#[tokio::test]
async fn a_hold_after_a_fencing_is_news_again() {
    let mut w = world(&[(tags::REPLACED_BY, "i-b")]);
    w.set_state("i-b", "stopped");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    sweep(&aws, FenceAction::Stop).await;
    assert_eq!(notices(&aws).len(), 1, "held, said once");
    // The replacement is started; the original is fenced.
    aws.with(|w| w.set_state("i-b", "running"));
    sweep(&aws, FenceAction::Stop).await;
    assert_eq!(aws.with(|w| w.instances["i-x"].state.clone()), "stopped");
    // Later the replacement dies and the original is started by hand: the only copy again.
    aws.with(|w| {
        w.set_state("i-b", "stopped");
        w.set_state("i-x", "running");
    });
    let report = sweep(&aws, FenceAction::Stop).await;
    let held = &fencing_of(&report, "op-0aaaaaaaaaaaaaaa1").held;
    assert!(held[0].news, "{held:?}");
    assert_eq!(notices(&aws).len(), 3);
}

#[tokio::test]
async fn the_back_notice_carries_the_incident_it_closes() {
    const INCIDENT: &str = "op-0aaaaaaaaaaaaaaa1-20261124T031000Z-0123abcd";
    let aws = InMemoryAws::new(
        world(&[(tags::REPLACED_BY, "i-b"), (tags::INCIDENT, INCIDENT)]),
        Duration::ZERO,
    );
    let report = sweep(&aws, FenceAction::Stop).await;
    assert_eq!(
        fencing_of(&report, "op-0aaaaaaaaaaaaaaa1")
            .incident
            .as_deref(),
        Some(INCIDENT)
    );
    let notice = aws.with(|w| {
        w.published
            .iter()
            .find(|n| n.subject.contains(" back: "))
            .cloned()
            .unwrap()
    });
    assert!(
        notice
            .attributes
            .contains(&("incident".to_owned(), INCIDENT.to_owned())),
        "{:?}",
        notice.attributes
    );
}
