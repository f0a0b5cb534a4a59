//! The drill payload an operator sends, checked strictly: a typo must not turn a dry run live.

use autorestart_core::alarm::OutpostId;
use autorestart_core::drill::DrillRequest;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The JSON an operator invokes the function with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Payload {
    outpost: String,
    mode: String,
    #[serde(default)]
    target_group_arn: Option<String>,
}

/// Why a payload is refused; the message shows a valid one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}. Send {{\"outpost\": \"op-0123456789abcdef0\", \"mode\": \"dry-run\"}} or mode \"live\", optionally with \"targetGroupArn\""
)]
pub struct BadRequest(String);

/// Reads the payload.
pub fn parse(payload: serde_json::Value, now: DateTime<Utc>) -> Result<DrillRequest, BadRequest> {
    // A failover or failback changes production: the alarm handler's role may, the drill's
    // may not. Said before the fields are checked, as their fields differ from a drill's.
    if let Some(mode @ ("failover" | "failback")) = payload.get("mode").and_then(|m| m.as_str()) {
        return Err(BadRequest(format!(
            "a {mode} goes to the alarm handler function (its role may recover instances and move them home; the drill's may not touch production): aws lambda invoke --function-name <the stack's AlarmHandlerFunction> with the same payload"
        )));
    }
    let payload: Payload = serde_json::from_value(payload)
        .map_err(|e| BadRequest(format!("the payload is not a drill request: {e}")))?;
    let outpost = OutpostId::parse(&payload.outpost).ok_or_else(|| {
        BadRequest(format!(
            "outpost {:?} is not an Outpost id",
            payload.outpost
        ))
    })?;
    let live = match payload.mode.as_str() {
        "dry-run" => false,
        "live" => true,
        other => {
            return Err(BadRequest(format!(
                "mode {other:?} is neither dry-run nor live"
            )));
        }
    };
    if let Some(arn) = &payload.target_group_arn
        && !(arn.contains(":elasticloadbalancing:") && arn.contains(":targetgroup/"))
    {
        return Err(BadRequest(format!(
            "targetGroupArn {arn:?} is not a target group ARN"
        )));
    }
    if payload.target_group_arn.is_some() && !live {
        return Err(BadRequest("targetGroupArn is for live drills only".into()));
    }
    Ok(DrillRequest {
        outpost,
        live,
        target_group_arn: payload.target_group_arn.map(Into::into),
        started: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-24T03:00:00Z".parse().unwrap()
    }

    #[test]
    fn reads_a_dry_run_and_a_live_drill() {
        let dry = parse(
            json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "dry-run"}),
            now(),
        )
        .unwrap();
        assert!(!dry.live);
        assert_eq!(dry.outpost.as_str(), "op-0a1b2c3d4e5f60718");
        let tg = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/drill/0123";
        let live = parse(
            json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "live", "targetGroupArn": tg}),
            now(),
        )
        .unwrap();
        assert!(live.live);
        assert_eq!(live.target_group_arn.as_deref(), Some(tg));
        assert_eq!(live.started, now());
    }

    #[test]
    fn the_sample_payloads_in_events_are_valid() {
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for (name, live) in [("drill-dry-run.json", false), ("drill-live.json", true)] {
            let text = std::fs::read_to_string(events.join(name)).unwrap();
            let request = parse(serde_json::from_str(&text).unwrap(), now()).unwrap();
            assert_eq!(request.live, live, "{name}");
        }
    }

    #[test]
    fn refuses_each_bad_payload_with_a_valid_example() {
        let cases = [
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718"}),
                "missing field `mode`",
            ),
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "dryrun"}),
                "neither dry-run nor live",
            ),
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failover"}),
                "a failover goes to the alarm handler function",
            ),
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failback", "dryRun": false}),
                "a failback goes to the alarm handler function",
            ),
            (
                json!({"outpost": "web", "mode": "live"}),
                "not an Outpost id",
            ),
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "live", "live": true}),
                "unknown field `live`",
            ),
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "live", "targetGroupArn": "web"}),
                "not a target group ARN",
            ),
            (
                json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "dry-run", "targetGroupArn": "arn:aws:elasticloadbalancing:r:1:targetgroup/d/1"}),
                "live drills only",
            ),
        ];
        for (payload, expected) in cases {
            let message = parse(payload, now()).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("\"mode\": \"dry-run\""), "{message}");
        }
    }
}
