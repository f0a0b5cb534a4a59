//! Moves target-group membership from originals to their replacements: register the
//! replacement the way the original was registered, wait (bounded) for it to be healthy,
//! then deregister the original.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use tracing::{info, warn};

use autorestart_core::error::AwsError;
use autorestart_core::ids::TargetGroupArn;
use autorestart_core::inventory::Instance;
use autorestart_core::moves::{self, Move, MoveOutcome, Unmovable};
use autorestart_core::outcome::InstanceOutcome;
use autorestart_core::settings::{HealthWait, Settings};
use autorestart_core::vocabulary::TargetHealth;

use crate::budget::Budget;
use crate::ports::{LoadBalancing, Membership, Target};

/// Carries out the moves, one target group at a time per task, up to `concurrency` groups at once.
pub async fn execute_moves<L: LoadBalancing>(
    balancer: &L,
    moves: Vec<Move>,
    wait: HealthWait,
    concurrency: usize,
) -> Vec<MoveOutcome> {
    let mut by_group: BTreeMap<TargetGroupArn, Vec<Move>> = BTreeMap::new();
    for m in moves {
        by_group
            .entry(m.target_group_arn.clone())
            .or_default()
            .push(m);
    }
    // One deadline for every group, however many wait their turn for a slot, and never past
    // the invocation's budget, whoever calls.
    let until = tokio::time::Instant::now() + Budget::current().bound(wait.timeout);
    let per_group: Vec<Vec<MoveOutcome>> = futures::stream::iter(by_group)
        .map(|(group, moves)| async move { move_group(balancer, &group, moves, wait, until).await })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    per_group.into_iter().flatten().collect()
}

async fn move_group<L: LoadBalancing>(
    balancer: &L,
    group: &TargetGroupArn,
    moves: Vec<Move>,
    wait: HealthWait,
    until: tokio::time::Instant,
) -> Vec<MoveOutcome> {
    let mut outcomes: Vec<MoveOutcome> = moves
        .into_iter()
        .map(|planned| MoveOutcome {
            registered: planned.already_registered,
            planned,
            health: None,
            deregistered: false,
            note: None,
        })
        .collect();
    register(balancer, group, &mut outcomes).await;
    await_health(balancer, group, &mut outcomes, wait, until).await;
    deregister(balancer, group, &mut outcomes).await;
    outcomes
}

/// Registers the replacements not registered yet; a refused one leaves its original alone.
async fn register<L: LoadBalancing>(
    balancer: &L,
    group: &TargetGroupArn,
    outcomes: &mut [MoveOutcome],
) {
    let to_register: Vec<Target> = unique(
        outcomes
            .iter()
            .filter(|o| !o.registered)
            .map(|o| &o.planned.to),
    );
    if !to_register.is_empty() {
        info!(target_group = %group, targets = ?to_register, "registering replacements");
        let register = |batch| balancer.register(group, batch);
        let failures = each_on_failure(&to_register, register, group, "register").await;
        for o in outcomes.iter_mut().filter(|o| !o.registered) {
            match failures.get(&o.planned.to) {
                None => o.registered = true,
                Some(error) => o.note = Some(moves::not_registered(group, error)),
            }
        }
    }
}

/// Waits (bounded) for the registered replacements to turn healthy.
async fn await_health<L: LoadBalancing>(
    balancer: &L,
    group: &TargetGroupArn,
    outcomes: &mut [MoveOutcome],
    wait: HealthWait,
    until: tokio::time::Instant,
) {
    let waiting: Vec<Target> = unique(
        outcomes
            .iter()
            .filter(|o| o.registered)
            .map(|o| &o.planned.to),
    );
    if waiting.is_empty() {
        return;
    }
    let health = wait_for_health(balancer, group, &waiting, wait.poll_interval, until).await;
    for o in outcomes.iter_mut() {
        if !o.registered {
            continue;
        }
        o.health = health
            .as_ref()
            .ok()
            .and_then(|states| states.get(&o.planned.to).cloned());
        o.note = moves::health_note(
            group,
            health.as_ref().err().map(String::as_str),
            o.health.as_ref(),
            wait.timeout.as_secs(),
        );
    }
}

/// Deregisters the originals whose replacement is registered (their Outpost is down).
async fn deregister<L: LoadBalancing>(
    balancer: &L,
    group: &TargetGroupArn,
    outcomes: &mut [MoveOutcome],
) {
    let to_deregister: Vec<Target> = unique(
        outcomes
            .iter()
            .filter(|o| o.registered && o.planned.from_registered)
            .map(|o| &o.planned.from),
    );
    if !to_deregister.is_empty() {
        info!(target_group = %group, targets = ?to_deregister, "deregistering originals");
        let deregister = |batch| balancer.deregister(group, batch);
        let failures = each_on_failure(&to_deregister, deregister, group, "deregister").await;
        for o in outcomes.iter_mut().filter(|o| o.registered) {
            match failures.get(&o.planned.from) {
                Some(error) if o.planned.from_registered => {
                    o.note = Some(moves::still_registered(error));
                }
                _ => o.deregistered = true,
            }
        }
    } else {
        outcomes
            .iter_mut()
            .filter(|o| o.registered)
            .for_each(|o| o.deregistered = true);
    }
}

/// Calls `call` (a Register- or DeregisterTargets) for `targets` in one request; when that
/// fails, once per target, so that one target ELB refuses does not keep the others out. The
/// targets that failed, with why.
async fn each_on_failure<'t, F, Fut>(
    targets: &'t [Target],
    call: F,
    group: &TargetGroupArn,
    what: &str,
) -> HashMap<Target, AwsError>
where
    F: Fn(&'t [Target]) -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let mut failures = HashMap::new();
    let Err(error) = call(targets).await else {
        return failures;
    };
    if targets.len() == 1 {
        warn!(target_group = %group, %error, "could not {what} {}", targets[0].id);
        failures.insert(targets[0].clone(), error);
        return failures;
    }
    warn!(target_group = %group, %error, "could not {what} the targets together; one at a time");
    for target in targets {
        if let Err(error) = call(std::slice::from_ref(target)).await {
            warn!(target_group = %group, target = %target.id, %error, "could not {what}");
            failures.insert(target.clone(), error);
        }
    }
    failures
}

/// Polls until every target is healthy or `until`; the last state of each target, or why no
/// state could be read. A state is matched to its target by id and port: ELB may describe a
/// target with its Availability Zone, which the request did not name.
pub(crate) async fn wait_for_health<L: LoadBalancing>(
    balancer: &L,
    group: &TargetGroupArn,
    targets: &[Target],
    poll_interval: Duration,
    until: tokio::time::Instant,
) -> Result<BTreeMap<Target, TargetHealth>, String> {
    let started = tokio::time::Instant::now();
    let until = until.min(started + Budget::current().bound(until - started));
    let mut last = BTreeMap::new();
    loop {
        match health_of(balancer, group, targets).await {
            Ok(states) => last = states,
            Err(error) => {
                warn!(target_group = %group, %error, "health check failed; will retry until the wait runs out")
            }
        }
        // `unused` does not change by waiting: the group has no listener rule, or the
        // target's zone is not enabled on the load balancer.
        let all_healthy = targets
            .iter()
            .all(|t| last.get(t).is_some_and(TargetHealth::is_settled));
        let now = tokio::time::Instant::now();
        if all_healthy || now >= until {
            if last.is_empty() && !all_healthy {
                return Err(format!(
                    "the replacement's health could not be read within {} s",
                    (now - started).as_secs()
                ));
            }
            return Ok(last);
        }
        tokio::time::sleep(poll_interval.min(until - now)).await;
    }
}

/// The health ELB reports now for each of `targets` it knows, matched by id and port (ELB may
/// add a zone to what it answers).
pub(crate) async fn health_of<L: LoadBalancing>(
    balancer: &L,
    group: &TargetGroupArn,
    targets: &[Target],
) -> Result<BTreeMap<Target, TargetHealth>, autorestart_core::error::AwsError> {
    let states = balancer.health(group, targets).await?;
    Ok(targets
        .iter()
        .filter_map(|t| {
            let seen = states
                .iter()
                .find(|s| s.target.id == t.id && s.target.port == t.port)?;
            Some((t.clone(), seen.state.clone()))
        })
        .collect())
}

fn unique<'a>(targets: impl Iterator<Item = &'a Target>) -> Vec<Target> {
    let mut all: Vec<Target> = targets.cloned().collect();
    all.sort();
    all.dedup();
    all
}

/// Moves the memberships of the originals (and of the dead replacements they superseded) to
/// their running replacements, the health wait bounded by `budget`.
pub async fn move_memberships<L: LoadBalancing>(
    balancer: &L,
    settings: &Settings,
    outcomes: &[&InstanceOutcome],
    memberships: &[Membership],
    budget: Budget,
) -> (Vec<MoveOutcome>, Vec<Unmovable>) {
    // A dead replacement's registrations go to the new one as the original's do.
    let pairs: Vec<(&Instance, &Instance)> = outcomes
        .iter()
        .filter_map(|o| o.replacement().map(|r| (o, r)))
        .flat_map(|(o, r)| {
            std::iter::once(&o.original)
                .chain(&o.superseded)
                .map(move |from| (from, r))
        })
        .collect();
    let scope = &settings.target_groups;
    let (moves, unmovable) = moves::plan_moves(memberships, &pairs, scope);
    if moves.is_empty() {
        return (Vec::new(), unmovable);
    }
    let wait = HealthWait {
        timeout: budget.bound(settings.health_wait.timeout),
        ..settings.health_wait
    };
    let outcomes = execute_moves(balancer, moves, wait, settings.concurrency).await;
    (outcomes, unmovable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Memberships, TargetGroupScope};

    const TG_IP: &str =
        "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/api/0123456789abcdef";

    /// ELB describing each target with the zone it lies in, whatever the request named.
    struct ZonedElb;

    impl LoadBalancing for ZonedElb {
        async fn memberships(&self, _: &TargetGroupScope) -> Result<Memberships, AwsError> {
            Ok(Memberships::default())
        }
        async fn register(&self, _: &TargetGroupArn, _: &[Target]) -> Result<(), AwsError> {
            Ok(())
        }
        async fn health(
            &self,
            _: &TargetGroupArn,
            targets: &[Target],
        ) -> Result<Vec<crate::ports::TargetState>, AwsError> {
            Ok(targets
                .iter()
                .map(|t| crate::ports::TargetState {
                    target: Target {
                        availability_zone: Some("us-east-1a".into()),
                        ..t.clone()
                    },
                    state: "healthy".into(),
                })
                .collect())
        }
        async fn deregister(&self, _: &TargetGroupArn, _: &[Target]) -> Result<(), AwsError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn health_is_matched_by_id_and_port_whatever_zone_elb_adds() {
        let target = Target {
            id: "10.0.1.9".into(),
            port: Some(8080),
            availability_zone: None,
        };
        let started = tokio::time::Instant::now();
        let until = started + Duration::from_secs(60);
        let states = wait_for_health(
            &ZonedElb,
            &TG_IP.into(),
            std::slice::from_ref(&target),
            Duration::from_secs(5),
            until,
        )
        .await
        .unwrap();
        assert_eq!(
            states.get(&target).map(TargetHealth::as_str),
            Some("healthy")
        );
        assert_eq!(
            tokio::time::Instant::now(),
            started,
            "healthy at the first look"
        );
    }
}
