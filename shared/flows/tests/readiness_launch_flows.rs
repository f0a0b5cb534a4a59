//! Readiness asks EC2: a dry-run launch of each recovery template, paced, never while an
//! Outpost is in ALARM, and asked again only when the template or the instance changes.

use autorestart_testkit::Op;
use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::readiness::InstanceReadiness;
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_testkit::{InMemoryAws, World};

const OUTPOSTS: [(&str, &str); 3] = [
    ("a", "op-0aaaaaaaaaaaaaaa1"),
    ("b", "op-0bbbbbbbbbbbbbbb2"),
    ("c", "op-0ccccccccccccccc3"),
];

/// api and web on A, each recoverable onto B (lt-0b) then C (lt-0c); every alarm OK.
fn world() -> World {
    let mut w = World::default();
    for (name, outpost) in OUTPOSTS {
        let arn = format!("arn:aws:outposts:us-east-1:111122223333:outpost/{outpost}");
        w.subnets.insert(format!("subnet-{name}"), Some(arn));
        w.set_alarm(AlarmChange::connected_status(
            &format!("connected-{name}"),
            outpost,
            AlarmState::Ok,
            "2026-11-20T00:00:00Z".parse().unwrap(),
        ));
    }
    for name in ["b", "c"] {
        let template = TemplateRef {
            id: format!("lt-0{name}").into(),
            version: "$Default".into(),
        };
        w.templates.insert(template, format!("subnet-{name}"));
    }
    for (id, name) in [("i-api", "api"), ("i-web", "web")] {
        w.add_instance(
            id,
            "subnet-a",
            &[
                (tags::NAME, name),
                (tags::ENABLED, "true"),
                (tags::RECOVERY_TEMPLATES, "lt-0b,lt-0c"),
            ],
        );
    }
    w
}

async fn check(aws: &InMemoryAws) -> Vec<InstanceReadiness> {
    let report = Agent::new(Ports::all(aws.clone()), Settings::default())
        .sweep()
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report.readiness.instances
}

fn dry_runs(aws: &InMemoryAws) -> usize {
    aws.with(|w| {
        w.calls
            .iter()
            .filter(|c| **c == Op::RunInstancesDryRun)
            .count()
    })
}

#[tokio::test(start_paused = true)]
async fn a_template_iam_refuses_makes_the_instance_not_ready_and_is_asked_once() {
    let mut w = world();
    w.refused_templates.insert("lt-0b".into());
    w.refused_templates.insert("lt-0c".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let started = tokio::time::Instant::now();
    let verdicts = check(&aws).await;
    assert_eq!(dry_runs(&aws), 4, "two instances, two templates each");
    assert!(
        tokio::time::Instant::now() - started >= Duration::from_secs(3),
        "paced at one a second"
    );
    for v in &verdicts {
        let problems = v.problems.join("\n");
        for template in ["lt-0b", "lt-0c"] {
            assert!(
                problems.contains(&format!(
                    "{template}:$Default: EC2 refuses RunInstances from it (UnauthorizedOperation)"
                )),
                "{problems}"
            );
        }
        assert!(v.notes.join("\n").contains("iam:PassRole"), "the detail");
    }
    aws.with(|w| {
        let remembered = w.instances["i-web"].tag(tags::READINESS_LAUNCH).unwrap();
        assert_eq!(
            remembered.matches(":UnauthorizedOperation").count(),
            2,
            "{remembered}"
        );
    });

    // The next sweeps ask nothing they have asked, and still say what is wrong.
    let again = check(&aws).await;
    assert_eq!(dry_runs(&aws), 4, "remembered: no more dry runs");
    assert!(!again[0].is_ready());

    // The instance's identity changes: its question is asked again, the other's is not.
    aws.with(|w| {
        w.instances
            .get_mut("i-web")
            .unwrap()
            .tags
            .insert(tags::NAME.into(), "web-2".into());
        w.refused_templates.clear();
    });
    let after = check(&aws).await;
    assert_eq!(dry_runs(&aws), 6, "web's two templates again");
    let web = after.iter().find(|v| v.instance_id == "i-web").unwrap();
    assert!(web.is_ready(), "{:?}", web.problems);
    let api = after.iter().find(|v| v.instance_id == "i-api").unwrap();
    assert!(
        !api.is_ready(),
        "api's remembered refusal stands until its question changes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_alternate_beside_a_usable_one_is_a_warning() {
    let mut w = world();
    w.refused_templates.insert("lt-0c".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let verdicts = check(&aws).await;
    for v in &verdicts {
        assert!(v.is_ready(), "{:?}", v.problems);
        let notes = v.notes.join("\n");
        assert!(
            notes.contains("warning (another alternate is usable): launch template lt-0c:$Default: EC2 refuses RunInstances"),
            "{notes}"
        );
    }
}

#[tokio::test]
async fn no_dry_run_while_an_outpost_is_in_alarm() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    aws.with(|w| {
        w.set_alarm(AlarmChange::connected_status(
            "connected-c",
            "op-0ccccccccccccccc3",
            AlarmState::Alarm,
            "2026-11-24T00:00:00Z".parse().unwrap(),
        ))
    });
    let verdicts = check(&aws).await;
    assert_eq!(dry_runs(&aws), 0);
    let notes = verdicts[0].notes.join("\n");
    assert!(notes.contains("no dry-run launch this time"), "{notes}");
    aws.with(|w| assert!(w.instances["i-web"].tag(tags::READINESS_LAUNCH).is_none()));
}
