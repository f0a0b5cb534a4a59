//! The real `alarm-handler` binary, run through the Lambda runtime API against moto: the AWS
//! state after each delivered event.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::{Answer, RuntimeApi};
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_B, Seeded, State};

const ANSWER_WITHIN: Duration = Duration::from_secs(120);

struct Setup {
    _moto: Moto,
    clients: Clients,
    seeded: Seeded,
    api: RuntimeApi,
    function: Function,
}

async fn setup(extra_env: &[(&str, &str)]) -> Setup {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    let api = RuntimeApi::start();
    let mut env = vec![
        ("TOPIC_ARN", seeded.topic_arn.as_str()),
        ("HEALTH_WAIT_SECONDS", "10"),
        ("HEALTH_POLL_SECONDS", "1"),
        ("MAX_CONCURRENCY", "8"),
    ];
    env.extend_from_slice(extra_env);
    let function = Function::start("alarm-handler", api.address(), moto.endpoint(), &env);
    Setup {
        _moto: moto,
        clients,
        seeded,
        api,
        function,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_recovers_each_protected_instance_once_and_a_repeat_changes_nothing() {
    let s = setup(&[]).await;
    let before = State::read(&s.clients, &s.seeded).await;

    world::outpost_down(&s.clients).await;

    let report = response(
        s.api
            .invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN),
    );
    let after = State::read(&s.clients, &s.seeded).await;

    // One replacement per protected instance on the failed Outpost, on Outpost B.
    let subnet_b = &s.seeded.subnets[OUTPOST_B];
    for original in [&s.seeded.web1, &s.seeded.web2] {
        let replacements = after.replacements_of(original);
        assert_eq!(replacements.len(), 1, "{original}: {}", s.function.logs());
        let r = replacements[0];
        assert_eq!(
            &r.subnet_id, subnet_b,
            "lt-a is on the failed Outpost and skipped; lt-b is next"
        );
        assert_eq!(
            r.tags["autorestart:enabled"], "true",
            "the replacement is protected too"
        );
        assert_eq!(
            after.instances[original.as_str()].tags["autorestart:replaced-by"],
            r.id
        );
        assert!(r.tags["autorestart:incident"].starts_with(FAILED_OUTPOST));
    }
    // Nothing else was launched, and bystanders are untouched.
    assert_eq!(after.instances.len(), before.instances.len() + 2);
    assert!(after.replacements_of(&s.seeded.db1).is_empty());
    assert!(after.replacements_of(&s.seeded.web3).is_empty());
    assert_eq!(
        after.instances[&s.seeded.db1],
        before.instances[&s.seeded.db1]
    );
    assert_eq!(
        after.instances[&s.seeded.web3],
        before.instances[&s.seeded.web3]
    );

    // Target-group membership moved from the originals to the replacements.
    let r1 = after.replacements_of(&s.seeded.web1)[0].id.clone();
    let r2 = after.replacements_of(&s.seeded.web2)[0].id.clone();
    let mut expected = vec![
        (r1.clone(), 80),
        (r2.clone(), 80),
        (s.seeded.web3.clone(), 80),
    ];
    expected.sort();
    assert_eq!(after.targets, expected);

    // One notice, readable and with the facts.
    let notices = world::notices_with_facts(&s.clients, &s.seeded).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let (subject, body, facts) = &notices[0];
    assert!(
        subject.contains(&format!("{FAILED_OUTPOST} down: 2 recovered")),
        "{subject}"
    );
    assert!(
        body.contains(&format!("web-1 ({}) -> {r1}", s.seeded.web1)),
        "{body}"
    );
    assert!(body.contains("lies on the failed Outpost"), "{body}");
    // People read text; machines read the same report as JSON in the `facts` attribute.
    assert!(!body.contains("\"instances\""), "{body}");
    let facts = facts.as_ref().expect("the facts attribute");
    assert_eq!(
        facts["instances"].as_array().map(Vec::len),
        Some(2),
        "{facts}"
    );

    // The typed summary the handler returned.
    assert_eq!(report["action"], "recovery");
    let outcomes: Vec<&str> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["recovered", "recovered"]);
    assert_eq!(
        report["instances"][0]["target_groups"][0]["deregistered"],
        true
    );

    // The same event again: nothing changes, nobody is notified again.
    let again = response(
        s.api
            .invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN),
    );
    assert_eq!(State::read(&s.clients, &s.seeded).await, after);
    assert!(world::notices(&s.clients, &s.seeded).await.is_empty());
    assert_eq!(again["notification"]["status"], "already-reported");
    assert_eq!(again["instances"][0]["outcome"], "already-recovered");
}

#[tokio::test(flavor = "multi_thread")]
async fn other_alarms_are_ignored_bad_events_are_errors_and_outpost_back_fences_once() {
    let s = setup(&[]).await;
    let before = State::read(&s.clients, &s.seeded).await;

    let ignored = response(
        s.api
            .invoke(&sample("alarm-not-outpost.json"), ANSWER_WITHIN),
    );
    assert_eq!(ignored["action"], "ignored");
    assert!(
        ignored["ignored_because"]
            .as_str()
            .unwrap()
            .contains("does not watch AWS/Outposts ConnectedStatus")
    );

    let Answer::Error(error) = s.api.invoke(&sample("alarm-malformed.json"), ANSWER_WITHIN) else {
        panic!("a malformed event must fail the invocation")
    };
    assert_eq!(error["errorType"], "BadEvent");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("its detail is malformed"),
        "{error}"
    );

    assert_eq!(
        State::read(&s.clients, &s.seeded).await,
        before,
        "neither changed anything"
    );
    assert!(world::notices(&s.clients, &s.seeded).await.is_empty());

    world::outpost_down(&s.clients).await;

    response(
        s.api
            .invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN),
    );
    world::notices(&s.clients, &s.seeded).await;
    // CloudWatch shows the alarm OK before it sends the OK event.
    world::set_alarms(&s.clients, &[(world::FAILED_OUTPOST, "OK")]).await;
    let back = response(
        s.api
            .invoke(&sample("alarm-outpost-back.json"), ANSWER_WITHIN),
    );
    assert_eq!(back["action"], "outpost-back");
    let fenced: Vec<&str> = back["fencing"]["fenced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["instance_id"].as_str().unwrap())
        .collect();
    let mut expected = vec![s.seeded.web1.as_str(), s.seeded.web2.as_str()];
    expected.sort();
    assert_eq!(fenced, expected);
    let state = State::read(&s.clients, &s.seeded).await;
    for original in &expected {
        assert_eq!(
            state.instance(original).state,
            "stopped",
            "{original} is fenced"
        );
    }
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].0.contains("back: 2 original(s) stopped"),
        "{:?}",
        notices[0]
    );
    let again = response(
        s.api
            .invoke(&sample("alarm-outpost-back.json"), ANSWER_WITHIN),
    );
    assert_eq!(again["fencing"]["already_fenced"], 2, "stopped once");
    assert!(world::notices(&s.clients, &s.seeded).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_only_mode_publishes_the_plan_and_changes_nothing() {
    let s = setup(&[("MODE", "notify-only")]).await;
    world::outpost_down(&s.clients).await;
    let before = State::read(&s.clients, &s.seeded).await;
    let report = response(s.api.invoke(
        &sample("alarm-outpost-down-plain-metric.json"),
        ANSWER_WITHIN,
    ));
    assert_eq!(State::read(&s.clients, &s.seeded).await, before);
    assert_eq!(report["instances"][0]["outcome"], "would-launch");
    let notices = world::notices(&s.clients, &s.seeded).await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0].0.contains("notify-only"), "{:?}", notices[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_configuration_fails_the_cold_start_naming_the_variable() {
    let moto = Moto::start();
    let api = RuntimeApi::start();
    let function = Function::start(
        "alarm-handler",
        api.address(),
        moto.endpoint(),
        &[
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:t"),
            ("MAX_CONCURRENCY", "lots"),
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !function.logs().contains("MAX_CONCURRENCY") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = function.logs();
    assert!(
        logs.contains("environment variable MAX_CONCURRENCY is \\\"lots\\\": expected a whole number from 1 to 1000"),
        "{logs}"
    );
    assert!(api.first_poll().is_none(), "it never asked for an event");
}

/// When the one replacement of `original` was launched, as EC2 reports it.
async fn launched_at(c: &Clients, original: &str) -> aws_sdk_ec2::primitives::DateTime {
    let launched = world::replacement_launch_times(c, original).await;
    assert_eq!(launched.len(), 1, "one replacement of {original}");
    launched[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn waves_recover_in_their_order_whichever_instance_is_tagged_first() {
    // Each instance in turn is put in the later wave: its replacement must be launched after
    // the other's, so the order follows the tags, not chance.
    for later_wave_is_web1 in [true, false] {
        let s = setup(&[("WAVE_WAIT_SECONDS", "20")]).await;
        let (first, later) = if later_wave_is_web1 {
            (&s.seeded.web2, &s.seeded.web1)
        } else {
            (&s.seeded.web1, &s.seeded.web2)
        };
        s.clients
            .ec2
            .create_tags()
            .resources(later)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("autorestart:wave")
                    .value("1")
                    .build(),
            )
            .send()
            .await
            .unwrap();

        world::outpost_down(&s.clients).await;

        let report = response(
            s.api
                .invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN),
        );

        let waves: Vec<(u64, u64, bool)> = report["waves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["wave"].as_u64().unwrap(),
                    w["instances"].as_u64().unwrap(),
                    w["settled"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(waves, vec![(0, 1, true), (1, 1, true)], "{report}");
        for instance in report["instances"].as_array().unwrap() {
            let wave = u64::from(instance["instance_id"].as_str() == Some(later.as_str()));
            assert_eq!(instance["wave"].as_u64(), Some(wave), "{instance}");
            assert_eq!(instance["outcome"], "recovered", "{instance}");
        }
        // EC2 (moto) keeps launch times to the second: they may tie, never invert.
        let (first_at, later_at) = (
            launched_at(&s.clients, first).await,
            launched_at(&s.clients, later).await,
        );
        assert!(later_at >= first_at, "{later_at} before {first_at}");
        // The function's own record of its calls, in the order it made them.
        let logs = s.function.logs();
        let position = |message: &str, field: &str, value: &str| {
            logs.lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .position(|entry| {
                    entry["fields"]["message"] == message
                        && entry["fields"][field].to_string().contains(value)
                })
                .unwrap_or_else(|| panic!("no {message:?} with {field}={value} in:\n{logs}"))
        };
        let first_launched = position("launched", "instance", first);
        let state = State::read(&s.clients, &s.seeded).await;
        let first_replacement = state.replacements_of(first)[0].id.clone();
        let first_registered = position("registering replacements", "targets", &first_replacement);
        let wave_1 = position("recovering wave", "wave", "1");
        let later_launching = position("launching", "instance", later);
        assert!(
            first_launched < first_registered
                && first_registered < wave_1
                && wave_1 < later_launching,
            "wave 0 launched at line {first_launched}, registered at {first_registered}; wave 1 began at {wave_1}, launched at {later_launching}"
        );
    }
}
