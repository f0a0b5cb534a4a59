//! CloudWatch metrics as embedded metric format (EMF) documents: one JSON object per log line,
//! which CloudWatch Logs turns into metrics with no API call. Pure: the function prints them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::outcome::OutcomeKind;
use crate::report::SweepReport;
use crate::report::{Action, AlarmReport};
use crate::settings::Mode;

/// The dimension naming the Outpost; `region` for instances on no Outpost.
pub const OUTPOST_DIMENSION: &str = "Outpost";
/// The dimension naming why a recovery failed.
pub const REASON_DIMENSION: &str = "Reason";

/// A metric's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration in seconds.
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Seconds => "Seconds",
        }
    }
}

/// One EMF document: `metrics` (name, unit, values) under `dimension`, also aggregated with no
/// dimension, so a dashboard can graph totals and per-dimension series alike.
pub fn document(
    namespace: &str,
    at: DateTime<Utc>,
    dimension: Option<(&str, &str)>,
    metrics: &[(&str, Unit, Vec<f64>)],
) -> Value {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    let dimension_sets: Vec<Vec<&str>> = match dimension {
        Some((key, _)) => vec![vec![], vec![key]],
        None => vec![vec![]],
    };
    let mut doc = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimension_sets,
                "Metrics": definitions,
            }],
        },
    });
    if let Some((key, value)) = dimension {
        doc[key] = json!(value);
    }
    for (name, _, values) in metrics {
        doc[*name] = match values.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
    }
    doc
}

/// The most values EMF takes for one metric in one document.
pub const MAX_VALUES: usize = 100;

/// As [`document`], split so that no metric carries more than [`MAX_VALUES`] values in one
/// document: no sample is dropped.
pub fn documents(
    namespace: &str,
    at: DateTime<Utc>,
    dimension: Option<(&str, &str)>,
    metrics: &[(&str, Unit, Vec<f64>)],
) -> Vec<Value> {
    let parts = metrics
        .iter()
        .map(|(_, _, values)| values.len().div_ceil(MAX_VALUES))
        .max()
        .unwrap_or(0)
        .max(1);
    (0..parts)
        .map(|part| {
            let chunk: Vec<(&str, Unit, Vec<f64>)> = metrics
                .iter()
                .filter_map(|(name, unit, values)| {
                    let values: Vec<f64> = values
                        .iter()
                        .skip(part * MAX_VALUES)
                        .take(MAX_VALUES)
                        .copied()
                        .collect();
                    (!values.is_empty()).then_some((*name, *unit, values))
                })
                .collect();
            document(namespace, at, dimension, &chunk)
        })
        .collect()
}

/// Metrics of a live recovery: `Recovered`, `RecoverySeconds` (alarm to running) and
/// `RecoveryFailed`, the latter also by reason. Repeats (already recovered) count nothing.
pub fn recovery_documents(namespace: &str, report: &AlarmReport, at: DateTime<Utc>) -> Vec<Value> {
    if report.action != Action::Recovery || report.mode != Mode::Recover {
        return Vec::new();
    }
    let outpost = report.outpost.as_ref().map_or("unknown", |o| o.as_str());
    let recovered: Vec<_> = report
        .instances
        .iter()
        .filter(|i| {
            matches!(
                i.outcome,
                OutcomeKind::Recovered | OutcomeKind::DrsRecoveryStarted
            )
        })
        .collect();
    let failed: Vec<_> = report.instances.iter().filter(|i| i.failed()).collect();
    if recovered.is_empty() && failed.is_empty() {
        return Vec::new();
    }
    let seconds: Vec<f64> = recovered
        .iter()
        .filter_map(|i| i.running_after_seconds)
        .map(|s| s as f64)
        .collect();
    let mut metrics = vec![
        ("Recovered", Unit::Count, vec![recovered.len() as f64]),
        ("RecoveryFailed", Unit::Count, vec![failed.len() as f64]),
    ];
    if !seconds.is_empty() {
        metrics.push(("RecoverySeconds", Unit::Seconds, seconds));
    }
    let mut docs = documents(namespace, at, Some((OUTPOST_DIMENSION, outpost)), &metrics);
    let mut reasons: Vec<String> = failed
        .iter()
        .map(|i| {
            i.error_kind
                .map_or("unrecoverable".to_owned(), |k| k.to_string())
        })
        .collect();
    reasons.sort();
    for reason in dedup_counts(reasons) {
        docs.push(by_reason(namespace, at, &reason.0, reason.1));
    }
    docs
}

fn by_reason(namespace: &str, at: DateTime<Utc>, reason: &str, count: usize) -> Value {
    let mut doc = document(
        namespace,
        at,
        None,
        &[("RecoveryFailed", Unit::Count, vec![count as f64])],
    );
    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([[REASON_DIMENSION]]);
    doc[REASON_DIMENSION] = json!(reason);
    doc
}

fn dedup_counts(sorted: Vec<String>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for item in sorted {
        match counts.last_mut() {
            Some((last, n)) if *last == item => *n += 1,
            _ => counts.push((item, 1)),
        }
    }
    counts
}

/// Metrics of a sweep: readiness per Outpost (`InstancesReady`, `InstancesNotReady`),
/// `InstancesFenced`, and the recoveries it finished.
pub fn sweep_documents(namespace: &str, report: &SweepReport, at: DateTime<Utc>) -> Vec<Value> {
    let mut per_outpost: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for verdict in &report.readiness.instances {
        let key = verdict
            .outpost
            .as_ref()
            .map_or("region".to_owned(), |o| o.to_string());
        let entry = per_outpost.entry(key).or_default();
        if verdict.is_ready() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    let mut docs: Vec<Value> = if per_outpost.is_empty() && report.readiness.error.is_none() {
        vec![document(
            namespace,
            at,
            None,
            &[
                ("InstancesReady", Unit::Count, vec![0.0]),
                ("InstancesNotReady", Unit::Count, vec![0.0]),
            ],
        )]
    } else {
        per_outpost
            .iter()
            .map(|(outpost, (ready, not_ready))| {
                document(
                    namespace,
                    at,
                    Some((OUTPOST_DIMENSION, outpost)),
                    &[
                        ("InstancesReady", Unit::Count, vec![*ready as f64]),
                        ("InstancesNotReady", Unit::Count, vec![*not_ready as f64]),
                    ],
                )
            })
            .collect()
    };
    let fenced: usize = report
        .fencing
        .iter()
        .filter_map(|f| f.fencing.as_ref())
        .filter(|f| f.mode == Mode::Recover)
        .map(|f| f.fenced.len())
        .sum();
    docs.push(document(
        namespace,
        at,
        None,
        &[("InstancesFenced", Unit::Count, vec![fenced as f64])],
    ));
    for recovery in &report.recoveries {
        docs.extend(recovery_documents(namespace, recovery, at));
    }
    for failback in &report.failbacks {
        docs.extend(failback_documents(namespace, failback, at));
    }
    docs
}

/// Metrics of a failback that acted: `FailedBack`, `FailbackSeconds` (its start to home) and
/// `FailbackFailed` (rolled back, or blocked when asked), the latter also by reason. A dry run
/// counts nothing.
pub fn failback_documents(
    namespace: &str,
    report: &crate::failback::FailbackReport,
    at: DateTime<Utc>,
) -> Vec<Value> {
    use crate::failback::Status;
    if report.dry_run {
        return Vec::new();
    }
    let home: Vec<_> = report
        .instances
        .iter()
        .filter(|i| i.status == Status::FailedBack)
        .collect();
    let mut reasons: Vec<String> = report
        .instances
        .iter()
        .flat_map(|i| match &i.status {
            Status::RolledBack { fault } => vec![fault.as_str().to_owned()],
            Status::Blocked if report.asked => i.codes.clone(),
            _ => Vec::new(),
        })
        .collect();
    if home.is_empty() && reasons.is_empty() {
        return Vec::new();
    }
    let failed = report
        .instances
        .iter()
        .filter(|i| {
            matches!(i.status, Status::RolledBack { .. })
                || report.asked && i.status == Status::Blocked
        })
        .count();
    let seconds: Vec<f64> = home
        .iter()
        .filter_map(|i| i.seconds)
        .map(|s| s as f64)
        .collect();
    let mut metrics = vec![
        ("FailedBack", Unit::Count, vec![home.len() as f64]),
        ("FailbackFailed", Unit::Count, vec![failed as f64]),
    ];
    if !seconds.is_empty() {
        metrics.push(("FailbackSeconds", Unit::Seconds, seconds));
    }
    let outpost = report.outpost.as_str();
    let mut docs = documents(namespace, at, Some((OUTPOST_DIMENSION, outpost)), &metrics);
    reasons.sort();
    for (reason, count) in dedup_counts(reasons) {
        let mut doc = document(
            namespace,
            at,
            None,
            &[("FailbackFailed", Unit::Count, vec![count as f64])],
        );
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([[REASON_DIMENSION]]);
        doc[REASON_DIMENSION] = json!(reason);
        docs.push(doc);
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_its_metrics_and_carries_their_values_at_the_root() {
        let at: DateTime<Utc> = "2026-11-24T03:00:00Z".parse().unwrap();
        let doc = document(
            "OutpostsAutorestart",
            at,
            Some(("Outpost", "op-0a")),
            &[
                ("Recovered", Unit::Count, vec![2.0]),
                ("RecoverySeconds", Unit::Seconds, vec![40.0, 55.0]),
            ],
        );
        assert_eq!(doc["_aws"]["Timestamp"], json!(at.timestamp_millis()));
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], json!("OutpostsAutorestart"));
        assert_eq!(directive["Dimensions"], json!([[], ["Outpost"]]));
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "RecoverySeconds", "Unit": "Seconds"})
        );
        assert_eq!(doc["Outpost"], json!("op-0a"));
        assert_eq!(doc["Recovered"], json!(2.0));
        assert_eq!(doc["RecoverySeconds"], json!([40.0, 55.0]));
    }

    #[test]
    fn more_than_a_hundred_values_are_split_over_documents_and_none_is_dropped() {
        let at: DateTime<Utc> = "2026-11-24T03:00:00Z".parse().unwrap();
        let seconds: Vec<f64> = (0..250).map(f64::from).collect();
        let docs = documents(
            "N",
            at,
            Some(("Outpost", "op-0a")),
            &[
                ("Recovered", Unit::Count, vec![250.0]),
                ("RecoverySeconds", Unit::Seconds, seconds.clone()),
            ],
        );
        assert_eq!(docs.len(), 3);
        let mut carried: Vec<f64> = Vec::new();
        for doc in &docs {
            let values = match &doc["RecoverySeconds"] {
                Value::Array(many) => many.iter().map(|v| v.as_f64().unwrap()).collect(),
                one => vec![one.as_f64().unwrap()],
            };
            assert!(values.len() <= MAX_VALUES);
            carried.extend(values);
            assert_eq!(doc["Outpost"], json!("op-0a"));
        }
        assert_eq!(carried, seconds);
        assert_eq!(docs[0]["Recovered"], json!(250.0), "counted once");
        assert!(docs[1].get("Recovered").is_none());
        let declared = &docs[1]["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(
            declared,
            &json!([{"Name": "RecoverySeconds", "Unit": "Seconds"}])
        );
    }

    #[test]
    fn counts_repeat_in_order() {
        let sorted = ["a", "a", "b"].map(str::to_owned).to_vec();
        assert_eq!(dedup_counts(sorted), vec![("a".into(), 2), ("b".into(), 1)]);
    }
}
