//! `recovery-template`: creates the recovery launch template of a running, opted-in instance on
//! a subnet of an alternate Outpost server, then adds it to the instance's
//! `autorestart:recovery-templates`. Safe to run again: it finds what it made.
//!
//! Credentials and Region come from the usual AWS sources (environment, profile, SSO).
//! Prints the report as JSON on stdout and a summary on stderr. Exit codes: 0 done, 1 an AWS
//! call failed, 2 refused (the message says why and what to do).
//!
//! `recovery-template sentinel --instance-id … --probe … --fence-after T --unit … --binary-url …`
//! sets an instance up for the sentinel (tools/sentinel) and prints its install script.
//!
//! `recovery-template standby --instance-id …` makes a warm standby of an instance: launched
//! from its recovery template on another Outpost server with the agent's ClientToken, run
//! once, then stopped (docs/standbys.md).

use std::process::ExitCode;

use autorestart_aws::Ec2Templates;
use autorestart_core::error::ErrorKind;
use autorestart_flows::template::{
    GenerateError, GenerateReport, GenerateRequest, generate, prepare_sentinel,
};
use aws_config::{BehaviorVersion, Region};
use clap::{Parser, Subcommand};

mod sentinel;

/// Creates a recovery launch template for a running, opted-in instance on an alternate Outpost server.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The running instance to protect; it must be tagged autorestart:enabled=true.
    #[arg(long, value_name = "ID", required = true)]
    instance_id: Option<String>,
    /// A subnet on another Outpost server than the instance's, in the instance's VPC.
    #[arg(long, value_name = "ID", required = true)]
    subnet_id: Option<String>,
    /// Read and print the template it would create; create and tag nothing.
    #[arg(long)]
    dry_run: bool,
    /// AWS Region, if not the one your environment or profile sets.
    #[arg(long)]
    region: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Makes a warm standby of a running, opted-in instance: launched from its first recovery
    /// template on another Outpost server, run once, then stopped, tagged
    /// autorestart:standby-for. A recovery starts it instead of launching. Safe to run again.
    Standby {
        /// The running, opted-in instance the standby is for.
        #[arg(long, value_name = "ID")]
        instance_id: String,
        /// Longest wait for the standby to run once before it is stopped.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        wait: u64,
        /// AWS Region, if not the one your environment or profile sets.
        #[arg(long)]
        region: Option<String>,
    },
    /// Sets an instance up for the sentinel (tags readable in its metadata, tagged
    /// autorestart:on-link-loss=self-fenced:T) and prints the script that installs the
    /// sentinel on it: for its user data, or for `sudo sh` on the instance.
    Sentinel {
        /// The running, opted-in instance the sentinel will fence.
        #[arg(long, value_name = "ID")]
        instance_id: String,
        /// address:port the instance reaches only through the service link (a VPC interface
        /// endpoint's private address, an address in a Region subnet).
        #[arg(long, value_name = "ADDRESS:PORT")]
        probe: String,
        /// The fence time T: seconds without the Region before the instance fences itself.
        #[arg(long, value_name = "SECONDS")]
        fence_after: u64,
        /// A systemd unit of the workload, stopped on fence (repeat for more).
        #[arg(long = "unit", value_name = "UNIT")]
        units: Vec<String>,
        /// Where the instance fetches the binary (`cargo xtask sentinel` builds it): s3://…,
        /// https://… or a path on the instance.
        #[arg(long, value_name = "URL")]
        binary_url: String,
        /// AWS Region, if not the one your environment or profile sets.
        #[arg(long)]
        region: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Standby {
            instance_id,
            wait,
            region,
        }) => {
            let Some(sdk) = sdk(region).await else {
                return ExitCode::from(2);
            };
            let compute = autorestart_aws::Ec2Compute::new(aws_sdk_ec2::Client::new(&sdk));
            let made = autorestart_flows::standby::make(
                &compute,
                &instance_id.into(),
                std::time::Duration::from_secs(5),
                std::time::Duration::from_secs(wait),
            )
            .await;
            match made {
                Ok(made) => {
                    eprintln!(
                        "{}: standby {} ({}, {}) from {}",
                        made.original_id,
                        made.standby_id,
                        if made.created {
                            "launched now"
                        } else {
                            "there already"
                        },
                        made.state,
                        made.template
                    );
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&made).expect("a report always serializes")
                    );
                    ExitCode::SUCCESS
                }
                Err(autorestart_flows::standby::MakeError::Refused(why)) => {
                    eprintln!("refused: {why}");
                    ExitCode::from(2)
                }
                Err(autorestart_flows::standby::MakeError::Aws(error)) => {
                    eprintln!("failed: {error}. {}", advice(error.kind));
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Sentinel {
            instance_id,
            probe,
            fence_after,
            units,
            binary_url,
            region,
        }) => {
            let install = sentinel::Install {
                probe,
                fence_after_seconds: fence_after,
                units,
                binary_url,
            };
            let script = match install.script() {
                Ok(script) => script,
                Err(bad) => {
                    eprintln!("refused: {bad}");
                    return ExitCode::from(2);
                }
            };
            let Some(store) = store(region).await else {
                return ExitCode::from(2);
            };
            match prepare_sentinel(&store, &instance_id, fence_after).await {
                Ok(setup) => {
                    eprintln!(
                        "{instance_id}: instance tags readable in its metadata; tagged {}={} (was {})",
                        autorestart_core::tags::ON_LINK_LOSS,
                        setup.policy,
                        setup
                            .policy_before
                            .as_deref()
                            .unwrap_or("not set: relaunch"),
                    );
                    eprintln!(
                        "the install script follows on stdout: put it in the instance's user data, or run it there with sudo sh"
                    );
                    print!("{script}");
                    ExitCode::SUCCESS
                }
                Err(error) => failed(error),
            }
        }
        None => {
            let (Some(instance_id), Some(subnet_id)) = (cli.instance_id, cli.subnet_id) else {
                unreachable!("clap requires both without a subcommand")
            };
            let Some(store) = store(cli.region).await else {
                return ExitCode::from(2);
            };
            let request = GenerateRequest {
                instance_id,
                subnet_id,
                dry_run: cli.dry_run,
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
    }
}

/// The EC2 adapter over the usual credentials, in `region` or the environment's; None (and
/// why, on stderr) without a Region.
async fn store(region: Option<String>) -> Option<Ec2Templates> {
    let sdk = sdk(region).await?;
    Some(Ec2Templates::new(aws_sdk_ec2::Client::new(&sdk)))
}

/// The usual credentials, in `region` or the environment's; None (and why, on stderr) without
/// a Region.
async fn sdk(region: Option<String>) -> Option<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        eprintln!("refused: no AWS Region: pass --region or set AWS_REGION");
        return None;
    }
    Some(sdk)
}

/// Says why a run failed: 2 for a refusal, 1 for a failed AWS call.
fn failed(error: GenerateError) -> ExitCode {
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
fn advice(kind: ErrorKind) -> &'static str {
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
