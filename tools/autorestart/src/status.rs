//! `status`: the agent's own reads, with the settings the deployed sweeper runs with (its
//! environment, read from Lambda), arranged by `autorestart_core::status`.

use std::process::ExitCode;

use autorestart_core::alarm::OutpostId;
use autorestart_flows::agent::Agent;
use function_support::config::Config;

use crate::CliError;
use crate::deployment::{Clients, Deployment};

/// Prints the table, or the JSON with `json`.
pub async fn run(
    region: Option<String>,
    stack: &str,
    outpost: Option<&str>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let outpost = outpost
        .map(|text| {
            OutpostId::parse(text.trim()).ok_or_else(|| {
                CliError::Refused(format!(
                    "--outpost {text:?} is not an Outpost id: use op- followed by 17 hex digits"
                ))
            })
        })
        .transpose()?;
    let sdk = crate::load(region).await?;
    let deployment = Deployment::find(&Clients::new(&sdk), stack).await?;
    let environment = deployment.environment("SweeperFunctionName").await?;
    let config = Config::from_lookup(|name| environment.get(name).cloned()).map_err(|e| {
        CliError::Refused(format!(
            "the sweeper's environment cannot be read as this version reads it ({e}): deploy this version, or use the CLI of the deployed one"
        ))
    })?;
    let agent = Agent::new(
        function_support::ports(&sdk, config.topic_arn),
        config.settings,
    );
    let status = agent
        .status(outpost.as_ref())
        .await
        .map_err(|e| CliError::Aws(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("a status always serializes")
        );
    } else {
        print!("{}", status.table());
    }
    Ok(ExitCode::SUCCESS)
}
