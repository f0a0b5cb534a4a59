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
}

/// Where the sentinel stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The workload runs.
    Serving {
        /// The last time the Region answered a probe; the start time until it first does,
        /// since the link is not trusted before a successful probe.
        last_reachable: Duration,
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
    /// fenced, so that a reboot or a restart of the sentinel stays fenced.
    pub fn starting(now: Duration, marker: Marker) -> Self {
        match marker {
            Marker::Absent => State::Serving {
                last_reachable: now,
            },
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
    match (state, input) {
        (State::Serving { .. }, Input::Probe { reachable: true }) => (
            State::Serving {
                last_reachable: now,
            },
            Action::Nothing,
        ),
        (State::Serving { last_reachable }, Input::Probe { reachable: false })
            if now.saturating_sub(*last_reachable) >= timing.fence_after =>
        {
            let fenced = State::Fenced {
                link_back_since: None,
                replaced: None,
            };
            (fenced, Action::Fence)
        }
        (State::Serving { .. }, _) => (state.clone(), Action::Nothing),
        (State::Fenced { replaced, .. }, Input::Probe { reachable: false }) => (
            State::Fenced {
                link_back_since: None,
                replaced: replaced.clone(),
            },
            Action::Nothing,
        ),
        (
            State::Fenced {
                link_back_since,
                replaced,
            },
            Input::Probe { reachable: true },
        ) => {
            let next = State::Fenced {
                link_back_since: Some(link_back_since.unwrap_or(now)),
                replaced: replaced.clone(),
            };
            // Look up on every reachable probe, so that a replacement seen at any time during
            // the settle time counts.
            let action = match replaced {
                Some(_) => Action::Nothing,
                None => Action::LookUpReplacement,
            };
            (next, action)
        }
        (
            State::Fenced {
                link_back_since, ..
            },
            Input::Replacement(Lookup::Present(id)),
        ) => (
            State::Fenced {
                link_back_since: *link_back_since,
                replaced: Some(id.clone()),
            },
            Action::Nothing,
        ),
        (
            State::Fenced {
                link_back_since: Some(since),
                replaced: None,
            },
            Input::Replacement(Lookup::Absent),
        ) if now.saturating_sub(*since) >= timing.settle => (
            State::Serving {
                last_reachable: now,
            },
            Action::Resume,
        ),
        (State::Fenced { .. }, Input::Replacement(_)) => (state.clone(), Action::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: Timing = Timing {
        fence_after: Duration::from_secs(30),
        settle: Duration::from_secs(60),
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
        State::Serving {
            last_reachable: secs(last_reachable),
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
        let cases = [
            Case {
                name: "serving, reachable: remembers the probe",
                state: serving(10),
                input: UP,
                now: 15,
                want_state: serving(15),
                want_action: Action::Nothing,
            },
            Case {
                name: "serving, unreachable before T: waits",
                state: serving(10),
                input: DOWN,
                now: 39,
                want_state: serving(10),
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
                name: "serving, a look-up answer: ignored",
                state: serving(10),
                input: present("i-0new"),
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
    }

    impl Run {
        fn new(marker: Marker) -> Self {
            Run {
                state: State::starting(Duration::ZERO, marker),
            }
        }

        fn feed(&mut self, now: Duration, input: Input) -> Action {
            let (state, action) = step(&self.state, &input, now, &TIMING);
            self.state = state;
            action
        }

        fn probe(&mut self, now: Duration, reachable: bool) -> Action {
            self.feed(now, Input::Probe { reachable })
        }

        /// Fenced after a reachable probe at 0 and unreachable ones up to 30 s.
        fn fenced() -> Self {
            let mut run = Run::new(Marker::Absent);
            run.probe(secs(0), true);
            assert_eq!(run.probe(secs(30), false), Action::Fence);
            run
        }

        /// A reachable probe at `now` that asks for a look-up, answered with `lookup`.
        fn up_with(&mut self, now: Duration, lookup: Lookup) -> Action {
            assert_eq!(
                self.probe(now, true),
                Action::LookUpReplacement,
                "at {now:?}"
            );
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
    fn a_link_back_before_t_does_not_fence() {
        let mut run = Run::new(Marker::Absent);
        run.probe(secs(0), true);
        for at in [5, 10, 15, 20, 25] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing);
        }
        assert_eq!(run.probe(secs(29), true), Action::Nothing);
        for at in [30, 40, 50, 58] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.probe(secs(59), false), Action::Fence);
    }

    #[test]
    fn never_reachable_since_start_fences_t_after_start() {
        let mut run = Run::new(Marker::Absent);
        for at in [0, 5, 10, 15, 20, 25, 29] {
            assert_eq!(run.probe(secs(at), false), Action::Nothing, "at {at} s");
        }
        assert_eq!(run.probe(secs(30), false), Action::Fence);
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
        assert_eq!(
            run.probe(secs(200), true),
            Action::Nothing,
            "no more look-ups"
        );
        assert_eq!(run.feed(secs(200), found(Lookup::Absent)), Action::Nothing);
        assert_eq!(run.probe(secs(300), false), Action::Nothing);
        assert_eq!(run.probe(secs(400), true), Action::Nothing);
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
        assert_eq!(run.probe(secs(130), false), Action::Nothing);
        assert_eq!(run.up_with(secs(140), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(190), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(200), Lookup::Absent), Action::Resume);
    }

    #[test]
    fn starting_with_the_marker_is_fenced() {
        assert_eq!(State::starting(secs(5), Marker::Absent), serving(5));
        let mut run = Run::new(Marker::Fenced);
        assert_eq!(run.state, fenced(None, None));
        assert_eq!(run.up_with(secs(1), Lookup::Absent), Action::Nothing);
        assert_eq!(run.up_with(secs(61), Lookup::Absent), Action::Resume);

        let mut run = Run::new(Marker::Replaced("i-0new".to_owned()));
        assert_eq!(run.state, fenced(None, Some("i-0new")));
        assert_eq!(run.probe(secs(1), true), Action::Nothing);
        assert_eq!(run.feed(secs(100), found(Lookup::Absent)), Action::Nothing);
        assert_eq!(run.state, fenced(Some(1), Some("i-0new")));
    }
}
