//! CloudWatch alarms in memory.

use super::*;
use crate::Op;

impl Alarms for InMemoryAws {
    async fn alarms_named(&self, prefix: &str) -> Result<Vec<AlarmChange>, AwsError> {
        self.call(Op::DescribeAlarms, |w| {
            Ok(w.alarms
                .iter()
                .filter(|a| a.alarm_name.starts_with(prefix))
                .cloned()
                .collect())
        })
        .await
    }

    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        self.call(Op::ListTagsForResource, |w| {
            Ok(w.alarm_tags.get(alarm_arn).cloned().unwrap_or_default())
        })
        .await
    }
}
