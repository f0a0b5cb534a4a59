//! [`Alarms`] over Amazon CloudWatch.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, MetricAlarm, StateValue};
use chrono::{DateTime, Utc};

use super::sdk_error::from_sdk;
use autorestart_core::alarm::{AlarmChange, AlarmMetric, AlarmState, Evaluation};
use autorestart_core::error::AwsError;
use autorestart_flows::ports::Alarms;

/// CloudWatch through the SDK client.
#[derive(Clone, Debug)]
pub struct CloudWatchAlarms {
    client: Client,
}

impl CloudWatchAlarms {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Alarms for CloudWatchAlarms {
    async fn alarms_named(&self, prefix: &str) -> Result<Vec<AlarmChange>, AwsError> {
        let mut request = self
            .client
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm);
        if !prefix.is_empty() {
            request = request.alarm_name_prefix(prefix);
        }
        let mut pages = request.into_paginator().send();
        let mut alarms = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk("cloudwatch:DescribeAlarms", e))?;
            alarms.extend(page.metric_alarms().iter().filter_map(change_from_sdk));
        }
        Ok(alarms)
    }

    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        let output = self
            .client
            .list_tags_for_resource()
            .resource_arn(alarm_arn)
            .send()
            .await
            .map_err(|e| from_sdk("cloudwatch:ListTagsForResource", e))?;
        Ok(output
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect())
    }
}

/// An alarm in its current state, as the change that put it there.
fn change_from_sdk(alarm: &MetricAlarm) -> Option<AlarmChange> {
    let state = match alarm.state_value()? {
        StateValue::Alarm => AlarmState::Alarm,
        StateValue::Ok => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    };
    let since = alarm
        .state_transitioned_timestamp()
        .or(alarm.state_updated_timestamp())
        .and_then(|t| t.to_millis().ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis)?;
    let mut metrics = Vec::new();
    if alarm.metric_name().is_some() {
        metrics.push(AlarmMetric {
            namespace: alarm.namespace().map(str::to_owned),
            metric_name: alarm.metric_name().map(str::to_owned),
            dimensions: dimensions(alarm.dimensions()),
            expression: None,
        });
    }
    for query in alarm.metrics() {
        let metric = query.metric_stat().and_then(|s| s.metric());
        metrics.push(AlarmMetric {
            namespace: metric.and_then(|m| m.namespace()).map(str::to_owned),
            metric_name: metric.and_then(|m| m.metric_name()).map(str::to_owned),
            dimensions: metric
                .map(|m| dimensions(m.dimensions()))
                .unwrap_or_default(),
            expression: query.expression().map(str::to_owned),
        });
    }
    Some(AlarmChange {
        alarm_name: alarm.alarm_name()?.to_owned(),
        alarm_arn: alarm.alarm_arn().map(str::to_owned),
        state,
        state_since: since,
        metrics,
        evaluation: alarm
            .state_reason_data()
            .and_then(Evaluation::from_reason_data),
    })
}

fn dimensions(list: &[Dimension]) -> Vec<(String, String)> {
    list.iter()
        .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
        .collect()
}
