//! Fencing over the real SDK adapters with mocked AWS: an original that lost its
//! `replaced-by` tag is found by its replacement's `replacement-of` filter, the tag goes back
//! before StopInstances (fencing's IAM statement needs it), and the fencing is recorded.

use autorestart_core::ids::InstanceId;
use std::sync::{Arc, Mutex};

use autorestart_core::alarm::{AlarmChange, AlarmState, IncidentId};
use autorestart_core::plan::client_token;
use autorestart_core::report::Action;
use autorestart_core::tags::TemplateRef;
use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::stop_instances::StopInstancesOutput;
use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

mod support;
use support::{ARN_A, OUTPOST_A, tag};

const ARN_B: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

fn running(id: &str, subnet: &str, tags: &[(&str, &str)]) -> Instance {
    let mut builder = Instance::builder()
        .instance_id(id)
        .subnet_id(subnet)
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .tags(tag("autorestart:enabled", "true"));
    for (k, v) in tags {
        builder = builder.tags(tag(k, v));
    }
    builder.build()
}

fn answer(instances: Vec<Instance>) -> DescribeInstancesOutput {
    DescribeInstancesOutput::builder()
        .reservations(
            Reservation::builder()
                .set_instances(Some(instances))
                .build(),
        )
        .build()
}

fn filtered(
    name: &'static str,
    values: &'static [&'static str],
) -> impl Fn(&aws_sdk_ec2::operation::describe_instances::DescribeInstancesInput) -> bool {
    move |r| {
        r.filters()
            .iter()
            .any(|f| f.name() == Some(name) && f.values() == values)
    }
}

#[tokio::test]
async fn a_lost_replaced_by_is_found_from_the_replacement_and_written_before_the_stop() {
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();

    let protected = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("tag-key")))
        .then_output(|| answer(vec![running("i-1", "subnet-a", &[])]));
    let successors = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(filtered("tag:autorestart:replacement-of", &["i-1"]))
        .then_output(|| {
            // What EC2 shows of the agent's launch: its ClientToken and the template it used.
            let incident = "op-0aaaaaaaaaaaaaaa1-20261124T040000Z-1a2b3c4d";
            let template = TemplateRef {
                id: "lt-0b".into(),
                version: TemplateRef::DEFAULT_VERSION.into(),
            };
            let token = client_token(&IncidentId::from_tag(incident), "i-1", &template, 1);
            let mut launched = running(
                "i-new",
                "subnet-b",
                &[
                    ("autorestart:replacement-of", "i-1"),
                    ("autorestart:incident", incident),
                    ("aws:ec2launchtemplate:id", "lt-0b"),
                ],
            );
            launched.client_token = Some(token);
            answer(vec![launched])
        });
    let end_of_chain = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(filtered("tag:autorestart:replacement-of", &["i-new"]))
        .then_output(|| DescribeInstancesOutput::builder().build());
    let subnets = support::subnets(&[("subnet-a", Some(ARN_A)), ("subnet-b", Some(ARN_B))]);
    let record = calls.clone();
    let tags = mock!(aws_sdk_ec2::Client::create_tags).then_compute_output(move |r| {
        let keys: Vec<String> = r
            .tags()
            .iter()
            .map(|t| format!("{}={}", t.key().unwrap(), t.value().unwrap()))
            .collect();
        record.lock().unwrap().push(format!(
            "CreateTags {} {}",
            r.resources().join(","),
            keys.join(",")
        ));
        CreateTagsOutput::builder().build()
    });
    let record = calls.clone();
    let stop = mock!(aws_sdk_ec2::Client::stop_instances).then_compute_output(move |r| {
        record
            .lock()
            .unwrap()
            .push(format!("StopInstances {}", r.instance_ids().join(",")));
        StopInstancesOutput::builder().build()
    });
    let ec2 = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [
            &protected,
            &successors,
            &end_of_chain,
            &subnets,
            &tags,
            &stop
        ]
    );
    let groups = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
        .then_output(|| DescribeTargetGroupsOutput::builder().build());
    let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
    let record = calls.clone();
    let publish = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |r| {
        record
            .lock()
            .unwrap()
            .push(format!("Publish {}", r.subject().unwrap_or_default()));
        PublishOutput::builder().message_id("m-1").build()
    });
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let cloudwatch =
        support::cloudwatch_showing_since(StateValue::Ok, "2026-11-24T05:00:00Z".parse().unwrap());
    let drs = mock_client!(aws_sdk_drs, RuleMode::MatchAny, []);
    let agent =
        support::sdk_agent_with(ec2, elb, sns, drs, cloudwatch, support::no_calls_outposts());

    let back = AlarmChange::connected_status(
        "connected-a",
        OUTPOST_A,
        AlarmState::Ok,
        "2026-11-24T05:00:00Z".parse().unwrap(),
    );
    let report = agent.handle_alarm(&back).await.unwrap();

    assert_eq!(report.action, Action::OutpostBack);
    let fencing = report.fencing.unwrap();
    assert_eq!(
        fencing.repaired,
        [(InstanceId::from("i-1"), InstanceId::from("i-new"))]
    );
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(calls[0], "CreateTags i-1 autorestart:replaced-by=i-new");
    assert_eq!(calls[1], "StopInstances i-1");
    assert!(
        calls[2].starts_with("CreateTags i-1 autorestart:fenced=stop@"),
        "{calls:#?}"
    );
    assert!(
        calls[3].starts_with("Publish [outposts-autorestart] op-"),
        "{calls:#?}"
    );
}
