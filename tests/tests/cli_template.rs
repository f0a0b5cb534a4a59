//! The real `autorestart template` CLI against moto: the launch template it creates, the tag it
//! writes, a second run that changes nothing, its refusals, and a sweep that recovers the
//! instance through the template it made.

use std::process::{Command, Output};
use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, HttpTokensState, InstanceMetadataOptionsRequest, InstanceNetworkInterfaceSpecification,
    InstanceType, ResourceType, Tag, TagSpecification,
};
use e2e::events::{response, sample};
use e2e::function::{Function, binary_path};
use e2e::moto::Moto;
use e2e::runtime_api::RuntimeApi;
use e2e::world::{self, Clients, FAILED_OUTPOST, OUTPOST_B, OUTPOST_C, State};
use serde_json::Value;

const USER_DATA: &str = "IyEvYmluL3NoCmVjaG8gcmVhZHkK";

/// Runs the CLI with dummy credentials against `endpoint`.
fn cli(endpoint: &str, args: &[&str]) -> Output {
    Command::new(binary_path("autorestart"))
        .args(args)
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("run autorestart")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// An Outposts server instance as operators run them: primary interface and LNI, key pair,
/// user data, IMDSv2, opted in but without templates yet.
async fn launch_app(c: &Clients, subnet: &str, group: &str, image: &str) -> String {
    let nic = |index| {
        InstanceNetworkInterfaceSpecification::builder()
            .device_index(index)
            .subnet_id(subnet)
            .groups(group)
            .build()
    };
    let run = c
        .ec2
        .run_instances()
        .image_id(image)
        .instance_type(InstanceType::T3Micro)
        .key_name("ops")
        .user_data(USER_DATA)
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_put_response_hop_limit(2)
                .build(),
        )
        .network_interfaces(nic(0))
        .network_interfaces(nic(1))
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(tag("Name", "app-1"))
                .tags(tag("autorestart:enabled", "true"))
                .tags(tag("team", "payments"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    run.instances()[0].instance_id().unwrap().to_owned()
}

async fn templates_named(c: &Clients, name: &str) -> Vec<String> {
    c.ec2
        .describe_launch_templates()
        .filters(
            Filter::builder()
                .name("launch-template-name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_templates()
        .iter()
        .filter_map(|t| t.launch_template_id().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_makes_one_working_recovery_template_and_refuses_unusable_subnets() {
    let moto = Moto::start();
    let c = Clients::new(moto.endpoint()).await;
    let seeded = world::seed(&c).await;
    let (subnet_a, subnet_b, subnet_c) = (
        seeded.subnets[FAILED_OUTPOST].clone(),
        seeded.subnets[OUTPOST_B].clone(),
        seeded.subnets[OUTPOST_C].clone(),
    );
    let vpc = c
        .ec2
        .describe_subnets()
        .subnet_ids(&subnet_a)
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .vpc_id()
        .unwrap()
        .to_owned();
    let group = c
        .ec2
        .create_security_group()
        .group_name("app")
        .description("app servers")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned();
    c.ec2
        .create_key_pair()
        .key_name("ops")
        .send()
        .await
        .unwrap();
    c.ec2
        .modify_subnet_attribute()
        .subnet_id(&subnet_b)
        .enable_lni_at_device_index(1)
        .send()
        .await
        .unwrap();
    let app = launch_app(&c, &subnet_a, &group, &seeded.image_id).await;

    // First run: the template is created and the instance tagged with it.
    let first = stdout_json(&cli(
        moto.endpoint(),
        &["template", "--instance-id", &app, "--subnet-id", &subnet_b],
    ));
    assert_eq!(first["created"], true, "{first}");
    assert_eq!(first["tagged"], true, "{first}");
    let template_id = first["template_id"].as_str().unwrap().to_owned();
    let name = format!("autorestart-{app}-{subnet_b}");
    assert_eq!(templates_named(&c, &name).await, vec![template_id.clone()]);

    let versions = c
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&template_id)
        .versions("$Default")
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(data.image_id(), Some(seeded.image_id.as_str()));
    assert_eq!(data.instance_type(), Some(&InstanceType::T3Micro));
    assert_eq!(data.key_name(), Some("ops"));
    assert_eq!(data.user_data(), Some(USER_DATA));
    let metadata = data.metadata_options().unwrap();
    assert_eq!(metadata.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(metadata.http_put_response_hop_limit(), Some(2));
    let mut interfaces: Vec<(i32, &str, Vec<&str>)> = data
        .network_interfaces()
        .iter()
        .map(|n| {
            (
                n.device_index().unwrap(),
                n.subnet_id().unwrap(),
                n.groups().iter().map(String::as_str).collect(),
            )
        })
        .collect();
    interfaces.sort();
    assert_eq!(
        interfaces,
        vec![
            (0, subnet_b.as_str(), vec![group.as_str()]),
            (1, subnet_b.as_str(), vec![]),
        ]
    );
    // moto lists the template's own tags here too, as resource type launch-template.
    let instance_tags: Vec<(&str, &str)> = data
        .tag_specifications()
        .iter()
        .filter(|s| s.resource_type() == Some(&ResourceType::Instance))
        .flat_map(|s| s.tags())
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(instance_tags, vec![("team", "payments")]);

    let template_tags: Vec<(String, String)> = c
        .ec2
        .describe_launch_templates()
        .launch_template_ids(&template_id)
        .send()
        .await
        .unwrap()
        .launch_templates()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect();
    assert!(
        template_tags.contains(&("autorestart:template-for".to_owned(), app.clone())),
        "{template_tags:?}"
    );
    let state = State::read(&c, &seeded).await;
    assert_eq!(
        state.instance(&app).tags["autorestart:recovery-templates"],
        template_id
    );

    // Second run: found by name, nothing created, nothing tagged.
    let again = stdout_json(&cli(
        moto.endpoint(),
        &["template", "--instance-id", &app, "--subnet-id", &subnet_b],
    ));
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["tagged"], false, "{again}");
    assert_eq!(again["template_id"].as_str(), Some(template_id.as_str()));
    assert_eq!(templates_named(&c, &name).await, vec![template_id.clone()]);

    // Refusals: the instance's own Outpost, and a subnet that makes no LNI at index 1.
    for (subnet, says) in [
        (&subnet_a, "the instance's own Outpost"),
        (&subnet_c, "--enable-lni-at-device-index 1"),
    ] {
        let refused = cli(
            moto.endpoint(),
            &["template", "--instance-id", &app, "--subnet-id", subnet],
        );
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            templates_named(&c, &format!("autorestart-{app}-{subnet}"))
                .await
                .is_empty()
        );
    }
    let state = State::read(&c, &seeded).await;
    assert_eq!(
        state.instance(&app).tags["autorestart:recovery-templates"],
        template_id,
        "refusals leave the tag as it was"
    );

    // The template recovers the instance: its Outpost fails and the sweep relaunches it on B.
    world::failed_outpost_in(&c, "ALARM").await;
    let api = RuntimeApi::start();
    let env = world::sweep_env(&seeded);
    let _sweeper = Function::start("sweeper", api.address(), moto.endpoint(), &env);
    let report = response(api.invoke(&sample("sweep-schedule.json"), Duration::from_secs(120)));
    let after = State::read(&c, &seeded).await;
    let replacements = after.replacements_of(&app);
    assert_eq!(replacements.len(), 1, "{report}");
    assert_eq!(replacements[0].subnet_id, subnet_b);
    assert_eq!(replacements[0].tags["team"], "payments");
    assert_eq!(replacements[0].name, "app-1");
}
