//! The whole alarm flow on the in-memory AWS: what is launched, tagged, moved and published.

use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmMetric, AlarmState};
use autorestart_core::error::AwsError;
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{Action, AlarmReport, Notification};
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::{Mode, Settings};
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::error::FlowError;
use autorestart_flows::ports::{Target, TargetGroupScope, TargetKind};
use autorestart_testkit::{InMemoryAws, World};

const OUTPOST_A: &str = "op-0aaaaaaaaaaaaaaa1";
const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";
const ARN_C: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3";
const TG_WEB: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";
const TG_IP: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/api/2";

fn template(id: &str) -> TemplateRef {
    TemplateRef {
        id: id.into(),
        version: "$Default".into(),
    }
}

fn target(id: &str, port: i32) -> Target {
    Target {
        id: id.into(),
        port: Some(port),
        availability_zone: None,
    }
}

/// Outposts A (fails), B and C; web-1 and web-2 protected on A, one bystander on A and one on B.
fn world() -> World {
    let mut w = World::default();
    w.subnets.insert("subnet-a".into(), Some(ARN_A.into()));
    w.subnets.insert("subnet-b".into(), Some(ARN_B.into()));
    w.subnets.insert("subnet-c".into(), Some(ARN_C.into()));
    w.templates.insert(template("lt-0a"), "subnet-a".into());
    w.templates.insert(template("lt-0b"), "subnet-b".into());
    w.templates.insert(template("lt-0c"), "subnet-c".into());
    let protected = |name: &'static str, templates: &'static str| {
        vec![
            (tags::NAME, name),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, templates),
        ]
    };
    w.add_instance(
        "i-web1",
        "subnet-a",
        &protected("web-1", "lt-0a,lt-0b,lt-0c"),
    );
    w.add_instance("i-web2", "subnet-a", &protected("web-2", "lt-0b"));
    w.add_instance(
        "i-bystander",
        "subnet-a",
        &[(tags::NAME, "db"), (tags::RECOVERY_TEMPLATES, "lt-0b")],
    );
    w.add_instance("i-elsewhere", "subnet-b", &protected("web-3", "lt-0c"));
    let web1_ip = w.instances["i-web1"].addresses[0].ip.clone();
    w.target_groups.insert(
        TG_WEB.into(),
        (
            TargetKind::Instance,
            [
                target("i-web1", 80),
                target("i-web2", 80),
                target("i-elsewhere", 80),
            ]
            .into(),
        ),
    );
    w.target_groups.insert(
        TG_IP.into(),
        (TargetKind::Ip, [target(&web1_ip, 8080)].into()),
    );
    w.set_alarm(down());
    w
}

fn settings(mode: Mode) -> Settings {
    Settings {
        mode,
        concurrency: 4,
        target_groups: TargetGroupScope::All,
        health_wait: HealthWait {
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
        },
        ..Settings::default()
    }
}

fn alarm(state: AlarmState, since: &str) -> AlarmChange {
    AlarmChange {
        alarm_name: format!("outposts-autorestart-connected-{OUTPOST_A}"),
        alarm_arn: Some(format!(
            "arn:aws:cloudwatch:us-east-1:111122223333:alarm:outposts-autorestart-connected-{OUTPOST_A}"
        )),
        state,
        state_since: since.parse().unwrap(),
        metrics: vec![AlarmMetric {
            namespace: Some("AWS/Outposts".into()),
            metric_name: Some("ConnectedStatus".into()),
            dimensions: vec![("OutpostId".into(), OUTPOST_A.into())],
            expression: None,
        }],
    }
}

fn down() -> AlarmChange {
    alarm(AlarmState::Alarm, "2026-11-24T03:10:00Z")
}

async fn handle(
    aws: &InMemoryAws,
    mode: Mode,
    change: &AlarmChange,
) -> Result<AlarmReport, FlowError> {
    // The event says what CloudWatch shows, as a fresh event does.
    aws.with(|w| w.set_alarm(change.clone()));
    Agent::new(Ports::all(aws), settings(mode))
        .outage()
        .handle(change)
        .await
}

fn outcome_of(report: &AlarmReport, id: &str) -> OutcomeKind {
    report
        .instances
        .iter()
        .find(|i| i.instance_id == id)
        .unwrap()
        .outcome
}

#[tokio::test]
async fn recovers_each_protected_instance_once_moves_membership_and_notifies() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();

    assert_eq!(report.action, Action::Recovery);
    assert_eq!(
        report.instances.len(),
        2,
        "only opted-in instances on the failed Outpost"
    );
    aws.with(|w| {
        for original in ["i-web1", "i-web2"] {
            let replacements = w.replacements_of(original);
            assert_eq!(replacements.len(), 1, "{original}");
            let r = replacements[0];
            assert_eq!(
                r.subnet_id.as_deref(),
                Some("subnet-b"),
                "first alternate off the failed Outpost"
            );
            assert_eq!(
                w.instances[original].tag(tags::REPLACED_BY),
                Some(r.id.as_str())
            );
            assert!(r.is_opted_in(), "the replacement is itself protected");
            assert_eq!(
                r.tag(tags::INCIDENT),
                w.instances[original].tag(tags::INCIDENT)
            );
            assert!(r.tag(tags::REPORTED).is_some(), "reported after the notice");
        }
        assert!(w.replacements_of("i-bystander").is_empty());
        assert!(w.replacements_of("i-elsewhere").is_empty());

        let web = &w.target_groups[TG_WEB].1;
        let web_ids: Vec<&str> = web.iter().map(|t| t.id.as_str()).collect();
        let r1 = w.replacements_of("i-web1")[0].clone();
        let r2 = w.replacements_of("i-web2")[0].clone();
        assert!(web_ids.contains(&r1.id.as_str()) && web_ids.contains(&r2.id.as_str()));
        assert!(!web_ids.contains(&"i-web1") && !web_ids.contains(&"i-web2"));
        assert!(web_ids.contains(&"i-elsewhere"), "untouched");
        let api = &w.target_groups[TG_IP].1;
        assert_eq!(
            api,
            &[target(&r1.addresses[0].ip, 8080)].into(),
            "IP target moved to the replacement's IP"
        );

        assert_eq!(w.published.len(), 1);
        let notice = &w.published[0];
        assert!(notice.subject.contains("2 recovered"), "{}", notice.subject);
        assert!(
            notice.body.contains("web-1 (i-web1) -> "),
            "{}",
            notice.body
        );
        assert!(
            notice
                .body
                .contains("skipped lt-0a:$Default: its subnet subnet-a lies on the failed Outpost")
        );
        assert!(notice.body.contains("--- facts (JSON) ---"));
    });
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    assert_eq!(web1.outcome, OutcomeKind::Recovered);
    assert_eq!(web1.target_groups.len(), 2);
    assert!(
        web1.target_groups
            .iter()
            .all(|tg| tg.registered && tg.healthy && tg.deregistered)
    );
    assert!(matches!(
        report.notification,
        Notification::Published { .. }
    ));
}

#[tokio::test]
async fn a_repeated_event_changes_nothing_and_notifies_nobody() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    handle(&aws, Mode::Recover, &down()).await.unwrap();
    let (instances, groups) = aws.with(|w| (w.instances.clone(), w.target_groups.clone()));
    let calls_before = aws.with(|w| w.calls.len());

    let again = handle(&aws, Mode::Recover, &down()).await.unwrap();

    assert_eq!(again.notification, Notification::AlreadyReported);
    assert_eq!(outcome_of(&again, "i-web1"), OutcomeKind::AlreadyRecovered);
    aws.with(|w| {
        assert_eq!(w.instances, instances);
        assert_eq!(w.target_groups, groups);
        assert_eq!(w.published.len(), 1);
        let writes: Vec<&str> = w.calls[calls_before..]
            .iter()
            .copied()
            .filter(|c| {
                matches!(
                    *c,
                    "RunInstances"
                        | "CreateTags"
                        | "RegisterTargets"
                        | "DeregisterTargets"
                        | "Publish"
                )
            })
            .collect();
        assert!(writes.is_empty(), "{writes:?}");
    });
}

#[tokio::test]
async fn a_full_alternate_falls_through_to_the_next_and_an_exhausted_list_is_reported() {
    let mut w = world();
    w.capacity.insert("subnet-b".into(), 0);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();

    aws.with(|w| {
        let r1 = w.replacements_of("i-web1");
        assert_eq!(r1[0].subnet_id.as_deref(), Some("subnet-c"));
        assert!(w.replacements_of("i-web2").is_empty());
        assert_eq!(
            w.target_groups[TG_WEB]
                .1
                .iter()
                .filter(|t| t.id == "i-web2")
                .count(),
            1,
            "failed original stays"
        );
        let notice = &w.published[0];
        assert!(
            notice.subject.contains("1 recovered, 1 FAILED"),
            "{}",
            notice.subject
        );
        assert!(notice.body.contains("NOT RECOVERED (1)"));
        assert!(notice.body.contains("What you must do:"));
        assert!(
            notice
                .body
                .contains("free capacity on an alternate Outpost server")
        );
    });
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    assert_eq!(web1.failed_attempts.len(), 1, "lt-0b was tried and full");
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Failed);
}

#[tokio::test]
async fn notify_only_reports_the_plan_and_changes_nothing() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let (instances, groups) = aws.with(|w| (w.instances.clone(), w.target_groups.clone()));
    let report = handle(&aws, Mode::NotifyOnly, &down()).await.unwrap();

    aws.with(|w| {
        assert_eq!(w.instances, instances);
        assert_eq!(w.target_groups, groups);
        assert_eq!(w.published.len(), 1);
        assert!(w.published[0].subject.contains("notify-only"));
        assert!(!w.calls.contains(&"RunInstances") && !w.calls.contains(&"CreateTags"));
    });
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    assert_eq!(web1.outcome, OutcomeKind::WouldLaunch);
    assert_eq!(web1.template.as_deref(), Some("lt-0b:$Default"));
    assert_eq!(web1.fallbacks, vec!["lt-0c:$Default".to_owned()]);
    assert_eq!(web1.target_groups.len(), 2, "memberships that would move");
}

#[tokio::test]
async fn an_alarm_that_is_not_ours_makes_no_aws_call() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let mut change = down();
    change.metrics[0].metric_name = Some("CPUUtilization".into());
    let report = handle(&aws, Mode::Recover, &change).await.unwrap();
    assert_eq!(report.action, Action::Ignored);
    assert!(report.ignored_because.unwrap().contains("does not watch"));
    assert!(aws.with(|w| w.calls.is_empty()));
}

#[tokio::test]
async fn outpost_back_stops_each_replaced_original_once_its_replacement_runs() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    handle(&aws, Mode::Recover, &down()).await.unwrap();
    let web2_replacement = aws.with(|w| w.instances["i-web2"].tags[tags::REPLACED_BY].clone());
    aws.with(|w| w.instances.get_mut(&web2_replacement).unwrap().state = "stopped".into());
    let ok = alarm(AlarmState::Ok, "2026-11-24T05:00:00Z");
    let back = handle(&aws, Mode::Recover, &ok).await.unwrap();
    assert_eq!(back.action, Action::OutpostBack);
    let fencing = back.fencing.expect("fencing report");
    let fenced: Vec<&str> = fencing
        .fenced
        .iter()
        .map(|f| f.instance_id.as_str())
        .collect();
    assert_eq!(fenced, ["i-web1"]);
    assert_eq!(fencing.held[0].instance_id, "i-web2");
    assert!(
        fencing.held[0].reason.contains("may be the only copy"),
        "{:?}",
        fencing.held
    );
    aws.with(|w| {
        assert_eq!(w.instances["i-web1"].state, "stopped");
        assert!(w.instances["i-web1"].tags[tags::FENCED].starts_with("stop@"));
        assert_eq!(
            w.instances["i-web2"].state, "running",
            "held: its replacement does not run"
        );
        let notice = w.published.last().unwrap();
        assert!(
            notice
                .subject
                .contains("back: 1 original(s) stopped, 1 held"),
            "{}",
            notice.subject
        );
    });

    let calls_before = aws.with(|w| w.calls.iter().filter(|c| **c == "StopInstances").count());
    let again = handle(&aws, Mode::Recover, &ok).await.unwrap();
    assert_eq!(again.fencing.unwrap().already_fenced, 1);
    aws.with(|w| {
        let stops = w.calls.iter().filter(|c| **c == "StopInstances").count();
        assert_eq!(stops, calls_before, "an original is stopped once");
    });
}

#[tokio::test]
async fn a_failed_notice_is_an_error_and_the_retry_notifies_without_relaunching() {
    let mut w = world();
    w.failures.insert(
        "Publish",
        vec![AwsError::from_code(
            "sns:Publish",
            "Throttling",
            "Rate exceeded",
        )],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let error = handle(&aws, Mode::Recover, &down()).await.unwrap_err();
    let FlowError::Notify { report, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(
        report["instances"][0]["outcome"], "recovered",
        "the error carries what was done"
    );
    assert!(error.to_string().contains("notification failed"));

    let retry = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert!(matches!(retry.notification, Notification::Published { .. }));
    aws.with(|w| {
        assert_eq!(w.replacements_of("i-web1").len(), 1);
        assert_eq!(
            w.calls.iter().filter(|c| **c == "RunInstances").count(),
            2,
            "one per instance, in the first run"
        );
    });
}

#[tokio::test]
async fn a_read_failure_changes_nothing_and_says_it_is_safe_to_retry() {
    let mut w = world();
    w.failures.insert(
        "DescribeInstances",
        vec![AwsError::from_code(
            "ec2:DescribeInstances",
            "UnauthorizedOperation",
            "not authorized",
        )],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let error = handle(&aws, Mode::Recover, &down()).await.unwrap_err();
    assert!(matches!(error, FlowError::Read(_)));
    assert!(error.to_string().contains("nothing was changed"));
    assert!(error.to_string().contains("grant the function's role"));
    aws.with(|w| assert!(!w.calls.contains(&"RunInstances")));
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_replacement_is_waited_for_then_the_original_deregistered_anyway() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let started = tokio::time::Instant::now();
    // Every replacement reports "initial" for ever.
    aws.with(|w| w.default_health = Some("initial".into()));
    let agent = Agent::new(Ports::all(&aws), settings(Mode::Recover));
    let report = agent.outage().handle(&down()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "bounded wait used"
    );
    assert!(
        started.elapsed() < Duration::from_secs(70),
        "and not longer"
    );
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    let tg = &web1.target_groups[0];
    assert!(tg.deregistered && !tg.healthy);
    assert!(
        tg.note
            .as_deref()
            .unwrap()
            .contains("not healthy after 60 s (last state: initial)")
    );
    aws.with(|w| assert!(w.published[0].body.contains("not yet healthy")));
}

#[tokio::test]
async fn a_later_outage_recovers_only_what_is_not_recovered_yet() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    aws.with(|w| {
        w.add_instance(
            "i-earlier",
            "subnet-c",
            &[
                (tags::ENABLED, "true"),
                (tags::REPLACEMENT_OF, "i-web1"),
                (tags::REPORTED, "old"),
            ],
        )
    });
    let report = handle(
        &aws,
        Mode::Recover,
        &alarm(AlarmState::Alarm, "2026-12-01T00:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::AlreadyRecovered);
    assert_eq!(outcome_of(&report, "i-web2"), OutcomeKind::Recovered);
    aws.with(|w| assert_eq!(w.calls.iter().filter(|c| **c == "RunInstances").count(), 1));
}

fn alarm_arn() -> String {
    down().alarm_arn.unwrap()
}

#[tokio::test]
async fn wave_one_launches_only_after_wave_zero_runs_and_moved() {
    let mut w = world();
    w.instances
        .get_mut("i-web1")
        .unwrap()
        .tags
        .insert(tags::WAVE.into(), "1".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    let waves: Vec<(u32, usize, bool)> = report
        .waves
        .iter()
        .map(|w| (w.wave, w.instances, w.settled))
        .collect();
    assert_eq!(waves, [(0, 1, true), (1, 1, true)]);
    let wave_of = |id: &str| {
        report
            .instances
            .iter()
            .find(|i| i.instance_id == id)
            .unwrap()
            .wave
    };
    assert_eq!((wave_of("i-web2"), wave_of("i-web1")), (0, 1));
    aws.with(|w| {
        let calls: Vec<&str> = w
            .calls
            .iter()
            .copied()
            .filter(|c| matches!(*c, "RunInstances" | "RegisterTargets" | "DeregisterTargets"))
            .collect();
        // web-2 (wave 0) launches and moves; only then does web-1 (wave 1) launch.
        assert_eq!(
            calls[..4],
            [
                "RunInstances",
                "RegisterTargets",
                "DeregisterTargets",
                "RunInstances"
            ]
        );
        assert_eq!(calls.len(), 8, "{calls:?}");
    });
}

#[tokio::test]
async fn an_unhealthy_wave_holds_the_next_only_for_the_bounded_wait_and_says_so() {
    let mut w = world();
    w.instances
        .get_mut("i-web1")
        .unwrap()
        .tags
        .insert(tags::WAVE.into(), "1".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let settings = Settings {
        wave_wait: Duration::from_secs(2),
        health_wait: HealthWait {
            timeout: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
        },
        ..settings(Mode::Recover)
    };
    let agent = Agent::new(Ports::all(&aws), settings);
    // No replacement ever turns healthy in its target group.
    aws.with(|w| w.default_health = Some("initial".into()));
    let report = agent.outage().handle(&down()).await.unwrap();
    assert!(!report.waves[0].settled, "{:?}", report.waves);
    assert!(
        report.waves[0]
            .note
            .as_deref()
            .unwrap()
            .contains("next wave started")
    );
    assert_eq!(report.instances.len(), 2, "wave 1 still ran");
}

#[tokio::test]
async fn maintenance_on_the_alarm_suppresses_recovery_and_says_so() {
    let mut w = world();
    w.alarm_tags
        .insert(alarm_arn(), vec![(tags::MAINTENANCE.into(), "true".into())]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(report.action, Action::Suppressed);
    aws.with(|w| {
        assert!(!w.calls.contains(&"RunInstances"));
        assert!(
            w.published[0]
                .subject
                .contains("recovery suppressed (maintenance)")
        );
        assert!(w.published[0].body.contains("remove the tag"));
    });

    // Maintenance over: the same alarm recovers.
    aws.with(|w| w.alarm_tags.clear());
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(report.action, Action::Recovery);
    assert_eq!(aws.with(|w| w.replacements_of("i-web1").len()), 1);
}

#[tokio::test]
async fn unreadable_alarm_tags_do_not_stop_a_recovery() {
    let mut w = world();
    w.failures.insert(
        "ListTagsForResource",
        vec![AwsError::from_code(
            "cloudwatch:ListTagsForResource",
            "AccessDenied",
            "no",
        )],
    );
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(report.action, Action::Recovery);
    assert!(report.warnings[0].contains("maintenance mode was not checked"));
    assert_eq!(aws.with(|w| w.replacements_of("i-web2").len()), 1);
}

fn sweep_world(state: AlarmState) -> World {
    let mut w = world();
    w.set_alarm(alarm(state, "2026-11-24T03:10:00Z"));
    for (name, outpost) in [("b", "op-0bbbbbbbbbbbbbbb2"), ("c", "op-0ccccccccccccccc3")] {
        w.alarms.push(AlarmChange::connected_status(
            &format!("outposts-autorestart-connected-{name}"),
            outpost,
            AlarmState::Ok,
            "2026-11-20T00:00:00Z".parse().unwrap(),
        ));
    }
    w
}

#[tokio::test]
async fn the_sweep_recovers_what_no_event_reported_then_finds_nothing_to_do() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Alarm), Duration::ZERO);
    let agent = Agent::new(Ports::all(&aws), settings(Mode::Recover));
    let first = agent.sweeper().sweep().await.unwrap();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.recoveries.len(), 1);
    assert_eq!(aws.with(|w| w.replacements_of("i-web1").len()), 1);
    let published = aws.with(|w| w.published.len());
    assert_eq!(
        published, 2,
        "the recovery and the first readiness verdicts"
    );

    let second = agent.sweeper().sweep().await.unwrap();
    assert_eq!(
        second.recoveries[0].notification,
        Notification::AlreadyReported
    );
    assert!(second.readiness.changed.is_empty());
    assert_eq!(
        aws.with(|w| w.published.len()),
        published,
        "nothing new to say"
    );
    assert_eq!(aws.with(|w| w.replacements_of("i-web1").len()), 1);
}

#[tokio::test]
async fn the_sweep_leaves_an_outpost_in_maintenance_alone() {
    let mut w = sweep_world(AlarmState::Alarm);
    w.alarm_tags
        .insert(alarm_arn(), vec![(tags::MAINTENANCE.into(), "TRUE".into())]);
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let report = Agent::new(Ports::all(&aws), settings(Mode::Recover))
        .sweeper()
        .sweep()
        .await
        .unwrap();
    assert_eq!(report.in_maintenance.len(), 1);
    assert!(report.recoveries.is_empty());
    assert!(aws.with(|w| !w.calls.contains(&"RunInstances")));
}

#[tokio::test]
async fn readiness_notifies_on_a_change_only() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Ok), Duration::ZERO);
    let agent = Agent::new(Ports::all(&aws), settings(Mode::Recover));
    let first = agent.sweeper().sweep().await.unwrap();
    // web-1 names lt-0a on its own Outpost, but lt-0b and lt-0c are usable: ready, with a
    // warning; web-2 and web-3 are ready.
    assert_eq!((first.readiness.ready, first.readiness.not_ready), (3, 0));
    let web1 = &first.readiness.instances[1];
    assert_eq!(web1.instance_id, "i-web1");
    assert!(
        web1.notes.iter().any(|n| n.contains("own Outpost")),
        "{web1:?}"
    );
    assert_eq!(aws.with(|w| w.published.len()), 1);
    agent.sweeper().sweep().await.unwrap();
    assert_eq!(aws.with(|w| w.published.len()), 1, "no change, no notice");

    // Outpost C goes down: web-3's only alternate is gone; web-1 still has lt-0b.
    aws.with(|w| w.alarms[2].state = AlarmState::Alarm);
    let third = agent.sweeper().sweep().await.unwrap();
    assert_eq!(third.readiness.changed, ["i-elsewhere"]);
    let notice = aws.with(|w| w.published.last().unwrap().clone());
    assert!(
        notice.subject.contains("Readiness: 1 not ready"),
        "{}",
        notice.subject
    );
    assert!(notice.body.contains("alarm is Alarm"), "{}", notice.body);
}

#[tokio::test]
async fn notify_only_fencing_reports_once_and_stops_nothing() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Alarm), Duration::ZERO);
    Agent::new(Ports::all(&aws), settings(Mode::Recover))
        .sweeper()
        .sweep()
        .await
        .unwrap();
    aws.with(|w| w.alarms[0].state = AlarmState::Ok);
    let watcher = Agent::new(Ports::all(&aws), settings(Mode::NotifyOnly));
    let report = watcher.sweeper().sweep().await.unwrap();
    let fencing = report.fencing[0].fencing.as_ref().unwrap();
    assert_eq!(fencing.fenced.len(), 2);
    aws.with(|w| {
        assert_eq!(w.instances["i-web1"].state, "running");
        assert!(w.instances["i-web1"].tags[tags::FENCED].starts_with("would-stop@"));
        assert!(
            w.published
                .iter()
                .any(|n| n.subject.contains("back: 2 original(s) would be stopped"))
        );
    });
    let again = watcher.sweeper().sweep().await.unwrap();
    assert!(again.fencing[0].fencing.as_ref().unwrap().fenced.is_empty());
}

fn drill_request(live: bool, target_group: Option<&str>) -> autorestart_core::drill::DrillRequest {
    autorestart_core::drill::DrillRequest {
        outpost: autorestart_core::alarm::OutpostId::parse(OUTPOST_A).unwrap(),
        live,
        target_group_arn: target_group.map(str::to_owned),
        started: "2026-11-24T10:00:00Z".parse().unwrap(),
    }
}

#[tokio::test]
async fn a_live_drill_tags_its_copies_never_the_originals_and_terminates_them() {
    const TG_DRILL: &str =
        "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/drill/9";
    let mut w = sweep_world(AlarmState::Ok);
    w.target_groups
        .insert(TG_DRILL.into(), (TargetKind::Instance, Default::default()));
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let originals = aws.with(|w| {
        (
            w.instances["i-web1"].clone(),
            w.target_groups[TG_WEB].clone(),
        )
    });
    let report = Agent::new(Ports::all(&aws), settings(Mode::Recover))
        .driller()
        .drill(&drill_request(true, Some(TG_DRILL)))
        .await
        .unwrap();
    assert_eq!(report.copies.len(), 2);
    assert!(
        report.copies.iter().all(|c| c.healthy == Some(true)),
        "{:?}",
        report.copies
    );
    assert_eq!(report.cleaned_up.len(), 2);
    aws.with(|w| {
        assert_eq!(
            w.instances["i-web1"], originals.0,
            "the original is untouched"
        );
        assert_eq!(
            w.target_groups[TG_WEB], originals.1,
            "production target group untouched"
        );
        assert!(
            w.target_groups[TG_DRILL].1.is_empty(),
            "copies deregistered"
        );
        for id in &report.cleaned_up {
            let copy = &w.instances[id];
            assert_eq!(copy.state, "terminated");
            assert_eq!(copy.tags[tags::DRILL], report.drill_id);
            assert!(copy.tag(tags::REPLACEMENT_OF).is_none());
        }
        assert!(
            w.published[0]
                .subject
                .contains("Drill op-0aaaaaaaaaaaaaaa1: 2/2 running")
        );
    });
}

#[tokio::test]
async fn a_drill_refuses_a_production_target_group_and_an_outpost_that_is_down() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Ok), Duration::ZERO);
    let agent = Agent::new(Ports::all(&aws), settings(Mode::Recover));
    let refused = agent
        .driller()
        .drill(&drill_request(true, Some(TG_WEB)))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("holds protected instances"),
        "{refused}"
    );
    aws.with(|w| w.alarms[0].state = AlarmState::Alarm);
    let refused = agent
        .driller()
        .drill(&drill_request(true, None))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("is down now"), "{refused}");
    assert!(aws.with(|w| !w.calls.contains(&"RunInstances")));
}

#[tokio::test]
async fn a_dry_run_drill_only_reads() {
    let aws = InMemoryAws::new(sweep_world(AlarmState::Ok), Duration::ZERO);
    let report = Agent::new(Ports::all(&aws), settings(Mode::Recover))
        .driller()
        .drill(&drill_request(false, None))
        .await
        .unwrap();
    assert_eq!(report.plan.len(), 2);
    assert_eq!(
        report.plan[0].target_groups,
        [TG_IP, TG_WEB].map(String::from)
    );
    aws.with(|w| {
        let writes = [
            "RunInstances",
            "CreateTags",
            "RegisterTargets",
            "Publish",
            "TerminateInstances",
        ];
        assert!(w.calls.iter().all(|c| !writes.contains(c)), "{:?}", w.calls);
    });
}
