//! Reads the EventBridge "CloudWatch Alarm State Change" event into the domain's [`AlarmChange`],
//! or an operator's request: a failover (`{"outpost": "op-…", "mode": "failover"}`) or a
//! failback (`{"outpost": "op-…", "mode": "failback", "dryRun": false}`).
//!
//! `aws_lambda_events` supplies the envelope and alarm types; the metric configuration is read
//! leniently here, because its typed form requires `metricStat` in every entry and so rejects
//! metric-math alarms.

use std::collections::BTreeMap;

use autorestart_core::alarm::{AlarmChange, AlarmMetric, AlarmState, Evaluation, OutpostId};
use autorestart_core::failback;
use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

const SOURCE: &str = "aws.cloudwatch";
const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

/// What the payload turned out to be.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A CloudWatch alarm state change.
    Alarm(AlarmChange),
    /// A person's failover: the Outpost's held instances recovered too.
    Failover(OutpostId),
    /// A person's failback: the Outpost's recovered instances go home.
    Failback(failback::Request),
    /// A well-formed event of another kind, and what it was.
    NotAnAlarm {
        /// Why it is not ours.
        reason: String,
        /// When it happened, if it says.
        time: Option<DateTime<Utc>>,
    },
}

/// The payload is not an event this function can read; the message says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error(
    "the event is not a readable EventBridge \"{DETAIL_TYPE}\" event nor a failover or failback request: {0}. Send the alarm's EventBridge event (see events/alarm-outpost-down.json), a failover request (events/failover.json) or a failback request (events/failback-dry-run.json)"
)]
pub struct BadEvent(String);

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LenientConfiguration {
    #[serde(default)]
    metrics: Vec<LenientMetric>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LenientMetric {
    #[serde(default)]
    metric_stat: Option<LenientMetricStat>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LenientMetricStat {
    #[serde(default)]
    metric: LenientMetricName,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LenientMetricName {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

/// An operator's request: a failover or a failback.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PersonRequest {
    outpost: String,
    mode: String,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    handover: Option<String>,
    #[serde(default)]
    retire: Option<String>,
}

/// Reads a payload: an alarm change, a failover request, another kind of event, or an error
/// for anything unreadable.
pub fn parse(payload: Value) -> Result<Parsed, BadEvent> {
    if payload.get("mode").is_some() && payload.get("detail-type").is_none() {
        return failover(payload);
    }
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(payload)
        .map_err(|e| BadEvent(format!("the envelope is malformed ({e})")))?;
    if envelope.source != SOURCE || envelope.detail_type != DETAIL_TYPE {
        return Ok(Parsed::NotAnAlarm {
            reason: format!(
                "event {:?} from {:?} is not a {DETAIL_TYPE} from {SOURCE}",
                envelope.detail_type, envelope.source
            ),
            time: envelope.time,
        });
    }
    let detail: CloudWatchAlarmData<LenientConfiguration, Value> =
        serde_json::from_value(envelope.detail)
            .map_err(|e| BadEvent(format!("its detail is malformed ({e})")))?;
    let state = detail
        .state
        .ok_or_else(|| BadEvent("its detail has no state".into()))?;
    Ok(Parsed::Alarm(AlarmChange {
        alarm_name: detail.alarm_name,
        alarm_arn: envelope.resources.and_then(|r| r.into_iter().next()),
        state: match state.value {
            CloudWatchAlarmStateValue::Alarm => AlarmState::Alarm,
            CloudWatchAlarmStateValue::Ok => AlarmState::Ok,
            _ => AlarmState::InsufficientData,
        },
        state_since: state.timestamp,
        evaluation: state.reason_data.as_ref().and_then(|data| match data {
            Value::String(text) => Evaluation::from_reason_data(text),
            other => Evaluation::from_reason_data(&other.to_string()),
        }),
        metrics: detail
            .configuration
            .metrics
            .into_iter()
            .map(metric)
            .collect(),
    }))
}

/// Reads a person's request, strictly: a typo must not recover what a person held, nor turn
/// a failback's dry run live.
fn failover(payload: Value) -> Result<Parsed, BadEvent> {
    let request: PersonRequest = serde_json::from_value(payload).map_err(|e| {
        BadEvent(format!(
            "the request is malformed ({e}); send {FAILOVER_EXAMPLE} or {FAILBACK_EXAMPLE}"
        ))
    })?;
    let outpost = OutpostId::parse(&request.outpost).ok_or_else(|| {
        BadEvent(format!(
            "outpost {:?} is not an Outpost id; send {FAILOVER_EXAMPLE} or {FAILBACK_EXAMPLE}",
            request.outpost
        ))
    })?;
    match request.mode.as_str() {
        "failover" => {
            if request.dry_run.is_some() || request.handover.is_some() || request.retire.is_some() {
                return Err(BadEvent(format!(
                    "a failover takes only outpost and mode; send {FAILOVER_EXAMPLE}"
                )));
            }
            Ok(Parsed::Failover(outpost))
        }
        "failback" => {
            let handover = match request.handover.as_deref() {
                None => failback::Handover::default(),
                Some(word) => failback::Handover::parse(word).ok_or_else(|| {
                    BadEvent(format!(
                        "handover {word:?} is neither stop-first nor overlap; send {FAILBACK_EXAMPLE}"
                    ))
                })?,
            };
            let retire = match request.retire.as_deref() {
                None => failback::Retire::default(),
                Some(word) => failback::Retire::parse(word).ok_or_else(|| {
                    BadEvent(format!(
                        "retire {word:?} is neither standby nor terminate; send {FAILBACK_EXAMPLE}"
                    ))
                })?,
            };
            Ok(Parsed::Failback(failback::Request {
                outpost,
                // A dry run unless a person says otherwise.
                dry_run: request.dry_run.unwrap_or(true),
                handover,
                retire,
            }))
        }
        other => Err(BadEvent(format!(
            "mode {other:?} is neither failover nor failback; send {FAILOVER_EXAMPLE} or {FAILBACK_EXAMPLE}"
        ))),
    }
}

/// A valid failover request, for the error messages.
const FAILOVER_EXAMPLE: &str = r#"{"outpost": "op-0123456789abcdef0", "mode": "failover"}"#;
/// A valid failback request, for the error messages.
const FAILBACK_EXAMPLE: &str = r#"{"outpost": "op-0123456789abcdef0", "mode": "failback", "dryRun": true, "handover": "stop-first", "retire": "standby"}"#;

fn metric(entry: LenientMetric) -> AlarmMetric {
    let named = entry.metric_stat.map(|s| s.metric).unwrap_or_default();
    AlarmMetric {
        namespace: named.namespace,
        metric_name: named.name,
        dimensions: named.dimensions.into_iter().collect(),
        expression: entry.expression,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autorestart_core::alarm::{Signal, classify};
    use std::path::Path;

    fn sample(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_sample_event_is_valid_json_and_reads_as_documented() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".json") || !name.starts_with("alarm-") {
                continue;
            }
            seen += 1;
            let parsed = parse(sample(&name));
            match name.as_str() {
                "alarm-malformed.json" => assert!(parsed.is_err(), "{name}"),
                "alarm-not-outpost.json" => {
                    let Ok(Parsed::Alarm(change)) = parsed else {
                        panic!("{name}")
                    };
                    assert!(matches!(classify(&change), Signal::Ignore(_)), "{name}");
                }
                "alarm-outpost-down.json" | "alarm-outpost-down-plain-metric.json" => {
                    let Ok(Parsed::Alarm(change)) = parsed else {
                        panic!("{name}: {parsed:?}")
                    };
                    assert!(
                        matches!(classify(&change), Signal::OutpostDown { .. }),
                        "{name}"
                    );
                }
                "alarm-outpost-back.json" => {
                    let Ok(Parsed::Alarm(change)) = parsed else {
                        panic!("{name}")
                    };
                    assert!(
                        matches!(classify(&change), Signal::OutpostBack { .. }),
                        "{name}"
                    );
                }
                other => panic!("sample {other} has no expectation here: add one"),
            }
        }
        assert!(seen >= 5, "expected the five alarm samples, saw {seen}");
    }

    #[test]
    fn the_down_sample_is_read_in_full() {
        let Ok(Parsed::Alarm(change)) = parse(sample("alarm-outpost-down.json")) else {
            panic!()
        };
        assert_eq!(change.state, AlarmState::Alarm);
        assert_eq!(
            change.alarm_name,
            "outposts-autorestart-connected-op-0a1b2c3d4e5f60718"
        );
        assert!(
            change
                .alarm_arn
                .as_deref()
                .unwrap()
                .starts_with("arn:aws:cloudwatch:")
        );
        assert_eq!(
            change.state_since.to_rfc3339(),
            "2026-11-24T03:10:00.123+00:00"
        );
    }

    #[test]
    fn other_events_are_recognised_and_garbage_is_an_error() {
        let schedule = serde_json::json!({
            "version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "111122223333", "time": "2026-11-24T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {}
        });
        assert!(matches!(parse(schedule), Ok(Parsed::NotAnAlarm { .. })));
        let error = parse(serde_json::json!({"hello": "world"})).unwrap_err();
        assert!(
            error.to_string().contains("envelope is malformed"),
            "{error}"
        );
    }

    #[test]
    fn a_failback_request_is_a_dry_run_unless_it_says_otherwise() {
        let Ok(Parsed::Failback(dry)) = parse(sample("failback-dry-run.json")) else {
            panic!("events/failback-dry-run.json is a failback request");
        };
        assert!(dry.dry_run);
        assert_eq!(dry.handover, failback::Handover::StopFirst);
        assert_eq!(dry.retire, failback::Retire::Standby);
        let Ok(Parsed::Failback(live)) = parse(sample("failback.json")) else {
            panic!("events/failback.json is a failback request");
        };
        assert!(!live.dry_run);
        let Ok(Parsed::Failback(overlap)) = parse(serde_json::json!({
            "outpost": "op-0a1b2c3d4e5f60718", "mode": "failback", "dryRun": false,
            "handover": "overlap", "retire": "terminate"
        })) else {
            panic!()
        };
        assert_eq!(overlap.handover, failback::Handover::Overlap);
        assert_eq!(overlap.retire, failback::Retire::Terminate);
        for (payload, expected) in [
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failback", "dryRun": "no"}),
                "malformed",
            ),
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failback", "handover": "swap"}),
                "neither stop-first nor overlap",
            ),
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failback", "retire": "keep"}),
                "neither standby nor terminate",
            ),
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failback", "dry_run": false}),
                "unknown field `dry_run`",
            ),
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failover", "dryRun": false}),
                "takes only outpost and mode",
            ),
        ] {
            let message = parse(payload).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn a_failover_request_reads_strictly() {
        let Ok(Parsed::Failover(outpost)) = parse(sample("failover.json")) else {
            panic!("events/failover.json is a failover request");
        };
        assert_eq!(outpost.as_str(), "op-0a1b2c3d4e5f60718");
        for (payload, expected) in [
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "fail-over"}),
                "neither failover nor failback",
            ),
            (
                serde_json::json!({"outpost": "web", "mode": "failover"}),
                "not an Outpost id",
            ),
            (
                serde_json::json!({"outpost": "op-0a1b2c3d4e5f60718", "mode": "failover", "force": true}),
                "unknown field `force`",
            ),
        ] {
            let message = parse(payload).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(
                message.contains(r#""mode": "failover""#),
                "shows a valid one: {message}"
            );
        }
    }
}
