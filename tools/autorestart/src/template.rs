//! `autorestart template`: the recovery launch template of a running, opted-in instance on a
//! subnet of an alternate Outpost server, added last to its `autorestart:recovery-templates`.

use std::process::ExitCode;

use autorestart_core::error::ErrorKind;
use autorestart_flows::template::{GenerateError, GenerateReport, GenerateRequest, generate};

use crate::store;

/// Creates (or finds) the template and tags the instance with it.
pub async fn run(request: GenerateRequest, region: Option<String>) -> ExitCode {
    let Some(store) = store(region).await else {
        return ExitCode::from(2);
    };
    match generate(&store, &request).await {
        Ok(report) => {
            eprint!("{}", summary(&report));
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("a report always serializes")
            );
            if report.ec2_warnings.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "failed: EC2 created the template but flagged it, so it may not launch: fix the instance or subnet, delete the template (aws ec2 delete-launch-template --launch-template-id {}) and run again",
                    report.template_id.as_deref().unwrap_or("?")
                );
                ExitCode::FAILURE
            }
        }
        Err(error) => failed(error),
    }
}

/// Says why a run failed: 2 for a refusal, 1 for a failed AWS call.
pub fn failed(error: GenerateError) -> ExitCode {
    match error {
        GenerateError::Refused(refusal) => {
            eprintln!("refused: {refusal}");
            ExitCode::from(2)
        }
        GenerateError::Aws(error) => {
            eprintln!("failed: {error}. {}", advice(error.kind));
            ExitCode::FAILURE
        }
    }
}

/// What the person at the terminal can do about a failed call (the functions' advice speaks of
/// their role and retries, which do not apply here).
pub fn advice(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::AccessDenied => {
            "Your credentials lack the permission named above (ec2:Describe*, ec2:CreateLaunchTemplate, ec2:CreateTags, for the sentinel ec2:ModifyInstanceMetadataOptions, for a standby ec2:RunInstances and ec2:StopInstances; the SCP lets only the administrator role write autorestart:standby-for); an encoded message decodes with `aws sts decode-authorization-message`."
        }
        ErrorKind::Throttled | ErrorKind::Transient => {
            "Run the same command again: it finds what it already made."
        }
        ErrorKind::NotFound => "Check the ids and the Region, then run again.",
        _ => {
            "Fix what the message names and run again: it finds what it already made and only adds what is missing."
        }
    }
}

/// What happened, for the person at the terminal.
fn summary(report: &GenerateReport) -> String {
    let plan = &report.plan;
    let mut lines = Vec::new();
    let template = match (&report.template_id, report.created, report.dry_run) {
        (Some(id), true, _) => format!("created launch template {id} ({})", plan.template_name),
        (Some(id), false, _) => format!(
            "launch template {id} ({}) already exists; left as it is",
            plan.template_name
        ),
        (None, _, _) => format!(
            "dry run: would create launch template {}",
            plan.template_name
        ),
    };
    lines.push(format!(
        "{template}: {} on Outpost {}",
        plan.instance_id, plan.target_outpost
    ));
    let tag_after = report.templates_tag_after.as_deref().unwrap_or_default();
    let changes = report.templates_tag_after != report.templates_tag_before;
    lines.push(match (report.tagged, report.dry_run && changes) {
        (true, _) => format!(
            "tagged {} autorestart:recovery-templates={tag_after}",
            plan.instance_id
        ),
        (false, true) => format!(
            "dry run: would tag {} autorestart:recovery-templates={tag_after}",
            plan.instance_id
        ),
        (false, false) => format!(
            "{} already lists it: autorestart:recovery-templates={tag_after}",
            plan.instance_id
        ),
    });
    for warning in &plan.warnings {
        lines.push(format!("warning: {warning}"));
    }
    for flagged in &report.ec2_warnings {
        lines.push(format!("EC2 flagged the template: {flagged}"));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}
