use super::*;

const OWN: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0aaaaaaaaaaaaaaa1";
const OTHER: &str = "arn:aws:outposts:us-east-1:111122223333:outpost/op-0bbbbbbbbbbbbbbb2";

fn source() -> SourceInstance {
    SourceInstance {
        instance_id: "i-0source".into(),
        state: "running".into(),
        tags: vec![
            (tags::ENABLED.into(), "true".into()),
            (tags::NAME.into(), "web-1".into()),
            ("team".into(), "payments".into()),
            ("aws:cloudformation:stack-name".into(), "web".into()),
            (tags::REPLACEMENT_OF.into(), "i-0older".into()),
        ],
        image_id: "ami-0123".into(),
        instance_type: "c6id.large".into(),
        key_name: Some("ops".into()),
        iam_instance_profile_arn: Some("arn:aws:iam::111122223333:instance-profile/web".into()),
        user_data: Some("IyEvYmluL3NoCg==".into()),
        metadata: Some(MetadataOptions {
            http_tokens: Some("required".into()),
            http_put_response_hop_limit: Some(2),
            ..MetadataOptions::default()
        }),
        interfaces: vec![
            SourceInterface {
                device_index: 1,
                security_group_ids: vec!["sg-lni".into()],
                description: Some(String::new()),
            },
            SourceInterface {
                device_index: 0,
                security_group_ids: vec!["sg-web".into(), "sg-ops".into()],
                description: Some("primary".into()),
            },
        ],
        block_devices: Vec::new(),
        root_device_name: Some("/dev/xvda".into()),
        vpc_id: Some("vpc-1".into()),
        outpost_arn: Some(OWN.into()),
    }
}

fn subnet() -> SubnetFacts {
    SubnetFacts {
        subnet_id: "subnet-b".into(),
        vpc_id: Some("vpc-1".into()),
        outpost_arn: Some(OTHER.into()),
        lni_device_index: Some(1),
    }
}

#[test]
fn copies_what_the_instance_runs_with_onto_the_alternate_subnet() {
    let plan = plan_template(&source(), &subnet()).unwrap();
    assert_eq!(plan.template_name, "autorestart-i-0source-subnet-b");
    assert_eq!(plan.client_token.len(), 64);
    assert_eq!(plan.target_outpost, "op-0bbbbbbbbbbbbbbb2");
    let data = &plan.data;
    assert_eq!(
        (data.image_id.as_str(), data.instance_type.as_str()),
        ("ami-0123", "c6id.large")
    );
    assert_eq!(data.key_name.as_deref(), Some("ops"));
    assert_eq!(data.user_data.as_deref(), Some("IyEvYmluL3NoCg=="));
    assert_eq!(
        data.metadata.as_ref().unwrap().http_tokens.as_deref(),
        Some("required")
    );
    assert_eq!(
        data.interfaces,
        vec![
            PlannedInterface {
                device_index: 0,
                subnet_id: "subnet-b".into(),
                security_group_ids: vec!["sg-web".into(), "sg-ops".into()],
                description: Some("primary".into()),
            },
            PlannedInterface {
                device_index: 1,
                subnet_id: "subnet-b".into(),
                security_group_ids: vec![],
                description: None,
            },
        ]
    );
    assert_eq!(
        data.instance_tags,
        vec![("team".to_owned(), "payments".to_owned())]
    );
    assert!(
        plan.template_tags
            .contains(&(tags::TEMPLATE_FOR.to_owned(), "i-0source".to_owned()))
    );
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(plan.warnings[0].contains("new MAC and IP address"));
}

#[test]
fn the_same_instance_and_subnet_always_give_the_same_name_and_token() {
    let a = plan_template(&source(), &subnet()).unwrap();
    let b = plan_template(&source(), &subnet()).unwrap();
    assert_eq!(
        (&a.template_name, &a.client_token),
        (&b.template_name, &b.client_token)
    );
    let mut other = subnet();
    other.subnet_id = "subnet-c".into();
    let c = plan_template(&source(), &other).unwrap();
    assert_ne!(c.client_token, b.client_token);
}

#[test]
fn refuses_a_subnet_on_the_instances_own_outpost_naming_it() {
    let mut own = subnet();
    own.outpost_arn = Some(OWN.into());
    let refusal = plan_template(&source(), &own).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::SameOutpost {
            subnet: "subnet-b".into(),
            outpost: "op-0aaaaaaaaaaaaaaa1".into()
        }
    );
    assert!(
        refusal
            .to_string()
            .contains("choose a subnet on an alternate Outpost")
    );
}

#[test]
fn refuses_what_cannot_give_a_usable_template_each_with_its_reason() {
    let cases: Vec<(SourceInstance, SubnetFacts, &str)> = vec![
        (
            SourceInstance {
                tags: vec![],
                ..source()
            },
            subnet(),
            "not opted in",
        ),
        (
            SourceInstance {
                tags: vec![
                    (tags::ENABLED.into(), "true".into()),
                    (tags::STRATEGY.into(), "drs".into()),
                ],
                ..source()
            },
            subnet(),
            "AWS DRS",
        ),
        (
            SourceInstance {
                state: "stopped".into(),
                ..source()
            },
            subnet(),
            "is stopped",
        ),
        (
            SourceInstance {
                outpost_arn: None,
                ..source()
            },
            subnet(),
            "not on an Outpost: there is no",
        ),
        (
            source(),
            SubnetFacts {
                outpost_arn: None,
                ..subnet()
            },
            "subnet-b is not on an Outpost",
        ),
        (
            source(),
            SubnetFacts {
                vpc_id: Some("vpc-2".into()),
                ..subnet()
            },
            "choose a subnet in vpc-1",
        ),
        (
            source(),
            SubnetFacts {
                lni_device_index: None,
                ..subnet()
            },
            "--enable-lni-at-device-index 1",
        ),
        (
            SourceInstance {
                interfaces: vec![
                    SourceInterface::default(),
                    SourceInterface {
                        device_index: 2,
                        ..SourceInterface::default()
                    },
                ],
                ..source()
            },
            subnet(),
            "write this template by hand",
        ),
    ];
    for (source, subnet, says) in cases {
        let refusal = plan_template(&source, &subnet).unwrap_err().to_string();
        assert!(refusal.contains(says), "{refusal:?} should say {says:?}");
    }
}

#[test]
fn an_instance_without_an_lni_gets_a_primary_interface_and_a_warning() {
    let single = SourceInstance {
        interfaces: vec![SourceInterface {
            device_index: 0,
            security_group_ids: vec!["sg-web".into()],
            description: None,
        }],
        ..source()
    };
    let plan = plan_template(
        &single,
        &SubnetFacts {
            lni_device_index: None,
            ..subnet()
        },
    )
    .unwrap();
    assert_eq!(plan.data.interfaces.len(), 1);
    assert!(plan.warnings[0].contains("no interface at device index 1"));
}

#[test]
fn data_volumes_keep_their_shape_and_are_flagged_as_empty() {
    let with_volumes = SourceInstance {
        block_devices: vec![
            BlockDevice {
                device_name: "/dev/xvda".into(),
                volume_size_gib: Some(30),
                volume_type: Some("gp3".into()),
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/sdf".into(),
                volume_size_gib: Some(100),
                volume_type: Some("io2".into()),
                iops: Some(3000),
                delete_on_termination: Some(false),
                ..BlockDevice::default()
            },
        ],
        ..source()
    };
    let plan = plan_template(&with_volumes, &subnet()).unwrap();
    assert_eq!(plan.data.block_devices.len(), 2);
    assert_eq!(plan.data.block_devices[0].delete_on_termination, Some(true));
    assert_eq!(plan.data.block_devices[1].iops, Some(3000));
    assert_eq!(
        plan.data.block_devices[1].delete_on_termination,
        Some(true),
        "an empty data volume goes with its instance, so drills leave none behind"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("/dev/sdf becomes a new empty 100 GiB volume"))
    );
}

#[test]
fn volumes_carry_only_the_settings_ec2_takes_for_their_type() {
    let with_volumes = SourceInstance {
        block_devices: vec![
            BlockDevice {
                device_name: "/dev/xvda".into(),
                volume_type: Some("gp2".into()),
                iops: Some(100),
                encrypted: Some(true),
                kms_key_id: Some("key-root".into()),
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/sdg".into(),
                volume_type: Some("gp3".into()),
                iops: Some(4000),
                throughput: Some(250),
                encrypted: Some(true),
                kms_key_id: Some("key-data".into()),
                ..BlockDevice::default()
            },
            BlockDevice {
                device_name: "/dev/sdh".into(),
                volume_type: Some("st1".into()),
                iops: Some(500),
                throughput: Some(40),
                encrypted: Some(false),
                ..BlockDevice::default()
            },
        ],
        ..source()
    };
    let devices = plan_template(&with_volumes, &subnet())
        .unwrap()
        .data
        .block_devices;
    let settings: Vec<_> = devices
        .iter()
        .map(|d| (d.iops, d.throughput, d.encrypted, d.kms_key_id.as_deref()))
        .collect();
    assert_eq!(
        settings,
        vec![
            (None, None, None, None),
            (Some(4000), Some(250), Some(true), Some("key-data")),
            (None, None, None, None),
        ],
        "gp2 takes no IOPS and the root's encryption comes from the AMI's snapshot"
    );
}

#[test]
fn the_template_is_added_last_to_the_instance_tag_once() {
    assert_eq!(templates_tag_with(None, "lt-0b"), Ok(Some("lt-0b".into())));
    assert_eq!(
        templates_tag_with(Some("lt-0a:3, lt-0c"), "lt-0b"),
        Ok(Some("lt-0a:3,lt-0c,lt-0b".into()))
    );
    assert_eq!(templates_tag_with(Some("lt-0a,lt-0b:2"), "lt-0b"), Ok(None));
    assert!(templates_tag_with(Some("ami-1"), "lt-0b").is_err());
}
