//! A recovery link counts only when AWS confirms the agent made it: forged and copied link tags
//! on the in-memory AWS, where EC2 records ClientTokens and sets `aws:ec2launchtemplate:id` on
//! template launches as it does for real. Nothing claimed is stopped, launched for, held back,
//! or repaired from; the claim is reported once; the real chain is still fenced.

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::fence::FenceReport;
use autorestart_core::report::SweepReport;
use autorestart_core::settings::{FenceAction, Settings};
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_testkit::{InMemoryAws, World};

mod support;
use support::sweeps::{fencing_of, sweep_with};

const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const OUTPOST_A: &str = "op-0aaaaaaaaaaaaaaa1";

/// Outposts A and B, connected; `web` (i-x) on A was replaced by the agent with i-b on B.
fn world() -> World {
    let mut w = World::default();
    w.subnets.insert("subnet-a".into(), Some(ARN_A.into()));
    w.subnets.insert("subnet-b".into(), Some(ARN_B.into()));
    w.add_instance(
        "i-x",
        "subnet-a",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, "lt-0b"),
            (tags::REPLACED_BY, "i-b"),
        ],
    );
    w.add_replacement(
        "i-b",
        "subnet-b",
        "i-x",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, "lt-0b"),
            (tags::REPLACEMENT_OF, "i-x"),
        ],
    );
    for (name, outpost) in [("a", OUTPOST_A), ("b", "op-0bbbbbbbbbbbbbbb2")] {
        w.set_alarm(AlarmChange::connected_status(
            &format!("outposts-autorestart-connected-{name}"),
            outpost,
            AlarmState::Ok,
            "2026-11-24T05:00:00Z".parse().unwrap(),
        ));
    }
    w
}

async fn sweep(aws: &InMemoryAws) -> SweepReport {
    let settings = Settings {
        fence_action: FenceAction::Stop,
        ..Settings::default()
    };
    sweep_with(aws, settings).await
}

fn fencing_of_a(report: &SweepReport) -> FenceReport {
    fencing_of(report, OUTPOST_A)
}

fn notices(aws: &InMemoryAws) -> Vec<String> {
    aws.with(|w| {
        w.published
            .iter()
            .filter(|n| n.subject.contains(" back: "))
            .map(|n| n.body.clone())
            .collect()
    })
}

/// The claims about `instance` in a fencing report: (claimed, news).
fn claims(fencing: &FenceReport, instance: &str) -> Option<(Vec<String>, bool)> {
    fencing
        .unproven
        .iter()
        .find(|u| u.instance_id == instance)
        .map(|u| (u.claimed.iter().map(ToString::to_string).collect(), u.news))
}

#[tokio::test]
async fn a_forged_pair_is_reported_once_and_nothing_is_stopped() {
    let mut w = world();
    // An unrelated running instance tagged as an opted-in original replaced by a healthy
    // instance elsewhere, which is tagged as its replacement: both ends written by hand.
    w.add_instance(
        "i-victim",
        "subnet-a",
        &[
            (tags::NAME, "payments"),
            (tags::ENABLED, "true"),
            (tags::REPLACED_BY, "i-decoy"),
        ],
    );
    w.add_instance(
        "i-decoy",
        "subnet-b",
        &[(tags::ENABLED, "true"), (tags::REPLACEMENT_OF, "i-victim")],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);

    let first = fencing_of_a(&sweep(&aws).await);
    assert_eq!(
        claims(&first, "i-victim"),
        Some((vec!["i-decoy".to_owned()], true)),
        "{first:?}"
    );
    assert_eq!(first.fenced.len(), 1, "{first:?}");
    assert_eq!(
        first.fenced[0].instance_id, "i-x",
        "the real chain is fenced"
    );
    assert!(
        first.held.iter().all(|h| h.instance_id != "i-victim"),
        "a claim is no hold: {first:?}"
    );
    aws.with(|w| {
        assert_eq!(w.instances["i-victim"].state, "running");
        assert_eq!(w.instances["i-decoy"].state, "running");
        assert_eq!(w.instances["i-x"].state, "stopped");
        assert_eq!(
            w.instances["i-victim"].tag(tags::UNPROVEN_CLAIMS),
            Some("i-decoy")
        );
    });
    let said = notices(&aws).join("\n");
    assert!(
        said.contains(
            "payments (i-victim) claims replacement i-decoy, which the agent did not launch for it; nothing done"
        ),
        "{said}"
    );

    // The next sweeps say nothing more, and still touch nothing.
    let published = aws.with(|w| w.published.len());
    let again = fencing_of_a(&sweep(&aws).await);
    assert_eq!(
        claims(&again, "i-victim"),
        Some((vec!["i-decoy".to_owned()], false))
    );
    sweep(&aws).await;
    assert_eq!(aws.with(|w| w.published.len()), published, "said once");
    aws.with(|w| assert_eq!(w.instances["i-victim"].state, "running"));
}

#[tokio::test]
async fn a_copy_of_a_fenced_original_with_its_tags_is_not_fenced_or_held() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    sweep(&aws).await;
    // "Launch more like this" on the fenced original: every tag copied onto a new instance.
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "stopped");
        let copied: Vec<(String, String)> = w.instances["i-x"]
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let copied: Vec<(&str, &str)> = copied
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        w.add_instance("i-copy", "subnet-a", &copied);
    });
    let published = aws.with(|w| w.published.len());
    let report = fencing_of_a(&sweep(&aws).await);
    assert_eq!(
        claims(&report, "i-copy"),
        Some((vec!["i-b".to_owned()], true)),
        "{report:?}"
    );
    assert!(report.fenced.is_empty(), "{report:?}");
    assert!(report.held.is_empty(), "{report:?}");
    aws.with(|w| assert_eq!(w.instances["i-copy"].state, "running"));
    assert_eq!(aws.with(|w| w.published.len()), published + 1);
}

#[tokio::test]
async fn a_link_tag_restored_on_the_wrong_instance_is_ignored_and_the_real_one_fenced() {
    let mut w = world();
    // i-x lost its replaced-by; someone "restores" the link on an unrelated instance.
    w.instances
        .get_mut("i-x")
        .unwrap()
        .tags
        .remove(tags::REPLACED_BY);
    w.add_instance(
        "i-wrong",
        "subnet-b",
        &[(tags::ENABLED, "true"), (tags::REPLACEMENT_OF, "i-x")],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = fencing_of_a(&sweep(&aws).await);
    assert_eq!(
        claims(&report, "i-x"),
        Some((vec!["i-wrong".to_owned()], true))
    );
    assert_eq!(report.fenced.len(), 1, "{report:?}");
    assert_eq!(report.fenced[0].replacement_id, "i-b");
    assert_eq!(report.repaired, [("i-x".into(), "i-b".into())]);
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "stopped");
        assert_eq!(w.instances["i-x"].tag(tags::REPLACED_BY), Some("i-b"));
        assert_eq!(w.instances["i-wrong"].state, "running");
    });
}

#[tokio::test]
async fn a_replaced_by_naming_an_unproven_instance_is_not_repaired_from() {
    let mut w = world();
    // The real replacement's replacement-of is lost and the original names an impostor.
    w.instances
        .get_mut("i-b")
        .unwrap()
        .tags
        .remove(tags::REPLACEMENT_OF);
    w.instances
        .get_mut("i-x")
        .unwrap()
        .tags
        .insert(tags::REPLACED_BY.into(), "i-impostor".into());
    w.add_instance("i-impostor", "subnet-b", &[(tags::ENABLED, "true")]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = fencing_of_a(&sweep(&aws).await);
    assert_eq!(
        claims(&report, "i-x"),
        Some((vec!["i-impostor".to_owned()], true))
    );
    assert!(report.relinked.is_empty(), "{report:?}");
    assert!(report.fenced.is_empty(), "{report:?}");
    aws.with(|w| {
        assert_eq!(w.instances["i-x"].state, "running");
        assert_eq!(w.instances["i-impostor"].tag(tags::REPLACEMENT_OF), None);
    });
}

#[tokio::test]
async fn a_forged_replacement_does_not_hold_back_a_launch() {
    use autorestart_core::report::Action;
    let mut w = world();
    w.add_instance(
        "i-web",
        "subnet-a",
        &[
            (tags::NAME, "api"),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, "lt-0b"),
        ],
    );
    w.templates.insert(
        tags::parse_recovery_templates(Some("lt-0b")).unwrap()[0].clone(),
        "subnet-b".into(),
    );
    // A running instance on B tagged as i-web's replacement by hand.
    w.add_instance(
        "i-fake",
        "subnet-b",
        &[(tags::ENABLED, "true"), (tags::REPLACEMENT_OF, "i-web")],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    aws.with(|w| {
        w.set_alarm(AlarmChange::connected_status(
            "outposts-autorestart-connected-a",
            OUTPOST_A,
            AlarmState::Alarm,
            "2026-11-24T06:00:00Z".parse().unwrap(),
        ))
    });
    let agent = Agent::new(Ports::all(aws.clone()), Settings::default());
    let change = AlarmChange::connected_status(
        "outposts-autorestart-connected-a",
        OUTPOST_A,
        AlarmState::Alarm,
        "2026-11-24T06:00:00Z".parse().unwrap(),
    );
    let report = agent.handle_alarm(&change).await.unwrap();
    assert_eq!(report.action, Action::Recovery, "{report:?}");
    aws.with(|w| {
        let launched: Vec<_> = w
            .instances
            .values()
            .filter(|i| i.tag(tags::REPLACEMENT_OF) == Some("i-web") && i.id != "i-fake")
            .collect();
        assert_eq!(launched.len(), 1, "a real replacement is launched");
        assert!(autorestart_core::proof::launched_for(
            &w.instances["i-web"],
            launched[0]
        ));
        assert_eq!(
            w.instances["i-web"].tag(tags::REPLACED_BY),
            Some(launched[0].id.as_str())
        );
        assert_eq!(w.instances["i-fake"].state, "running");
    });
}
