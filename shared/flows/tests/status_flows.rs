//! The operator's `status` on the in-memory AWS: after a recovery it shows the Outpost in
//! ALARM, the proven replacement chain and a standby, and it only reads.

use std::time::Duration;

use autorestart_core::alarm::{AlarmState, OutpostId};
use autorestart_core::settings::Mode;
use autorestart_core::tags;
use autorestart_flows::agent::{Agent, Ports};
use autorestart_testkit::{InMemoryAws, Op};

mod support;
use support::agent_world::*;

const READS: [Op; 15] = [
    Op::DescribeAlarms,
    Op::DescribeImages,
    Op::DescribeInstances,
    Op::DescribeJobLogItems,
    Op::DescribeJobs,
    Op::DescribeLaunchTemplateVersions,
    Op::DescribeLaunchTemplates,
    Op::DescribeRecoveryInstances,
    Op::DescribeRecoverySnapshots,
    Op::DescribeSourceServers,
    Op::DescribeTargetHealth,
    Op::GetLaunchConfiguration,
    Op::ListAssetInstances,
    Op::ListAssets,
    Op::ListTagsForResource,
];

#[tokio::test]
async fn status_after_a_recovery_shows_the_chain_and_only_reads() {
    let mut w = sweep_world(AlarmState::Alarm);
    w.add_replacement(
        "i-standby",
        "subnet-c",
        "i-elsewhere",
        &[(tags::ENABLED, "true"), (tags::STANDBY_FOR, "i-elsewhere")],
    );
    w.set_state("i-standby", "stopped");
    let aws = InMemoryAws::new(w, Duration::ZERO);
    handle(&aws, Mode::Recover, &down()).await.unwrap();
    let replacement = aws.with(|w| {
        w.instances["i-web1"]
            .tag(tags::REPLACED_BY)
            .unwrap()
            .to_owned()
    });
    let before = aws.with(|w| w.calls.len());

    let agent = Agent::new(Ports::all(aws.clone()), settings(Mode::Recover));
    let status = agent.status(None).await.unwrap();

    let calls = aws.with(|w| w.calls[before..].to_vec());
    assert!(
        calls.iter().all(|c| READS.contains(c)),
        "status only reads: {calls:?}"
    );
    let a = status
        .outposts
        .iter()
        .find(|o| o.outpost.as_str() == OUTPOST_A)
        .unwrap();
    assert_eq!(a.alarm.as_deref(), Some("ALARM"));
    assert_eq!(status.outposts.len(), 3, "A, B and C each have an alarm");
    let web1 = status
        .instances
        .iter()
        .find(|i| i.instance_id == "i-web1")
        .unwrap();
    assert_eq!(web1.chain.len(), 1);
    assert_eq!(web1.chain[0].instance_id.as_str(), replacement);
    assert_eq!(web1.chain[0].proven, Some(true));
    assert!(web1.incident.is_some());
    let elsewhere = status
        .instances
        .iter()
        .find(|i| i.instance_id == "i-elsewhere")
        .unwrap();
    assert_eq!(elsewhere.standbys[0].instance_id.as_str(), "i-standby");
    assert_eq!(elsewhere.standbys[0].state, "stopped");
    assert!(
        !status
            .instances
            .iter()
            .any(|i| i.instance_id == "i-bystander"),
        "not opted in"
    );

    let only_b = OutpostId::parse("op-0bbbbbbbbbbbbbbb2").unwrap();
    let before = aws.with(|w| w.calls.len());
    let b = agent.status(Some(&only_b)).await.unwrap();
    let calls = aws.with(|w| w.calls[before..].to_vec());
    assert!(calls.iter().all(|c| READS.contains(c)), "{calls:?}");
    assert_eq!(b.outposts.len(), 1);
    assert!(
        b.instances
            .iter()
            .all(|i| i.outpost.as_ref() == Some(&only_b)),
        "{:?}",
        b.instances
    );
    assert!(b.instances.iter().any(|i| i.instance_id == "i-elsewhere"));
}
