//! IAM refusing one alternate is that alternate's failure: the next alternate is tried, as for
//! capacity; an instance every alternate of which is refused is reported with the IAM fix.

use autorestart_testkit::Op;
use std::time::Duration;

use autorestart_core::error::{AwsError, ErrorKind};
use autorestart_core::outcome::OutcomeKind;
use autorestart_core::settings::Mode;
use autorestart_core::tags;
use autorestart_testkit::InMemoryAws;

mod support;
use support::agent_world::*;

fn refused() -> AwsError {
    AwsError::from_code(
        "ec2:RunInstances",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation. Encoded authorization failure message: abc",
    )
}

/// The world with web-1 (lt-0a on the failed Outpost, then lt-0b, then lt-0c) as the only
/// protected instance on A, and `n` RunInstances refused by IAM.
fn refusing(n: usize) -> InMemoryAws {
    let mut w = world();
    w.instances.remove("i-web2");
    w.failures.insert(Op::RunInstances, vec![refused(); n]);
    InMemoryAws::new(w, Duration::ZERO)
}

#[tokio::test]
async fn a_refused_alternate_gives_way_to_the_next() {
    let aws = refusing(1);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Recovered);
    let web1 = &report.instances[0];
    assert_eq!(web1.subnet_id.as_deref(), Some("subnet-c"), "{web1:?}");
    assert_eq!(web1.failed_attempts.len(), 1, "{web1:?}");
    assert_eq!(web1.failed_attempts[0].template.id, "lt-0b");
    assert_eq!(web1.failed_attempts[0].error.code, "UnauthorizedOperation");
    aws.with(|w| {
        let replacement = w.instances["i-web1"].tag(tags::REPLACED_BY).unwrap();
        assert_eq!(
            w.instances[replacement].subnet_id.as_deref(),
            Some("subnet-c")
        );
    });
}

#[tokio::test]
async fn every_alternate_refused_is_reported_with_the_iam_fix() {
    let aws = refusing(2);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    assert_eq!(outcome_of(&report, "i-web1"), OutcomeKind::Failed);
    let web1 = &report.instances[0];
    assert_eq!(web1.error_kind, Some(ErrorKind::AccessDenied), "{web1:?}");
    let reason = web1.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("lt-0b")
            && reason.contains("lt-0c")
            && reason.contains("UnauthorizedOperation"),
        "{reason}"
    );
    assert!(
        web1.advice
            .as_deref()
            .unwrap_or_default()
            .contains("grant the function's role"),
        "{web1:?}"
    );
    aws.with(|w| assert!(w.instances["i-web1"].tag(tags::REPLACED_BY).is_none()));
}
