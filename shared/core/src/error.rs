//! Errors from AWS calls, sorted into the kinds that decide what happens next.

use std::fmt;

/// What kind of failure an AWS call met; decides whether to retry, try another template, or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The API throttled us after the SDK's own retries.
    Throttled,
    /// IAM denied the call.
    AccessDenied,
    /// The resource named in the call does not exist.
    NotFound,
    /// The chosen Outpost or instance type has no capacity now.
    InsufficientCapacity,
    /// The launch template, or something it names (AMI, subnet), cannot be used.
    UnusableTemplate,
    /// The request never got an answer (network, timeout).
    Transient,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Sorts an AWS error code into a kind.
    pub fn from_code(code: &str) -> Self {
        match code {
            "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "ThrottledException"
            | "RequestThrottled" => Self::Throttled,
            "UnauthorizedOperation"
            | "AccessDenied"
            | "AccessDeniedException"
            | "AuthorizationError"
            | "Blocked" => Self::AccessDenied,
            "InsufficientInstanceCapacity"
            | "InsufficientCapacityOnOutpost"
            | "InsufficientHostCapacity"
            | "InsufficientCapacity" => Self::InsufficientCapacity,
            code if code.starts_with("InvalidLaunchTemplate")
                || code.starts_with("InvalidAMIID")
                || code.starts_with("InvalidSubnetID")
                || code.starts_with("InvalidNetworkInterface")
                || code.starts_with("InvalidGroup")
                || code == "InvalidParameterCombination"
                || code == "InvalidParameterValue"
                || code == "MissingParameter"
                || code == "Unsupported" =>
            {
                Self::UnusableTemplate
            }
            code if code.ends_with("NotFound") || code.ends_with("NotFoundException") => {
                Self::NotFound
            }
            "ServiceUnavailable" | "InternalError" | "InternalFailure" | "Unavailable" => {
                Self::Transient
            }
            _ => Self::Other,
        }
    }

    /// Whether running again later can succeed without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Throttled | Self::Transient | Self::InsufficientCapacity
        )
    }

    /// Whether a launch that failed so is that alternate's failure, so the next alternate is
    /// tried: no capacity there, a template that cannot launch, or IAM refusing this template
    /// (its role, its KMS key, its subnet's owner): another alternate may be allowed.
    pub fn tries_next_alternate(self) -> bool {
        matches!(
            self,
            Self::InsufficientCapacity | Self::UnusableTemplate | Self::AccessDenied
        )
    }

    /// What an operator should do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Throttled => {
                "AWS throttled the calls; the next sweep or a re-run retries. Raise the API quota if it recurs."
            }
            Self::AccessDenied => {
                "grant the function's role the denied action (see template.yaml) and check that the resource carries autorestart:enabled=true."
            }
            Self::NotFound => {
                "the named resource does not exist: fix the tag or configuration that names it."
            }
            Self::InsufficientCapacity => {
                "no alternate had capacity: free capacity on an alternate Outpost server or add another recovery template."
            }
            Self::UnusableTemplate => {
                "fix the recovery launch template (AMI, subnet, network interfaces) or name another in autorestart:recovery-templates."
            }
            Self::Transient => {
                "AWS did not answer; re-run the recovery (invoke again or wait for the sweep)."
            }
            Self::Other => "read the error and the function's log; re-run once fixed.",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Throttled => "throttled",
            Self::AccessDenied => "access denied",
            Self::NotFound => "not found",
            Self::InsufficientCapacity => "insufficient capacity",
            Self::UnusableTemplate => "unusable launch template",
            Self::Transient => "no answer",
            Self::Other => "error",
        };
        f.write_str(text)
    }
}

/// A failed AWS call: which operation, what kind of failure, and AWS's own code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{operation}: {kind} ({code}): {message}")]
pub struct AwsError {
    /// The API operation, e.g. `ec2:RunInstances`.
    pub operation: &'static str,
    /// The kind, which decides what happens next.
    pub kind: ErrorKind,
    /// AWS's error code, or a word for errors without one.
    pub code: String,
    /// AWS's message.
    pub message: String,
}

impl AwsError {
    /// An error from an AWS error code and message.
    pub fn from_code(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind: ErrorKind::from_code(code),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// An error for a call that never got an answer.
    pub fn transient(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind: ErrorKind::Transient,
            code: "NoResponse".into(),
            message: message.into(),
        }
    }

    /// An answer that lacks what the API promises.
    pub fn malformed(operation: &'static str, what: &str) -> Self {
        Self {
            operation,
            kind: ErrorKind::Other,
            code: "MalformedResponse".into(),
            message: format!("the response has no {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_into_kinds() {
        let table = [
            ("RequestLimitExceeded", ErrorKind::Throttled),
            ("Throttling", ErrorKind::Throttled),
            ("UnauthorizedOperation", ErrorKind::AccessDenied),
            ("AccessDenied", ErrorKind::AccessDenied),
            (
                "InsufficientInstanceCapacity",
                ErrorKind::InsufficientCapacity,
            ),
            (
                "InsufficientCapacityOnOutpost",
                ErrorKind::InsufficientCapacity,
            ),
            (
                "InvalidLaunchTemplateId.NotFound",
                ErrorKind::UnusableTemplate,
            ),
            (
                "InvalidLaunchTemplateId.VersionNotFound",
                ErrorKind::UnusableTemplate,
            ),
            ("InvalidAMIID.Unavailable", ErrorKind::UnusableTemplate),
            ("TargetGroupNotFound", ErrorKind::NotFound),
            ("NotFoundException", ErrorKind::NotFound),
            ("InternalError", ErrorKind::Transient),
            ("IdempotentParameterMismatch", ErrorKind::Other),
        ];
        for (code, kind) in table {
            assert_eq!(ErrorKind::from_code(code), kind, "{code}");
        }
    }

    #[test]
    fn only_waiting_can_fix_retryable_kinds() {
        assert!(ErrorKind::Throttled.is_retryable());
        assert!(!ErrorKind::AccessDenied.is_retryable());
        assert!(!ErrorKind::UnusableTemplate.is_retryable());
    }

    #[test]
    fn what_one_alternate_cannot_do_another_may() {
        for (kind, next) in [
            (ErrorKind::InsufficientCapacity, true),
            (ErrorKind::UnusableTemplate, true),
            (ErrorKind::AccessDenied, true),
            (ErrorKind::Throttled, false),
            (ErrorKind::Transient, false),
            (ErrorKind::NotFound, false),
            (ErrorKind::Other, false),
        ] {
            assert_eq!(kind.tries_next_alternate(), next, "{kind:?}");
        }
    }
}
