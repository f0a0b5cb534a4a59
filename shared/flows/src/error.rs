//! Why a flow could not finish: what a Lambda function returns as its error.

use autorestart_core::error::AwsError;

/// Why an alarm could not be handled; every variant is safe to retry.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Nothing was changed: the Outpost's instances or templates could not be read.
    #[error("could not read what to recover, nothing was changed: {0}. {advice}", advice = .0.kind.advice())]
    Read(#[source] AwsError),
    /// The work is done but people were not told; a retry repeats only the notice.
    #[error("recovery handled but the notification failed: {error}. {advice}", advice = .error.kind.advice())]
    Notify {
        /// The publish error.
        #[source]
        error: AwsError,
        /// What was done, as the report's JSON.
        report: serde_json::Value,
    },
}

impl FlowError {
    /// The notice failed after the work was done; `report` says what was done.
    pub fn notify(error: AwsError, report: &impl serde::Serialize) -> Self {
        Self::Notify {
            error,
            report: serde_json::to_value(report).unwrap_or_default(),
        }
    }
}
