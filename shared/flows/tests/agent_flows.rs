//! The whole alarm flow on the in-memory AWS: what is launched, tagged, moved and published.

use autorestart_core::alarm::AlarmState;
use autorestart_core::error::AwsError;
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::report::{Action, Notification};
use autorestart_core::settings::HealthWait;
use autorestart_core::settings::{Mode, Settings};
use autorestart_core::tags::{self};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_flows::error::FlowError;
use autorestart_testkit::InMemoryAws;
use autorestart_testkit::Op;
use std::time::Duration;

mod support;
use support::agent_world::*;

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
        let facts = notice.attributes.iter().find(|(name, _)| name == "facts");
        let facts: serde_json::Value = serde_json::from_str(&facts.unwrap().1).unwrap();
        assert_eq!(facts["instances"][0]["instance_id"], "i-web1");
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
        let writes: Vec<Op> = w.calls[calls_before..]
            .iter()
            .copied()
            .filter(|c| {
                matches!(
                    *c,
                    Op::RunInstances
                        | Op::CreateTags
                        | Op::RegisterTargets
                        | Op::DeregisterTargets
                        | Op::Publish
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
            notice.subject.contains("1 FAILED, 1 recovered"),
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
        assert!(!w.calls.contains(&Op::RunInstances) && !w.calls.contains(&Op::CreateTags));
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

    let calls_before = aws.with(|w| w.calls.iter().filter(|c| **c == Op::StopInstances).count());
    let again = handle(&aws, Mode::Recover, &ok).await.unwrap();
    assert_eq!(again.fencing.unwrap().already_fenced, 1);
    aws.with(|w| {
        let stops = w.calls.iter().filter(|c| **c == Op::StopInstances).count();
        assert_eq!(stops, calls_before, "an original is stopped once");
    });
}

#[tokio::test]
async fn a_failed_notice_is_an_error_and_the_retry_notifies_without_relaunching() {
    let mut w = world();
    // Refused, not throttled: a throttled publish is retried within the invocation.
    w.failures.insert(
        Op::Publish,
        vec![AwsError::from_code(
            "sns:Publish",
            "AuthorizationError",
            "not authorized to publish",
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
            w.calls.iter().filter(|c| **c == Op::RunInstances).count(),
            2,
            "one per instance, in the first run"
        );
    });
}

#[tokio::test]
async fn a_read_failure_changes_nothing_and_says_it_is_safe_to_retry() {
    let mut w = world();
    w.failures.insert(
        Op::DescribeInstances,
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
    aws.with(|w| assert!(!w.calls.contains(&Op::RunInstances)));
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_replacement_is_waited_for_then_the_original_deregistered_anyway() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let started = tokio::time::Instant::now();
    // Every replacement reports "initial" for ever.
    aws.with(|w| w.default_health = Some("initial".into()));
    let agent = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover));
    let report = agent.handle_alarm(&down()).await.unwrap();
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
        w.add_replacement(
            "i-earlier",
            "subnet-c",
            "i-web1",
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
    aws.with(|w| {
        assert_eq!(
            w.calls.iter().filter(|c| **c == Op::RunInstances).count(),
            1
        )
    });
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
        let calls: Vec<Op> = w
            .calls
            .iter()
            .copied()
            .filter(|c| {
                matches!(
                    *c,
                    Op::RunInstances | Op::RegisterTargets | Op::DeregisterTargets
                )
            })
            .collect();
        // web-2 (wave 0) launches and moves; only then does web-1 (wave 1) launch.
        assert_eq!(
            calls[..4],
            [
                Op::RunInstances,
                Op::RegisterTargets,
                Op::DeregisterTargets,
                Op::RunInstances
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
    let agent = Agent::new(Ports::all(aws.clone()), settings);
    // No replacement ever turns healthy in its target group.
    aws.with(|w| w.default_health = Some("initial".into()));
    let report = agent.handle_alarm(&down()).await.unwrap();
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
        assert!(!w.calls.contains(&Op::RunInstances));
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
        Op::ListTagsForResource,
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
