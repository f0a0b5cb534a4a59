//! [`Notifier`] over Amazon SNS.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::sdk_error::from_sdk;
use autorestart_core::error::AwsError;
use autorestart_flows::ports::{Notice, Notifier};

/// Publishes notices to one topic.
#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// Publishes to `topic_arn` through a configured client.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, notice: &Notice) -> Result<String, AwsError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&notice.subject)
            .message(&notice.body);
        for (name, value) in &notice.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set");
            request = request.message_attributes(name, attribute);
        }
        let output = request
            .send()
            .await
            .map_err(|e| from_sdk("sns:Publish", e))?;
        output
            .message_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::malformed("sns:Publish", "message id"))
    }
}
