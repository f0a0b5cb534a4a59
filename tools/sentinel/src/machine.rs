//! The sentinel's decisions: a pure state machine over probe results and replacement look-ups.
//!
//! No I/O and no clock: time is the `Duration` since the sentinel started, which the caller
//! passes in as `now`. The caller carries out the returned [`Action`] and, for
//! [`Action::LookUpReplacement`], feeds the [`Lookup`] back at the same `now`.

use std::time::Duration;

/// How long the sentinel waits before it fences and before it resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long the Region may be unreachable before the instance fences itself (T).
    pub fence_after: Duration,
    /// How long the link must be back, with no replacement seen, before the instance resumes.
    pub settle: Duration,
    /// How long the link must answer without a break before a loss counts as over: a link
    /// that flaps keeps the clock running from its first loss.
    pub steady: Duration,
}

/// At start, how long the sentinel may take to confirm that no replacement exists before it
/// fences: this, or T if shorter.
pub const CONFIRM_AT_START: Duration = Duration::from_secs(30);

impl Timing {
    /// How long the sentinel may take at start to confirm that no replacement exists.
    pub fn confirm_within(&self) -> Duration {
        self.fence_after.min(CONFIRM_AT_START)
    }
}

/// Where the sentinel stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Started without a marker (a boot, a restart): the workload may run, but nothing has
    /// confirmed yet that no replacement exists. Serving once a probe answers and the tags
    /// name none; fenced when that is not confirmed within [`Timing::confirm_within`] (a boot
    /// while the link is down: a replacement may have been launched meanwhile).
    Starting {
        /// When the sentinel started.
        since: Duration,
    },
    /// The workload runs.
    Serving {
        /// The last time the Region answered a probe.
        last_reachable: Duration,
        /// Since when the clock towards T runs: the last answered probe before the link
        /// broke; `None` while the link is steady.
        counting_from: Option<Duration>,
        /// Since when the link has answered without a break after it broke.
        up_since: Option<Duration>,
    },
    /// The workload is stopped.
    Fenced {
        /// Since when the Region has answered every probe; `None` while it does not.
        link_back_since: Option<Duration>,
        /// The replacement seen in the instance's tags, if any: the instance then stays
        /// fenced for good.
        replaced: Option<String>,
    },
}

/// What the marker file said when the sentinel started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// No marker: the instance was not fenced.
    Absent,
    /// The instance was fenced and no replacement had been seen.
    Fenced,
    /// The instance was fenced and this replacement had been seen.
    Replaced(String),
}

impl State {
    /// The state at start (`now`), from the marker file: with a marker the instance starts
    /// fenced, so that a reboot or a restart of the sentinel stays fenced; without one it
    /// starts unconfirmed.
    pub fn starting(now: Duration, marker: Marker) -> Self {
        match marker {
            Marker::Absent => State::Starting { since: now },
            Marker::Fenced => State::Fenced {
                link_back_since: None,
                replaced: None,
            },
            Marker::Replaced(id) => State::Fenced {
                link_back_since: None,
                replaced: Some(id),
            },
        }
    }

    /// Serving with a steady link, last answered at `now`.
    fn steady(now: Duration) -> Self {
        State::Serving {
            last_reachable: now,
            counting_from: None,
            up_since: None,
        }
    }

    /// Fenced because the replacement `id` was seen, with the link up at `now`.
    fn replaced(now: Duration, id: &str) -> Self {
        State::Fenced {
            link_back_since: Some(now),
            replaced: Some(id.to_owned()),
        }
    }
}

/// Something the sentinel observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A probe of the Region over the service link.
    Probe {
        /// Whether the Region answered.
        reachable: bool,
    },
    /// The answer to [`Action::LookUpReplacement`].
    Replacement(Lookup),
}

/// Whether the Region reports a replacement of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The instance's tags name no replacement.
    Absent,
    /// The instance's tags name this replacement.
    Present(String),
    /// The tags could not be read, for this reason.
    Unreadable(String),
}

/// What the caller is to do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    Nothing,
    /// Stop the workload.
    Fence,
    /// Read the instance's tags and feed the [`Lookup`] back.
    LookUpReplacement,
    /// Start the workload again.
    Resume,
}

/// The state and action that follow `state` once `input` is observed at `now`.
pub fn step(state: &State, input: &Input, now: Duration, timing: &Timing) -> (State, Action) {
    match state {
        State::Starting { since } => starting(*since, input, now, timing),
        State::Serving {
            last_reachable,
            counting_from,
            up_since,
        } => serving(
            (*last_reachable, *counting_from, *up_since),
            input,
            now,
            timing,
        ),
        State::Fenced {
            link_back_since,
            replaced,
        } => fenced(*link_back_since, replaced.as_deref(), input, now, timing),
    }
}

/// Unconfirmed at start: serves once the tags name no replacement, fences on a replacement or
/// when nothing confirms within [`Timing::confirm_within`].
fn starting(since: Duration, input: &Input, now: Duration, timing: &Timing) -> (State, Action) {
    let unconfirmed = || {
        if now.saturating_sub(since) >= timing.confirm_within() {
            let fenced = State::Fenced {
                link_back_since: None,
                replaced: None,
            };
            (fenced, Action::Fence)
        } else {
            (State::Starting { since }, Action::Nothing)
        }
    };
    match input {
        Input::Probe { reachable: true } => (State::Starting { since }, Action::LookUpReplacement),
        Input::Replacement(Lookup::Absent) => (State::steady(now), Action::Nothing),
        Input::Replacement(Lookup::Present(id)) => (State::replaced(now, id), Action::Fence),
        Input::Probe { reachable: false } | Input::Replacement(Lookup::Unreadable(_)) => {
            unconfirmed()
        }
    }
}

/// Serving: fences T after the link broke (a flapping link keeps the clock running until it
/// has been steady for [`Timing::steady`]), or at once when the tags name a replacement (read
/// on every answered probe: a link that flaps or came back after the agent launched one).
fn serving(
    (last_reachable, counting_from, up_since): (Duration, Option<Duration>, Option<Duration>),
    input: &Input,
    now: Duration,
    timing: &Timing,
) -> (State, Action) {
    match input {
        Input::Probe { reachable: true } => {
            let up_since = counting_from.map(|_| up_since.unwrap_or(now));
            let steady = up_since.is_some_and(|up| now.saturating_sub(up) >= timing.steady);
            let next = if counting_from.is_none() || steady {
                State::steady(now)
            } else {
                State::Serving {
                    last_reachable: now,
                    counting_from,
                    up_since,
                }
            };
            (next, Action::LookUpReplacement)
        }
        Input::Probe { reachable: false } => {
            let from = counting_from.unwrap_or(last_reachable);
            if now.saturating_sub(from) >= timing.fence_after {
                let fenced = State::Fenced {
                    link_back_since: None,
                    replaced: None,
                };
                (fenced, Action::Fence)
            } else {
                let next = State::Serving {
                    last_reachable,
                    counting_from: Some(from),
                    up_since: None,
                };
                (next, Action::Nothing)
            }
        }
        Input::Replacement(Lookup::Present(id)) => (State::replaced(now, id), Action::Fence),
        Input::Replacement(_) => {
            let same = State::Serving {
                last_reachable,
                counting_from,
                up_since,
            };
            (same, Action::Nothing)
        }
    }
}

/// Fenced: resumes once the link has been back for the settle time and the tags name no
/// replacement; a replacement seen keeps it fenced for good.
fn fenced(
    link_back_since: Option<Duration>,
    replaced: Option<&str>,
    input: &Input,
    now: Duration,
    timing: &Timing,
) -> (State, Action) {
    let state = |link_back_since, replaced: Option<&str>| State::Fenced {
        link_back_since,
        replaced: replaced.map(str::to_owned),
    };
    match input {
        Input::Probe { reachable: false } => (state(None, replaced), Action::Nothing),
        Input::Probe { reachable: true } => {
            let back = Some(link_back_since.unwrap_or(now));
            // Look up on every reachable probe, so that a replacement seen at any time during
            // the settle time counts.
            let action = match replaced {
                Some(_) => Action::Nothing,
                None => Action::LookUpReplacement,
            };
            (state(back, replaced), action)
        }
        Input::Replacement(Lookup::Present(id)) => {
            (state(link_back_since, Some(id)), Action::Nothing)
        }
        Input::Replacement(Lookup::Absent)
            if replaced.is_none()
                && link_back_since
                    .is_some_and(|since| now.saturating_sub(since) >= timing.settle) =>
        {
            (State::steady(now), Action::Resume)
        }
        Input::Replacement(_) => (state(link_back_since, replaced), Action::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: Timing = Timing {
        fence_after: Duration::from_secs(30),
        settle: Duration::from_secs(60),
        steady: Duration::from_secs(20),
    };

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn fenced(link_back_since: Option<u64>, replaced: Option<&str>) -> State {
        State::Fenced {
            link_back_since: link_back_since.map(secs),
            replaced: replaced.map(str::to_owned),
        }
    }

    fn serving(last_reachable: u64) -> State {
        State::steady(secs(last_reachable))
    }

    fn broken(last_reachable: u64, counting_from: u64, up_since: Option<u64>) -> State {
        State::Serving {
            last_reachable: secs(last_reachable),
            counting_from: Some(secs(counting_from)),
            up_since: up_since.map(secs),
        }
    }

    const UP: Input = Input::Probe { reachable: true };
    const DOWN: Input = Input::Probe { reachable: false };

    fn found(lookup: Lookup) -> Input {
        Input::Replacement(lookup)
    }

    fn present(id: &str) -> Input {
        found(Lookup::Present(id.to_owned()))
    }

    fn unreadable() -> Input {
        found(Lookup::Unreadable("no route".to_owned()))
    }

    struct Case {
        name: &'static str,
        state: State,
        input: Input,
        now: u64,
        want_state: State,
        want_action: Action,
    }

    #[test]
    fn single_steps() {
        let starting = State::Starting { since: secs(0) };
        let cases = [
            Case {
                name: "starting, reachable: look up",
                state: starting.clone(),
                input: UP,
                now: 1,
                want_state: starting.clone(),
                want_action: Action::LookUpReplacement,
            },
            Case {
                name: "starting, no replacement: serves",
                state: starting.clone(),
                input: found(Lookup::Absent),
                now: 1,
                want_state: serving(1),
                want_action: Action::Nothing,
            },
            Case {
                name: "starting, a replacement: fences for good",
                state: starting.clone(),
                input: present("i-0new"),
                now: 1,
                want_state: fenced(Some(1), Some("i-0new")),
                want_action: Action::Fence,
            },
            Case {
                name: "starting, unreachable, not confirmed within 30 s: fences",
                state: starting.clone(),
                input: DOWN,
                now: 30,
                want_state: fenced(None, None),
                want_action: Action::Fence,
            },
            Case {
                name: "starting, tags unreadable for 29 s: waits",
                state: starting.clone(),
                input: unreadable(),
                now: 29,
                want_state: starting,
                want_action: Action::Nothing,
            },
            Case {
                name: "serving, reachable: remembers the probe, looks up",
                state: serving(10),
                input: UP,
                now: 15,
                want_state: serving(15),
                want_action: Action::LookUpReplacement,
            },
            Case {
                name: "serving, unreachable before T: counts from the last answer",
                state: serving(10),
                input: DOWN,
                now: 39,
                want_state: broken(10, 10, None),
                want_action: Action::Nothing,
            },
            Case {
                name: "serving, unreachable for T: fences",
                state: serving(10),
                input: DOWN,
                now: 40,
                want_state: fenced(None, None),
                want_action: Action::Fence,
            },
            Case {
                name: "serving after a break, reachable: the link is back, not steady yet",
                state: broken(10, 10, None),
                input: UP,
                now: 20,
                want_state: broken(20, 10, Some(20)),
                want_action: Action::LookUpReplacement,
            },
            Case {
                name: "serving after a break, steady for 20 s: the loss is over",
                state: broken(35, 10, Some(20)),
                input: UP,
                now: 40,
                want_state: serving(40),
                want_action: Action::LookUpReplacement,
            },
            Case {
                name: "serving after a break, unreachable again: the clock runs on",
                state: broken(35, 10, Some(20)),
                input: DOWN,
                now: 39,
                want_state: broken(35, 10, None),
                want_action: Action::Nothing,
            },
            Case {
                name: "serving, a replacement in the tags: fences at once, for good",
                state: serving(10),
                input: present("i-0new"),
                now: 15,
                want_state: fenced(Some(15), Some("i-0new")),
                want_action: Action::Fence,
            },
            Case {
                name: "serving, no replacement: nothing",
                state: serving(10),
                input: found(Lookup::Absent),
                now: 15,
                want_state: serving(10),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced, unreachable: the link is not back",
                state: fenced(Some(100), None),
                input: DOWN,
                now: 110,
                want_state: fenced(None, None),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced, first reachable probe: the link is back, look up",
                state: fenced(None, None),
                input: UP,
                now: 100,
                want_state: fenced(Some(100), None),
                want_action: Action::LookUpReplacement,
            },
            Case {
                name: "fenced, reachable again: keeps when the link came back, looks up again",
                state: fenced(Some(100), None),
                input: UP,
                now: 110,
                want_state: fenced(Some(100), None),
                want_action: Action::LookUpReplacement,
            },
            Case {
                name: "fenced and replaced, reachable: no more look-ups",
                state: fenced(None, Some("i-0new")),
                input: UP,
                now: 100,
                want_state: fenced(Some(100), Some("i-0new")),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced, a replacement: remembered",
                state: fenced(Some(100), None),
                input: present("i-0new"),
                now: 100,
                want_state: fenced(Some(100), Some("i-0new")),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced, no replacement before the settle time: waits",
                state: fenced(Some(100), None),
                input: found(Lookup::Absent),
                now: 159,
                want_state: fenced(Some(100), None),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced, no replacement after the settle time: resumes",
                state: fenced(Some(100), None),
                input: found(Lookup::Absent),
                now: 160,
                want_state: serving(160),
                want_action: Action::Resume,
            },
            Case {
                name: "fenced with the link down, no replacement: waits",
                state: fenced(None, None),
                input: found(Lookup::Absent),
                now: 500,
                want_state: fenced(None, None),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced and replaced, no replacement now: stays fenced",
                state: fenced(Some(100), Some("i-0new")),
                input: found(Lookup::Absent),
                now: 500,
                want_state: fenced(Some(100), Some("i-0new")),
                want_action: Action::Nothing,
            },
            Case {
                name: "fenced, tags unreadable: stays fenced",
                state: fenced(Some(100), None),
                input: unreadable(),
                now: 500,
                want_state: fenced(Some(100), None),
                want_action: Action::Nothing,
            },
        ];
        for case in cases {
            let (state, action) = step(&case.state, &case.input, secs(case.now), &TIMING);
            assert_eq!(state, case.want_state, "{}: state", case.name);
            assert_eq!(action, case.want_action, "{}: action", case.name);
        }
    }

    /// A sentinel driven over a fake clock.
    struct Run {
        state: State,
        timing: Timing,
    }

    impl Run {
        fn new(marker: Marker) -> Self {
            Run {
                state: State::starting(Duration::ZERO, marker),
                timing: TIMING,
            }
        }

        fn feed(&mut self, now: Duration, input: Input) -> Action {
            let (state, action) = step(&self.state, &input, now, &self.timing);
            self.state = state;
            action
        }

        /// A probe; a look-up it asks for is answered with `lookup`.
        fn probe_seeing(&mut self, now: Duration, reachable: bool, lookup: Lookup) -> Action {
            match self.feed(now, Input::Probe { reachable }) {
                Action::LookUpReplacement => self.feed(now, Input::Replacement(lookup)),
                action => action,
            }
        }

        /// A probe; the tags name no replacement.
        fn probe(&mut self, now: Duration, reachable: bool) -> Action {
            self.probe_seeing(now, reachable, Lookup::Absent)
        }

        /// Serving since 0, then fenced by unreachable probes up to 30 s.
        fn fenced() -> Self {
            let mut run = Run::new(Marker::Absent);
            run.probe(secs(0), true);
            assert_eq!(run.probe(secs(30), false), Action::Fence);
            run
        }

        /// A reachable probe at `now` that asks for a look-up, answered with `lookup`.
        fn up_with(&mut self, now: Duration, lookup: Lookup) -> Action {
            assert_eq!(self.feed(now, UP), Action::LookUpReplacement, "at {now:?}");
            self.feed(now, Input::Replacement(lookup))
        }
    }

    #[test]
    fn fences_exactly_t_after_the_last_reachable_probe() {
        let mut run = Run::new(Marker::Absent);
        for at in [0, 5, 10] {
            assert_eq!(run.probe(secs(at), true), Action::Nothing);
        }
        for at in [15, 20, 25, 30, 35] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.probe(ms(39_999), false), Action::Nothing);
        assert_eq!(run.probe(secs(40), false), Action::Fence);
        assert_eq!(run.probe(secs(45), false), Action::Nothing, "fences once");
        assert_eq!(run.state, fenced(None, None));
    }

    #[test]
    fn a_link_back_and_steady_before_t_ends_the_loss() {
        let mut run = Run::new(Marker::Absent);
        run.probe(secs(0), true);
        for at in [5, 10, 15, 20, 25] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing);
        }
        for at in [29, 35, 40, 45, 49] {
            assert_eq!(run.probe(secs(at), true), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.state, serving(49), "steady for 20 s");
        for at in [55, 60, 70, 78] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.probe(secs(79), false), Action::Fence);
    }

    #[test]
    fn a_flapping_link_fences_t_after_its_first_loss() {
        let mut run = Run::new(Marker::Absent);
        run.probe(secs(0), true);
        // Down 5 s of every 10, never up for the 20 s that make it steady.
        for at in (5..30).step_by(5) {
            let reachable = (at / 5) % 2 == 0;
            assert_eq!(run.probe(secs(at), reachable), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.probe(secs(30), false), Action::Fence);
    }

    #[test]
    fn a_replacement_seen_while_serving_fences_at_once() {
        let mut run = Run::new(Marker::Absent);
        run.probe(secs(0), true);
        run.probe(secs(5), false);
        let seen = run.probe_seeing(secs(10), true, Lookup::Present("i-0new".to_owned()));
        assert_eq!(seen, Action::Fence);
        assert_eq!(run.state, fenced(Some(10), Some("i-0new")));
        assert_eq!(run.probe(secs(500), true), Action::Nothing, "for good");
    }

    #[test]
    fn at_start_it_serves_only_once_the_region_confirms_no_replacement() {
        // A boot with the link up: confirmed at the first probe.
        let mut run = Run::new(Marker::Absent);
        assert_eq!(run.probe(secs(0), true), Action::Nothing);
        assert_eq!(run.state, serving(0));
        // A boot with the link down: fenced once 30 s (or T, if shorter) pass unconfirmed.
        let mut run = Run::new(Marker::Absent);
        run.timing.fence_after = secs(120);
        for at in [0, 5, 10, 29] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.probe(secs(30), false), Action::Fence);
        // A boot after a replacement was launched: fenced at the first answer.
        let mut run = Run::new(Marker::Absent);
        let seen = run.probe_seeing(secs(2), true, Lookup::Present("i-0new".to_owned()));
        assert_eq!(seen, Action::Fence);
        // Tags not in the metadata: it cannot confirm, so it fences.
        let mut run = Run::new(Marker::Absent);
        let unread = || Lookup::Unreadable("instance tags are not in the metadata".to_owned());
        assert_eq!(run.probe_seeing(secs(0), true, unread()), Action::Nothing);
        assert_eq!(run.probe_seeing(secs(30), true, unread()), Action::Fence);
    }

    #[test]
    fn resumes_only_after_the_settle_time_without_a_replacement() {
        let mut run = Run::fenced();
        assert_eq!(run.probe(secs(60), false), Action::Nothing);
        assert_eq!(run.up_with(secs(100), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(130), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(ms(159_999), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(160), Lookup::Absent), Action::Resume);
        assert_eq!(run.state, serving(160));
    }

    #[test]
    fn a_replacement_seen_during_the_settle_time_keeps_it_fenced_for_good() {
        let mut run = Run::fenced();
        assert_eq!(run.up_with(secs(100), Lookup::Absent), Action::Nothing);
        assert_eq!(
            run.up_with(secs(110), Lookup::Present("i-0new".to_owned())),
            Action::Nothing
        );
        assert_eq!(run.feed(secs(200), UP), Action::Nothing, "no more look-ups");
        assert_eq!(run.feed(secs(200), found(Lookup::Absent)), Action::Nothing);
        assert_eq!(run.feed(secs(300), DOWN), Action::Nothing);
        assert_eq!(run.feed(secs(400), UP), Action::Nothing);
        assert_eq!(run.state, fenced(Some(400), Some("i-0new")));
    }

    #[test]
    fn unreadable_tags_keep_it_fenced() {
        let mut run = Run::fenced();
        for at in (100..=200).step_by(10) {
            let why = Lookup::Unreadable("instance tags are not in the metadata".to_owned());
            assert_eq!(run.up_with(secs(at), why), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.state, fenced(Some(100), None));
        assert_eq!(run.up_with(secs(210), Lookup::Absent), Action::Resume);
    }

    #[test]
    fn losing_the_link_during_the_settle_time_restarts_it() {
        let mut run = Run::fenced();
        assert_eq!(run.up_with(secs(100), Lookup::Absent), Action::Nothing);
        assert_eq!(run.feed(secs(130), DOWN), Action::Nothing);
        assert_eq!(run.up_with(secs(140), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(190), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(200), Lookup::Absent), Action::Resume);
    }

    #[test]
    fn starting_with_the_marker_is_fenced() {
        assert_eq!(
            State::starting(secs(5), Marker::Absent),
            State::Starting { since: secs(5) }
        );
        let mut run = Run::new(Marker::Fenced);
        assert_eq!(run.state, fenced(None, None));
        assert_eq!(run.up_with(secs(1), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(61), Lookup::Absent), Action::Resume);

        let mut run = Run::new(Marker::Replaced("i-0new".to_owned()));
        assert_eq!(run.state, fenced(None, Some("i-0new")));
        assert_eq!(run.feed(secs(1), UP), Action::Nothing);
        assert_eq!(run.feed(secs(100), found(Lookup::Absent)), Action::Nothing);
        assert_eq!(run.state, fenced(Some(1), Some("i-0new")));
    }
}
