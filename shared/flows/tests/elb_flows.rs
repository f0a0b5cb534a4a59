//! ELB as ELB behaves, on the in-memory AWS: a target group that no longer exists is skipped and
//! reported without stopping the other groups' moves or any fencing; an `unused` replacement
//! (no listener rule, or its zone not enabled) is registered and explained, and neither the
//! health wait nor fencing waits for it.

use autorestart_testkit::Op;
use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::error::AwsError;
use autorestart_core::inventory::TargetGroupScope;
use autorestart_core::report::{Action, AlarmReport};
use autorestart_core::settings::{FenceAction, Mode, Settings};
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_testkit::{InMemoryAws, World};

mod support;
use support::agent_world::*;
use support::sweeps::sweep_with;

const TG_GONE: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/gone/9";

fn scoped(groups: &[&str]) -> Settings {
    Settings {
        target_groups: TargetGroupScope::Only(groups.iter().map(|g| (*g).into()).collect()),
        fence_action: FenceAction::Stop,
        ..settings(Mode::Recover)
    }
}

async fn recover(aws: &InMemoryAws, settings: Settings) -> AlarmReport {
    aws.with(|w| w.set_alarm(down()));
    Agent::new(Ports::all(aws.clone()), settings)
        .handle_alarm(&down())
        .await
        .unwrap()
}

/// The Outpost comes back (its alarm OK, B and C OK too) and the sweep fences.
async fn back_and_sweep(aws: &InMemoryAws, settings: Settings) -> Vec<String> {
    aws.with(|w| {
        w.set_alarm(alarm(AlarmState::Ok, "2026-11-24T04:00:00Z"));
        for (name, outpost) in [("b", "op-0bbbbbbbbbbbbbbb2"), ("c", "op-0ccccccccccccccc3")] {
            w.set_alarm(AlarmChange::connected_status(
                &format!("outposts-autorestart-connected-{name}"),
                outpost,
                AlarmState::Ok,
                "2026-11-20T00:00:00Z".parse().unwrap(),
            ));
        }
    });
    sweep_with(aws, settings)
        .await
        .fencing
        .iter()
        .filter_map(|f| f.fencing.as_ref())
        .flat_map(|f| f.fenced.iter().map(|x| x.instance_id.to_string()))
        .collect()
}

#[tokio::test]
async fn a_target_group_that_no_longer_exists_is_skipped_reported_and_fencing_goes_on() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let report = recover(&aws, scoped(&[TG_GONE, TG_WEB])).await;
    assert_eq!(report.action, Action::Recovery);
    let missing: Vec<&String> = report
        .load_balancing_errors
        .iter()
        .filter(|e| e.contains(TG_GONE) && e.contains("no longer exists"))
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", report.load_balancing_errors);
    // The other group's moves happened.
    aws.with(|w| {
        let web = &w.target_groups[TG_WEB].1;
        for original in ["i-web1", "i-web2"] {
            let replacement = w.instances[original].tag(tags::REPLACED_BY).unwrap();
            assert!(web.iter().any(|t| t.id == replacement), "{original}");
            assert!(!web.iter().any(|t| t.id == original), "{original}");
        }
        let notice = &w.published[0].body;
        assert!(notice.contains(TG_GONE), "{notice}");
        assert!(notice.contains("no longer exists"), "{notice}");
    });
    let mut fenced = back_and_sweep(&aws, scoped(&[TG_GONE, TG_WEB])).await;
    fenced.sort();
    assert_eq!(fenced, ["i-web1", "i-web2"]);
}

#[tokio::test]
async fn a_group_deleted_between_the_read_and_the_registration_is_skipped() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    // Deleted: every RegisterTargets into it fails (the pair, then each alone).
    let gone = AwsError::from_code(
        "elasticloadbalancing:RegisterTargets",
        "TargetGroupNotFound",
        "One or more target groups not found",
    );
    aws.with(|w| {
        w.failures
            .insert(Op::RegisterTargets, vec![gone.clone(); 3])
    });
    let report = recover(&aws, scoped(&[TG_WEB])).await;
    let notes: Vec<String> = report
        .instances
        .iter()
        .flat_map(|i| i.target_groups.iter().filter_map(|g| g.note.clone()))
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no longer exists (deleted since it was read): skipped")),
        "{notes:?}"
    );
    assert_eq!(report.action, Action::Recovery);
    aws.with(|w| assert!(w.instances["i-web1"].tag(tags::REPLACED_BY).is_some()));
}

#[tokio::test(start_paused = true)]
async fn an_unused_replacement_is_registered_explained_and_not_waited_for() {
    let mut w: World = world();
    w.default_health = Some("unused".into());
    let aws = InMemoryAws::new(w, Duration::ZERO);
    let started = tokio::time::Instant::now();
    let report = recover(&aws, scoped(&[TG_WEB])).await;
    assert!(
        tokio::time::Instant::now() - started < Duration::from_secs(60),
        "the health wait (60 s) is not spent on a target that stays unused"
    );
    let web1 = report
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    let moved = &web1.target_groups[0];
    assert!(moved.registered && moved.deregistered, "{moved:?}");
    let note = moved.note.as_deref().unwrap_or_default();
    assert!(note.contains("unused"), "{note}");
    assert!(note.contains("listener rule"), "{note}");
    aws.with(|w| assert!(w.published[0].body.contains("traffic will not reach it")));
    // Fencing does not hold the original for a state waiting cannot change.
    let mut fenced = back_and_sweep(&aws, scoped(&[TG_WEB])).await;
    fenced.sort();
    assert_eq!(fenced, ["i-web1", "i-web2"]);
}

#[tokio::test]
async fn a_dead_replacement_registered_by_ip_is_deregistered() {
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let settings = || scoped(&[TG_WEB, TG_IP]);
    recover(&aws, settings()).await;
    let (first, first_ip, web1_ip) = aws.with(|w| {
        let first = w.instances["i-web1"]
            .tag(tags::REPLACED_BY)
            .unwrap()
            .to_owned();
        let ip = w.instances[&first].addresses[0].ip.clone();
        assert!(w.target_groups[TG_IP].1.iter().any(|t| t.id == ip));
        (first, ip, w.instances["i-web1"].addresses[0].ip.clone())
    });
    // EC2 terminates it: ELB forgets an instance target, not an IP target, and EC2 no longer
    // tells the address of the dying instance.
    aws.with(|w| {
        w.set_state(&first, "shutting-down");
        w.instances.get_mut(&first).unwrap().addresses.clear();
        w.target_groups
            .get_mut(TG_WEB)
            .unwrap()
            .1
            .retain(|t| t.id != first);
    });
    recover(&aws, settings()).await;
    aws.with(|w| {
        let second = w.instances["i-web1"].tag(tags::REPLACED_BY).unwrap();
        assert_ne!(second, first);
        let second_ip = &w.instances[second].addresses[0].ip;
        let ips: Vec<&str> = w.target_groups[TG_IP]
            .1
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(ips, [second_ip.as_str()], "not {first_ip} nor {web1_ip}");
    });
}
