//! Reads the EventBridge "DRS Source Server Launch Result" event into a [`DrsLaunchResult`].

use autorestart_core::report::DrsLaunchResult;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

const SOURCE: &str = "aws.drs";
const DETAIL_TYPE: &str = "DRS Source Server Launch Result";

/// What the payload turned out to be.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A launch result.
    Result(DrsLaunchResult),
    /// A well-formed event of another kind, and why it is not ours.
    Other(String),
}

/// The payload is not an event this function can read.
#[derive(Debug, thiserror::Error)]
#[error(
    "the event is not a readable EventBridge \"{DETAIL_TYPE}\" event: {0}. Send the DRS event (see events/drs-launch-succeeded.json)"
)]
pub struct BadEvent(String);

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct Detail {
    state: String,
    job_id: String,
    #[serde(default)]
    is_drill: Option<Value>,
}

/// Reads a payload.
pub fn parse(payload: Value) -> Result<Parsed, BadEvent> {
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(payload)
        .map_err(|e| BadEvent(format!("the envelope is malformed ({e})")))?;
    if envelope.source != SOURCE || envelope.detail_type != DETAIL_TYPE {
        return Ok(Parsed::Other(format!(
            "event {:?} from {:?} is not a {DETAIL_TYPE} from {SOURCE}",
            envelope.detail_type, envelope.source
        )));
    }
    let detail: Detail = serde_json::from_value(envelope.detail)
        .map_err(|e| BadEvent(format!("its detail is malformed ({e})")))?;
    let succeeded = match detail.state.as_str() {
        "RECOVERY_LAUNCH_SUCCEEDED" => true,
        "RECOVERY_LAUNCH_FAILED" => false,
        other => {
            return Ok(Parsed::Other(format!(
                "launch state {other:?} is not a recovery launch result"
            )));
        }
    };
    // DRS sends "TRUE"/"FALSE" as strings; accept a JSON boolean too.
    let drill = match &detail.is_drill {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    let arn = envelope
        .resources
        .as_deref()
        .and_then(|r| r.iter().find(|a| a.contains(":source-server/")))
        .ok_or_else(|| BadEvent("its resources hold no source-server ARN".into()))?;
    let source_server_id = arn.rsplit('/').next().unwrap_or_default().to_owned();
    Ok(Parsed::Result(DrsLaunchResult {
        source_server_id,
        job_id: detail.job_id,
        succeeded,
        drill,
        time: envelope.time.unwrap_or_else(Utc::now),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn every_drs_sample_reads_as_documented() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("drs-") {
                continue;
            }
            seen += 1;
            let Ok(Parsed::Result(r)) = parse(sample(&name)) else {
                panic!("{name}")
            };
            assert_eq!(r.source_server_id, "s-1234567890abcdef0", "{name}");
            match name.as_str() {
                "drs-launch-succeeded.json" => assert!(r.succeeded && !r.drill),
                "drs-launch-failed.json" => assert!(!r.succeeded && !r.drill),
                "drs-drill-succeeded.json" => assert!(r.succeeded && r.drill),
                other => panic!("sample {other} has no expectation here: add one"),
            }
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn other_events_and_garbage() {
        let mut other = sample("drs-launch-succeeded.json");
        other["detail-type"] = "DRS Source Server Data Replication Stalled Change".into();
        assert!(matches!(parse(other), Ok(Parsed::Other(_))));
        let mut no_arn = sample("drs-launch-succeeded.json");
        no_arn["resources"] = serde_json::json!([]);
        assert!(
            parse(no_arn)
                .unwrap_err()
                .to_string()
                .contains("no source-server ARN")
        );
        assert!(parse(serde_json::json!({"x": 1})).is_err());
    }
}
