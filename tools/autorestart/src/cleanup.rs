//! `cleanup`: what an uninstall leaves behind. The `autorestart:*` tags on instances and target
//! groups are removed, the launch templates `template` made (tagged `autorestart:template-for`)
//! deleted; instances the agent stopped (standbys, fenced originals) and the DRS launch
//! settings it changed are listed for a person to decide. Refused while any stack of this
//! project exists in the Region, whatever its name: its functions act on these tags.

use std::collections::BTreeMap;
use std::process::ExitCode;

use autorestart_core::tags;
use aws_sdk_ec2::types::Filter;
use serde_json::{Value, json};

use crate::CliError;

/// Most resources one DeleteTags call names (EC2 allows 1000; fewer keeps a failure small).
const DELETE_TAGS_BATCH: usize = 200;
/// Most resources one ELB DescribeTags call names.
const ELB_TAGS_BATCH: usize = 20;

/// A resource and its tags, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// Instance id or target group ARN.
    pub id: String,
    /// EC2's state, for an instance.
    pub state: Option<String>,
    /// All of its tags.
    pub tags: BTreeMap<String, String>,
}

/// What cleanup removes, and what it leaves to a person.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Instances and the `autorestart:*` keys to remove from each.
    pub instance_tags: Vec<(String, Vec<String>)>,
    /// Target groups (ARN) and the keys to remove from each.
    pub target_group_tags: Vec<(String, Vec<String>)>,
    /// Launch templates (id) `template` made, to delete.
    pub templates: Vec<String>,
    /// What cleanup does not do, each with what a person may do.
    pub for_you: Vec<String>,
}

impl Plan {
    /// Whether nothing is left to remove.
    pub fn is_empty(&self) -> bool {
        self.instance_tags.is_empty()
            && self.target_group_tags.is_empty()
            && self.templates.is_empty()
    }
}

fn ours(tags: &BTreeMap<String, String>) -> Vec<String> {
    tags.keys()
        .filter(|k| k.starts_with(tags::PREFIX))
        .cloned()
        .collect()
}

/// Decides what cleanup removes from what was read. Pure.
pub fn plan(instances: &[Tagged], target_groups: &[Tagged], templates: &[String]) -> Plan {
    let mut plan = Plan {
        templates: templates.to_vec(),
        ..Plan::default()
    };
    for instance in instances {
        let keys = ours(&instance.tags);
        if keys.is_empty() {
            continue;
        }
        let id = &instance.id;
        let state = instance.state.as_deref().unwrap_or("?");
        let tag = |key: &str| instance.tags.get(key).map(String::as_str);
        if let Some(original) = tag(tags::STANDBY_FOR) {
            plan.for_you.push(format!(
                "{id} ({state}) is a standby the agent kept for {original}: terminate it if you no longer want it (aws ec2 terminate-instances --instance-ids {id})"
            ));
        }
        if let Some(fenced) = tag(tags::FENCED) {
            plan.for_you.push(format!(
                "{id} ({state}) was fenced by the agent ({fenced}) after {} replaced it: keep one copy",
                tag(tags::REPLACED_BY).unwrap_or("a replacement")
            ));
        }
        if let Some(marker) = tag(tags::FAILBACK) {
            plan.for_you.push(format!(
                "{id} ({state}) was failing back ({marker}): check which copy serves before you stop either"
            ));
        }
        if tag(tags::STRATEGY).map(str::trim) == Some("drs") {
            plan.for_you.push(format!(
                "{id}: the agent set its DRS source server's launch configuration (launch into the instance tagged AWSDRS=AllowLaunchingIntoThisInstance); review it with aws drs get-launch-configuration --source-server-id <its source server>"
            ));
        }
        if tag(tags::DRILL).is_some() && state != "terminated" {
            plan.for_you.push(format!(
                "{id} ({state}) is a drill copy ({}): terminate it",
                tag(tags::DRILL).unwrap_or_default()
            ));
        }
        plan.instance_tags.push((id.clone(), keys));
    }
    for group in target_groups {
        let keys = ours(&group.tags);
        if !keys.is_empty() {
            plan.target_group_tags.push((group.id.clone(), keys));
        }
    }
    plan
}

/// Reads, shows the plan, asks, removes.
pub async fn run(region: Option<String>, dry_run: bool, yes: bool) -> Result<ExitCode, CliError> {
    let sdk = crate::load(region).await?;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    // Any deployment in the Region, whatever its name: its functions act on these tags. A
    // failed read is a failure, never taken for "none".
    let clients = crate::deployment::Clients::new(&sdk);
    let deployed = crate::deployment::Deployment::all(&clients).await?;
    if !deployed.is_empty() && !dry_run {
        let stacks = deployed.join(", ");
        return Err(CliError::Refused(format!(
            "stack(s) {stacks} of outposts-autorestart still exist in {region}: their functions act on these tags. Delete them first (sam delete --stack-name <name> --region {region}), then run cleanup again; --dry-run lists what it would remove"
        )));
    }
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let instances = tagged_instances(&ec2).await?;
    let templates = made_templates(&ec2).await?;
    let target_groups = tagged_target_groups(&elb).await?;
    let plan = plan(&instances, &target_groups, &templates);
    eprint!("{}", describe(&plan));
    if plan.is_empty() || dry_run {
        println!("{}", report(&plan, false));
        return Ok(ExitCode::SUCCESS);
    }
    crate::confirmed(
        yes,
        "Remove these tags and delete these launch templates (instances are neither stopped nor terminated)?",
    )?;
    remove(&ec2, &elb, &plan).await?;
    println!("{}", report(&plan, true));
    eprintln!("done");
    Ok(ExitCode::SUCCESS)
}

fn report(plan: &Plan, removed: bool) -> Value {
    json!({"removed": removed, "plan": plan})
}

/// The plan for people.
pub fn describe(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str(
            "nothing of outposts-autorestart is left: no autorestart:* tag, no template it made\n",
        );
    }
    for (id, keys) in &plan.instance_tags {
        let _ = writeln!(out, "instance {id}: remove {}", keys.join(", "));
    }
    for (arn, keys) in &plan.target_group_tags {
        let _ = writeln!(out, "target group {arn}: remove {}", keys.join(", "));
    }
    for template in &plan.templates {
        let _ = writeln!(
            out,
            "launch template {template}: delete (made by autorestart template)"
        );
    }
    if !plan.for_you.is_empty() {
        out.push_str("Left for you to decide:\n");
        for line in &plan.for_you {
            let _ = writeln!(out, "  - {line}");
        }
    }
    out
}

fn ec2_error(call: &str, error: impl std::error::Error) -> CliError {
    CliError::Aws(format!(
        "{call}: {}",
        aws_sdk_ec2::error::DisplayErrorContext(error)
    ))
}

async fn tagged_instances(ec2: &aws_sdk_ec2::Client) -> Result<Vec<Tagged>, CliError> {
    let mut pages = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag-key")
                .values(format!("{}*", tags::PREFIX))
                .build(),
        )
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ec2_error("ec2:DescribeInstances", e))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned());
            if state.as_deref() == Some("terminated") {
                continue;
            }
            found.push(Tagged {
                id: instance.instance_id().unwrap_or_default().to_owned(),
                state,
                tags: instance
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                    .collect(),
            });
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

async fn made_templates(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, CliError> {
    let mut pages = ec2
        .describe_launch_templates()
        .filters(
            Filter::builder()
                .name("tag-key")
                .values(tags::TEMPLATE_FOR)
                .build(),
        )
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ec2_error("ec2:DescribeLaunchTemplates", e))?;
        found.extend(
            page.launch_templates()
                .iter()
                .filter_map(|t| t.launch_template_id().map(str::to_owned)),
        );
    }
    found.sort();
    Ok(found)
}

async fn tagged_target_groups(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
) -> Result<Vec<Tagged>, CliError> {
    let elb_error = |call: &str, e: &dyn std::error::Error| {
        CliError::Aws(format!(
            "{call}: {}",
            aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(e)
        ))
    };
    let mut pages = elb.describe_target_groups().into_paginator().send();
    let mut arns = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| elb_error("elasticloadbalancing:DescribeTargetGroups", &e))?;
        arns.extend(
            page.target_groups()
                .iter()
                .filter_map(|g| g.target_group_arn().map(str::to_owned)),
        );
    }
    let mut found = Vec::new();
    for batch in arns.chunks(ELB_TAGS_BATCH) {
        let described = elb
            .describe_tags()
            .set_resource_arns(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| elb_error("elasticloadbalancing:DescribeTags", &e))?;
        for description in described.tag_descriptions() {
            found.push(Tagged {
                id: description.resource_arn().unwrap_or_default().to_owned(),
                state: None,
                tags: description
                    .tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect(),
            });
        }
    }
    Ok(found)
}

async fn remove(
    ec2: &aws_sdk_ec2::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    plan: &Plan,
) -> Result<(), CliError> {
    // One DeleteTags per set of keys (without values: whatever the value now).
    let mut by_keys: BTreeMap<&Vec<String>, Vec<&String>> = BTreeMap::new();
    for (id, keys) in &plan.instance_tags {
        by_keys.entry(keys).or_default().push(id);
    }
    for (keys, ids) in by_keys {
        for batch in ids.chunks(DELETE_TAGS_BATCH) {
            ec2.delete_tags()
                .set_resources(Some(batch.iter().map(|s| (*s).clone()).collect()))
                .set_tags(Some(
                    keys.iter()
                        .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| ec2_error("ec2:DeleteTags", e))?;
        }
    }
    for (arn, keys) in &plan.target_group_tags {
        elb.remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(keys.clone()))
            .send()
            .await
            .map_err(|e| {
                CliError::Aws(format!(
                    "elasticloadbalancing:RemoveTags {arn}: {}",
                    aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(e)
                ))
            })?;
    }
    for template in &plan.templates {
        let deleted = ec2
            .delete_launch_template()
            .launch_template_id(template)
            .send()
            .await;
        if let Err(error) = deleted {
            let text = aws_sdk_ec2::error::DisplayErrorContext(&error).to_string();
            // Gone already (a second run): nothing to do.
            if !text.contains("NotFound") {
                return Err(CliError::Aws(format!(
                    "ec2:DeleteLaunchTemplate {template}: {text}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(id: &str, state: &str, pairs: &[(&str, &str)]) -> Tagged {
        Tagged {
            id: id.into(),
            state: Some(state.into()),
            tags: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_our_keys_go_and_what_a_person_decides_is_listed() {
        let instances = [
            tagged(
                "i-01",
                "stopped",
                &[
                    ("Name", "web"),
                    (tags::ENABLED, "true"),
                    (tags::FENCED, "stop@2026-12-06T08:00:00Z"),
                    (tags::REPLACED_BY, "i-02"),
                ],
            ),
            tagged(
                "i-02",
                "running",
                &[("Name", "web"), (tags::REPLACEMENT_OF, "i-01")],
            ),
            tagged("i-03", "stopped", &[(tags::STANDBY_FOR, "i-02")]),
            tagged(
                "i-04",
                "running",
                &[
                    (tags::STRATEGY, "drs"),
                    ("AWSDRS", "AllowLaunchingIntoThisInstance"),
                ],
            ),
            tagged("i-05", "running", &[("Name", "other")]),
        ];
        let groups = [
            tagged(
                "arn:tg/a",
                "",
                &[(tags::DRILL_TARGET_GROUP, "true"), ("team", "x")],
            ),
            tagged("arn:tg/b", "", &[("team", "y")]),
        ];
        let plan = plan(&instances, &groups, &["lt-0a".into()]);
        assert_eq!(
            plan.instance_tags,
            vec![
                (
                    "i-01".into(),
                    vec![
                        tags::ENABLED.to_owned(),
                        tags::FENCED.to_owned(),
                        tags::REPLACED_BY.to_owned()
                    ]
                ),
                ("i-02".into(), vec![tags::REPLACEMENT_OF.to_owned()]),
                ("i-03".into(), vec![tags::STANDBY_FOR.to_owned()]),
                ("i-04".into(), vec![tags::STRATEGY.to_owned()]),
            ]
        );
        assert_eq!(
            plan.target_group_tags,
            vec![("arn:tg/a".into(), vec![tags::DRILL_TARGET_GROUP.to_owned()])]
        );
        assert_eq!(plan.templates, vec!["lt-0a"]);
        let text = describe(&plan);
        assert!(
            text.contains("i-03 (stopped) is a standby the agent kept for i-02"),
            "{text}"
        );
        assert!(
            text.contains("i-01 (stopped) was fenced by the agent"),
            "{text}"
        );
        assert!(
            text.contains("i-04: the agent set its DRS source server's launch configuration"),
            "{text}"
        );
        assert!(!text.contains("i-05"), "{text}");
        assert!(!plan.is_empty());
    }

    #[test]
    fn nothing_left_says_so() {
        let plan = plan(&[tagged("i-05", "running", &[("Name", "other")])], &[], &[]);
        assert!(plan.is_empty());
        assert!(describe(&plan).starts_with("nothing of outposts-autorestart is left"));
    }
}
