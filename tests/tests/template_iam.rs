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
            // The alternates' free slots, to plan launches onto them.
            "outposts:ListAssets",
            "outposts:ListAssetInstances",
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

/// The tag keys a statement keeps out of every request (`ForAllValues:StringNotEquals` on
/// `aws:TagKeys`): a request naming one of them is refused whole.
fn kept_out(s: &Statement) -> Vec<&str> {
    let mut lines = s
        .body
        .lines()
        .skip_while(|l| *l != "ForAllValues:StringNotEquals:")
        .skip(1);
    if lines.next() != Some("aws:TagKeys:") {
        return Vec::new();
    }
    lines.map_while(|l| l.strip_prefix("- ")).collect()
}

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap()
}

/// Every IAM resource of the stack: the functions' four roles and the five managed policies.
const IAM_RESOURCES: [&str; 9] = [
    "AlarmHandlerRole",
    "DrsEventHandlerRole",
    "SweeperRole",
    "DrillRole",
    "RecoveryPolicy",
    "AlarmHandlerDrsPolicy",
    "DrsNetworkPolicy",
    "SweepAndDrillReadPolicy",
    "FailbackPolicy",
];

/// Every statement the functions' roles hold, with the resource it is written in.
fn every_statement(template: &str) -> Vec<(&'static str, Statement)> {
    assert_eq!(template.matches("Type: AWS::IAM::Role\n").count(), 4);
    assert_eq!(
        template.matches("Type: AWS::IAM::ManagedPolicy\n").count(),
        5
    );
    IAM_RESOURCES
        .iter()
        .flat_map(|name| {
            statements(&resource(template, name))
                .into_iter()
                .map(move |s| (*name, s))
        })
        .collect()
}

/// The one statement of this Sid in a resource.
fn find(template: &str, name: &str, sid: &str) -> Statement {
    statements(&resource(template, name))
        .into_iter()
        .find(|s| s.sid == sid)
        .unwrap_or_else(|| panic!("{name} has no statement {sid}"))
}

/// The keys a replacement gets in the RunInstances that launches it and never later:
/// `replacement-of` (but see the DRS target and fencing's repair below), `launched-in` and
/// `attempt`, from which with the incident its ClientToken was derived (`proof`).
const LAUNCH_ONLY: [&str; 3] = [
    "autorestart:replacement-of",
    "autorestart:launched-in",
    "autorestart:attempt",
];

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
        "drs:DescribeRecoverySnapshots",
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

#[test]
fn the_record_statements_cannot_write_what_is_written_at_launch() {
    let template = template();
    // On opted-in instances (originals and replacements) after launch: none of the three.
    for (name, sid) in [
        ("RecoveryPolicy", "RecordRecoveryOnOptedInInstances"),
        ("DrsEventHandlerRole", "RecordOutcomeOnOptedInInstances"),
    ] {
        let s = find(&template, name, sid);
        assert!(s.allow && s.names("ec2:CreateTags"), "{sid}");
        assert!(
            !s.body.contains("ec2:CreateAction"),
            "{sid} tags existing instances"
        );
        assert!(s.body.contains("aws:TagKeys: \"autorestart:*\""), "{sid}");
        // ForAllValues holds for a request without keys: the Null check rules that out.
        assert!(s.body.contains("aws:TagKeys: \"false\""), "{sid}");
        let out = kept_out(&s);
        for key in LAUNCH_ONLY {
            assert!(
                out.contains(&key),
                "{name} {sid} may write {key} after launch"
            );
        }
    }
    // On a DRS launch-into target, which DRS (not the agent) launched into: the link is
    // written once DRS names it its recovery instance, the launch's own keys never.
    for name in ["AlarmHandlerDrsPolicy", "DrsEventHandlerRole"] {
        let s = find(&template, name, "RecordOutcomeOnDrsTargetInstances");
        assert!(
            s.body
                .contains("ec2:ResourceTag/AWSDRS: AllowLaunchingIntoThisInstance")
        );
        let out = kept_out(&s);
        assert!(out.contains(&"autorestart:launched-in"), "{name}");
        assert!(out.contains(&"autorestart:attempt"), "{name}");
        assert!(!out.contains(&"autorestart:replacement-of"), "{name}");
    }
    // At launch, everything the request carries.
    let at_launch = find(&template, "RecoveryPolicy", "TagAtLaunch");
    assert!(
        at_launch
            .body
            .contains("StringEquals:\nec2:CreateAction: RunInstances\n")
    );
}

#[test]
fn after_launch_no_role_writes_launched_in_or_attempt_and_replacement_of_only_where_said() {
    let template = template();
    let mut checked = Vec::new();
    for (name, s) in every_statement(&template) {
        if !s.allow || !s.names("ec2:CreateTags") {
            continue;
        }
        if s.body.contains("ec2:CreateAction") {
            // Tags in the request that creates the resource (RunInstances, DRS's creations).
            continue;
        }
        if s.sid == "DrsUpdateItsLaunchTemplates" {
            // DRS's own launch templates, only through DRS: no instance, so no link.
            assert!(s.body.contains("aws:ViaAWSService: \"true\""));
            assert!(!s.body.contains(":instance/*"));
            continue;
        }
        checked.push(format!("{name} {}", s.sid));
        assert!(
            s.body.contains("aws:TagKeys: \"false\""),
            "{name} {}: a request must name its keys",
            s.sid
        );
        if s.sid == "RestoreLostReplacementOfTags" {
            // Fencing's repair: that key alone, only where it is missing.
            assert!(
                s.body.contains(
                    "ForAllValues:StringEquals:\naws:TagKeys: autorestart:replacement-of\n"
                ),
                "{name}"
            );
            assert!(
                s.body
                    .contains("ec2:ResourceTag/autorestart:replacement-of: \"true\""),
                "{name}"
            );
            continue;
        }
        let out = kept_out(&s);
        for key in ["autorestart:launched-in", "autorestart:attempt"] {
            assert!(out.contains(&key), "{name} {} may write {key}", s.sid);
        }
        if !out.contains(&"autorestart:replacement-of") {
            assert!(
                s.body
                    .contains("ec2:ResourceTag/AWSDRS: AllowLaunchingIntoThisInstance"),
                "{name} {} may write autorestart:replacement-of after launch",
                s.sid
            );
        }
    }
    assert_eq!(checked.len(), 6, "{checked:?}");
}

#[test]
fn only_fencing_restores_a_lost_replacement_of_and_never_rewrites_one() {
    let template = template();
    for role in ["AlarmHandlerRole", "SweeperRole"] {
        let s = find(&template, role, "RestoreLostReplacementOfTags");
        assert!(s.allow && s.names("ec2:CreateTags"), "{role}");
        assert!(
            s.body
                .contains("ec2:ResourceTag/autorestart:enabled: \"true\""),
            "{role}: opted-in instances only"
        );
        // Not inside FencesInstances: the repair happens whatever FenceAction says.
        let text = resource(&template, role);
        let at = text.find("- Sid: RestoreLostReplacementOfTags").unwrap();
        let before = text[..at]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap();
        assert_ne!(before, "- FencesInstances", "{role}");
    }
    // Neither the drill (which holds RecoveryPolicy) nor the DRS event handler repairs links.
    for (name, s) in every_statement(&template) {
        if s.sid == "RestoreLostReplacementOfTags" {
            assert!(
                name == "AlarmHandlerRole" || name == "SweeperRole",
                "{name} restores links"
            );
        }
    }
}

#[test]
fn no_role_can_mark_a_launch_template_as_the_projects() {
    let template = template();
    for (name, s) in every_statement(&template) {
        let tags_templates = s.allow
            && s.names("ec2:CreateTags")
            && s.body
                .lines()
                .any(|l| l.contains(":launch-template/*") || l == "Resource: \"*\"");
        if tags_templates {
            // Only DRS, tagging what it creates or its own templates.
            assert!(
                s.body.contains("aws:ViaAWSService: \"true\""),
                "{name} {} tags launch templates",
                s.sid
            );
        }
    }
}

#[test]
fn a_launch_takes_its_subnet_interfaces_security_groups_and_image_from_the_template() {
    let template = template();
    let recovery = statements(&resource(&template, "RecoveryPolicy"));
    let runs: Vec<&Statement> = recovery
        .iter()
        .filter(|s| s.allow && s.names("ec2:RunInstances"))
        .collect();
    for kind in [
        ":subnet/*",
        ":network-interface/*",
        ":security-group/*",
        "::image/*",
    ] {
        let covering: Vec<&&Statement> = runs.iter().filter(|s| s.body.contains(kind)).collect();
        assert!(!covering.is_empty(), "nothing lets a launch use {kind}");
        for s in covering {
            assert!(
                s.body
                    .contains("Bool:\nec2:IsLaunchTemplateResource: \"true\"\n"),
                "{}: a RunInstances request may override the template's {kind}",
                s.sid
            );
        }
    }
    // What the launch creates or reads besides stays launchable.
    for kind in [":instance/*", ":volume/*", ":key-pair/*", "::snapshot/*"] {
        assert!(runs.iter().any(|s| s.body.contains(kind)), "{kind}");
    }
    // DRS's own launches may name theirs, but only as requests of an AWS service.
    let mut drs = statements(&resource(&template, "AlarmHandlerDrsPolicy"));
    drs.extend(statements(&resource(&template, "DrsNetworkPolicy")));
    let drs_runs: Vec<&Statement> = drs
        .iter()
        .filter(|s| s.allow && s.names("ec2:RunInstances"))
        .collect();
    assert!(drs_runs.iter().any(|s| s.sid == "DrsUseItsLaunchResources"));
    for s in drs_runs {
        assert!(s.body.contains("aws:ViaAWSService: \"true\""), "{}", s.sid);
    }
}

#[test]
fn no_statement_lets_run_instances_launch_from_any_template() {
    let template = template();
    let mut from_templates = Vec::new();
    for (name, s) in every_statement(&template) {
        if !s.allow || !s.names("ec2:RunInstances") {
            continue;
        }
        assert!(
            !s.body.contains("Resource: \"*\"") && !s.body.contains("NotResource"),
            "{name} {}: RunInstances on every resource",
            s.sid
        );
        let templates = s
            .body
            .lines()
            .any(|l| l.contains(":launch-template/*") && !l.starts_with("ec2:LaunchTemplate:"));
        let listed = s
            .body
            .contains("Resource: !Ref RecoveryLaunchTemplateArns\n");
        if !templates && !listed {
            continue;
        }
        from_templates.push(s.sid.clone());
        // Marked by the generator (a tag only the administrator may write under the SCP),
        // named in the deployment, or DRS's own, launched by DRS.
        let marked = s
            .body
            .contains("ec2:ResourceTag/autorestart:template-for: \"false\"");
        let drs = s
            .body
            .contains("ec2:ResourceTag/AWSElasticDisasterRecoveryManaged: \"false\"")
            && s.body.contains("aws:ViaAWSService: \"true\"");
        assert!(
            marked || listed || drs,
            "{name} {}: RunInstances from any template",
            s.sid
        );
    }
    from_templates.sort();
    assert_eq!(
        from_templates,
        [
            "DrsLaunchFromItsTemplates",
            "LaunchFromListedTemplates",
            "LaunchFromProjectTemplates"
        ]
    );
}

#[test]
fn roles_are_passed_only_to_ec2_and_only_the_instance_roles_or_drss_own() {
    let template = template();
    let mut passing = Vec::new();
    for (name, s) in every_statement(&template) {
        if !s.allow {
            continue;
        }
        assert!(
            !s.names("iam:*") && !s.body.contains("Action: \"*\""),
            "{name} {}: a wildcard action",
            s.sid
        );
        if !s.names("iam:PassRole") {
            continue;
        }
        passing.push(s.sid.clone());
        assert!(
            s.body
                .contains("StringEquals:\niam:PassedToService: ec2.amazonaws.com\n"),
            "{name} {}: roles passed to any service",
            s.sid
        );
        match s.sid.as_str() {
            "PassInstanceRolesToEc2" => {
                assert_eq!(name, "RecoveryPolicy");
                assert!(s.body.contains("Resource: !Ref InstanceRoleArns\n"));
            }
            "PassDrsRolesToEc2" => {
                assert_eq!(name, "AlarmHandlerDrsPolicy");
                let roles: Vec<&str> = s.body.lines().filter(|l| l.contains(":role/")).collect();
                assert_eq!(roles.len(), 2, "{roles:?}");
                assert!(roles.iter().any(|r| r.ends_with(
                    "role/service-role/AWSElasticDisasterRecoveryConversionServerRole\""
                )));
                assert!(roles.iter().any(|r| r.ends_with(
                    "role/service-role/AWSElasticDisasterRecoveryRecoveryInstanceRole\""
                )));
            }
            other => panic!("{name} {other} passes roles"),
        }
    }
    passing.sort();
    assert_eq!(passing, ["PassDrsRolesToEc2", "PassInstanceRolesToEc2"]);
    // No InstanceRoleArns, no PassRole at all.
    assert!(
        template.contains("- HasInstanceRoleArns\n            - Sid: PassInstanceRolesToEc2\n")
    );
}

#[test]
fn a_drs_recovery_reads_snapshots_and_tags_only_its_jobs_with_the_incident() {
    let template = template();
    let handler = grants(
        &template,
        "AlarmHandlerRole",
        &["RecoveryPolicy", "AlarmHandlerDrsPolicy"],
    );
    let statements = statements(&handler);
    let reading: Vec<_> = statements
        .iter()
        .filter(|s| s.allow && s.names("drs:DescribeRecoverySnapshots"))
        .collect();
    assert_eq!(
        reading.len(),
        1,
        "a stalled server recovers from its snapshot"
    );
    assert!(
        reading[0].body.contains(":source-server/*"),
        "{}",
        reading[0].body
    );
    let tagging: Vec<_> = statements
        .iter()
        .filter(|s| s.allow && s.names("drs:TagResource"))
        .collect();
    assert_eq!(tagging.len(), 1);
    let body = &tagging[0].body;
    assert!(body.contains(":job/*"), "only jobs: {body}");
    assert!(
        body.contains("ForAllValues:StringEquals")
            && body.contains("aws:TagKeys: autorestart:incident"),
        "only the incident key: {body}"
    );
}

#[test]
fn readiness_may_decode_why_a_dry_run_launch_was_refused() {
    let template = template();
    let sweeper = grants(&template, "SweeperRole", &["RecoveryPolicy"]);
    let statements = statements(&sweeper);
    let decoding: Vec<_> = statements
        .iter()
        .filter(|s| s.allow && s.names("sts:DecodeAuthorizationMessage"))
        .collect();
    assert_eq!(decoding.len(), 1);
    assert!(
        statements
            .iter()
            .any(|s| s.allow && s.names("ec2:RunInstances")),
        "a dry run is authorized as the launch itself"
    );
}

/// The tag keys a `pub const NAME: [&str; N] = [tags::A, …];` of a core module (`file`)
/// lists, as the strings tags.rs gives them.
fn core_keys(file: &str, name: &str) -> Vec<String> {
    let root = workspace_root();
    let failback = std::fs::read_to_string(root.join("shared/core/src").join(file)).unwrap();
    let tags = std::fs::read_to_string(root.join("shared/core/src/tags.rs")).unwrap();
    let start = failback
        .find(&format!("pub const {name}"))
        .unwrap_or_else(|| panic!("{file} declares {name}"));
    let list = &failback[start..];
    let list = &list[list.find("= [").unwrap() + 3..list.find("];").unwrap()];
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            let constant = n.trim_start_matches("tags::");
            let declaration = format!("pub const {constant}: &str = \"");
            let at = tags.find(&declaration).unwrap() + declaration.len();
            tags[at..at + tags[at..].find('"').unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn failback_starts_stops_and_untags_only_what_it_hands_over_and_the_drill_never() {
    let template = template();
    for role in ["AlarmHandlerRole", "SweeperRole"] {
        assert!(
            resource(&template, role).contains("- !Ref FailbackPolicy"),
            "{role} fails back"
        );
    }
    for role in ["DrillRole", "DrsEventHandlerRole"] {
        assert!(
            !resource(&template, role).contains("FailbackPolicy"),
            "{role}"
        );
    }
    // Start and stop: only opted-in originals that were replaced, and replacements.
    for (sid, link) in [
        ("StartAndStopReplacedOriginals", "autorestart:replaced-by"),
        ("StartAndStopReplacements", "autorestart:replacement-of"),
    ] {
        let s = find(&template, "FailbackPolicy", sid);
        assert!(
            s.names("ec2:StartInstances") && s.names("ec2:StopInstances"),
            "{sid}"
        );
        assert!(
            s.body
                .contains("ec2:ResourceTag/autorestart:enabled: \"true\""),
            "{sid}"
        );
        assert!(
            s.body
                .contains(&format!("ec2:ResourceTag/{link}: \"false\"")),
            "{sid} needs {link}"
        );
    }
    // A DRS recovery instance (a launch-into target, not necessarily opted in): started and
    // stopped only once linked, and only its link tags removed.
    let drs_power = find(
        &template,
        "FailbackPolicy",
        "StartAndStopDrsRecoveryInstances",
    );
    assert!(
        drs_power
            .body
            .contains("ec2:ResourceTag/AWSDRS: AllowLaunchingIntoThisInstance")
    );
    assert!(
        drs_power
            .body
            .contains("ec2:ResourceTag/autorestart:replacement-of: \"false\"")
    );
    let unlink = find(&template, "FailbackPolicy", "UnlinkDrsRecoveryInstances");
    assert!(
        unlink.body.contains("aws:TagKeys: \"false\""),
        "keys required"
    );
    let unlinked: Vec<&str> = unlink
        .body
        .lines()
        .skip_while(|l| *l != "ForAllValues:StringEquals:")
        .skip(2)
        .map_while(|l| l.strip_prefix("- "))
        .collect();
    assert_eq!(unlinked, core_keys("failback.rs", "STANDBY_CLEARS"));
    // DRS failback: ReverseReplication, only on this account's recovery instances, only here.
    let reverse = find(&template, "FailbackPolicy", "ReverseDrsReplication");
    assert!(reverse.names("drs:ReverseReplication"));
    assert!(
        reverse.body.contains(":recovery-instance/*"),
        "{}",
        reverse.body
    );
    for (name, s) in every_statement(&template) {
        if s.names("drs:ReverseReplication") {
            assert_eq!(
                (name, s.sid.as_str()),
                ("FailbackPolicy", "ReverseDrsReplication")
            );
        }
    }
    // DeleteTags: exactly the keys the failback clears, never a request without keys
    // (which deletes every tag).
    let clear = find(&template, "FailbackPolicy", "ClearTheIncidentOnFailback");
    assert!(clear.names("ec2:DeleteTags"));
    assert!(
        clear.body.contains("aws:TagKeys: \"false\""),
        "keys required"
    );
    let mut listed: Vec<&str> = clear
        .body
        .lines()
        .skip_while(|l| *l != "ForAllValues:StringEquals:")
        .skip(2)
        .map_while(|l| l.strip_prefix("- "))
        .collect();
    listed.sort_unstable();
    let mut cleared: Vec<String> = core_keys("failback.rs", "HOME_CLEARS");
    cleared.extend(core_keys("failback.rs", "STANDBY_CLEARS"));
    cleared.extend(core_keys("standby.rs", "STARTED_CLEARS"));
    cleared.sort();
    cleared.dedup();
    assert_eq!(listed, cleared);
    // No other statement of any role lets the agent delete tags of instances.
    for (name, s) in every_statement(&template) {
        if s.names("ec2:DeleteTags") && s.allow {
            assert!(
                ["ClearTheIncidentOnFailback", "UnlinkDrsRecoveryInstances"]
                    .contains(&s.sid.as_str())
                    || s.body.contains("launch-template/*"),
                "{name} {}",
                s.sid
            );
        }
    }
}

#[test]
fn a_live_drill_may_record_its_result_on_the_originals_and_no_link() {
    let template = template();
    let drill = grants(&template, "DrillRole", &["RecoveryPolicy"]);
    let record = find(
        &template,
        "RecoveryPolicy",
        "RecordRecoveryOnOptedInInstances",
    );
    assert!(record.allow && record.names("ec2:CreateTags"));
    assert!(!kept_out(&record).contains(&"autorestart:last-drill"));
    // The drill's own denials keep out the drill mark after launch and the replaced-by link,
    // not its record.
    let denials: Vec<Statement> = statements(&drill)
        .into_iter()
        .filter(|s| !s.allow && s.names("ec2:CreateTags"))
        .collect();
    assert_eq!(denials.len(), 2, "{denials:?}");
    for denial in &denials {
        assert!(
            !denial.body.contains("autorestart:last-drill"),
            "{}",
            denial.sid
        );
    }
    assert!(
        denials
            .iter()
            .any(|d| d.body.contains("aws:TagKeys: autorestart:replaced-by"))
    );
}
