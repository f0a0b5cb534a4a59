//! Telling people: a notice published, and the instances it spoke of marked so that a repeat
//! does not say it again.

use tracing::{info, warn};

use autorestart_core::error::AwsError;
use autorestart_core::ids::InstanceId;
use autorestart_core::report::{AlarmReport, Notification};
use autorestart_core::settings::Place;
use autorestart_core::{notice, tags};

use crate::error::FlowError;
use crate::ports::{Compute, Notice, Notifier};

/// Publishes the report of the agent at `place`; then records on `reported` replacements that
/// they were reported, so that a repeated event does not notify again.
pub async fn publish<N: Notifier, C: Compute>(
    notifier: &N,
    compute: &C,
    place: &Place,
    mut report: AlarmReport,
    reported: &[InstanceId],
) -> Result<AlarmReport, FlowError> {
    let notice = notice::render(&report, place);
    let marker = report
        .incident
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    match publish_marked(notifier, compute, &notice, reported, &marker).await {
        Ok(message_id) => {
            report.notification = Notification::Published { message_id };
            Ok(report)
        }
        Err(error) => Err(FlowError::notify(error, &report)),
    }
}

/// Publishes a notice, then tags `reported` instances `autorestart:reported=<marker>` so that
/// a repeat can tell it was said. A failed tag only risks a repeated notice: it is logged.
pub async fn publish_marked<N: Notifier, C: Compute>(
    notifier: &N,
    compute: &C,
    notice: &Notice,
    reported: &[InstanceId],
    marker: &str,
) -> Result<String, AwsError> {
    let message_id = notifier.publish(notice).await.inspect_err(|error| {
        warn!(%error, "notification failed");
    })?;
    info!(%message_id, subject = %notice.subject, "notification published");
    if !reported.is_empty() {
        let tag = [(tags::REPORTED.to_owned(), marker.to_owned())];
        if let Err(error) = compute.tag(reported, &tag).await {
            warn!(%error, "could not record that the notice was sent; a repeat may notify again");
        }
    }
    Ok(message_id)
}

/// Records on each original the digest of the failure or unfinished state just reported,
/// one call per digest; a failed record only means it may be said again.
pub async fn record_said<C: Compute>(compute: &C, said: &[(InstanceId, String)]) {
    let records = said.iter().map(|(id, digest)| {
        (
            id.clone(),
            vec![(tags::OUTCOME_REPORTED.to_owned(), digest.clone())],
        )
    });
    if let Some(error) = crate::ports::tag_grouped(compute, records).await {
        warn!(%error, "could not record that the outcome was reported; it may be said again");
    }
}
