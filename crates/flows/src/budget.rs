//! The limits one run works within: the invocation's deadline, which bounds every wait, and
//! EC2's RunInstances token bucket, which paces launches and decides how long to back off.
//!
//! Time is `tokio::time`, so tests with paused time see every wait without sleeping.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long before the invocation's deadline the agent stops waiting and launching, to leave
/// time to tag, publish the notice and return the report.
pub const PUBLISH_MARGIN: Duration = Duration::from_secs(30);

/// Lambda's longest invocation.
pub const LAMBDA_MAX: Duration = Duration::from_secs(900);

/// When a run must have stopped waiting: the invocation's deadline less [`PUBLISH_MARGIN`];
/// and the deadline itself, which no AWS call may outlast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    until: Option<Instant>,
    end: Option<Instant>,
}

tokio::task_local! {
    static CURRENT: Budget;
}

impl Budget {
    /// No deadline: flow tests, benchmarks and the CLI.
    pub fn unbounded() -> Self {
        Self {
            until: None,
            end: None,
        }
    }

    /// The invocation ends at `deadline`; waits stop [`PUBLISH_MARGIN`] before it.
    pub fn until(deadline: Instant) -> Self {
        Self {
            until: Some(
                deadline
                    .checked_sub(PUBLISH_MARGIN)
                    .unwrap_or_else(Instant::now),
            ),
            end: Some(deadline),
        }
    }

    /// A budget ending `left` from now (the margin already taken off: the invocation ends
    /// [`PUBLISH_MARGIN`] later).
    pub fn from_now(left: Duration) -> Self {
        let until = Instant::now() + left;
        Self {
            until: Some(until),
            end: Some(until + PUBLISH_MARGIN),
        }
    }

    /// Runs `work` with this budget as the one every AWS call in it is bounded by
    /// ([`Budget::current`]): the invocation's, set once where it starts.
    pub async fn scope<F: std::future::Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// The budget of the invocation this code runs in ([`Budget::scope`]); unbounded outside one.
    pub fn current() -> Self {
        CURRENT
            .try_with(|budget| *budget)
            .unwrap_or_else(|_| Self::unbounded())
    }

    /// Time left until the invocation ends (the margin included): no call may take longer.
    pub fn to_end(&self) -> Option<Duration> {
        self.end
            .map(|end| end.saturating_duration_since(Instant::now()))
    }

    /// Time left; `None` without a deadline.
    pub fn left(&self) -> Option<Duration> {
        self.until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    /// Whether the run must stop waiting and launching now.
    pub fn spent(&self) -> bool {
        self.left().is_some_and(|left| left.is_zero())
    }

    /// `wait`, cut to what is left.
    pub fn bound(&self, wait: Duration) -> Duration {
        self.left().map_or(wait, |left| wait.min(left))
    }

    /// A budget for one of `parts` pieces of work still to do, so that the first cannot
    /// starve the rest: an equal share of what is left.
    pub fn share(&self, parts: usize) -> Self {
        match self.left() {
            None => *self,
            Some(left) => Self {
                until: Some(Instant::now() + left / parts.max(1) as u32),
                end: self.end,
            },
        }
    }

    /// This budget less `reserve` (kept for work that must come after).
    pub fn less(&self, reserve: Duration) -> Self {
        match self.left() {
            None => *self,
            Some(left) => Self {
                until: Some(Instant::now() + left.saturating_sub(reserve)),
                end: self.end,
            },
        }
    }
}

/// An API's token bucket as EC2 documents it: `size` tokens, `refill` tokens a second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Bucket size: the burst.
    pub size: f64,
    /// Tokens added each second.
    pub refill: f64,
}

impl Rate {
    /// EC2's documented RunInstances bucket: 5 tokens, 2 a second, per account and Region.
    pub const RUN_INSTANCES: Rate = Rate {
        size: 5.0,
        refill: 2.0,
    };

    /// Tokens after `elapsed` starting from `tokens`, capped at the size. Pure.
    pub fn refilled(&self, tokens: f64, elapsed: Duration) -> f64 {
        (tokens + elapsed.as_secs_f64() * self.refill).min(self.size)
    }

    /// Whether `tokens` hold a whole token (within rounding: refills add fractions).
    pub fn has_token(tokens: f64) -> bool {
        tokens >= 1.0 - 1e-9
    }

    /// How long until one token is there, starting from `tokens`: at least a millisecond when
    /// none is there, so that a waiter never spins on a wait that rounds to nothing. Pure.
    pub fn wait_for_token(&self, tokens: f64) -> Duration {
        if Self::has_token(tokens) {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - tokens) / self.refill).max(Duration::from_millis(1))
        }
    }
}

/// A client-side copy of an API's bucket: callers take a token before each call, so one run
/// never asks faster than the account's bucket refills. Other runs share the real bucket, so
/// a throttled answer empties this copy too ([`Pacer::throttled`]).
#[derive(Debug)]
pub struct Pacer {
    rate: Rate,
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    /// A full bucket.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            state: Mutex::new((rate.size, Instant::now())),
        }
    }

    /// Waits for a token and takes it; `false`, without a token, if `budget` runs out first.
    pub async fn take(&self, budget: &Budget) -> bool {
        loop {
            let wait = {
                let mut state = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                state.0 = self.rate.refilled(state.0, now - state.1);
                state.1 = now;
                if Rate::has_token(state.0) {
                    state.0 -= 1.0;
                    return true;
                }
                self.rate.wait_for_token(state.0)
            };
            if budget.left().is_some_and(|left| left < wait) {
                return false;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// EC2 said the account's bucket is empty: another run is using it. Empty ours as well.
    pub fn throttled(&self) {
        let mut state = self.state.lock().expect("pacer lock");
        state.0 = state.0.min(0.0);
        state.1 = Instant::now();
    }
}

/// Backoff before retry `attempt` (1 for the first retry) of a throttled or unanswered call:
/// exponential from half a second, at most 8 s, with "full jitter" (a random share of it) so
/// that concurrent runs sharing one bucket spread out.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let ceiling = (0.5 * 2f64.powi(attempt.saturating_sub(1).min(10) as i32)).min(8.0);
    Duration::from_secs_f64(ceiling * jitter.clamp(0.1, 1.0))
}

/// A random share in [0, 1) for [`backoff`].
pub fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_its_rate_up_to_its_size() {
        let rate = Rate::RUN_INSTANCES;
        let cases = [
            (0.0, 0.0, 0.0),
            (0.0, 0.5, 1.0),
            (1.0, 1.0, 3.0),
            (4.0, 10.0, 5.0),
            (-2.0, 1.0, 0.0),
        ];
        for (tokens, seconds, expected) in cases {
            let got = rate.refilled(tokens, Duration::from_secs_f64(seconds));
            assert!(
                (got - expected).abs() < 1e-9,
                "{tokens} + {seconds}s: {got}"
            );
        }
        assert_eq!(rate.wait_for_token(1.0), Duration::ZERO);
        assert_eq!(rate.wait_for_token(0.0), Duration::from_millis(500));
        assert_eq!(rate.wait_for_token(-1.0), Duration::from_secs(1));
        // A refill that falls short by a rounding error counts as a token; a real shortfall
        // never waits less than a millisecond.
        assert_eq!(rate.wait_for_token(1.0 - 1e-12), Duration::ZERO);
        assert_eq!(rate.wait_for_token(1.0 - 1e-6), Duration::from_millis(1));
    }

    #[test]
    fn backoff_grows_to_a_ceiling_and_jitter_only_shortens_it() {
        let full: Vec<f64> = (1..=7).map(|n| backoff(n, 1.0).as_secs_f64()).collect();
        assert_eq!(full, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        assert_eq!(backoff(3, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.0), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pacer_lets_a_burst_through_then_one_every_half_second() {
        let pacer = Pacer::new(Rate::RUN_INSTANCES);
        let start = Instant::now();
        let budget = Budget::unbounded();
        let mut at = Vec::new();
        for _ in 0..9 {
            assert!(pacer.take(&budget).await);
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 0, 0, 0, 0, 500, 1000, 1500, 2000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_answer_empties_the_bucket_and_the_budget_bounds_the_wait() {
        let pacer = Pacer::new(Rate::RUN_INSTANCES);
        pacer.throttled();
        let short = Budget::from_now(Duration::from_millis(100));
        assert!(!pacer.take(&short).await, "no token within 100 ms");
        let start = Instant::now();
        assert!(pacer.take(&Budget::unbounded()).await);
        assert_eq!((Instant::now() - start).as_millis(), 500);
    }

    #[tokio::test(start_paused = true)]
    async fn budgets_bound_waits_and_share_what_is_left() {
        let budget = Budget::from_now(Duration::from_secs(100));
        assert_eq!(
            budget.bound(Duration::from_secs(300)),
            Duration::from_secs(100)
        );
        assert_eq!(budget.share(4).left(), Some(Duration::from_secs(25)));
        assert_eq!(
            budget.less(Duration::from_secs(60)).left(),
            Some(Duration::from_secs(40))
        );
        tokio::time::advance(Duration::from_secs(100)).await;
        assert!(budget.spent());
        assert!(!Budget::unbounded().spent());
        assert_eq!(
            Budget::unbounded().bound(Duration::from_secs(7)),
            Duration::from_secs(7)
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            Budget::until(deadline).left(),
            Some(Duration::from_secs(30))
        );
    }
}
