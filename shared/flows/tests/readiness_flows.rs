//! The sweep's readiness check on the in-memory AWS: an alarm that has had no data is seen
//! before an outage, and said once.

use autorestart_testkit::Op;
use std::time::Duration;

use autorestart_core::alarm::{AlarmChange, AlarmState};
use autorestart_core::settings::Settings;
use autorestart_core::tags::{self, TemplateRef};
use autorestart_flows::agent::{Agent, Ports};
use autorestart_testkit::{InMemoryAws, World};

const ARN_A: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

/// web on A, recoverable onto B; A's alarm in `a_state` since `a_since`, B's OK.
fn world(a_state: AlarmState, a_since: chrono::DateTime<chrono::Utc>) -> World {
    let mut w = World::default();
    w.subnets.insert("subnet-a".into(), Some(ARN_A.into()));
    w.subnets.insert("subnet-b".into(), Some(ARN_B.into()));
    w.templates.insert(
        TemplateRef {
            id: "lt-0b".into(),
            version: "$Default".into(),
        },
        "subnet-b".into(),
    );
    w.add_instance(
        "i-web",
        "subnet-a",
        &[
            (tags::NAME, "web"),
            (tags::ENABLED, "true"),
            (tags::RECOVERY_TEMPLATES, "lt-0b"),
        ],
    );
    w.set_alarm(AlarmChange::connected_status(
        "connected-a",
        "op-0aaaaaaaaaaaaaaa1",
        a_state,
        a_since,
    ));
    w.set_alarm(AlarmChange::connected_status(
        "connected-b",
        "op-0bbbbbbbbbbbbbbb2",
        AlarmState::Ok,
        "2026-11-20T00:00:00Z".parse().unwrap(),
    ));
    w
}

#[tokio::test]
async fn an_alarm_without_data_past_its_window_is_reported_once_before_any_outage() {
    let settings = Settings {
        alarm_window: Duration::from_secs(180),
        ..Settings::default()
    };
    let now = chrono::Utc::now();
    // Just created (or just gone quiet): within a period, nothing to say yet.
    let fresh = InMemoryAws::new(
        world(
            AlarmState::InsufficientData,
            now - chrono::Duration::seconds(30),
        ),
        Duration::ZERO,
    );
    let report = Agent::new(Ports::all(fresh.clone()), settings.clone())
        .sweep()
        .await
        .unwrap();
    assert_eq!(report.readiness.not_ready, 0, "{:?}", report.readiness);

    let silent = InMemoryAws::new(
        world(
            AlarmState::InsufficientData,
            now - chrono::Duration::minutes(30),
        ),
        Duration::ZERO,
    );
    let agent = Agent::new(Ports::all(silent.clone()), settings);
    let report = agent.sweep().await.unwrap();
    assert_eq!(report.readiness.not_ready, 1);
    assert!(report.recoveries.is_empty(), "no data is no outage");
    let body = silent.with(|w| w.published.last().unwrap().body.clone());
    assert!(
        body.contains("has had no data since") && body.contains("an outage would not be seen"),
        "{body}"
    );
    let said = silent.with(|w| w.published.len());
    agent.sweep().await.unwrap();
    assert_eq!(silent.with(|w| w.published.len()), said, "said once");
    assert!(!silent.with(|w| w.calls.contains(&Op::RunInstances)));
}
