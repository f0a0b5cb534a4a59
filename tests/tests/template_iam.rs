//! What template.yaml grants each function's role, read from the file: every AWS call the
//! reconcile makes from a function must be allowed there, or it fails in AWS (and nowhere in
//! the emulator, which checks no IAM).

use e2e::moto::workspace_root;
use e2e::template::resource;

/// Everything a role holds: its inline policies and the managed policies it attaches.
fn grants(template: &str, role: &str, managed: &[&str]) -> String {
    let mut text = resource(template, role);
    for policy in managed {
        assert!(
            text.contains(&format!("!Ref {policy}")),
            "{role} attaches {policy}"
        );
        text.push_str(&resource(template, policy));
    }
    text
}

#[test]
fn every_function_that_reconciles_may_read_the_alarms_it_acts_on() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let handler = grants(
        &template,
        "AlarmHandlerRole",
        &["RecoveryPolicy", "AlarmHandlerDrsPolicy"],
    );
    let sweeper = grants(
        &template,
        "SweeperRole",
        &["RecoveryPolicy", "SweepAndDrillReadPolicy"],
    );
    // Observe (the alarm's state now, the other Outposts'), then act.
    for (role, text) in [("alarm handler", &handler), ("sweeper", &sweeper)] {
        for action in [
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
            "ec2:DescribeInstances",
            "ec2:RunInstances",
            "ec2:CreateTags",
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:DeregisterTargets",
            "elasticloadbalancing:DescribeTargetHealth",
            "sns:Publish",
        ] {
            assert!(
                text.contains(action),
                "the {role}'s role does not allow {action}"
            );
        }
    }
    // A replacement stuck pending is terminated before the next attempt.
    for text in [&handler, &sweeper] {
        assert!(text.contains("Sid: TerminateStuckReplacements"));
    }
    // The audit tags the reconcile writes on originals (replaced-by, member-N) and at launch
    // (attempt) are all autorestart:* keys, which is what CreateTags is scoped to.
    assert!(handler.contains("aws:TagKeys: \"autorestart:*\""));
}

/// One statement of a policy, as written in template.yaml (comment lines dropped).
#[derive(Debug)]
struct Statement {
    sid: String,
    allow: bool,
    body: String,
}

/// The statements in a resource's text, each from its `- Sid:` line to the next.
fn statements(text: &str) -> Vec<Statement> {
    let mut found: Vec<Statement> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(sid) = trimmed.strip_prefix("- Sid: ") {
            found.push(Statement {
                sid: sid.trim().to_owned(),
                allow: true,
                body: String::new(),
            });
            continue;
        }
        if let Some(current) = found.last_mut() {
            if trimmed == "Effect: Deny" {
                current.allow = false;
            }
            current.body.push_str(trimmed);
            current.body.push('\n');
        }
    }
    found
}

impl Statement {
    /// Whether the statement names this action (exactly, or by a listed wildcard).
    fn names(&self, action: &str) -> bool {
        self.body.lines().any(|line| {
            let value = line
                .trim_start_matches("- ")
                .trim_start_matches("Action: ")
                .trim();
            value == action
        })
    }
}

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap()
}

#[test]
fn the_drill_cannot_start_reconfigure_or_terminate_a_drs_recovery() {
    let template = template();
    let drill = resource(&template, "DrillRole");
    assert!(
        !drill.contains("!Ref AlarmHandlerDrsPolicy"),
        "the drill must not hold the DRS strategy's permissions"
    );
    let held = grants(
        &template,
        "DrillRole",
        &["RecoveryPolicy", "SweepAndDrillReadPolicy"],
    );
    for action in [
        "drs:StartRecovery",
        "drs:UpdateLaunchConfiguration",
        "drs:TerminateRecoveryInstances",
    ] {
        let statements = statements(&held);
        let allowed: Vec<&str> = statements
            .iter()
            .filter(|s| s.allow && (s.names(action) || s.names("drs:*")))
            .map(|s| s.sid.as_str())
            .collect();
        assert!(allowed.is_empty(), "{action} allowed by {allowed:?}");
        assert!(
            statements
                .iter()
                .any(|s| !s.allow && s.names(action) && s.body.contains("Resource: \"*\"")),
            "{action} is denied outright, whatever is attached later"
        );
    }
    // Its dry run still reads what a DRS plan needs.
    for action in [
        "drs:GetLaunchConfiguration",
        "drs:DescribeSourceServers",
        "drs:DescribeJobs",
    ] {
        assert!(
            statements(&held).iter().any(|s| s.allow && s.names(action)),
            "the drill's dry run reads {action}"
        );
    }
}

#[test]
fn the_sweeper_may_record_a_drs_recovery_on_its_launch_into_target_as_the_event_handler_does() {
    let template = template();
    let sweeper = grants(
        &template,
        "SweeperRole",
        &[
            "RecoveryPolicy",
            "AlarmHandlerDrsPolicy",
            "DrsNetworkPolicy",
            "SweepAndDrillReadPolicy",
        ],
    );
    let handler = grants(
        &template,
        "AlarmHandlerRole",
        &["RecoveryPolicy", "AlarmHandlerDrsPolicy"],
    );
    for (role, text) in [
        ("sweeper", sweeper),
        (
            "alarm handler (fencing repairs links on the OK event)",
            handler,
        ),
        (
            "DRS event handler",
            resource(&template, "DrsEventHandlerRole"),
        ),
    ] {
        let tags_target = statements(&text).into_iter().any(|s| {
            s.allow
                && s.names("ec2:CreateTags")
                && s.body
                    .contains("ec2:ResourceTag/AWSDRS: AllowLaunchingIntoThisInstance")
                && s.body.contains("aws:TagKeys: \"autorestart:*\"")
        });
        assert!(tags_target, "the {role} may tag the launch-into target");
    }
}

#[test]
fn replacements_are_launched_only_from_the_projects_templates() {
    let template = template();
    for policy in ["RecoveryPolicy", "AlarmHandlerDrsPolicy"] {
        for s in statements(&resource(&template, policy)) {
            let on_templates = s
                .body
                .lines()
                .any(|l| l.contains(":launch-template/*") && !l.starts_with("ec2:LaunchTemplate:"));
            if !s.allow || !s.names("ec2:RunInstances") || !on_templates {
                continue;
            }
            let scoped = s
                .body
                .contains("ec2:ResourceTag/autorestart:template-for: \"false\"")
                || s.body
                    .contains("ec2:ResourceTag/AWSElasticDisasterRecoveryManaged: \"false\"");
            assert!(
                scoped,
                "{policy} {}: RunInstances from any template of the account",
                s.sid
            );
        }
    }
    let recovery = statements(&resource(&template, "RecoveryPolicy"));
    let listed = recovery
        .iter()
        .find(|s| s.sid == "LaunchFromListedTemplates")
        .expect("templates written by hand can be listed");
    assert!(
        listed
            .body
            .contains("Resource: !Ref RecoveryLaunchTemplateArns")
    );
    assert!(template.contains("  RecoveryLaunchTemplateArns:\n    Type: CommaDelimitedList"));
}

#[test]
fn volumes_under_a_customer_managed_key_get_the_key_only_through_ec2() {
    let template = template();
    let recovery = statements(&resource(&template, "RecoveryPolicy"));
    let use_key = recovery
        .iter()
        .find(|s| s.names("kms:Decrypt"))
        .expect("the key is usable");
    let grant = recovery
        .iter()
        .find(|s| s.names("kms:CreateGrant"))
        .expect("EC2 gets grants");
    for s in [use_key, grant] {
        assert!(s.body.contains("Resource: !Ref EbsKmsKeyArns"), "{s:?}");
        assert!(
            s.body
                .contains("kms:ViaService: !Sub \"ec2.${AWS::Region}.amazonaws.com\""),
            "{s:?}"
        );
    }
    assert!(grant.body.contains("kms:GrantIsForAWSResource: \"true\""));
    for action in [
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncrypt*",
        "kms:DescribeKey",
    ] {
        assert!(use_key.names(action), "{action}");
    }
}

#[test]
fn drs_acts_through_ec2_under_the_managed_policys_conditions() {
    let template = template();
    let mut drs = statements(&resource(&template, "AlarmHandlerDrsPolicy"));
    drs.extend(statements(&resource(&template, "DrsNetworkPolicy")));
    // Every EC2 change AWSElasticDisasterRecoveryConsoleFullAccess_v2 lets DRS make with its
    // caller's credentials is allowed here too (a missing one fails a recovery halfway).
    for action in [
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:DeleteLaunchTemplateVersions",
        "ec2:DeleteTags",
        "ec2:RunInstances",
        "ec2:CreateFleet",
        "ec2:CreateTags",
        "ec2:StartInstances",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "ec2:ModifyInstanceAttribute",
        "ec2:AssociateIamInstanceProfile",
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:CreateVolume",
        "ec2:DeleteVolume",
        "ec2:CreateSnapshot",
        "ec2:DeleteSnapshot",
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
    ] {
        assert!(
            drs.iter().any(|s| s.allow && s.names(action)),
            "DRS's {action} is not allowed"
        );
    }
    let writes: Vec<&Statement> = drs
        .iter()
        .filter(|s| {
            s.allow
                && s.body.lines().any(|l| {
                    let l = l.trim_start_matches("- ").trim_start_matches("Action: ");
                    l.starts_with("ec2:") && !l.starts_with("ec2:Describe")
                })
        })
        .collect();
    assert!(writes.len() >= 10, "{writes:?}");
    for s in writes {
        if s.sid == "DrsLaunchIntoTargetInstances" {
            // As the managed policy: DRS itself, on the instance tagged for it.
            assert!(s.body.contains("aws:CalledVia: drs.amazonaws.com"), "{s:?}");
            assert!(
                s.body
                    .contains("ec2:ResourceTag/AWSDRS: AllowLaunchingIntoThisInstance")
            );
        } else if s.sid == "RecordOutcomeOnDrsTargetInstances" {
            // The agent's own record on the launch-into target: autorestart: keys only.
            assert!(
                s.body
                    .contains("ec2:ResourceTag/AWSDRS: AllowLaunchingIntoThisInstance")
                    && s.body.contains("aws:TagKeys: \"autorestart:*\""),
                "{s:?}"
            );
        } else if s.sid.contains("Fleet") {
            // As the managed policy: EC2 Fleet only when DRS itself calls.
            assert!(s.body.contains("aws:CalledVia: drs.amazonaws.com"), "{s:?}");
        } else {
            assert!(
                s.body.contains("aws:ViaAWSService: \"true\""),
                "{}: DRS's EC2 calls, not the agent's",
                s.sid
            );
        }
    }
    assert!(template.contains("AWSElasticDisasterRecoveryConsoleFullAccess_v2"));
}

#[test]
fn a_gap_in_connected_status_is_no_outage_unless_asked() {
    let template = template();
    assert!(template.contains("TreatMissingData: !Ref ConnectedStatusMissingData"));
    let parameter = resource(&template, "ConnectedStatusMissingData");
    assert!(parameter.contains("Default: missing"), "{parameter}");
    // FILL(m1, 0) turns gaps into disconnections: only with breaching.
    let fill = template.find("Expression: FILL(m1, 0)").unwrap();
    let guard = template[..fill].rfind("- MissingDataBreaches").unwrap();
    assert!(
        fill - guard < 200,
        "FILL is inside the MissingDataBreaches branch"
    );
}
