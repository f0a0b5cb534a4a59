//! What an alarm state change means for us: an Outpost went down, came back, or neither.
//!
//! The function crate turns event JSON into an [`AlarmChange`]; everything here is pure.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};

/// The namespace of the Outposts metrics.
pub const OUTPOSTS_NAMESPACE: &str = "AWS/Outposts";
/// The metric that is 1 while the Outpost's service link is up.
pub const CONNECTED_STATUS: &str = "ConnectedStatus";
/// The metric dimension that names the Outpost.
pub const OUTPOST_ID_DIMENSION: &str = "OutpostId";

/// The state an alarm moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum AlarmState {
    /// The metric breached: the Outpost is disconnected.
    Alarm,
    /// The metric is healthy again.
    Ok,
    /// Not enough data to decide.
    InsufficientData,
}

/// One entry of an alarm's metric configuration: a metric, or a metric-math / Metrics Insights expression.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmMetric {
    /// Namespace of a plain metric.
    pub namespace: Option<String>,
    /// Name of a plain metric.
    pub metric_name: Option<String>,
    /// Dimensions of a plain metric, as (name, value).
    pub dimensions: Vec<(String, String)>,
    /// Expression of a metric-math or Metrics Insights entry.
    pub expression: Option<String>,
}

/// An alarm state change, as read from the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmChange {
    /// Name of the alarm.
    pub alarm_name: String,
    /// ARN of the alarm, when the event carries it.
    pub alarm_arn: Option<String>,
    /// The new state.
    pub state: AlarmState,
    /// When the alarm entered the new state.
    pub state_since: DateTime<Utc>,
    /// The alarm's metric configuration.
    pub metrics: Vec<AlarmMetric>,
    /// The datapoints CloudWatch evaluated for this state, when it says
    /// ([`Evaluation::from_reason_data`]).
    pub evaluation: Option<Evaluation>,
}

/// The datapoints CloudWatch evaluated when the alarm went into its state: the `reasonData`
/// of the event, the `StateReasonData` of `DescribeAlarms`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// The metric's period.
    pub period_seconds: u32,
    /// The datapoints, oldest first.
    pub datapoints: Vec<Datapoint>,
}

/// One evaluated datapoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datapoint {
    /// The start of its period.
    pub at: DateTime<Utc>,
    /// Whether it breached the threshold (a `ConnectedStatus` alarm breaches below it); None
    /// when CloudWatch had no value.
    pub breaching: Option<bool>,
}

impl Evaluation {
    /// Reads CloudWatch's reason data (JSON in a string); None when it is not JSON or names no
    /// period or datapoints. A value below the threshold breaches: the agent reads only
    /// `ConnectedStatus` alarms, which alarm below 1.
    pub fn from_reason_data(json: &str) -> Option<Self> {
        let data: serde_json::Value = serde_json::from_str(json).ok()?;
        let period_seconds = u32::try_from(data.get("period")?.as_u64()?).ok()?;
        let threshold = data.get("threshold").and_then(serde_json::Value::as_f64);
        let mut datapoints: Vec<Datapoint> = data
            .get("evaluatedDatapoints")?
            .as_array()?
            .iter()
            .filter_map(|point| {
                let at = parse_time(point.get("timestamp")?.as_str()?)?;
                let value = point.get("value").and_then(serde_json::Value::as_f64);
                let breaching = value.zip(threshold).map(|(v, t)| v < t);
                Some(Datapoint { at, breaching })
            })
            .collect();
        if datapoints.is_empty() {
            return None;
        }
        datapoints.sort_by_key(|p| p.at);
        Some(Self {
            period_seconds,
            datapoints,
        })
    }

    /// The start of the last run of breaching datapoints (from the newest back to the first
    /// that did not breach or had no value); None when the newest did not breach.
    pub fn breaching_since(&self) -> Option<DateTime<Utc>> {
        self.datapoints
            .iter()
            .rev()
            .take_while(|p| p.breaching == Some(true))
            .last()
            .map(|p| p.at)
    }
}

/// CloudWatch's timestamps: `2026-11-24T03:10:00.000+0000`, or RFC 3339.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl AlarmChange {
    /// A change of an alarm on `AWS/Outposts` `ConnectedStatus` for one Outpost: what a drill or
    /// a test hands the agent when no event exists.
    pub fn connected_status(
        alarm_name: &str,
        outpost: &str,
        state: AlarmState,
        state_since: DateTime<Utc>,
    ) -> Self {
        Self {
            alarm_name: alarm_name.to_owned(),
            alarm_arn: None,
            state,
            state_since,
            metrics: vec![AlarmMetric {
                namespace: Some(OUTPOSTS_NAMESPACE.into()),
                metric_name: Some(CONNECTED_STATUS.into()),
                dimensions: vec![(OUTPOST_ID_DIMENSION.into(), outpost.to_owned())],
                expression: None,
            }],
            evaluation: None,
        }
    }
}

/// An Outpost id, `op-` and 17 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OutpostId(String);

impl OutpostId {
    /// Accepts `op-` followed by hex digits (AWS uses 17), case-normalised to lower case.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let hex = text.strip_prefix("op-")?;
        (hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(Self(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Outpost an ARN (`arn:aws:outposts:region:account:outpost/op-…`) names.
    pub fn from_arn(outpost_arn: &str) -> Option<Self> {
        outpost_arn
            .rsplit_once('/')
            .and_then(|(_, id)| Self::parse(id))
    }

    /// Whether an Outpost ARN (`arn:aws:outposts:region:account:outpost/op-…`) names this Outpost.
    pub fn is_named_by_arn(&self, outpost_arn: &str) -> bool {
        outpost_arn
            .rsplit_once('/')
            .is_some_and(|(_, id)| id.eq_ignore_ascii_case(&self.0))
    }
}

impl fmt::Display for OutpostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one outage: every delivery of the same transition to ALARM maps to the same id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct IncidentId(String);

impl IncidentId {
    /// `<outpost>-<UTC time of the transition>-<8 hex of the alarm's hash>`, readable in a tag.
    pub fn derive(outpost: &OutpostId, alarm: &str, state_since: DateTime<Utc>) -> Self {
        let since = state_since.format("%Y%m%dT%H%M%SZ");
        let digest = crate::sha256_hex(&format!("{alarm}\n{}", state_since.timestamp_millis()));
        Self(format!("{outpost}-{since}-{}", &digest[..8]))
    }

    /// Wraps an id read back from a tag.
    pub fn from_tag(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an alarm change asks of us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The Outpost is disconnected: recover its protected instances.
    OutpostDown {
        /// The Outpost that went down.
        outpost: OutpostId,
        /// The outage this transition starts.
        incident: IncidentId,
    },
    /// The Outpost is connected again.
    OutpostBack {
        /// The Outpost that came back.
        outpost: OutpostId,
    },
    /// Nothing for us to do, and why.
    Ignore(IgnoreReason),
}

/// Why an alarm change is not ours to act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    /// The alarm does not watch `AWS/Outposts` `ConnectedStatus`.
    #[error("alarm {alarm} does not watch {OUTPOSTS_NAMESPACE} {CONNECTED_STATUS}")]
    NotConnectedStatus {
        /// The alarm's name.
        alarm: String,
    },
    /// The alarm watches ConnectedStatus but names no Outpost.
    #[error(
        "alarm {alarm} watches {CONNECTED_STATUS} but no {OUTPOST_ID_DIMENSION} dimension names an Outpost: add the dimension to the alarm's metric"
    )]
    NoOutpostId {
        /// The alarm's name.
        alarm: String,
    },
    /// The alarm names several Outposts, so a recovery cannot tell which one failed.
    #[error("alarm {alarm} names several Outposts ({outposts}): use one alarm per Outpost")]
    SeveralOutposts {
        /// The alarm's name.
        alarm: String,
        /// The Outposts it names, comma-separated.
        outposts: String,
    },
    /// The alarm has not enough data; that decides nothing.
    #[error("alarm {alarm} moved to INSUFFICIENT_DATA, which decides nothing")]
    InsufficientData {
        /// The alarm's name.
        alarm: String,
    },
}

/// The one Outpost whose ConnectedStatus an alarm watches, whatever its state.
pub fn watched_outpost(change: &AlarmChange) -> Result<OutpostId, IgnoreReason> {
    let alarm = change.alarm_name.clone();
    if !change.metrics.iter().any(watches_connected_status) {
        return Err(IgnoreReason::NotConnectedStatus { alarm });
    }
    let mut outposts: Vec<OutpostId> = change.metrics.iter().flat_map(outpost_ids_of).collect();
    outposts.sort();
    outposts.dedup();
    match outposts.len() {
        0 => Err(IgnoreReason::NoOutpostId { alarm }),
        1 => Ok(outposts.remove(0)),
        _ => {
            let listed: Vec<&str> = outposts.iter().map(OutpostId::as_str).collect();
            Err(IgnoreReason::SeveralOutposts {
                alarm,
                outposts: listed.join(", "),
            })
        }
    }
}

/// The current state of each Outpost watched by one of `alarms`.
pub fn outpost_states(alarms: &[AlarmChange]) -> HashMap<OutpostId, AlarmState> {
    alarms
        .iter()
        .filter_map(|a| Some((watched_outpost(a).ok()?, a.state)))
        .collect()
}

/// Outposts whose ConnectedStatus alarm is not OK now (ALARM, or INSUFFICIENT_DATA: not known
/// to be up): nothing is fenced against a copy there, nor on them.
pub fn not_ok_outposts(alarms: &[AlarmChange]) -> std::collections::HashSet<OutpostId> {
    outpost_states(alarms)
        .into_iter()
        .filter(|(_, state)| *state != AlarmState::Ok)
        .map(|(outpost, _)| outpost)
        .collect()
}

/// Outposts whose ConnectedStatus alarm has had no data for longer than `window` (its
/// evaluation window), with since when: an alarm turns INSUFFICIENT_DATA once every point of
/// its window is missing, so the gap began a window before it did. One more period (60 s) must
/// pass, so that an alarm just created, which starts in INSUFFICIENT_DATA, is not reported
/// before its first data. A broken cross-account link or a metric that stopped shows here
/// before an outage goes unseen.
pub fn silent_outposts(
    alarms: &[AlarmChange],
    window: std::time::Duration,
    now: DateTime<Utc>,
) -> HashMap<OutpostId, DateTime<Utc>> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    alarms
        .iter()
        .filter(|a| a.state == AlarmState::InsufficientData)
        .filter(|a| a.state_since + chrono::Duration::seconds(60) < now)
        .filter_map(|a| Some((watched_outpost(a).ok()?, a.state_since - window)))
        .collect()
}

/// The alarm a reported ALARM names, as DescribeAlarms shows it now, while it is still in
/// ALARM: the one to act on (its transition, not the event's, names the incident, so every
/// entry point derives the same incident). Otherwise why the reported ALARM is stale.
pub fn still_down<'a>(
    reported: &AlarmChange,
    current: &'a [AlarmChange],
) -> Result<&'a AlarmChange, String> {
    let Some(now) = current.iter().find(|a| a.alarm_name == reported.alarm_name) else {
        return Err(format!(
            "alarm {} is not among the alarms CloudWatch lists now (deleted, or outside ALARM_NAME_PREFIX): recovering nothing",
            reported.alarm_name
        ));
    };
    match now.state {
        AlarmState::Alarm => Ok(now),
        AlarmState::Ok => Err(format!(
            "alarm {} is OK again since {}: the Outpost is back, so this ALARM (since {}) is stale and nothing is launched",
            now.alarm_name,
            now.state_since.to_rfc3339(),
            reported.state_since.to_rfc3339()
        )),
        AlarmState::InsufficientData => Err(format!(
            "alarm {} has had INSUFFICIENT_DATA since {}: its Outpost's state is unknown, so this ALARM (since {}) is stale and nothing is launched",
            now.alarm_name,
            now.state_since.to_rfc3339(),
            reported.state_since.to_rfc3339()
        )),
    }
}

/// Whether CloudWatch's answer is older than the event: it shows the alarm in another state
/// than the event's, since a transition earlier than the one the event reports (DescribeAlarms
/// can lag the event that EventBridge delivered). Why, if so. The same state is no lag, whatever
/// the timestamps say (the read's transition names the incident); a read without the alarm is
/// none either (`still_down` reports it).
pub fn read_lags(reported: &AlarmChange, current: &[AlarmChange]) -> Option<String> {
    let now = current
        .iter()
        .find(|a| a.alarm_name == reported.alarm_name)?;
    (now.state != reported.state && now.state_since < reported.state_since).then(|| {
        format!(
            "CloudWatch still shows alarm {} in {:?} since {}, older than the event's transition to {:?} at {}",
            now.alarm_name,
            now.state,
            now.state_since.to_rfc3339(),
            reported.state,
            reported.state_since.to_rfc3339()
        )
    })
}

/// The Outposts whose alarm is in ALARM: nothing is launched onto them.
pub fn down_outposts(alarms: &[AlarmChange]) -> std::collections::HashSet<OutpostId> {
    outpost_states(alarms)
        .into_iter()
        .filter(|(_, state)| *state == AlarmState::Alarm)
        .map(|(outpost, _)| outpost)
        .collect()
}

/// Decides what an alarm change asks of us.
pub fn classify(change: &AlarmChange) -> Signal {
    let alarm = change.alarm_name.clone();
    let outpost = match watched_outpost(change) {
        Ok(outpost) => outpost,
        Err(reason) => return Signal::Ignore(reason),
    };
    match change.state {
        AlarmState::Alarm => {
            let alarm_key = change.alarm_arn.as_deref().unwrap_or(&change.alarm_name);
            Signal::OutpostDown {
                incident: IncidentId::derive(&outpost, alarm_key, change.state_since),
                outpost,
            }
        }
        AlarmState::Ok => Signal::OutpostBack { outpost },
        AlarmState::InsufficientData => Signal::Ignore(IgnoreReason::InsufficientData { alarm }),
    }
}

fn watches_connected_status(metric: &AlarmMetric) -> bool {
    let plain = metric.namespace.as_deref() == Some(OUTPOSTS_NAMESPACE)
        && metric.metric_name.as_deref() == Some(CONNECTED_STATUS);
    let in_expression = metric
        .expression
        .as_deref()
        .is_some_and(|e| e.contains(CONNECTED_STATUS) && e.contains(OUTPOSTS_NAMESPACE));
    plain || in_expression
}

/// Outpost ids named by a metric entry: its `OutpostId` dimension, or `OutpostId = 'op-…'` in
/// a Metrics Insights expression.
fn outpost_ids_of(metric: &AlarmMetric) -> Vec<OutpostId> {
    let from_dimensions = metric
        .dimensions
        .iter()
        .filter(|(name, _)| name == OUTPOST_ID_DIMENSION)
        .filter_map(|(_, value)| OutpostId::parse(value));
    let from_expression = metric
        .expression
        .as_deref()
        .map(outpost_ids_in_expression)
        .unwrap_or_default();
    from_dimensions.chain(from_expression).collect()
}

fn outpost_ids_in_expression(expression: &str) -> Vec<OutpostId> {
    let mut found = Vec::new();
    let mut rest = expression;
    while let Some(at) = rest.find(OUTPOST_ID_DIMENSION) {
        rest = &rest[at + OUTPOST_ID_DIMENSION.len()..];
        let value = rest
            .trim_start()
            .strip_prefix('=')
            .map(|v| v.trim_start().trim_start_matches(['\'', '"']))
            .map(|v| {
                v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .next()
                    .unwrap_or("")
            });
        if let Some(id) = value.and_then(OutpostId::parse) {
            found.push(id);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected_status(outpost: &str) -> AlarmMetric {
        AlarmMetric {
            namespace: Some(OUTPOSTS_NAMESPACE.into()),
            metric_name: Some(CONNECTED_STATUS.into()),
            dimensions: vec![(OUTPOST_ID_DIMENSION.into(), outpost.into())],
            expression: None,
        }
    }

    fn change(state: AlarmState, metrics: Vec<AlarmMetric>) -> AlarmChange {
        AlarmChange {
            alarm_name: "outpost-a-connected".into(),
            alarm_arn: Some(
                "arn:aws:cloudwatch:us-east-1:111122223333:alarm:outpost-a-connected".into(),
            ),
            state,
            state_since: "2026-11-24T01:02:03.456Z".parse().unwrap(),
            metrics,
            evaluation: None,
        }
    }

    const OP: &str = "op-0123456789abcdef0";

    #[test]
    fn plain_metric_alarm_is_an_outage_of_its_outpost() {
        let signal = classify(&change(AlarmState::Alarm, vec![connected_status(OP)]));
        let Signal::OutpostDown { outpost, incident } = signal else {
            panic!("{signal:?}")
        };
        assert_eq!(outpost.as_str(), OP);
        assert!(
            incident
                .as_str()
                .starts_with("op-0123456789abcdef0-20261124T010203Z-")
        );
    }

    #[test]
    fn metric_math_with_account_id_finds_the_outpost_in_its_query() {
        let math = AlarmMetric {
            expression: Some("IF(m1 < 1, 0, 1)".into()),
            ..AlarmMetric::default()
        };
        let signal = classify(&change(AlarmState::Ok, vec![math, connected_status(OP)]));
        assert_eq!(
            signal,
            Signal::OutpostBack {
                outpost: OutpostId::parse(OP).unwrap()
            }
        );
    }

    #[test]
    fn metrics_insights_expression_names_the_outpost() {
        let insights = AlarmMetric {
            expression: Some(format!(
                "SELECT MIN(ConnectedStatus) FROM SCHEMA(\"AWS/Outposts\", OutpostId) WHERE OutpostId = '{OP}'"
            )),
            ..AlarmMetric::default()
        };
        assert!(matches!(
            classify(&change(AlarmState::Alarm, vec![insights])),
            Signal::OutpostDown { outpost, .. } if outpost.as_str() == OP
        ));
    }

    #[test]
    fn other_alarms_and_missing_ids_are_ignored_with_a_reason() {
        let cpu = AlarmMetric {
            namespace: Some("AWS/EC2".into()),
            metric_name: Some("CPUUtilization".into()),
            dimensions: vec![("InstanceId".into(), "i-1".into())],
            expression: None,
        };
        assert!(matches!(
            classify(&change(AlarmState::Alarm, vec![cpu])),
            Signal::Ignore(IgnoreReason::NotConnectedStatus { .. })
        ));
        let mut no_id = connected_status(OP);
        no_id.dimensions.clear();
        assert!(matches!(
            classify(&change(AlarmState::Alarm, vec![no_id])),
            Signal::Ignore(IgnoreReason::NoOutpostId { .. })
        ));
        let two = vec![
            connected_status(OP),
            connected_status("op-0fedcba9876543210"),
        ];
        assert!(matches!(
            classify(&change(AlarmState::Alarm, two)),
            Signal::Ignore(IgnoreReason::SeveralOutposts { .. })
        ));
        assert!(matches!(
            classify(&change(
                AlarmState::InsufficientData,
                vec![connected_status(OP)]
            )),
            Signal::Ignore(IgnoreReason::InsufficientData { .. })
        ));
    }

    #[test]
    fn an_alarm_without_data_past_its_window_is_silent() {
        let at = |text: &str| -> DateTime<Utc> { text.parse().unwrap() };
        let alarms = [
            AlarmChange::connected_status(
                "a",
                "op-0aaaaaaaaaaaaaaa1",
                AlarmState::InsufficientData,
                at("2026-11-24T03:00:00Z"),
            ),
            AlarmChange::connected_status(
                "b",
                "op-0bbbbbbbbbbbbbbb2",
                AlarmState::InsufficientData,
                at("2026-11-24T03:09:30Z"),
            ),
            AlarmChange::connected_status(
                "c",
                "op-0ccccccccccccccc3",
                AlarmState::Ok,
                at("2026-11-24T00:00:00Z"),
            ),
        ];
        let silent = silent_outposts(
            &alarms,
            std::time::Duration::from_secs(180),
            at("2026-11-24T03:10:00Z"),
        );
        let a = OutpostId::parse("op-0aaaaaaaaaaaaaaa1").unwrap();
        // No data since a window before it turned INSUFFICIENT_DATA; b only just did.
        assert_eq!(silent, HashMap::from([(a, at("2026-11-24T02:57:00Z"))]));
    }

    #[test]
    fn incident_is_stable_per_transition_and_differs_across_transitions() {
        let outpost = OutpostId::parse(OP).unwrap();
        let t1: DateTime<Utc> = "2026-11-24T01:02:03.456Z".parse().unwrap();
        let t2: DateTime<Utc> = "2026-11-24T01:02:03.457Z".parse().unwrap();
        assert_eq!(
            IncidentId::derive(&outpost, "a", t1),
            IncidentId::derive(&outpost, "a", t1)
        );
        assert_ne!(
            IncidentId::derive(&outpost, "a", t1),
            IncidentId::derive(&outpost, "a", t2)
        );
        assert_ne!(
            IncidentId::derive(&outpost, "a", t1),
            IncidentId::derive(&outpost, "b", t1)
        );
    }

    #[test]
    fn outpost_ids_are_validated_and_matched_against_arns() {
        assert!(OutpostId::parse("op-xyz").is_none());
        assert!(OutpostId::parse("i-0123456789abcdef0").is_none());
        let id = OutpostId::parse(" OP-0123456789ABCDEF0 ").unwrap();
        assert_eq!(id.as_str(), OP);
        assert!(id.is_named_by_arn(
            "arn:aws:outposts:us-east-1:111122223333:outpost/op-0123456789abcdef0"
        ));
        assert!(!id.is_named_by_arn(
            "arn:aws:outposts:us-east-1:111122223333:outpost/op-0fedcba9876543210"
        ));
    }

    #[test]
    fn a_reported_alarm_is_acted_on_only_while_cloudwatch_still_shows_it_in_alarm() {
        let reported = change(AlarmState::Alarm, vec![connected_status(OP)]);
        let later = |state| AlarmChange {
            state,
            state_since: "2026-11-24T01:20:00Z".parse().unwrap(),
            ..reported.clone()
        };
        let other = AlarmChange {
            alarm_name: "another".into(),
            ..reported.clone()
        };
        // (what CloudWatch shows now, acted on?, what the reason says)
        let rows: Vec<(Vec<AlarmChange>, Option<&str>)> = vec![
            (vec![other.clone(), reported.clone()], None),
            (vec![later(AlarmState::Alarm)], None),
            (
                vec![later(AlarmState::Ok)],
                Some("is OK again since 2026-11-24T01:20:00"),
            ),
            (
                vec![later(AlarmState::InsufficientData)],
                Some("INSUFFICIENT_DATA since"),
            ),
            (
                vec![other],
                Some("is not among the alarms CloudWatch lists now"),
            ),
            (vec![], Some("is not among")),
        ];
        for (now, stale) in rows {
            match (still_down(&reported, &now), stale) {
                (Ok(current), None) => {
                    assert_eq!(current.alarm_name, reported.alarm_name);
                    assert_eq!(current.state, AlarmState::Alarm);
                }
                (Err(reason), Some(expected)) => {
                    assert!(reason.contains(expected), "{reason}");
                    assert!(reason.contains("nothing"), "{reason}");
                }
                (got, expected) => panic!("{now:?}: {got:?}, expected stale: {expected:?}"),
            }
        }
        // The incident comes from the alarm as it is now, so the handler and the sweep agree.
        let now = [later(AlarmState::Alarm)];
        let current = still_down(&reported, &now).unwrap();
        assert_ne!(classify(current), classify(&reported));
        assert_eq!(classify(current), classify(&now[0]));
    }

    #[test]
    fn down_outposts_are_those_whose_alarm_is_in_alarm() {
        let a = change(AlarmState::Alarm, vec![connected_status(OP)]);
        let b = AlarmChange {
            alarm_name: "b".into(),
            ..change(
                AlarmState::Ok,
                vec![connected_status("op-0123456789abcdef1")],
            )
        };
        let c = AlarmChange {
            alarm_name: "c".into(),
            ..change(
                AlarmState::InsufficientData,
                vec![connected_status("op-0123456789abcdef2")],
            )
        };
        let down = down_outposts(&[a, b, c]);
        assert_eq!(down.len(), 1);
        assert!(down.contains(&OutpostId::parse(OP).unwrap()));
    }

    #[test]
    fn a_read_older_than_the_event_lags_it() {
        let reported = change(AlarmState::Alarm, vec![connected_status(OP)]);
        let at = |state, since: &str| AlarmChange {
            state,
            state_since: since.parse().unwrap(),
            ..reported.clone()
        };
        let event_at = reported.state_since.to_rfc3339();
        // (what CloudWatch shows, lags?)
        let rows = [
            (vec![reported.clone()], false),
            (vec![at(AlarmState::Ok, "2026-11-24T02:00:00Z")], false),
            (vec![at(AlarmState::Ok, "2026-11-20T00:00:00Z")], true),
            // The same state: acted on, whatever its timestamp.
            (vec![at(AlarmState::Alarm, "2026-11-20T00:00:00Z")], false),
            (
                vec![at(AlarmState::InsufficientData, "2026-11-20T00:00:00Z")],
                true,
            ),
            (vec![], false),
        ];
        for (now, lags) in rows {
            let lag = read_lags(&reported, &now);
            assert_eq!(lag.is_some(), lags, "{now:?}: {lag:?}");
            if let Some(lag) = lag {
                assert!(lag.contains("older than the event's transition"), "{lag}");
                assert!(lag.contains(&event_at), "{lag}");
            }
        }
    }

    #[test]
    fn cloudwatch_reason_data_reads_as_the_datapoints_it_evaluated() {
        // As CloudWatch writes it: the event's reasonData, DescribeAlarms' StateReasonData.
        let data = r#"{"version":"1.0","queryDate":"2026-11-24T03:09:58.123+0000","startDate":"2026-11-24T03:06:00.000+0000","statistic":"Minimum","period":60,"recentDatapoints":[0.0,0.0,0.0],"threshold":1.0,"evaluatedDatapoints":[{"timestamp":"2026-11-24T03:08:00.000+0000","sampleCount":1.0,"value":0.0},{"timestamp":"2026-11-24T03:07:00.000+0000","sampleCount":1.0,"value":0.0},{"timestamp":"2026-11-24T03:06:00.000+0000","value":1.0},{"timestamp":"2026-11-24T03:05:00.000+0000"}]}"#;
        let evaluation = Evaluation::from_reason_data(data).unwrap();
        assert_eq!(evaluation.period_seconds, 60);
        let read: Vec<(String, Option<bool>)> = evaluation
            .datapoints
            .iter()
            .map(|p| (p.at.to_rfc3339(), p.breaching))
            .collect();
        assert_eq!(
            read,
            [
                ("2026-11-24T03:05:00+00:00".to_owned(), None),
                ("2026-11-24T03:06:00+00:00".to_owned(), Some(false)),
                ("2026-11-24T03:07:00+00:00".to_owned(), Some(true)),
                ("2026-11-24T03:08:00+00:00".to_owned(), Some(true)),
            ],
            "oldest first, a missing value unknown"
        );
        assert_eq!(
            evaluation.breaching_since(),
            Some("2026-11-24T03:07:00Z".parse().unwrap())
        );
        for unreadable in [
            "",
            "not json",
            r#"{"period":60}"#,
            r#"{"period":60,"evaluatedDatapoints":[]}"#,
            r#"{"evaluatedDatapoints":[{"timestamp":"2026-11-24T03:08:00Z","value":0}]}"#,
        ] {
            assert_eq!(
                Evaluation::from_reason_data(unreadable),
                None,
                "{unreadable}"
            );
        }
    }
}
