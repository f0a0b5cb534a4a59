//! The emulated AWS world of the e2e tests and the demo: three Outpost servers, recovery
//! templates, protected and unprotected instances, a target group, and a topic read via SQS.

use std::collections::BTreeMap;
use std::fmt::Write;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    RequestLaunchTemplateData, ResourceType, Tag, TagSpecification,
};
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetTypeEnum};
use aws_sdk_sqs::types::QueueAttributeName;

/// The Outpost that fails; the sample events name it.
pub const FAILED_OUTPOST: &str = "op-0a1b2c3d4e5f60718";
/// The alternate Outpost servers.
pub const OUTPOST_B: &str = "op-0b2c3d4e5f6071829";
/// A third Outpost server.
pub const OUTPOST_C: &str = "op-0c3d4e5f607182930";
/// The emulated account: the one the sample events in `events/` name.
pub const ACCOUNT: &str = "111122223333";

/// Ids of what was seeded.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// Subnet per Outpost id.
    pub subnets: BTreeMap<&'static str, String>,
    /// Launch template ids: lt-a (on the failed Outpost), lt-b, lt-c.
    pub templates: BTreeMap<&'static str, String>,
    /// An image the templates use.
    pub image_id: String,
    /// web-1: protected, templates lt-a (on the failed Outpost) then lt-b.
    pub web1: String,
    /// web-2: protected, templates lt-b then lt-c.
    pub web2: String,
    /// db-1: on the failed Outpost but not opted in.
    pub db1: String,
    /// web-3: protected, on Outpost B (which does not fail).
    pub web3: String,
    /// Instance-type target group, port 80, with web-1..3.
    pub target_group: String,
    /// The topic the function publishes to.
    pub topic_arn: String,
    /// The queue subscribed to the topic.
    pub queue_url: String,
}

/// SDK clients pointed at the emulator.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// ELBv2.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// CloudWatch (served by the launcher over rpcv2Cbor).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// CloudFormation: the stack whose outputs the operator CLI reads.
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Clients {
    /// Clients for `endpoint` with dummy credentials.
    pub async fn new(endpoint: &str) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .load()
            .await;
        Self {
            ec2: aws_sdk_ec2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
        }
    }
}

fn outpost_arn(id: &str) -> String {
    format!("arn:aws:outposts:us-east-1:{ACCOUNT}:outpost/{id}")
}

/// An EC2 tag.
pub fn ec2_tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The prefix of the ConnectedStatus alarms, as the stack names them.
pub const ALARM_PREFIX: &str = "outposts-autorestart-connected-";

/// Creates (or updates) the ConnectedStatus alarm of each Outpost as template.yaml does (metric
/// math over the owner's metric) and sets its state: `ALARM` or `OK`.
pub async fn set_alarms(c: &Clients, states: &[(&str, &str)]) {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
    for (outpost, state) in states {
        let name = format!("{ALARM_PREFIX}{outpost}");
        let metric = Metric::builder()
            .namespace("AWS/Outposts")
            .metric_name("ConnectedStatus")
            .dimensions(
                Dimension::builder()
                    .name("OutpostId")
                    .value(*outpost)
                    .build(),
            )
            .build();
        c.cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .evaluation_periods(3)
            .threshold(1.0)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
            .metrics(
                MetricDataQuery::builder()
                    .id("connected")
                    .account_id(ACCOUNT)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(60)
                            .stat("Minimum")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        c.cloudwatch
            .set_alarm_state()
            .alarm_name(&name)
            .state_value(StateValue::from(*state))
            .state_reason("set by the e2e test")
            .send()
            .await
            .unwrap();
    }
}

/// The failed Outpost's alarm in `state`, Outposts B and C OK: the world most tests start from.
pub async fn failed_outpost_in(c: &Clients, state: &str) {
    set_alarms(
        c,
        &[
            (FAILED_OUTPOST, state),
            (OUTPOST_B, "OK"),
            (OUTPOST_C, "OK"),
        ],
    )
    .await;
}

/// The failed Outpost's alarm goes to ALARM, as CloudWatch does before it sends the event:
/// the agent reads the alarm's current state before it acts on an ALARM event.
pub async fn outpost_down(c: &Clients) {
    set_alarms(c, &[(FAILED_OUTPOST, "ALARM")]).await;
}

/// The environment the sweeper and drill functions run with in the e2e tests: short waits.
pub fn sweep_env(seeded: &Seeded) -> [(&'static str, &str); 5] {
    [
        ("TOPIC_ARN", seeded.topic_arn.as_str()),
        ("HEALTH_WAIT_SECONDS", "10"),
        ("HEALTH_POLL_SECONDS", "1"),
        ("WAVE_WAIT_SECONDS", "20"),
        ("ALARM_NAME_PREFIX", ALARM_PREFIX),
    ]
}

/// Seeds the world.
pub async fn seed(c: &Clients) -> Seeded {
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let mut subnets = BTreeMap::new();
    for (i, outpost) in [FAILED_OUTPOST, OUTPOST_B, OUTPOST_C]
        .into_iter()
        .enumerate()
    {
        let subnet = c
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.0.{}.0/20", 16 * (i + 1)))
            .availability_zone("us-east-1a")
            .outpost_arn(outpost_arn(outpost))
            .send()
            .await
            .unwrap();
        subnets.insert(
            outpost,
            subnet.subnet().unwrap().subnet_id().unwrap().to_owned(),
        );
    }
    let image = c.ec2.describe_images().send().await.unwrap();
    let ami = image.images()[0].image_id().unwrap().to_owned();

    let mut templates = BTreeMap::new();
    for (name, outpost) in [
        ("lt-a", FAILED_OUTPOST),
        ("lt-b", OUTPOST_B),
        ("lt-c", OUTPOST_C),
    ] {
        // Outposts servers: the instance's primary interface, and the LNI at DeviceIndex 1.
        let nic = |index| {
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(index)
                .subnet_id(&subnets[outpost])
                .build()
        };
        // Written by hand, so tagged as the README asks: IAM launches only from such templates.
        let created = c
            .ec2
            .create_launch_template()
            .launch_template_name(format!("recovery-{name}"))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .tags(ec2_tag("autorestart:template-for", "e2e"))
                    .build(),
            )
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(&ami)
                    .instance_type(InstanceType::T3Micro)
                    .network_interfaces(nic(0))
                    .network_interfaces(nic(1))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        templates.insert(
            name,
            created
                .launch_template()
                .unwrap()
                .launch_template_id()
                .unwrap()
                .to_owned(),
        );
    }

    let launch = |name: &'static str, outpost: &'static str, protection: Option<String>| {
        let subnet = subnets[outpost].clone();
        let ami = ami.clone();
        async move {
            let mut tags = vec![("Name", name.to_owned())];
            if let Some(templates) = protection {
                tags.push(("autorestart:enabled", "true".to_owned()));
                tags.push(("autorestart:recovery-templates", templates));
            }
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
            launch_one(c, &ami, &subnet, &tags).await
        }
    };
    let web1 = launch(
        "web-1",
        FAILED_OUTPOST,
        Some(format!("{},{}", templates["lt-a"], templates["lt-b"])),
    )
    .await;
    let web2 = launch(
        "web-2",
        FAILED_OUTPOST,
        Some(format!("{}:1,{}", templates["lt-b"], templates["lt-c"])),
    )
    .await;
    let db1 = launch("db-1", FAILED_OUTPOST, None).await;
    let web3 = launch("web-3", OUTPOST_B, Some(templates["lt-c"].clone())).await;

    let group = c
        .elb
        .create_target_group()
        .name("web")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc_id)
        .target_type(TargetTypeEnum::Instance)
        .send()
        .await
        .unwrap();
    let target_group = group.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    let mut register = c.elb.register_targets().target_group_arn(&target_group);
    for id in [&web1, &web2, &web3] {
        register = register.targets(TargetDescription::builder().id(id).port(80).build());
    }
    register.send().await.unwrap();

    let topic = c
        .sns
        .create_topic()
        .name("outposts-autorestart")
        .send()
        .await
        .unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_owned();
    let queue = c
        .sqs
        .create_queue()
        .queue_name("notices")
        .send()
        .await
        .unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let queue_arn = c
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    c.sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();

    // The stack's ConnectedStatus alarms, all connected to begin with.
    set_alarms(
        c,
        &[(FAILED_OUTPOST, "OK"), (OUTPOST_B, "OK"), (OUTPOST_C, "OK")],
    )
    .await;

    Seeded {
        subnets,
        templates,
        image_id: ami,
        web1,
        web2,
        db1,
        web3,
        target_group,
        topic_arn,
        queue_url,
    }
}

/// Adds `count` protected instances on the failed Outpost (template lt-b), registered in the
/// target group; for measurements at scale.
pub async fn add_protected(c: &Clients, seeded: &Seeded, count: i32) -> Vec<String> {
    add_protected_on(c, seeded, FAILED_OUTPOST, count, &seeded.templates["lt-b"]).await
}

/// Adds `count` protected instances on `outpost`, recovered by `templates`, registered in the
/// target group.
pub async fn add_protected_on(
    c: &Clients,
    seeded: &Seeded,
    outpost: &str,
    count: i32,
    templates: &str,
) -> Vec<String> {
    let launched = c
        .ec2
        .run_instances()
        .image_id(&seeded.image_id)
        .instance_type(InstanceType::T3Micro)
        .subnet_id(&seeded.subnets[outpost])
        .min_count(count)
        .max_count(count)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(ec2_tag("Name", "app"))
                .tags(ec2_tag("autorestart:enabled", "true"))
                .tags(ec2_tag("autorestart:recovery-templates", templates))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = launched
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect();
    // Registered in chunks: moto answers 500 to one call with about a thousand targets.
    for chunk in ids.chunks(100) {
        let mut register = c
            .elb
            .register_targets()
            .target_group_arn(&seeded.target_group);
        for id in chunk {
            register = register.targets(TargetDescription::builder().id(id).port(80).build());
        }
        register.send().await.unwrap();
    }
    ids
}

/// Launches one instance on `outpost` with these tags (a DRS-protected original, a DRS
/// launch-into target, …); its id.
pub async fn launch_tagged(
    c: &Clients,
    seeded: &Seeded,
    outpost: &str,
    tags: &[(&str, &str)],
) -> String {
    launch_one(c, &seeded.image_id, &seeded.subnets[outpost], tags).await
}

/// Launches one t3.micro from `ami` in `subnet` with these tags; its id.
async fn launch_one(c: &Clients, ami: &str, subnet: &str, tags: &[(&str, &str)]) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (key, value) in tags {
        spec = spec.tags(ec2_tag(key, value));
    }
    let launched = c
        .ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .subnet_id(subnet)
        .min_count(1)
        .max_count(1)
        .tag_specifications(spec.build())
        .send()
        .await
        .unwrap();
    launched.instances()[0].instance_id().unwrap().to_owned()
}

/// Registers an instance in the seeded target group on port 80.
pub async fn register(c: &Clients, seeded: &Seeded, id: &str) {
    c.elb
        .register_targets()
        .target_group_arn(&seeded.target_group)
        .targets(TargetDescription::builder().id(id).port(80).build())
        .send()
        .await
        .unwrap();
}

/// One instance as the tests compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    /// Id.
    pub id: String,
    /// Name tag.
    pub name: String,
    /// State.
    pub state: String,
    /// Subnet.
    pub subnet_id: String,
    /// All tags.
    pub tags: BTreeMap<String, String>,
}

/// The state the tests compare before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Every instance that exists (not terminated), by id.
    pub instances: BTreeMap<String, InstanceView>,
    /// The target group's registered targets (id, port).
    pub targets: Vec<(String, i32)>,
}

impl State {
    /// Reads the state.
    pub async fn read(c: &Clients, seeded: &Seeded) -> Self {
        let described = c
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopped")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut instances = BTreeMap::new();
        for reservation in described.reservations() {
            for i in reservation.instances() {
                let tags: BTreeMap<String, String> = i
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap().to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                let view = InstanceView {
                    id: i.instance_id().unwrap().to_owned(),
                    name: tags.get("Name").cloned().unwrap_or_default(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    subnet_id: i.subnet_id().unwrap_or_default().to_owned(),
                    tags,
                };
                instances.insert(view.id.clone(), view);
            }
        }
        let health = c
            .elb
            .describe_target_health()
            .target_group_arn(&seeded.target_group)
            .send()
            .await
            .unwrap();
        let mut targets: Vec<(String, i32)> = health
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target())
            .map(|t| (t.id().unwrap().to_owned(), t.port().unwrap_or_default()))
            .collect();
        targets.sort();
        Self { instances, targets }
    }

    /// One instance, which must exist.
    pub fn instance(&self, id: &str) -> &InstanceView {
        self.instances
            .get(id)
            .unwrap_or_else(|| panic!("{id} does not exist (or is terminated)"))
    }

    /// Live instances tagged as replacements of `original`.
    pub fn replacements_of(&self, original: &str) -> Vec<&InstanceView> {
        self.instances
            .values()
            .filter(|i| {
                i.tags.get("autorestart:replacement-of").map(String::as_str) == Some(original)
            })
            .collect()
    }

    /// A readable table: instances per Outpost server, then the target group.
    pub fn render(&self, seeded: &Seeded) -> String {
        let mut text = String::new();
        for (outpost, subnet) in &seeded.subnets {
            let _ = writeln!(text, "  Outpost server {outpost} ({subnet}):");
            for i in self.instances.values().filter(|i| &i.subnet_id == subnet) {
                let protected =
                    if i.tags.get("autorestart:enabled").map(String::as_str) == Some("true") {
                        "protected"
                    } else {
                        "not opted in"
                    };
                let mut notes = String::new();
                if let Some(r) = i.tags.get("autorestart:replaced-by") {
                    let _ = write!(notes, ", replaced by {r}");
                }
                if let Some(o) = i.tags.get("autorestart:replacement-of") {
                    let _ = write!(notes, ", replacement of {o}");
                }
                let _ = writeln!(
                    text,
                    "    {:<6} {}  {}  {protected}{notes}",
                    i.name, i.id, i.state
                );
            }
        }
        let _ = writeln!(text, "  Target group web (port 80):");
        for (id, port) in &self.targets {
            let name = self
                .instances
                .get(id)
                .map(|i| i.name.as_str())
                .unwrap_or("?");
            let _ = writeln!(text, "    {id}:{port}  ({name})");
        }
        text
    }
}

/// Drains the queue subscribed to the topic: each SNS envelope's Subject and Message.
pub async fn notices(c: &Clients, seeded: &Seeded) -> Vec<(String, String)> {
    notices_with_facts(c, seeded)
        .await
        .into_iter()
        .map(|(subject, body, _)| (subject, body))
        .collect()
}

/// The notices delivered so far, each with its `facts` attribute parsed (the report as JSON
/// for machine subscribers), and taken off the queue.
pub async fn notices_with_facts(
    c: &Clients,
    seeded: &Seeded,
) -> Vec<(String, String, Option<serde_json::Value>)> {
    let mut found = Vec::new();
    loop {
        let received = c
            .sqs
            .receive_message()
            .queue_url(&seeded.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            return found;
        }
        for message in received.messages() {
            let envelope: serde_json::Value =
                serde_json::from_str(message.body().unwrap()).unwrap();
            let facts = envelope["MessageAttributes"]["facts"]["Value"]
                .as_str()
                .and_then(|f| serde_json::from_str(f).ok());
            found.push((
                envelope["Subject"].as_str().unwrap_or_default().to_owned(),
                envelope["Message"].as_str().unwrap_or_default().to_owned(),
                facts,
            ));
            c.sqs
                .delete_message()
                .queue_url(&seeded.queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// When each replacement of `original` was launched, as EC2 reports it (by its
/// `autorestart:replacement-of` tag).
pub async fn replacement_launch_times(
    c: &Clients,
    original: &str,
) -> Vec<aws_sdk_ec2::primitives::DateTime> {
    let described = c
        .ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:autorestart:replacement-of")
                .values(original)
                .build(),
        )
        .send()
        .await
        .unwrap();
    described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.launch_time().copied())
        .collect()
}
