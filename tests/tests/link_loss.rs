//! A dark Outpost is not a dead one, end to end: the real `alarm-handler` binary against moto, one outage with the three `autorestart:on-link-loss` policies. `relaunch`
//! (db-1, opted in for this test) is recovered at once; `self-fenced:15` (web-1) only once 15 s
//! and the 10 s margin have passed since the link was lost, as the alarm's reason data says;
//! `hold` (web-2) only by a person's failover request to the same function, once.

use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ec2::types::Tag;
use chrono::{DateTime, TimeDelta, Utc};
use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::{Answer, RuntimeApi};
use e2e::world::{self, ALARM_PREFIX, Clients, FAILED_OUTPOST, State};
use serde_json::{Value, json};

const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// The self-fenced instance's T, and the margin the functions run with.
const T: i64 = 15;
const MARGIN: i64 = 10;

async fn tag(c: &Clients, id: &str, tags: &[(&str, &str)]) {
    let mut request = c.ec2.create_tags().resources(id);
    for (key, value) in tags {
        request = request.tags(Tag::builder().key(*key).value(*value).build());
    }
    request.send().await.unwrap();
}

/// The failed Outpost's alarm into ALARM with reason data whose breaching datapoints say the
/// link was lost by `lost_by` (the end of the first 10-second window).
async fn outpost_dark_since(c: &Clients, lost_by: DateTime<Utc>) {
    let window = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let first = lost_by - TimeDelta::seconds(10);
    let data = json!({
        "version": "1.0",
        "statistic": "Minimum",
        "period": 10,
        "threshold": 1.0,
        "evaluatedDatapoints": [
            {"timestamp": window(first - TimeDelta::seconds(10)), "sampleCount": 1.0, "value": 1.0},
            {"timestamp": window(first), "sampleCount": 1.0, "value": 0.0},
            {"timestamp": window(lost_by), "sampleCount": 1.0, "value": 0.0}
        ]
    });
    c.cloudwatch
        .set_alarm_state()
        .alarm_name(format!("{ALARM_PREFIX}{FAILED_OUTPOST}"))
        .state_value(StateValue::Alarm)
        .state_reason(
            "Threshold Crossed: 2 out of the last 3 datapoints were less than the threshold (1.0).",
        )
        .state_reason_data(data.to_string())
        .send()
        .await
        .unwrap();
}

/// When the one replacement of `original` was launched, as EC2 reports it; None without one.
async fn launched_at(c: &Clients, original: &str) -> Option<DateTime<Utc>> {
    let launched: Vec<DateTime<Utc>> = world::replacement_launch_times(c, original)
        .await
        .into_iter()
        .map(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap())
        .collect();
    assert!(
        launched.len() <= 1,
        "{original} recovered twice: {launched:?}"
    );
    launched.first().copied()
}

fn outcome<'r>(report: &'r Value, id: &str) -> &'r str {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == id)
        .and_then(|i| i["outcome"].as_str())
        .unwrap_or_else(|| panic!("{id} is not in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_outage_with_the_three_policies_relaunches_waits_for_the_fence_and_holds() {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    let c = &clients;
    tag(
        c,
        &seeded.web1,
        &[("autorestart:on-link-loss", "self-fenced:15")],
    )
    .await;
    tag(c, &seeded.web2, &[("autorestart:on-link-loss", "hold")]).await;
    // db-1 opted in without a policy: relaunched, the default.
    tag(
        c,
        &seeded.db1,
        &[
            ("autorestart:enabled", "true"),
            ("autorestart:recovery-templates", &seeded.templates["lt-b"]),
        ],
    )
    .await;
    let env = [
        ("TOPIC_ARN", seeded.topic_arn.as_str()),
        ("HEALTH_WAIT_SECONDS", "10"),
        ("HEALTH_POLL_SECONDS", "1"),
        ("MAX_CONCURRENCY", "8"),
        ("FENCE_MARGIN_SECONDS", "10"),
        ("ALARM_NAME_PREFIX", ALARM_PREFIX),
    ];
    let handler_api = RuntimeApi::start();
    let handler = Function::start(
        "alarm-handler",
        handler_api.address(),
        moto.endpoint(),
        &env,
    );

    // The link was lost 20 s ago, CloudWatch's datapoints say; its alarm goes into ALARM now.
    let alarm_at = Utc::now();
    let lost_by = alarm_at - TimeDelta::seconds(20);
    outpost_dark_since(c, lost_by).await;
    let fenced_by = lost_by + TimeDelta::seconds(T + MARGIN);

    let report = response(handler_api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));

    // relaunch: at once, before the fence time.
    let db1 = launched_at(c, &seeded.db1).await.expect("db-1 relaunched");
    assert!(db1 < fenced_by, "{db1} before {fenced_by}");
    assert_eq!(outcome(&report, &seeded.db1), "recovered", "{report}");
    // self-fenced: in the same invocation, not before the link was lost for T and the margin
    // (EC2's launch times are whole seconds).
    let web1 = launched_at(c, &seeded.web1)
        .await
        .unwrap_or_else(|| panic!("web-1 not launched: {report}\n{}", handler.logs()));
    assert!(
        web1 >= fenced_by - TimeDelta::seconds(1),
        "web-1 launched at {web1}, before {fenced_by}"
    );
    // The state change is no earlier than `alarm_at`: timed from it, the launch would come at
    // `alarm_at` + T + margin or later.
    assert!(
        web1 < alarm_at + TimeDelta::seconds(T + MARGIN - 1),
        "web-1 launched at {web1}: timed from the alarm's state change, not from its datapoints"
    );
    assert_eq!(outcome(&report, &seeded.web1), "recovered", "{report}");
    // hold: not on the alarm; the notice says how to recover it.
    assert_eq!(launched_at(c, &seeded.web2).await, None);
    assert_eq!(outcome(&report, &seeded.web2), "held", "{report}");
    let notices = world::notices(c, &seeded).await;
    let body = &notices.last().expect("a notice").1;
    for said in [
        "HELD, NOT RECOVERED",
        r#"{"outpost":"op-0a1b2c3d4e5f60718","mode":"failover"}"#,
        "two copies: self-fenced: its sentinel stops it 15 s after losing the Region",
        "two copies: relaunch (the default",
    ] {
        assert!(body.contains(said), "{said}\n{body}");
    }

    // The same event again: nothing more is launched, the held instance still held.
    let again = response(handler_api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    assert_eq!(outcome(&again, &seeded.web2), "held");
    let before_failover = State::read(c, &seeded).await;

    // A person confirmed the server is down: the failover recovers web-2, once.
    let failover = sample("failover.json");
    let done = response(handler_api.invoke(&failover, ANSWER_WITHIN));
    assert_eq!(outcome(&done, &seeded.web2), "recovered", "{done}");
    assert_eq!(outcome(&done, &seeded.web1), "already-recovered", "{done}");
    assert!(launched_at(c, &seeded.web2).await.is_some());
    let repeat = response(handler_api.invoke(&failover, ANSWER_WITHIN));
    assert_eq!(
        outcome(&repeat, &seeded.web2),
        "already-recovered",
        "{repeat}"
    );
    let after = State::read(c, &seeded).await;
    assert_eq!(
        after.instances.len(),
        before_failover.instances.len() + 1,
        "the failover launched web-2's replacement and nothing else"
    );

    // Once the Outpost is back, a failover is refused.
    world::set_alarms(c, &[(FAILED_OUTPOST, "OK")]).await;
    match handler_api.invoke(&failover, ANSWER_WITHIN) {
        Answer::Error(error) => {
            assert!(error.to_string().contains("not in ALARM"), "{error}");
        }
        Answer::Response(value) => panic!("a failover with the Outpost back: {value}"),
    }
}
