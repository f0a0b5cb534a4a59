//! policies/deny-link-tag-writes.scp.json, the service control policy that leaves the link and
//! record tags to the agent's roles and one administrator role: read as JSON and checked
//! against the tag contract (shared/core/src/tags.rs, read as text, so that a record tag added
//! there without a place in the policy fails here) and the roles' path in template.yaml.

use e2e::moto::workspace_root;
use e2e::template::resource;
use serde_json::Value;

/// The role path every role of the agent has in template.yaml.
const AGENT_PATH: &str = "/outposts-autorestart/";
/// How the policy names the agent's roles: any role under that path.
const AGENT_ROLES: &str = "arn:*:iam::*:role/outposts-autorestart/*";
/// The placeholder the operator replaces with the administrator role's name.
const ADMIN_ROLE: &str = "arn:*:iam::*:role/ADMIN-ROLE-NAME";
/// Organizations' limit on a service control policy, whitespace included.
const MAX_SCP_CHARS: usize = 5120;

fn policy_text() -> String {
    std::fs::read_to_string(workspace_root().join("policies/deny-link-tag-writes.scp.json"))
        .unwrap()
}

fn policy() -> Value {
    serde_json::from_str(&policy_text()).expect("the SCP is JSON")
}

fn tags_source() -> String {
    std::fs::read_to_string(workspace_root().join("shared/core/src/tags.rs")).unwrap()
}

/// The value of `pub const NAME: &str = "...";` in tags.rs.
fn constant(source: &str, name: &str) -> String {
    let declaration = format!("pub const {name}: &str = \"");
    let start = source
        .find(&declaration)
        .unwrap_or_else(|| panic!("tags.rs declares {name}"))
        + declaration.len();
    let rest = &source[start..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The keys `AUDIT_TAGS` lists in tags.rs: what the agent records and links by.
fn audit_tags() -> Vec<String> {
    let source = tags_source();
    let start = source
        .find("pub const AUDIT_TAGS")
        .expect("tags.rs declares AUDIT_TAGS");
    let list = &source[start..];
    let list = &list[list.find("= [").unwrap() + 3..list.find("];").unwrap()];
    let tags: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| constant(&source, name))
        .collect();
    assert!(tags.len() >= 16, "{tags:?}");
    tags
}

/// The statement of this Sid.
fn statement<'p>(policy: &'p Value, sid: &str) -> &'p Value {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("the SCP has a statement {sid}"))
}

/// A string or a list of strings, as a policy element may be either.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().map(|v| v.as_str().unwrap()).collect(),
        other => panic!("not a string or a list of strings: {other}"),
    }
}

/// IAM's `StringLike`: `*` matches any run of characters (the policy uses no `?`).
fn like(pattern: &str, value: &str) -> bool {
    assert!(!pattern.contains('?'), "{pattern}");
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(*part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(*last)
}

/// The tag-key patterns a statement denies (`ForAnyValue:StringLike` on `aws:TagKeys`).
fn denied_keys(statement: &Value) -> Vec<&str> {
    strings(&statement["Condition"]["ForAnyValue:StringLike"]["aws:TagKeys"])
}

fn matched(patterns: &[&str], key: &str) -> bool {
    patterns.iter().any(|p| like(p, key))
}

/// The principals a statement leaves out (`ArnNotLike` on `aws:PrincipalArn`).
fn exempt(statement: &Value) -> Vec<&str> {
    strings(&statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
}

#[test]
fn the_scp_is_a_deny_list_that_fits_organizations_limit() {
    let text = policy_text();
    assert!(text.len() <= MAX_SCP_CHARS, "{} characters", text.len());
    let policy = policy();
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().expect("Statement is a list");
    assert!(!statements.is_empty());
    let mut sids: Vec<&str> = Vec::new();
    for s in statements {
        let sid = s["Sid"].as_str().expect("every statement has a Sid");
        assert!(
            sid.chars().all(|c| c.is_ascii_alphanumeric()),
            "{sid}: SCP Sids are alphanumeric"
        );
        assert!(!sids.contains(&sid), "{sid} twice");
        sids.push(sid);
        // A service control policy only limits; a Deny grants nothing by mistake.
        assert_eq!(s["Effect"], "Deny", "{sid}");
        assert!(!strings(&s["Action"]).is_empty(), "{sid}");
        assert!(!strings(&s["Resource"]).is_empty(), "{sid}");
        assert!(s.get("Principal").is_none() && s.get("NotAction").is_none());
        assert!(
            exempt(s).contains(&ADMIN_ROLE),
            "{sid} leaves the administrator role (placeholder) out"
        );
    }
}

#[test]
fn every_link_and_record_tag_is_left_to_the_agent_and_the_administrator() {
    let policy = policy();
    let s = statement(&policy, "DenyLinkAndRecordTagsOutsideTheAgent");
    let actions = strings(&s["Action"]);
    assert!(actions.contains(&"ec2:CreateTags"), "{actions:?}");
    assert!(actions.contains(&"ec2:DeleteTags"), "{actions:?}");
    // Existing resources and tags given at launch (authorized as CreateTags too, so a copy
    // of a replacement's tags made by "Launch more like this" is refused) alike.
    assert_eq!(strings(&s["Resource"]), ["*"]);
    let patterns = denied_keys(s);
    for key in audit_tags() {
        assert!(matched(&patterns, &key), "{key} is not in the SCP");
    }
    let source = tags_source();
    let member = format!("{}1", constant(&source, "MEMBER_PREFIX"));
    assert!(matched(&patterns, &member), "{member} is not in the SCP");
    // Opting in stays with the workload's owners: those tags are not denied.
    for name in ["ENABLED", "RECOVERY_TEMPLATES", "STRATEGY", "WAVE"] {
        let key = constant(&source, name);
        assert!(!matched(&patterns, &key), "{key} is an opt-in tag");
    }
    // Every pattern is a tag of this project, and nothing else is denied.
    let prefix = constant(&source, "PREFIX");
    assert!(
        patterns.iter().all(|p| p.starts_with(&prefix)),
        "{patterns:?}"
    );
    assert!(!matched(&patterns, "Name") && !matched(&patterns, "CostCenter"));
    let left_out = exempt(s);
    assert_eq!(left_out.len(), 2, "{left_out:?}");
    assert!(left_out.contains(&AGENT_ROLES) && left_out.contains(&ADMIN_ROLE));
}

#[test]
fn the_exemption_names_exactly_the_agents_roles() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    for role in [
        "AlarmHandlerRole",
        "DrsEventHandlerRole",
        "SweeperRole",
        "DrillRole",
    ] {
        let text = resource(&template, role);
        assert!(
            text.contains(&format!("      Path: {AGENT_PATH}\n")),
            "{role} is under {AGENT_PATH}"
        );
        assert!(!text.contains("RoleName:"), "{role}");
    }
    // No other role of the stack is under the path.
    assert_eq!(
        template.matches(&format!("Path: {AGENT_PATH}")).count(),
        4,
        "only the four functions' roles"
    );
    assert!(like(
        AGENT_ROLES,
        "arn:aws:iam::123456789012:role/outposts-autorestart/stack-AlarmHandlerRole-ABC"
    ));
    assert!(!like(
        AGENT_ROLES,
        "arn:aws:iam::123456789012:role/outposts-autorestart-impostor"
    ));
}

#[test]
fn only_the_administrator_marks_or_changes_recovery_templates() {
    let policy = policy();
    let source = tags_source();
    let marks = [
        constant(&source, "TEMPLATE_FOR"),
        constant(&source, "TEMPLATE_SHAPE"),
    ];
    let tagging = statement(&policy, "DenyRecoveryTemplateMarksOutsideTheAdministrator");
    let actions = strings(&tagging["Action"]);
    assert!(actions.contains(&"ec2:CreateTags") && actions.contains(&"ec2:DeleteTags"));
    assert_eq!(
        strings(&tagging["Resource"]),
        ["arn:*:ec2:*:*:launch-template/*"]
    );
    let patterns = denied_keys(tagging);
    for mark in &marks {
        assert!(matched(&patterns, mark), "{mark}");
    }
    // The agent never tags a template: only the administrator is left out.
    assert_eq!(exempt(tagging), [ADMIN_ROLE]);

    // What a marked template launches cannot change behind its mark either.
    let changing = statement(&policy, "DenyChangingMarkedRecoveryTemplates");
    let actions = strings(&changing["Action"]);
    for action in [
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:DeleteLaunchTemplateVersions",
    ] {
        assert!(actions.contains(&action), "{action}");
    }
    assert_eq!(
        changing["Condition"]["Null"][format!("aws:ResourceTag/{}", marks[0])],
        "false"
    );
    assert_eq!(exempt(changing), [ADMIN_ROLE]);
}

#[test]
fn deleting_every_tag_at_once_is_no_way_around() {
    // DeleteTags without keys deletes all of a resource's tags, and names no aws:TagKeys.
    let policy = policy();
    let s = statement(&policy, "DenyDeletingEveryTagOfInstancesAndTemplates");
    assert_eq!(strings(&s["Action"]), ["ec2:DeleteTags"]);
    assert_eq!(s["Condition"]["Null"]["aws:TagKeys"], "true");
    let resources = strings(&s["Resource"]);
    assert!(resources.contains(&"arn:*:ec2:*:*:instance/*"));
    assert!(resources.contains(&"arn:*:ec2:*:*:launch-template/*"));
    let left_out = exempt(s);
    assert!(left_out.contains(&AGENT_ROLES) && left_out.contains(&ADMIN_ROLE));
}

#[test]
fn string_like_matches_as_iam_does() {
    assert!(like("autorestart:member-*", "autorestart:member-12"));
    assert!(like("autorestart:incident", "autorestart:incident"));
    assert!(!like("autorestart:incident", "autorestart:incidents"));
    assert!(!like("autorestart:drill", "autorestart:drill-of"));
    assert!(like("a*b*c", "abc") && like("a*b*c", "axxbyyc") && !like("a*b*c", "acb"));
}
