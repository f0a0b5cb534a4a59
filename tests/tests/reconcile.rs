//! The real binaries under the faults real AWS brings, switched on in the moto launcher:
//! instances pending before they run, EC2's token buckets, ELB refusing targets that do not
//! run, lost answers, and a function killed (SIGKILL) in the middle of a recovery. Whatever
//! happens, the next run converges: one replacement per running original, both sides tagged,
//! the target group moved, one notice.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::{Answer, RuntimeApi};
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_B, OUTPOST_C, Seeded, State};
use serde_json::{Value, json};

const ANSWER_WITHIN: Duration = Duration::from_secs(180);

/// Real AWS as far as the launcher plays it: instances pending for a second, invisible to
/// Describe for a moment, targets `initial` for a second, EC2's documented buckets, ELB
/// refusing targets that do not run and zones on instance targets.
fn real_aws() -> Value {
    json!({
        "pending_seconds": 1.0,
        "invisible_seconds": 0.3,
        "initial_health_seconds": 1.0,
        "refuse_non_running_targets": true,
        "refuse_instance_target_az": true,
        "buckets": true,
    })
}

struct Setup {
    moto: Moto,
    clients: Clients,
    seeded: Seeded,
}

async fn setup(config: &Value) -> Setup {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    moto.configure(config);
    // The seeded instances and targets are newer than the pending, invisible and initial
    // windows just switched on: a test starts from a world that has settled.
    moto.wait_settled();
    Setup {
        moto,
        clients,
        seeded,
    }
}

impl Setup {
    /// A function binary with the e2e tests' short waits, on a runtime API of its own.
    fn start(&self, binary: &str, api: &RuntimeApi) -> Function {
        Function::start(
            binary,
            api.address(),
            self.moto.endpoint(),
            &world::sweep_env(&self.seeded),
        )
    }

    /// Terminates an instance, as EC2 or its operator would.
    async fn terminate(&self, id: &str) {
        self.clients
            .ec2
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .unwrap();
    }

    /// Waits until the instances EC2 shows settle (pending ones run, new ones are visible,
    /// targets are past `initial`), then reads the world.
    async fn settled(&self) -> State {
        self.moto.wait_settled();
        State::read(&self.clients, &self.seeded).await
    }
}

/// Each of `originals` has exactly one replacement, in `subnet`, running and registered in
/// the target group in its place, tagged both ways.
fn assert_converged(state: &State, originals: &[&String], subnet: &str, context: &str) {
    for original in originals {
        let replacements = state.replacements_of(original);
        assert_eq!(replacements.len(), 1, "{original}: {context}");
        let r = replacements[0];
        assert_eq!(r.subnet_id, subnet, "{original}: {context}");
        assert_eq!(r.state, "running", "{original}: {context}");
        assert_eq!(
            state.instance(original).tags.get("autorestart:replaced-by"),
            Some(&r.id),
            "{original}: {context}"
        );
        assert!(
            state.targets.contains(&(r.id.clone(), 80)),
            "{}: {context}",
            r.id
        );
        assert!(
            !state.targets.iter().any(|(id, _)| id == *original),
            "{original}: {context}"
        );
    }
}

/// The recovery notices (the sweep's readiness notices aside).
async fn recovery_notices(s: &Setup) -> Vec<(String, String)> {
    world::notices(&s.clients, &s.seeded)
        .await
        .into_iter()
        .filter(|(subject, _)| subject.contains(" down: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_a_launch_took_effect_the_retry_and_the_sweep_converge() {
    let mut config = real_aws();
    config["hold_after"] = json!({"RunInstances": 2});
    let s = setup(&config).await;
    world::outpost_down(&s.clients).await;
    let api = RuntimeApi::start();
    let handler = s.start("alarm-handler", &api);

    // The second launch takes effect in EC2; before its answer arrives, Lambda kills the
    // invocation (timeout, out of memory, crash).
    let (_, never) = api.deliver(&sample("alarm-outpost-down.json"));
    let held = s.moto.wait_held(&never, ANSWER_WITHIN);
    assert_eq!(held[0]["action"], "RunInstances");
    handler.kill();
    s.moto.release();
    assert!(never.recv_timeout(Duration::from_millis(200)).is_err());
    let launched = s.moto.count("RunInstances");
    let killed = State::read(&s.clients, &s.seeded).await;
    assert!(
        [&s.seeded.web1, &s.seeded.web2].iter().any(|o| !killed
            .instance(o)
            .tags
            .contains_key("autorestart:replaced-by")),
        "killed before it could tag the original whose launch answer was held"
    );

    // Lambda retries the event in a new process.
    let retry = s.start("alarm-handler", &api);
    let report = response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    let state = s.settled().await;
    let originals = [&s.seeded.web1, &s.seeded.web2];
    assert_converged(
        &state,
        &originals,
        &s.seeded.subnets[OUTPOST_B],
        &retry.logs(),
    );
    assert!(
        s.moto.count("RunInstances") - launched <= 2,
        "the retry's launches reuse the killed run's tokens: {report}"
    );
    assert_eq!(recovery_notices(&s).await.len(), 1, "one notice: {report}");

    // The sweep finds nothing left to do and says nothing more.
    let sweeper_api = RuntimeApi::start();
    let _sweeper = s.start("sweeper", &sweeper_api);
    let swept = response(sweeper_api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    assert_eq!(
        swept["recoveries"][0]["notification"]["status"],
        "already-reported"
    );
    // The sweep records readiness verdicts; nothing else changes.
    let shape = |state: &State| {
        let instances: Vec<(String, String)> = state
            .instances
            .values()
            .map(|i| (i.id.clone(), i.state.clone()))
            .collect();
        (instances, state.targets.clone())
    };
    assert_eq!(shape(&s.settled().await), shape(&state));
    assert!(recovery_notices(&s).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_alarm_launches_nothing() {
    let s = setup(&real_aws()).await;
    // The Outpost already came back when the (late, retried) ALARM event is handled.
    let api = RuntimeApi::start();
    let handler = s.start("alarm-handler", &api);
    let before = State::read(&s.clients, &s.seeded).await;
    let launched = s.moto.count("RunInstances");
    let report = response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    assert_eq!(report["action"], "stale", "{report}");
    assert!(
        report["ignored_because"]
            .as_str()
            .is_some_and(|r| r.contains("is OK again")),
        "{report}"
    );
    assert_eq!(s.moto.count("RunInstances"), launched);
    assert_eq!(State::read(&s.clients, &s.seeded).await, before);
    assert!(world::notices(&s.clients, &s.seeded).await.is_empty());
    assert!(handler.logs().contains("stale ALARM"), "{}", handler.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_replacement_is_replaced_and_a_stopped_original_is_left_alone() {
    let s = setup(&real_aws()).await;
    // web-2's operator had stopped it before the outage.
    s.clients
        .ec2
        .stop_instances()
        .instance_ids(&s.seeded.web2)
        .send()
        .await
        .unwrap();
    world::outpost_down(&s.clients).await;
    let api = RuntimeApi::start();
    let _handler = s.start("alarm-handler", &api);
    let report = response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    let outcome = |id: &str| {
        report["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["instance_id"] == id)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(outcome(&s.seeded.web1), "recovered", "{report}");
    assert_eq!(outcome(&s.seeded.web2), "not-running", "{report}");
    let state = s.settled().await;
    assert!(state.replacements_of(&s.seeded.web2).is_empty());
    let first = state.replacements_of(&s.seeded.web1)[0].id.clone();

    // EC2 terminates the replacement during the incident (ELB drops it as a target).
    s.terminate(&first).await;

    let sweeper_api = RuntimeApi::start();
    let sweeper = s.start("sweeper", &sweeper_api);
    let swept = response(sweeper_api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    let state = s.settled().await;
    assert_converged(
        &state,
        &[&s.seeded.web1],
        &s.seeded.subnets[OUTPOST_B],
        &sweeper.logs(),
    );
    let second = &state.replacements_of(&s.seeded.web1)[0];
    assert_ne!(second.id, first);
    assert_eq!(second.tags["autorestart:attempt"], "2", "{swept}");
    assert!(state.replacements_of(&s.seeded.web2).is_empty());
    let notices = recovery_notices(&s).await;
    assert_eq!(notices.len(), 2, "the recovery, then the relaunch");
    assert!(notices[1].1.contains(&first), "{}", notices[1].1);
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_percent_lost_answers_with_redelivery_converge() {
    let mut config = real_aws();
    config["lost_responses"] = json!({
        "rate": 0.3,
        "seed": 7,
        "actions": ["RunInstances", "CreateTags", "RegisterTargets", "DeregisterTargets"],
    });
    let s = setup(&config).await;
    world::outpost_down(&s.clients).await;
    let api = RuntimeApi::start();
    let handler = s.start("alarm-handler", &api);
    // EventBridge and Lambda deliver again while invocations fail.
    let mut deliveries = 0;
    while let Answer::Error(error) = api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN) {
        deliveries += 1;
        assert!(deliveries < 6, "{error}\n{}", handler.logs());
    }
    let sweeper_api = RuntimeApi::start();
    let _sweeper = s.start("sweeper", &sweeper_api);
    for _ in 0..2 {
        sweeper_api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN);
    }
    s.moto.configure(&real_aws());
    let state = s.settled().await;
    assert_converged(
        &state,
        &[&s.seeded.web1, &s.seeded.web2],
        &s.seeded.subnets[OUTPOST_B],
        &handler.logs(),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_handler_and_the_sweep_at_the_same_moment_launch_once() {
    let s = setup(&real_aws()).await;
    world::outpost_down(&s.clients).await;
    let (handler_api, sweeper_api) = (RuntimeApi::start(), RuntimeApi::start());
    let _handler = s.start("alarm-handler", &handler_api);
    let _sweeper = s.start("sweeper", &sweeper_api);
    let (_, handled) = handler_api.deliver(&sample("alarm-outpost-down.json"));
    let (_, swept) = sweeper_api.deliver(&sample("sweep-schedule.json"));
    for answer in [handled, swept] {
        let answer = answer.recv_timeout(ANSWER_WITHIN).unwrap();
        assert!(matches!(answer, Answer::Response(_)), "{answer:?}");
    }
    let state = s.settled().await;
    assert_converged(
        &state,
        &[&s.seeded.web1, &s.seeded.web2],
        &s.seeded.subnets[OUTPOST_B],
        "one incident id, one token, one instance",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_outposts_failing_at_once_recover_onto_what_is_up_under_the_ec2_buckets() {
    let s = setup(&json!({})).await;
    // Twelve more on each failing server, recovering to B (or A) first, then C.
    let lt = &s.seeded.templates;
    let on_a = world::add_protected_on(
        &s.clients,
        &s.seeded,
        FAILED_OUTPOST,
        12,
        &format!("{},{}", lt["lt-b"], lt["lt-c"]),
    )
    .await;
    let on_b = world::add_protected_on(
        &s.clients,
        &s.seeded,
        OUTPOST_B,
        12,
        &format!("{},{}", lt["lt-a"], lt["lt-c"]),
    )
    .await;
    world::set_alarms(
        &s.clients,
        &[(FAILED_OUTPOST, "ALARM"), (OUTPOST_B, "ALARM")],
    )
    .await;
    let down_b: Value = serde_json::from_str(
        &sample("alarm-outpost-down.json")
            .to_string()
            .replace(FAILED_OUTPOST, OUTPOST_B),
    )
    .unwrap();
    // Two invocations at once, as Lambda runs them: two processes, one account's buckets.
    let (api_a, api_b) = (RuntimeApi::start(), RuntimeApi::start());
    let _a = s.start("alarm-handler", &api_a);
    let _b = s.start("alarm-handler", &api_b);
    let (_, a) = api_a.deliver(&sample("alarm-outpost-down.json"));
    let (_, b) = api_b.deliver(&down_b);
    let reports: Vec<Value> = [a, b]
        .into_iter()
        .map(|answer| match answer.recv_timeout(ANSWER_WITHIN).unwrap() {
            Answer::Response(report) => report,
            Answer::Error(error) => panic!("{error}"),
        })
        .collect();
    let state = s.settled().await;
    let subnet_c = &s.seeded.subnets[OUTPOST_C];
    let moved: Vec<&String> = on_a
        .iter()
        .chain(&on_b)
        .chain([&s.seeded.web2, &s.seeded.web3])
        .collect();
    assert_converged(
        &state,
        &moved,
        subnet_c,
        "everything lands on the one server that is up",
    );
    // web-1 can only go to B, which is down: reported, not launched into a dead server.
    let web1 = reports[0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == s.seeded.web1.as_str())
        .unwrap();
    assert_eq!(web1["outcome"], "failed");
    assert!(
        web1["skipped_templates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["reason"].as_str().unwrap().contains("which is down too")),
        "{web1}"
    );
    assert!(state.replacements_of(&s.seeded.web1).is_empty());
    let throttled_failures = reports
        .iter()
        .flat_map(|r| r["instances"].as_array().unwrap())
        .filter(|i| i.to_string().contains("RequestLimitExceeded") && i["outcome"] == "failed")
        .count();
    assert_eq!(throttled_failures, 0, "throttled launches are retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_after_the_replacement_died_spends_no_wait_on_its_token() {
    let s = setup(&real_aws()).await;
    world::outpost_down(&s.clients).await;
    let api = RuntimeApi::start();
    let handler = s.start("alarm-handler", &api);
    response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    let state = s.settled().await;
    let first = state.replacements_of(&s.seeded.web1)[0].id.clone();
    // It ran for ten minutes and died; the event comes again. EC2 answers the first launch's
    // token with its first answer (`pending`), which the agent must not wait on.
    s.moto.age(&first, 600.0);
    s.terminate(&first).await;
    let report = response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    let web1 = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == s.seeded.web1.as_str())
        .unwrap()
        .clone();
    assert_eq!(web1["outcome"], "recovered", "{report}");
    let second = web1["replacement_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "{report}");
    assert!(web1["warnings"].to_string().contains(&first), "{web1}");
    let state = s.settled().await;
    assert_converged(
        &state,
        &[&s.seeded.web1],
        &s.seeded.subnets[OUTPOST_B],
        &handler.logs(),
    );
    assert_eq!(
        state.instance(&s.seeded.web1).tags["autorestart:last-attempt"],
        "2",
        "the attempt is carried on the original"
    );
    // No wait on the dead one: the wave's wait saw every replacement run.
    assert_eq!(report["waves"][0]["not_running"], json!([]), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deregister_whose_answer_was_lost_is_not_reported_as_still_registered() {
    let mut config = real_aws();
    // Every DeregisterTargets takes effect and loses its answer; the repeat meets moto's
    // InvalidTarget for a target already gone.
    config["lost_responses"] = json!({"rate": 1.0, "actions": ["DeregisterTargets"]});
    let s = setup(&config).await;
    world::outpost_down(&s.clients).await;
    let api = RuntimeApi::start();
    let handler = s.start("alarm-handler", &api);
    let report = response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    let moves: Vec<&Value> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["target_groups"].as_array().unwrap())
        .collect();
    assert!(!moves.is_empty(), "{report}");
    for m in moves {
        assert_eq!(m["deregistered"], true, "{m}\n{}", handler.logs());
        assert!(!m["note"].to_string().contains("still registered"), "{m}");
    }
    assert!(
        s.moto.count("DeregisterTargets") >= 2,
        "the lost answer was asked again"
    );
    let state = s.settled().await;
    assert_converged(
        &state,
        &[&s.seeded.web1, &s.seeded.web2],
        &s.seeded.subnets[OUTPOST_B],
        &handler.logs(),
    );
}
