//! `recovery-template`: creates the recovery launch template of a running, opted-in instance on
//! a subnet of an alternate Outpost server, then adds it to the instance's
//! `autorestart:recovery-templates`. Safe to run again: it finds what it made.
//!
//! Credentials and Region come from the usual AWS sources (environment, profile, SSO).
//! Prints the report as JSON on stdout and a summary on stderr. Exit codes: 0 done, 1 an AWS
//! call failed, 2 refused (the message says why and what to do).

use std::process::ExitCode;

use autorestart_aws::Ec2Templates;
use autorestart_core::error::ErrorKind;
use autorestart_flows::template::{GenerateError, GenerateReport, GenerateRequest, generate};
use aws_config::{BehaviorVersion, Region};
use clap::Parser;

/// Creates a recovery launch template for a running, opted-in instance on an alternate Outpost server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The running instance to protect; it must be tagged autorestart:enabled=true.
    #[arg(long, value_name = "ID")]
    instance_id: String,
    /// A subnet on another Outpost server than the instance's, in the instance's VPC.
    #[arg(long, value_name = "ID")]
    subnet_id: String,
    /// Read and print the template it would create; create and tag nothing.
    #[arg(long)]
    dry_run: bool,
    /// AWS Region, if not the one your environment or profile sets.
    #[arg(long)]
    region: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = args.region.clone() {
        loader = loader.region(Region::new(region));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        eprintln!("refused: no AWS Region: pass --region or set AWS_REGION");
        return ExitCode::from(2);
    }
    let store = Ec2Templates::new(aws_sdk_ec2::Client::new(&sdk));
    let request = GenerateRequest {
        instance_id: args.instance_id,
        subnet_id: args.subnet_id,
        dry_run: args.dry_run,
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
        Err(GenerateError::Refused(refusal)) => {
            eprintln!("refused: {refusal}");
            ExitCode::from(2)
        }
        Err(GenerateError::Aws(error)) => {
            eprintln!("failed: {error}. {}", advice(error.kind));
            ExitCode::FAILURE
        }
    }
}

/// What the person at the terminal can do about a failed call (the functions' advice speaks of
/// their role and retries, which do not apply here).
fn advice(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::AccessDenied => {
            "Your credentials lack the permission named above (ec2:Describe*, ec2:CreateLaunchTemplate, ec2:CreateTags); an encoded message decodes with `aws sts decode-authorization-message`."
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
