//! The launches of one original in one run, decided here and carried out by the flows: which
//! alternate to ask next and with which attempt (a new ClientToken after a replacement that
//! died, starting past the server it died on), when to stop, and what the tries add up to.
//!
//! The flow asks [`Launching::next`] for the candidate to send to EC2 and tells it what EC2
//! answered ([`Launching::refused`], [`Launching::spent`]); every answer that ends the
//! recovery is an [`Outcome`] built here, reasons and advice included.

use crate::alarm::IncidentId;
use crate::error::{AwsError, ErrorKind};
use crate::ids::InstanceId;
use crate::inventory::Instance;
use crate::outcome::{Attempt, Outcome};
use crate::plan::{self, Candidate, MAX_ATTEMPTS};
use crate::tags;
use crate::vocabulary::InstanceState;

/// How the attempt of an alternate passed over because its pool was found full begins.
const NOT_ASKED: &str = "not asked:";

/// Most retries of one launch that is throttled or unanswered, however much time is left: past
/// them the instance is left to the next run.
pub const MAX_LAUNCH_RETRIES: u32 = 30;

/// What EC2 did with one RunInstances the flow sent, after its own retries of a throttled or
/// unanswered call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// EC2 launched (or, for a token used before, answered with) this instance.
    Launched(Instance),
    /// EC2 refused the launch.
    Refused(AwsError),
    /// The invocation's time ran out before EC2 answered; the last error, if any.
    OutOfTime(Option<AwsError>),
}

/// One original's launches in this run.
#[derive(Clone, Debug)]
pub struct Launching {
    original: Instance,
    incident: IncidentId,
    candidates: Vec<Candidate>,
    /// The next candidate to ask.
    at: usize,
    attempt: u32,
    /// Every alternate tried in this run that did not launch, in order.
    pub attempts: Vec<Attempt>,
    /// Replacements this run knows dead: an answer naming one is a spent token.
    pub known_dead: Vec<InstanceId>,
}

impl Launching {
    /// The launches of `original` from `candidates` (in the plan's order), as attempt `attempt`;
    /// `dead` are the replacements the plan found dead.
    pub fn new(
        original: &Instance,
        incident: &IncidentId,
        candidates: Vec<Candidate>,
        attempt: u32,
        dead: &[Instance],
    ) -> Self {
        Self {
            original: original.clone(),
            incident: incident.clone(),
            candidates,
            at: 0,
            attempt,
            attempts: Vec::new(),
            known_dead: dead.iter().map(|r| r.id.clone()).collect(),
        }
    }

    /// The original these launches recover.
    pub fn original_id(&self) -> &str {
        &self.original.id
    }

    /// The attempt the next launch is.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The next alternate to ask EC2 for, passing over (and recording) those whose capacity
    /// pool `is_full` says this run found full; none when every alternate was tried
    /// ([`Launching::exhausted`] says what they add up to).
    pub fn next(&mut self, is_full: impl Fn(&str) -> bool) -> Option<Candidate> {
        while let Some(candidate) = self.candidates.get(self.at).cloned() {
            self.at += 1;
            let pool = candidate.capacity_pool();
            if is_full(&pool) {
                self.attempts.push(Attempt {
                    template: candidate.request.template,
                    error: full_already(&pool),
                });
                continue;
            }
            return Some(candidate);
        }
        None
    }

    /// EC2 refused `candidate` with `error`: `None` when the next alternate may help (the flow
    /// asks [`Launching::next`] again), the outcome otherwise.
    pub fn refused(&mut self, candidate: &Candidate, error: AwsError) -> Option<Outcome> {
        let next = error.kind.tries_next_alternate();
        self.attempts.push(Attempt {
            template: candidate.request.template.clone(),
            error: error.clone(),
        });
        (!next).then(|| Outcome::Failed {
            reason: format!("launch from {} failed: {error}", candidate.request.template),
            kind: Some(error.kind),
            advice: error.kind.advice().into(),
        })
    }

    /// EC2 answered `candidate` with `replacement`, which died (`state`): its token is spent.
    /// The next attempt starts with the alternate after the one it died on, with a new token;
    /// the warning to report, or the outcome once [`MAX_ATTEMPTS`] are spent.
    pub fn spent(
        &mut self,
        candidate: &Candidate,
        replacement: &Instance,
        state: &str,
    ) -> Result<String, Box<Outcome>> {
        let warning = format!(
            "attempt {} answered with {} ({state}), a replacement that died: launched again",
            self.attempt, replacement.id
        );
        self.known_dead.push(replacement.id.clone());
        self.attempt += 1;
        if self.attempt > MAX_ATTEMPTS {
            return Err(Box::new(Outcome::Failed {
                reason: format!(
                    "{MAX_ATTEMPTS} attempts launched replacements that died; not launching again"
                ),
                kind: None,
                advice: "find out why the replacements stop or terminate (capacity, the AMI, user data), then re-run.".into(),
            }));
        }
        if let Some(at) = self
            .candidates
            .iter()
            .position(|c| c.subnet_id == candidate.subnet_id)
        {
            self.candidates.rotate_left(at + 1);
        }
        for c in &mut self.candidates {
            c.request = plan::launch_request(
                &self.original,
                &self.incident,
                c.request.template.clone(),
                self.attempt,
            );
        }
        self.at = 0;
        Ok(warning)
    }

    /// The outcome of a launch that worked.
    pub fn recovered(candidate: Candidate, replacement: Instance) -> Outcome {
        Outcome::Recovered {
            replacement,
            template: candidate.request.template,
            subnet_id: candidate.subnet_id,
            outpost_arn: candidate.outpost_arn,
            standby: false,
        }
    }

    /// The outcome when the invocation's time ran out; `error` the last answer, if any.
    pub fn out_of_time(error: Option<AwsError>) -> Outcome {
        Outcome::Unfinished {
            reason: match error {
                Some(error) => format!(
                    "the invocation's time ran out while EC2 did not launch ({error}); the next sweep launches it"
                ),
                None => {
                    "the invocation's time ran out before its launch; the next sweep launches it"
                        .into()
                }
            },
        }
    }

    /// Every alternate failed: what they add up to. Refused by IAM anywhere names that fix,
    /// whatever failed last.
    pub fn exhausted(&self) -> Outcome {
        let tried: Vec<String> = self
            .attempts
            .iter()
            .map(|a| {
                if a.error.message.starts_with(NOT_ASKED) {
                    format!("{}: not asked, found full earlier in this run", a.template)
                } else {
                    format!("{}: {} ({})", a.template, a.error.kind, a.error.code)
                }
            })
            .collect();
        let refused = self
            .attempts
            .iter()
            .any(|a| a.error.kind == ErrorKind::AccessDenied);
        let kind = if refused {
            Some(ErrorKind::AccessDenied)
        } else {
            self.attempts.last().map(|a| a.error.kind)
        };
        Outcome::Failed {
            reason: format!("every alternate failed ({})", tried.join("; ")),
            kind,
            advice: kind.unwrap_or(ErrorKind::Other).advice().into(),
        }
    }
}

/// The refusal recorded for an alternate not asked because this run found its capacity pool
/// full (an earlier launch of the run met `InsufficientInstanceCapacity` there).
pub fn full_already(pool: &str) -> AwsError {
    AwsError::from_code(
        "ec2:RunInstances",
        "InsufficientInstanceCapacity",
        format!("{NOT_ASKED} an earlier launch of this run found no room in {pool}"),
    )
}

/// The plan's launch, without carrying it out (a dry run): the first alternate and the rest.
pub fn would_launch(candidates: &[Candidate]) -> Outcome {
    let first = &candidates[0];
    Outcome::WouldLaunch {
        template: first.request.template.clone(),
        subnet_id: first.subnet_id.clone(),
        fallbacks: candidates[1..]
            .iter()
            .map(|c| c.request.template.clone())
            .collect(),
    }
}

/// The advice on an instance whose tags or templates make it unrecoverable.
pub const UNRECOVERABLE_ADVICE: &str =
    "fix the instance's autorestart tags or its recovery templates.";

/// The warning on an original whose earlier replacement of the incident is dead (or stuck
/// pending, and terminated), so that it is launched again as `attempt`.
pub fn relaunched(dead: &Instance, attempt: u32) -> String {
    let state = if dead.state == InstanceState::Pending {
        "stuck pending (terminated)"
    } else {
        dead.state.as_str()
    };
    format!(
        "replacement {} launched earlier in this incident is {state}: launched again (attempt {attempt})",
        dead.id
    )
}

/// The outcome when replacements stuck pending could not be terminated: no second copy is
/// launched while one may still start.
pub fn stuck_not_terminated(stuck: &[InstanceId], error: &AwsError) -> Outcome {
    let ids = stuck.join(", ");
    Outcome::Failed {
        reason: format!(
            "replacement {ids} is stuck pending (longer than the launch wait, or on an Outpost that is down now) and could not be terminated ({error}); no second copy was launched"
        ),
        kind: Some(error.kind),
        advice: format!(
            "terminate {ids} by hand (it will not run), then re-run or wait for the sweep. {}",
            error.kind.advice()
        ),
    }
}

/// The warning when the original's target groups could not be remembered on it.
pub fn members_not_remembered(error: &AwsError) -> String {
    format!(
        "its target groups could not be remembered on it ({error}); should its replacement die, the next one is registered only where the original still is"
    )
}

/// The warning when the original could not be tagged with its replacement.
pub fn original_not_tagged(replacement: &InstanceId, error: &AwsError) -> String {
    format!(
        "the original was not tagged {}={replacement} ({error}); the replacement's own tags still prevent a second launch, and the next run tags it",
        tags::REPLACED_BY
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::LaunchRequest;
    use crate::tags::TemplateRef;

    fn original() -> Instance {
        Instance {
            id: "i-orig".into(),
            state: "running".into(),
            ..Instance::default()
        }
    }

    fn incident() -> IncidentId {
        IncidentId::from_tag("op-0aaaaaaaaaaaaaaa1-20261205T000000Z-00000000")
    }

    fn candidate(template: &str, subnet: &str) -> Candidate {
        let template = TemplateRef {
            id: template.into(),
            version: "1".into(),
        };
        Candidate {
            request: plan::launch_request(&original(), &incident(), template, 1),
            subnet_id: subnet.into(),
            outpost_arn: None,
            instance_type: Some("m5.large".into()),
        }
    }

    fn launching(candidates: Vec<Candidate>) -> Launching {
        Launching::new(&original(), &incident(), candidates, 1, &[])
    }

    fn error(code: &str) -> AwsError {
        AwsError::from_code("ec2:RunInstances", code, "no")
    }

    fn request(c: &Candidate) -> &LaunchRequest {
        &c.request
    }

    #[test]
    fn a_full_pool_is_passed_over_and_recorded_as_not_asked() {
        let (a, b) = (
            candidate("lt-0a", "subnet-a"),
            candidate("lt-0b", "subnet-b"),
        );
        let full = a.capacity_pool();
        let mut launching = launching(vec![a, b.clone()]);
        let next = launching.next(|pool| pool == full).unwrap();
        assert_eq!(next, b);
        assert_eq!(launching.attempts.len(), 1);
        assert!(launching.attempts[0].error.message.starts_with(NOT_ASKED));
        assert_eq!(launching.next(|_| true), None);
        let Outcome::Failed { reason, .. } = launching.exhausted() else {
            panic!("every alternate tried");
        };
        assert!(reason.contains("not asked, found full earlier"), "{reason}");
    }

    #[test]
    fn capacity_tries_the_next_alternate_and_iam_anywhere_is_the_advice() {
        let (a, b) = (
            candidate("lt-0a", "subnet-a"),
            candidate("lt-0b", "subnet-b"),
        );
        let mut launching = launching(vec![a.clone(), b.clone()]);
        let first = launching.next(|_| false).unwrap();
        assert_eq!(
            launching.refused(&first, error("UnauthorizedOperation")),
            None
        );
        let second = launching.next(|_| false).unwrap();
        assert_eq!(second, b);
        assert_eq!(
            launching.refused(&second, error("InsufficientInstanceCapacity")),
            None
        );
        assert_eq!(launching.next(|_| false), None);
        let Outcome::Failed { kind, reason, .. } = launching.exhausted() else {
            panic!("exhausted");
        };
        assert_eq!(kind, Some(ErrorKind::AccessDenied));
        assert!(reason.starts_with("every alternate failed"), "{reason}");
    }

    #[test]
    fn an_error_no_alternate_helps_with_ends_the_launches() {
        let a = candidate("lt-0a", "subnet-a");
        let mut launching = launching(vec![a.clone(), candidate("lt-0b", "subnet-b")]);
        let first = launching.next(|_| false).unwrap();
        let Some(Outcome::Failed { reason, kind, .. }) =
            launching.refused(&first, error("VcpuLimitExceeded"))
        else {
            panic!("no next alternate for an account limit");
        };
        assert!(reason.starts_with("launch from lt-0a:1 failed"), "{reason}");
        assert_eq!(kind, Some(error("VcpuLimitExceeded").kind));
    }

    #[test]
    fn a_spent_token_is_the_next_attempt_from_the_next_server_with_new_tokens() {
        let (a, b) = (
            candidate("lt-0a", "subnet-a"),
            candidate("lt-0b", "subnet-b"),
        );
        let mut launching = launching(vec![a.clone(), b.clone()]);
        let first = launching.next(|_| false).unwrap();
        let dead = Instance {
            id: "i-dead".into(),
            state: "terminated".into(),
            ..Instance::default()
        };
        let warning = launching.spent(&first, &dead, "terminated").unwrap();
        assert!(
            warning.contains("attempt 1 answered with i-dead"),
            "{warning}"
        );
        assert_eq!(launching.attempt(), 2);
        assert_eq!(launching.known_dead, ["i-dead"]);
        let next = launching.next(|_| false).unwrap();
        assert_eq!(next.subnet_id, "subnet-b", "past the server it died on");
        assert_ne!(request(&next).client_token, request(&b).client_token);
        for _ in 2..MAX_ATTEMPTS {
            let c = launching.next(|_| false).unwrap();
            launching.spent(&c, &dead, "terminated").unwrap();
        }
        let c = launching.next(|_| false).unwrap();
        let Err(outcome) = launching.spent(&c, &dead, "terminated") else {
            panic!("no attempt past the limit");
        };
        let Outcome::Failed { reason, .. } = *outcome else {
            panic!("{outcome:?}");
        };
        assert!(
            reason.contains("attempts launched replacements that died"),
            "{reason}"
        );
    }

    #[test]
    fn running_out_of_time_is_unfinished_not_failed() {
        assert!(matches!(
            Launching::out_of_time(None),
            Outcome::Unfinished { .. }
        ));
        let Outcome::Unfinished { reason } =
            Launching::out_of_time(Some(error("RequestLimitExceeded")))
        else {
            unreachable!()
        };
        assert!(reason.contains("RequestLimitExceeded"), "{reason}");
    }
}
