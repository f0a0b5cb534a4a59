//! Turns SDK errors into [`AwsError`]s with a kind.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

use autorestart_core::error::AwsError;

/// Sorts an SDK error: service errors by their code, the rest as calls without an answer.
pub(crate) fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            AwsError::from_code(
                operation,
                err.code().unwrap_or("Unknown"),
                err.message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| DisplayErrorContext(err).to_string()),
            )
        }
        SdkError::ConstructionFailure(_) => AwsError {
            operation,
            kind: autorestart_core::error::ErrorKind::Other,
            code: "InvalidRequest".into(),
            message: DisplayErrorContext(&error).to_string(),
        },
        _ => AwsError::transient(operation, DisplayErrorContext(&error).to_string()),
    }
}
