//! SNS in memory: every notice kept.

use super::*;
use crate::Op;

impl Notifier for InMemoryAws {
    async fn publish(&self, notice: &Notice) -> Result<String, AwsError> {
        self.call(Op::Publish, |w| {
            w.published.push(notice.clone());
            Ok(format!("msg-{}", w.published.len()))
        })
        .await
    }
}
