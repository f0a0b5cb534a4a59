//! `autorestart`: the operator's CLI.
//!
//! - `status`: each Outpost's alarm, and each protected instance's recovery, readiness and links.
//! - `template`: the recovery launch template of an instance on an alternate Outpost server.
//! - `standby`: a warm standby of an instance (docs/standbys.md).
//! - `sentinel`: an instance set up for the sentinel, and its install script (docs/link-loss.md).
//! - `drill`, `failover`, `failback`: the deployed functions invoked with the right payload,
//!   waited for, their report printed.
//! - `cleanup`: what an uninstall leaves, removed after confirmation.
//!
//! Credentials and Region come from the usual AWS sources (environment, profile, SSO), or
//! `--region`. Reports go to stdout (JSON, or `status`'s table), what happened to stderr.
//! Exit codes: 0 done, 1 an AWS call or the function failed, 2 refused (the message says why
//! and what to do).

use std::process::ExitCode;

use autorestart_aws::Ec2Templates;
use autorestart_core::alarm::OutpostId;
use autorestart_flows::template::{GenerateRequest, prepare_sentinel};
use aws_config::{BehaviorVersion, Region};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

mod cleanup;
mod deployment;
mod invoke;
mod sentinel;
mod status;
mod template;

/// The operator's CLI of outposts-autorestart.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// AWS Region, if not the one your environment or profile sets.
    #[arg(long, global = true)]
    region: Option<String>,
}

/// Which deployment: the stack `sam deploy` created.
#[derive(Debug, Args)]
struct Stack {
    /// The CloudFormation stack of the deployment.
    #[arg(
        long,
        env = "AUTORESTART_STACK",
        default_value = "outposts-autorestart"
    )]
    stack: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Each Outpost's alarm; each protected instance's strategy, wave, link-loss policy,
    /// readiness and its problems, alternates, standby, replacement chain and drill copies.
    /// Reads only.
    Status {
        /// Only this Outpost.
        #[arg(long, value_name = "OP_ID")]
        outpost: Option<String>,
        /// The whole answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stack: Stack,
    },
    /// Creates the recovery launch template of a running, opted-in instance on a subnet of
    /// another Outpost server and adds it last to its autorestart:recovery-templates. Safe to
    /// run again: it finds what it made.
    Template {
        /// The running instance to protect; it must be tagged autorestart:enabled=true.
        #[arg(long, value_name = "ID")]
        instance_id: String,
        /// A subnet on another Outpost server than the instance's, in the instance's VPC.
        #[arg(long, value_name = "ID")]
        subnet_id: String,
        /// Read and print the template it would create; create and tag nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
    },
    /// Rehearses an Outpost's failure with the deployed drill function: a dry run plans,
    /// --live launches tagged copies off the Outpost, checks and terminates them.
    Drill {
        /// The Outpost whose failure is rehearsed.
        #[arg(long, value_name = "OP_ID")]
        outpost: String,
        /// Launch copies (a live drill); without it, a dry run.
        #[arg(long)]
        live: bool,
        /// A target group for the live drill's copies, tagged autorestart:drill-target-group=true
        /// and holding no protected instance.
        #[arg(long, value_name = "ARN", requires = "live")]
        target_group_arn: Option<String>,
        #[command(flatten)]
        stack: Stack,
    },
    /// Recovers an Outpost's instances now, while its alarm is in ALARM, also those held by
    /// autorestart:on-link-loss=hold: only when you know the originals are down or fenced.
    Failover {
        /// The Outpost in ALARM.
        #[arg(long, value_name = "OP_ID")]
        outpost: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        stack: Stack,
    },
    /// Brings an Outpost's instances home from their replacements once it is back. A dry run
    /// (what would happen, and what blocks it) unless --live.
    Failback {
        /// The Outpost that is back.
        #[arg(long, value_name = "OP_ID")]
        outpost: String,
        /// Fail back; without it, a dry run.
        #[arg(long)]
        live: bool,
        /// stop-first: a short gap, never two copies; overlap: both run until home is healthy.
        #[arg(long, value_enum, default_value_t = Handover::StopFirst)]
        handover: Handover,
        /// What becomes of the replacement: kept stopped as a standby, or terminated.
        #[arg(long, value_enum, default_value_t = Retire::Standby)]
        retire: Retire,
        /// Do not ask for confirmation of a live failback.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        stack: Stack,
    },
    /// Removes what an uninstall leaves: the autorestart:* tags on instances and target
    /// groups, and the launch templates `template` made (tagged autorestart:template-for).
    /// Lists DRS launch settings the agent changed. Refused while any stack of this project
    /// exists in the Region: run it after deleting them.
    Cleanup {
        /// List what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// How a failback hands over (the alarm handler's `handover`).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Handover {
    StopFirst,
    Overlap,
}

/// What a failback does with the replacement (the alarm handler's `retire`).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Retire {
    Standby,
    Terminate,
}

/// Why a command did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Refused: the message says why and what to do (exit 2).
    #[error("refused: {0}")]
    Refused(String),
    /// An AWS call failed (exit 1).
    #[error("failed: {0}")]
    Aws(String),
    /// The invoked function failed (exit 1).
    #[error("failed: {0}")]
    Function(String),
}

impl CliError {
    fn exit(&self) -> ExitCode {
        eprintln!("{self}");
        match self {
            Self::Refused(_) => ExitCode::from(2),
            Self::Aws(_) | Self::Function(_) => ExitCode::FAILURE,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => error.exit(),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let region = cli.region;
    match cli.command {
        Command::Template {
            instance_id,
            subnet_id,
            dry_run,
        } => {
            let request = GenerateRequest {
                instance_id,
                subnet_id,
                dry_run,
            };
            Ok(template::run(request, region).await)
        }
        Command::Standby { instance_id, wait } => Ok(standby(instance_id, wait, region).await),
        Command::Sentinel {
            instance_id,
            probe,
            fence_after,
            units,
            binary_url,
        } => {
            let install = sentinel::Install {
                probe,
                fence_after_seconds: fence_after,
                units,
                binary_url,
            };
            Ok(sentinel(install, instance_id, region).await)
        }
        Command::Status {
            outpost,
            json,
            stack,
        } => status::run(region, &stack.stack, outpost.as_deref(), json).await,
        Command::Drill {
            outpost,
            live,
            target_group_arn,
            stack,
        } => {
            let mut payload = json!({
                "outpost": outpost_id(&outpost)?,
                "mode": if live { "live" } else { "dry-run" },
            });
            if let Some(arn) = target_group_arn {
                payload["targetGroupArn"] = json!(arn);
            }
            invoke::run(region, &stack.stack, invoke::Kind::Drill, payload).await
        }
        Command::Failover {
            outpost,
            yes,
            stack,
        } => {
            let payload = json!({"outpost": outpost_id(&outpost)?, "mode": "failover"});
            confirmed(
                yes,
                &format!(
                    "Fail over {outpost} now: its instances are relaunched elsewhere even if they may still run on the Outpost (a link loss). Only when you know they are down or fenced."
                ),
            )?;
            invoke::run(region, &stack.stack, invoke::Kind::Failover, payload).await
        }
        Command::Failback {
            outpost,
            live,
            handover,
            retire,
            yes,
            stack,
        } => {
            let payload = json!({
                "outpost": outpost_id(&outpost)?,
                "mode": "failback",
                "dryRun": !live,
                "handover": match handover { Handover::StopFirst => "stop-first", Handover::Overlap => "overlap" },
                "retire": match retire { Retire::Standby => "standby", Retire::Terminate => "terminate" },
            });
            if live {
                confirmed(
                    yes,
                    &format!(
                        "Fail {outpost}'s instances back now: their replacements are stopped and deregistered. Run without --live first to see what would happen."
                    ),
                )?;
            }
            invoke::run(region, &stack.stack, invoke::Kind::Failback, payload).await
        }
        Command::Cleanup { dry_run, yes } => cleanup::run(region, dry_run, yes).await,
    }
}

/// The Outpost id, or a refusal naming the form.
fn outpost_id(text: &str) -> Result<String, CliError> {
    OutpostId::parse(text.trim())
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| {
            CliError::Refused(format!(
                "--outpost {text:?} is not an Outpost id: use op- followed by 17 hex digits"
            ))
        })
}

/// Asks on the terminal unless `yes`; a refusal when there is no terminal to ask on.
pub(crate) fn confirmed(yes: bool, what: &str) -> Result<(), CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Refused(format!(
            "{what} Pass --yes to confirm (no terminal to ask on)."
        )));
    }
    eprint!("{what}\nType yes to go on: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Refused("not confirmed; nothing done".into()))
    }
}

async fn standby(instance_id: String, wait: u64, region: Option<String>) -> ExitCode {
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
            eprintln!("failed: {error}. {}", template::advice(error.kind));
            ExitCode::FAILURE
        }
    }
}

async fn sentinel(
    install: sentinel::Install,
    instance_id: String,
    region: Option<String>,
) -> ExitCode {
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
    match prepare_sentinel(&store, &instance_id, install.fence_after_seconds).await {
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
        Err(error) => template::failed(error),
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
    load(region)
        .await
        .map_err(|refused| eprintln!("{refused}"))
        .ok()
}

/// The usual credentials, in `region` or the environment's; refused without a Region.
pub(crate) async fn load(region: Option<String>) -> Result<aws_config::SdkConfig, CliError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(CliError::Refused(
            "no AWS Region: pass --region or set AWS_REGION".into(),
        ));
    }
    Ok(sdk)
}
