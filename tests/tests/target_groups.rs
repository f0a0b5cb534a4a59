//! ELB as ELB behaves, end to end: a target group named in TARGET_GROUP_ARNS that was deleted
//! (moto answers TargetGroupNotFound, as ELB does) is skipped and reported, while the real
//! binaries move the other group's membership and fence the originals once the Outpost is back.

use std::time::Duration;

use e2e::events::{response, sample};
use e2e::function::Function;
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, Clients, FAILED_OUTPOST, State};

const ANSWER_WITHIN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_target_group_in_scope_is_skipped_and_reported_and_stops_nothing() {
    let moto = Moto::start();
    let clients = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&clients).await;
    // A group that existed when the stack was deployed, deleted since.
    let old = clients
        .elb
        .create_target_group()
        .name("old")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(
            clients.ec2.describe_vpcs().send().await.unwrap().vpcs()[0]
                .vpc_id()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let gone = old.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    clients
        .elb
        .delete_target_group()
        .target_group_arn(&gone)
        .send()
        .await
        .unwrap();
    let scope = format!("{gone},{}", seeded.target_group);
    let mut env = world::sweep_env(&seeded).to_vec();
    env.push(("TARGET_GROUP_ARNS", scope.as_str()));

    world::outpost_down(&clients).await;
    let api = RuntimeApi::start();
    let handler = Function::start("alarm-handler", api.address(), moto.endpoint(), &env);
    let report = response(api.invoke(&sample("alarm-outpost-down.json"), ANSWER_WITHIN));
    let errors = report["load_balancing_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report:#}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.contains(&gone) && error.contains("no longer exists"),
        "{error}"
    );
    let after = State::read(&clients, &seeded).await;
    for original in [&seeded.web1, &seeded.web2] {
        let replacements = after.replacements_of(original);
        assert_eq!(replacements.len(), 1, "{}", handler.logs());
        let replacement = &replacements[0].id;
        assert!(
            after.targets.contains(&(replacement.clone(), 80)),
            "{after:?}"
        );
        assert!(!after.targets.iter().any(|(id, _)| id == original.as_str()));
    }
    let notices = world::notices(&clients, &seeded).await;
    assert!(
        notices.iter().any(|(_, body)| body.contains(&gone)),
        "{notices:?}"
    );

    // The Outpost is back: the sweep fences both originals all the same.
    world::set_alarms(&clients, &[(FAILED_OUTPOST, "OK")]).await;
    let sweeper_api = RuntimeApi::start();
    let sweeper = Function::start("sweeper", sweeper_api.address(), moto.endpoint(), &env);
    let swept = response(sweeper_api.invoke(&sample("sweep-schedule.json"), ANSWER_WITHIN));
    assert!(
        swept["errors"].as_array().unwrap().is_empty(),
        "{swept:#}\n{}",
        sweeper.logs()
    );
    let last = State::read(&clients, &seeded).await;
    for original in [&seeded.web1, &seeded.web2] {
        assert_eq!(last.instance(original).state, "stopped", "{swept:#}");
    }
}
