//! The world and helpers of `agent_flows.rs` and `sweep_and_drill_flows.rs`.

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
use std::time::Duration;

pub const OUTPOST_A: &str = "op-0aaaaaaaaaaaaaaa1";

pub const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";

pub const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

pub const ARN_C: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0ccccccccccccccc3";

pub const TG_WEB: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1";

pub const TG_IP: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/api/2";

pub fn template(id: &str) -> TemplateRef {
    TemplateRef {
        id: id.into(),
        version: "$Default".into(),
    }
}

pub fn target(id: &str, port: i32) -> Target {
    Target {
        id: id.into(),
        port: Some(port),
        availability_zone: None,
    }
}

/// Outposts A (fails), B and C; web-1 and web-2 protected on A, one bystander on A and one on B.
pub fn world() -> World {
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

pub fn settings(mode: Mode) -> Settings {
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

pub fn alarm(state: AlarmState, since: &str) -> AlarmChange {
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
        evaluation: None,
    }
}

pub fn down() -> AlarmChange {
    alarm(AlarmState::Alarm, "2026-11-24T03:10:00Z")
}

pub async fn handle(
    aws: &InMemoryAws,
    mode: Mode,
    change: &AlarmChange,
) -> Result<AlarmReport, FlowError> {
    // The event says what CloudWatch shows, as a fresh event does.
    aws.with(|w| w.set_alarm(change.clone()));
    Agent::new(Ports::all(aws.clone()), settings(mode))
        .handle_alarm(change)
        .await
}

pub fn outcome_of(report: &AlarmReport, id: &str) -> OutcomeKind {
    report
        .instances
        .iter()
        .find(|i| i.instance_id == id)
        .unwrap()
        .outcome
}

pub fn alarm_arn() -> String {
    down().alarm_arn.unwrap()
}

pub fn sweep_world(state: AlarmState) -> World {
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

pub fn drill_request(
    live: bool,
    target_group: Option<&str>,
) -> autorestart_core::drill::DrillRequest {
    autorestart_core::drill::DrillRequest {
        outpost: autorestart_core::alarm::OutpostId::parse(OUTPOST_A).unwrap(),
        live,
        target_group_arn: target_group.map(Into::into),
        started: "2026-11-24T10:00:00Z".parse().unwrap(),
    }
}
