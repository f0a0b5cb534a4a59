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

/// A wall clock for tests in paused time (`Agent::with_clock`): the time of the process's
/// first reading plus how far `tokio::time` has moved since, so that a wait for a moment of it
/// ends at that moment. Not for production: a frozen Lambda container's monotonic clock may
/// stand still while the wall clock moves on.
pub fn tokio_wall_clock() -> chrono::DateTime<chrono::Utc> {
    static START: std::sync::OnceLock<(chrono::DateTime<chrono::Utc>, Instant)> =
        std::sync::OnceLock::new();
    let (wall, at) = *START.get_or_init(|| (chrono::Utc::now(), Instant::now()));
    wall + chrono::TimeDelta::from_std(Instant::now().duration_since(at))
        .unwrap_or(chrono::TimeDelta::MAX)
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

    /// EC2's resource bucket of instances launched or started (RunInstances, StartInstances):
    /// 1000 instances, 2 a second, per account and Region; one call may take many.
    pub const INSTANCES_STARTED: Rate = Rate {
        size: 1000.0,
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

/// How many unthrottled answers in a row before a [`Pacer`] that was cut asks faster again.
pub const QUIET_BEFORE_PROBE: u32 = 60;
/// The fewest, after probes that met no throttling: probing speeds up while it succeeds.
const QUIET_FLOOR: u32 = 5;
/// A probe asks this much faster.
const PROBE_STEP: f64 = 1.25;
/// A throttled answer cuts the pace to this share (the inverse of a probe's step).
const THROTTLED_CUT: f64 = 0.8;
/// The slowest a pacer goes, as a share of the bucket's refill.
const SLOWEST_SHARE: f64 = 0.05;

/// A client-side copy of an API's bucket, shared with other runs that cannot be seen: callers
/// take a token before each call. Other invocations (other Outposts down) draw from the same
/// account's bucket, so a pacer
/// - starts at its share when it is told what share to expect ([`Pacer::expect_share`]): the
///   recovery's launches against those of every Outpost down;
/// - cuts its pace on a throttled answer ([`Pacer::throttled`]: that bucket is empty);
/// - probes back up after [`QUIET_BEFORE_PROBE`] unthrottled answers ([`Pacer::answered`]),
///   sooner after each probe that met no throttling, up to the bucket's own rate,
///
/// so that together the runs stay near the refill rate with few throttled calls (measured in
/// the recovery benchmark).
#[derive(Debug)]
pub struct Pacer {
    rate: Rate,
    state: Mutex<Pace>,
}

#[derive(Debug)]
struct Pace {
    tokens: f64,
    at: Instant,
    /// Tokens a second this run allows itself now.
    refill: f64,
    /// The most tokens it holds now.
    size: f64,
    /// Unthrottled answers since the last throttle or probe.
    quiet: u32,
    /// How many of those before the next probe.
    quiet_needed: u32,
    /// When the pace was last cut: the throttled answers of calls already in flight then
    /// tell nothing new, so they do not cut it again.
    cut_at: Option<Instant>,
    /// This run's share of the refill: other runs expected at once take the rest.
    share: f64,
    /// The last answer was throttled (no call got through since).
    throttled_last: bool,
}

impl Pacer {
    /// A full bucket, the whole rate this run's.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            state: Mutex::new(Pace {
                tokens: rate.size,
                at: Instant::now(),
                refill: rate.refill,
                size: rate.size,
                quiet: 0,
                quiet_needed: quiet_before_probe(),
                cut_at: None,
                share: rate.refill,
                throttled_last: false,
            }),
        }
    }

    /// Other runs are expected to draw from the bucket at once (one invocation per Outpost
    /// down): this run starts at `share` (0 to 1) of the refill and burst.
    pub fn expect_share(&self, share: f64) {
        let share = share.clamp(SLOWEST_SHARE, 1.0);
        let mut pace = self.state.lock().expect("pacer lock");
        pace.refill = self.rate.refill * share;
        pace.share = pace.refill;
        pace.size = (self.rate.size * share).max(1.0);
        pace.tokens = pace.tokens.min(pace.size);
        pace.quiet = 0;
        pace.quiet_needed = quiet_before_probe();
        pace.cut_at = None;
        pace.throttled_last = false;
    }

    /// The pace now, in tokens a second.
    pub fn pace(&self) -> f64 {
        self.state.lock().expect("pacer lock").refill
    }

    /// Waits for a token and takes it; `false`, without a token, if `budget` runs out first.
    pub async fn take(&self, budget: &Budget) -> bool {
        loop {
            let wait = {
                let mut pace = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                let own = Rate {
                    size: pace.size,
                    refill: pace.refill,
                };
                pace.tokens = own.refilled(pace.tokens, now - pace.at);
                pace.at = now;
                if Rate::has_token(pace.tokens) {
                    pace.tokens -= 1.0;
                    return true;
                }
                own.wait_for_token(pace.tokens)
            };
            if budget.left().is_some_and(|left| left < wait) {
                return false;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// A token taken and not used goes back.
    pub fn give_back(&self) {
        let mut pace = self.state.lock().expect("pacer lock");
        pace.tokens = (pace.tokens + 1.0).min(pace.size);
    }

    /// The call was answered, not throttled: after enough such answers in a row, probe faster.
    pub fn answered(&self) {
        let mut pace = self.state.lock().expect("pacer lock");
        pace.throttled_last = false;
        pace.quiet += 1;
        if pace.quiet >= pace.quiet_needed && pace.refill < self.rate.refill {
            pace.refill = (pace.refill * PROBE_STEP).min(self.rate.refill);
            pace.size = (pace.size * PROBE_STEP).min(self.rate.size);
            pace.quiet = 0;
            pace.quiet_needed = (pace.quiet_needed / 2).max(QUIET_FLOOR);
        }
    }

    /// EC2 said the account's bucket is empty: another run is using it. Empty ours as well and
    /// slow down.
    ///
    /// Above its share, the run gives back what it probed; at its share it keeps its pace
    /// unless it was throttled again before any call got through (the others are not alone:
    /// someone else in the account is launching too). Calls already in flight when the pace
    /// was cut meet the same empty bucket and do not cut it again.
    pub fn throttled(&self) {
        let mut pace = self.state.lock().expect("pacer lock");
        let now = Instant::now();
        let again = pace.throttled_last;
        pace.throttled_last = true;
        pace.tokens = pace.tokens.min(0.0);
        pace.at = now;
        pace.quiet = 0;
        pace.quiet_needed = quiet_before_probe();
        let interval = Duration::from_secs_f64(1.0 / pace.refill);
        if pace.cut_at.is_some_and(|at| now < at + interval) {
            return;
        }
        let above_share = pace.refill > pace.share + 1e-9;
        if !above_share && !again {
            return;
        }
        pace.cut_at = Some(now);
        let floor = if above_share {
            pace.share
        } else {
            self.rate.refill * SLOWEST_SHARE
        };
        pace.refill = (pace.refill * THROTTLED_CUT).max(floor);
    }
}

/// Unthrottled answers before the first probe: [`QUIET_BEFORE_PROBE`] and a random part of
/// half as many again, so that runs started together do not probe together.
fn quiet_before_probe() -> u32 {
    QUIET_BEFORE_PROBE + fastrand::u32(0..=QUIET_BEFORE_PROBE / 2)
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
        // Emptied, not slowed: one throttled answer at its share does not cut the pace.
        assert_eq!((Instant::now() - start).as_millis(), 500);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pacer_starts_at_its_share_cuts_on_throttling_and_probes_back_up() {
        let pacer = Pacer::new(Rate::RUN_INSTANCES);
        pacer.expect_share(0.25);
        assert_eq!(pacer.pace(), 0.5);
        // A burst of its share (1.25 tokens): one at once, the next two seconds apart.
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..3 {
            assert!(pacer.take(&Budget::unbounded()).await);
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 1500, 3500]);
        // Unthrottled for QUIET_BEFORE_PROBE answers (and a random part of half as many
        // again): 25 % faster; the next probe comes after half as many.
        let answers_until_faster = |pacer: &Pacer| {
            let before = pacer.pace();
            (1..=1000)
                .find(|_| {
                    pacer.answered();
                    pacer.pace() != before
                })
                .unwrap()
        };
        let first = answers_until_faster(&pacer);
        assert!(
            (QUIET_BEFORE_PROBE..=QUIET_BEFORE_PROBE * 3 / 2).contains(&first),
            "{first}"
        );
        assert_eq!(pacer.pace(), 0.625);
        assert_eq!(answers_until_faster(&pacer), first / 2);
        assert!((pacer.pace() - 0.78125).abs() < 1e-9, "{}", pacer.pace());
        // Above its share, a throttled answer gives back a probe's step; the answers of calls
        // in flight with it do not cut again.
        pacer.throttled();
        assert!((pacer.pace() - 0.625).abs() < 1e-9, "{}", pacer.pace());
        // Never faster than the bucket, never slower than its floor.
        for _ in 0..1000 {
            pacer.answered();
        }
        assert_eq!(pacer.pace(), 2.0);
        // At the whole bucket, a probe's step is given back once per throttling episode.
        tokio::time::advance(Duration::from_secs(10)).await;
        pacer.throttled();
        pacer.throttled();
        assert_eq!(pacer.pace(), 1.6);
        // At its share, it is cut only when throttled again before any call got through:
        // someone else in the account is launching too; never below the floor.
        pacer.expect_share(0.5);
        pacer.throttled();
        assert_eq!(
            pacer.pace(),
            1.0,
            "the first answer of a run at its share, throttled"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        pacer.answered();
        pacer.throttled();
        assert_eq!(
            pacer.pace(),
            1.0,
            "one throttled answer among answered ones"
        );
        for _ in 0..100 {
            tokio::time::advance(Duration::from_secs(10)).await;
            pacer.throttled();
        }
        assert!((pacer.pace() - 0.1).abs() < 1e-9, "{}", pacer.pace());
        // A new invocation alone has the whole bucket again.
        pacer.expect_share(1.0);
        assert_eq!(pacer.pace(), 2.0);
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
