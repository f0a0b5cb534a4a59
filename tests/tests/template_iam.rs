//! What template.yaml grants each function's role, read from the file: every AWS call the
//! reconcile makes from a function must be allowed there, or it fails in AWS (and nowhere in
//! the emulator, which checks no IAM).

use e2e::moto::workspace_root;

/// The text of one top-level resource of template.yaml, up to the next one.
fn resource(template: &str, name: &str) -> String {
    let header = format!("  {name}:");
    let mut lines = template.lines().skip_while(|line| *line != header);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("template.yaml has no resource {name}"));
    let body = lines.take_while(|line| {
        line.is_empty() || line.starts_with("   ") || line.trim_start().starts_with('#')
    });
    std::iter::once(first)
        .chain(body)
        .collect::<Vec<_>>()
        .join("\n")
}

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
