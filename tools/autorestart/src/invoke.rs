//! `drill`, `failover`, `failback`: the deployed function invoked with the request, waited for,
//! its report printed (JSON on stdout, a summary on stderr).

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::Value;

use crate::CliError;
use crate::deployment::{Clients, Deployment};

/// Which request, to which function.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// The drill function.
    Drill,
    /// The alarm handler's failover.
    Failover,
    /// The alarm handler's failback.
    Failback,
}

impl Kind {
    fn output(self) -> &'static str {
        match self {
            Self::Drill => "DrillFunctionName",
            Self::Failover | Self::Failback => "AlarmHandlerFunctionName",
        }
    }
}

/// Sends `payload`, prints the report; exit 1 when the report lists errors or copies left behind.
pub async fn run(
    region: Option<String>,
    stack: &str,
    kind: Kind,
    payload: Value,
) -> Result<ExitCode, CliError> {
    let sdk = crate::load(region).await?;
    let deployment = Deployment::find(&Clients::new(&sdk), stack).await?;
    eprintln!(
        "invoking {} with {payload} (waits up to 15 minutes)",
        deployment.output(kind.output())?
    );
    let report = deployment.invoke(kind.output(), &payload).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("JSON always serializes")
    );
    let (summary, trouble) = summary(kind, &report);
    eprintln!("{summary}");
    Ok(if trouble {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn count(report: &Value, key: &str) -> usize {
    report[key].as_array().map_or(0, Vec::len)
}

/// One line for people, and whether the report says something went wrong.
pub fn summary(kind: Kind, report: &Value) -> (String, bool) {
    let outpost = report["outpost"].as_str().unwrap_or("?");
    let errors = count(report, "errors");
    match kind {
        Kind::Drill => {
            let left = count(report, "left_behind");
            let copies: Vec<&Value> = report["copies"].as_array().into_iter().flatten().collect();
            let launched = copies.iter().filter(|c| c["copy_id"].is_string()).count();
            // A copy that did not launch, run or turn healthy is what the drill found wrong.
            let failed = copies
                .iter()
                .filter(|c| c["error"].is_string() || c["healthy"] == Value::Bool(false))
                .count();
            let line = format!(
                "{} {} of {outpost}: {} instance(s) planned, {launched} copies launched, {failed} failed, {} cleaned up, {left} left behind, {} readiness problem(s), {errors} error(s) in {:.0} s",
                if report["live"].as_bool() == Some(true) {
                    "live drill"
                } else {
                    "dry-run drill"
                },
                report["drill_id"].as_str().unwrap_or("?"),
                count(report, "plan"),
                count(report, "cleaned_up"),
                count(report, "readiness_problems"),
                report["seconds"].as_f64().unwrap_or_default(),
            );
            (line, errors > 0 || left > 0 || failed > 0)
        }
        Kind::Failover | Kind::Failback => {
            let field = match kind {
                Kind::Failover => "outcome",
                _ => "status",
            };
            let mut by: BTreeMap<String, usize> = BTreeMap::new();
            for instance in report["instances"].as_array().into_iter().flatten() {
                *by.entry(instance[field].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
            let counts = by
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            let what = match kind {
                Kind::Failover => "failover".to_owned(),
                _ if report["dry_run"].as_bool() == Some(false) => "failback".to_owned(),
                _ => "failback dry run".to_owned(),
            };
            let warnings = count(report, "warnings") + count(report, "load_balancing_errors");
            let ignored = report["ignored_because"]
                .as_str()
                .map(|why| format!("; ignored: {why}"))
                .unwrap_or_default();
            // A failover's failures are its instances' outcomes (failed, unfinished); a
            // failback's, a pair rolled back; both, the errors.
            let failed = ["failed", "unfinished", "rolled-back"]
                .iter()
                .map(|k| by.get(*k).copied().unwrap_or_default())
                .sum::<usize>();
            (
                format!(
                    "{what} of {outpost}: {} instance(s){}{}, {errors} error(s), {warnings} warning(s){ignored}",
                    count(report, "instances"),
                    if counts.is_empty() { "" } else { ": " },
                    counts
                ),
                errors > 0 || failed > 0,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_drill_with_copies_left_behind_is_trouble() {
        let report = json!({
            "drill_id": "drill-op-1", "outpost": "op-0a1b2c3d4e5f60718", "live": true,
            "plan": [{}, {}],
            "copies": [{"copy_id": "i-1", "healthy": true}, {"copy_id": null, "error": "InsufficientInstanceCapacity"}],
            "cleaned_up": ["i-1"], "left_behind": ["i-2"],
            "readiness_problems": [], "errors": [], "seconds": 42.4
        });
        let (line, trouble) = summary(Kind::Drill, &report);
        assert_eq!(
            line,
            "live drill drill-op-1 of op-0a1b2c3d4e5f60718: 2 instance(s) planned, 1 copies launched, 1 failed, 1 cleaned up, 1 left behind, 0 readiness problem(s), 0 error(s) in 42 s"
        );
        assert!(trouble);
        let clean = json!({
            "drill_id": "d", "outpost": "o", "live": true, "plan": [{}],
            "copies": [{"copy_id": "i-1", "healthy": true}], "cleaned_up": ["i-1"],
            "left_behind": [], "readiness_problems": [], "errors": [], "seconds": 1.0
        });
        assert!(!summary(Kind::Drill, &clean).1);
        let unhealthy = json!({"copies": [{"copy_id": "i-1", "healthy": false}]});
        assert!(
            summary(Kind::Drill, &unhealthy).1,
            "a copy that never turned healthy"
        );
    }

    #[test]
    fn a_failback_counts_each_status_and_a_failover_each_outcome() {
        let failback = json!({
            "outpost": "op-0a1b2c3d4e5f60718", "dry_run": true,
            "instances": [{"status": "would-fail-back"}, {"status": "blocked"}, {"status": "blocked"}],
            "errors": []
        });
        let (line, trouble) = summary(Kind::Failback, &failback);
        assert_eq!(
            line,
            "failback dry run of op-0a1b2c3d4e5f60718: 3 instance(s): 2 blocked, 1 would-fail-back, 0 error(s), 0 warning(s)"
        );
        assert!(!trouble);
        let rolled_back = json!({
            "outpost": "op-0a1b2c3d4e5f60718", "dry_run": false,
            "instances": [{"status": "rolled-back", "fault": "not-healthy"}], "errors": []
        });
        let (line, trouble) = summary(Kind::Failback, &rolled_back);
        assert!(
            line.starts_with("failback of op-0a1b2c3d4e5f60718: 1 instance(s): 1 rolled-back"),
            "{line}"
        );
        assert!(trouble, "a rollback is a failback that failed");
        let failover = json!({
            "outpost": "op-0a1b2c3d4e5f60718",
            "instances": [{"outcome": "recovered"}, {"outcome": "failed"}], "warnings": ["w"]
        });
        let (line, trouble) = summary(Kind::Failover, &failover);
        assert_eq!(
            line,
            "failover of op-0a1b2c3d4e5f60718: 2 instance(s): 1 failed, 1 recovered, 0 error(s), 1 warning(s)"
        );
        assert!(trouble, "an instance failed");
    }
}
