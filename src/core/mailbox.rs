//! The life of one communication, as pure decisions.
//!
//! ```text
//!            archive ok                 mark ok (or found handled at the office)
//!   seen ──────────────────► archived ─────────────────────────────────────────► handled
//!    │  ▲  failure: retry after backoff
//!    │  └──┘
//!    └── attempts exhausted ──► quarantined   (reported every run until a person acts)
//! ```
//!
//! **Invariant:** nothing here lets a communication reach "mark it handled" unless it is
//! `archived`: [`next_step`] answers [`Step::MarkHandled`] only from [`State::Archived`].
//! Decisions take the time and the jitter as arguments, so they are deterministic and
//! table-tested; the I/O shell (`sync::mailbox`) carries them out.

use std::fmt;
use std::str::FromStr;

/// Where a communication stands locally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Listed by the office; no verified copy yet.
    Seen,
    /// A verified copy is in the archive and recorded; not yet known handled at the office.
    Archived,
    /// Archived, and handled at the office (by mailroom or by a person).
    Handled,
    /// Archiving failed too often: waits for a person (`mailroom communications` shows why).
    Quarantined,
}

impl State {
    pub const ALL: [State; 4] = [State::Seen, State::Archived, State::Handled, State::Quarantined];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Seen => "seen",
            State::Archived => "archived",
            State::Handled => "handled",
            State::Quarantined => "quarantined",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown communication state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for State {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// The local record's fields that decisions depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub state: State,
    /// The office already lists it as handled (a person clicked "handled" in the web UI).
    pub handled_at_office: bool,
    pub attempts: u32,
    /// Unix seconds before which no new archiving attempt is made.
    pub not_before: Option<i64>,
}

/// Retry policy for archiving.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// After this many failed attempts the communication is quarantined.
    pub max_attempts: u32,
    /// Delay after the first failure, in seconds; doubles per attempt.
    pub base_delay_secs: i64,
    /// Upper bound of the delay, in seconds.
    pub max_delay_secs: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 1 min, 2, 4, … capped at 1 h: a maintenance weekend costs a few attempts, not all.
        RetryPolicy {
            max_attempts: 8,
            base_delay_secs: 60,
            max_delay_secs: 3600,
        }
    }
}

/// What to do with a communication now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Download, verify and record it.
    Archive,
    /// Tell the office it is handled (only ever from `Archived`).
    MarkHandled,
    /// Record it handled without calling the office: the office already says so.
    RecordHandledAtOffice,
    /// An earlier failure: not before this time (unix seconds).
    WaitUntil(i64),
    /// Nothing to do.
    Nothing,
    /// Waiting for a person.
    Quarantined,
}

/// The next step for a communication at `now` (unix seconds).
///
/// `mark_handled` is the configuration switch: `false` is the read-only roll-out, where
/// mailroom archives but never tells the office.
pub fn next_step(p: Progress, now: i64, mark_handled: bool) -> Step {
    match p.state {
        State::Seen => match p.not_before {
            Some(t) if t > now => Step::WaitUntil(t),
            _ => Step::Archive,
        },
        State::Archived if p.handled_at_office => Step::RecordHandledAtOffice,
        State::Archived if mark_handled => Step::MarkHandled,
        State::Archived | State::Handled => Step::Nothing,
        State::Quarantined => Step::Quarantined,
    }
}

/// What a failed archiving attempt leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    Retry { attempts: u32, not_before: i64 },
    Quarantine { attempts: u32 },
}

/// Whether a failure is the communication's own or the office's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Something about this item (not a PDF, wrong size, unknown id): counts towards quarantine.
    Item,
    /// The office was unreachable or overloaded: backs off, but never quarantines — a
    /// maintenance weekend must not quarantine a whole mailbox.
    Office,
}

/// Decides the consequence of the `attempts`-th failure (counting this one) at `now`.
/// `jitter` in `[0, 1)` spreads retries by up to +25 % so many items do not retry in lockstep.
pub fn after_failure(
    previous_attempts: u32,
    now: i64,
    policy: RetryPolicy,
    jitter: f64,
    kind: FailureKind,
) -> AfterFailure {
    let attempts = previous_attempts.saturating_add(1);
    if attempts >= policy.max_attempts && kind == FailureKind::Item {
        return AfterFailure::Quarantine { attempts };
    }
    let exp = (attempts - 1).min(30);
    let delay = policy
        .base_delay_secs
        .saturating_mul(1i64 << exp)
        .min(policy.max_delay_secs);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 0.999)
    } else {
        0.0
    };
    let delay = delay.saturating_add((delay as f64 * 0.25 * jitter) as i64);
    AfterFailure::Retry {
        attempts,
        not_before: now.saturating_add(delay),
    }
}

/// The office's answer for one id of a mark-handled batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkResult {
    Handled,
    AlreadyHandled,
    NotFound,
    /// A status the contract does not list; kept as a failure.
    Other,
}

/// The whole answer to one mark-handled request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkReply {
    /// 200 with per-item results.
    PerItem(Vec<(String, MarkResult)>),
    /// 204: every id succeeded.
    AllDone,
    /// A 4xx for the whole batch (one bad id can do this).
    BatchRejected,
}

/// What becomes of each id of a batch, and which sub-batches to send next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarkOutcome {
    /// Now handled at the office.
    pub handled: Vec<String>,
    /// The office does not know them (deleted, or not this mailbox): reported, retried next run.
    pub not_found: Vec<String>,
    /// No clear answer: retried next run.
    pub unresolved: Vec<String>,
    /// A rejected batch is split in halves so one bad id cannot block the rest.
    pub resend: Vec<Vec<String>>,
}

/// Interprets the reply to marking `batch`.
pub fn interpret_mark(batch: &[String], reply: MarkReply) -> MarkOutcome {
    let mut out = MarkOutcome::default();
    match reply {
        MarkReply::AllDone => out.handled = batch.to_vec(),
        MarkReply::BatchRejected if batch.len() > 1 => {
            let (a, b) = batch.split_at(batch.len() / 2);
            out.resend = vec![a.to_vec(), b.to_vec()];
        }
        MarkReply::BatchRejected => out.not_found = batch.to_vec(),
        MarkReply::PerItem(results) => {
            for id in batch {
                // The first answer for an id counts; an id the office left out is unresolved.
                match results.iter().find(|(r, _)| r == id).map(|(_, s)| *s) {
                    Some(MarkResult::Handled | MarkResult::AlreadyHandled) => out.handled.push(id.clone()),
                    Some(MarkResult::NotFound) => out.not_found.push(id.clone()),
                    Some(MarkResult::Other) | None => out.unresolved.push(id.clone()),
                }
            }
        }
    }
    out
}

/// Whether a listing walk must be repeated: the office's count changed during the walk, or
/// fewer distinct ids were collected than it announced (items moved between pages).
pub fn walk_again(distinct_collected: usize, totals: &[Option<u64>]) -> bool {
    let announced: Vec<u64> = totals.iter().flatten().copied().collect();
    let changed = announced.windows(2).any(|w| w[0] != w[1]);
    let short = announced.last().is_some_and(|&t| (distinct_collected as u64) < t);
    changed || short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(state: State, handled_at_office: bool, not_before: Option<i64>) -> Progress {
        Progress {
            state,
            handled_at_office,
            attempts: 0,
            not_before,
        }
    }

    #[test]
    fn next_step_table() {
        use State::*;
        let now = 1_000;
        let table = [
            (p(Seen, false, None), true, Step::Archive),
            (p(Seen, true, None), true, Step::Archive),
            (p(Seen, false, Some(999)), true, Step::Archive),
            (p(Seen, false, Some(1_000)), true, Step::Archive),
            (p(Seen, false, Some(1_001)), true, Step::WaitUntil(1_001)),
            (p(Archived, false, None), true, Step::MarkHandled),
            (p(Archived, false, None), false, Step::Nothing),
            (p(Archived, true, None), true, Step::RecordHandledAtOffice),
            (p(Archived, true, None), false, Step::RecordHandledAtOffice),
            (p(Handled, false, None), true, Step::Nothing),
            (p(Quarantined, false, None), true, Step::Quarantined),
        ];
        for (progress, mark, expected) in table {
            assert_eq!(
                next_step(progress, now, mark),
                expected,
                "{progress:?} mark={mark}"
            );
        }
    }

    #[test]
    fn only_archived_communications_are_ever_marked() {
        for state in State::ALL {
            for office in [false, true] {
                for nb in [None, Some(0), Some(i64::MAX)] {
                    let step = next_step(
                        Progress {
                            state,
                            handled_at_office: office,
                            attempts: 3,
                            not_before: nb,
                        },
                        10,
                        true,
                    );
                    if step == Step::MarkHandled {
                        assert_eq!(state, State::Archived);
                    }
                }
            }
        }
    }

    #[test]
    fn backoff_doubles_caps_and_quarantines() {
        let pol = RetryPolicy {
            max_attempts: 5,
            base_delay_secs: 60,
            max_delay_secs: 200,
        };
        let table = [
            (
                0,
                AfterFailure::Retry {
                    attempts: 1,
                    not_before: 1_060,
                },
            ),
            (
                1,
                AfterFailure::Retry {
                    attempts: 2,
                    not_before: 1_120,
                },
            ),
            (
                2,
                AfterFailure::Retry {
                    attempts: 3,
                    not_before: 1_200,
                },
            ),
            (
                3,
                AfterFailure::Retry {
                    attempts: 4,
                    not_before: 1_200,
                },
            ),
            (4, AfterFailure::Quarantine { attempts: 5 }),
            (40, AfterFailure::Quarantine { attempts: 41 }),
        ];
        for (prev, expected) in table {
            assert_eq!(
                after_failure(prev, 1_000, pol, 0.0, FailureKind::Item),
                expected,
                "after {prev} failures"
            );
        }
        let AfterFailure::Retry { not_before, .. } = after_failure(0, 1_000, pol, 0.999, FailureKind::Item)
        else {
            panic!()
        };
        assert_eq!(not_before, 1_000 + 60 + 14, "jitter adds at most 25 %");
        assert_eq!(
            after_failure(0, 1_000, pol, f64::NAN, FailureKind::Item),
            after_failure(0, 1_000, pol, 0.0, FailureKind::Item)
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let pol = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay_secs: i64::MAX / 2,
            max_delay_secs: i64::MAX,
        };
        assert!(matches!(
            after_failure(u32::MAX - 2, i64::MAX - 5, pol, 0.5, FailureKind::Item),
            AfterFailure::Retry { .. }
        ));
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn mark_replies_table() {
        let batch = ids(&["a", "b", "c", "d"]);
        let per_item = MarkReply::PerItem(vec![
            ("a".into(), MarkResult::Handled),
            ("b".into(), MarkResult::AlreadyHandled),
            ("c".into(), MarkResult::NotFound),
        ]);
        let table = [
            (
                MarkReply::AllDone,
                MarkOutcome {
                    handled: batch.clone(),
                    ..Default::default()
                },
            ),
            (
                per_item,
                MarkOutcome {
                    handled: ids(&["a", "b"]),
                    not_found: ids(&["c"]),
                    unresolved: ids(&["d"]),
                    resend: vec![],
                },
            ),
            (
                MarkReply::BatchRejected,
                MarkOutcome {
                    resend: vec![ids(&["a", "b"]), ids(&["c", "d"])],
                    ..Default::default()
                },
            ),
        ];
        for (reply, expected) in table {
            assert_eq!(interpret_mark(&batch, reply.clone()), expected, "{reply:?}");
        }
        assert_eq!(
            interpret_mark(&ids(&["x"]), MarkReply::BatchRejected),
            MarkOutcome {
                not_found: ids(&["x"]),
                ..Default::default()
            }
        );
    }

    #[test]
    fn bisecting_a_rejected_batch_isolates_the_bad_id_in_log_steps() {
        // Simulate an office that rejects any batch containing "bad".
        let mut queue = vec![
            (0..37)
                .map(|i| {
                    if i == 23 {
                        "bad".to_owned()
                    } else {
                        format!("id{i}")
                    }
                })
                .collect::<Vec<_>>(),
        ];
        let (mut handled, mut not_found, mut requests) = (0, vec![], 0);
        while let Some(batch) = queue.pop() {
            requests += 1;
            assert!(requests < 100, "bisecting must terminate quickly");
            let reply = if batch.iter().any(|i| i == "bad") {
                MarkReply::BatchRejected
            } else {
                MarkReply::AllDone
            };
            let out = interpret_mark(&batch, reply);
            handled += out.handled.len();
            not_found.extend(out.not_found);
            queue.extend(out.resend);
        }
        assert_eq!((handled, not_found), (36, ids(&["bad"])));
        assert!(requests <= 2 * 6 + 1, "{requests} requests");
    }

    #[test]
    fn walk_again_table() {
        let table: [(usize, &[Option<u64>], bool); 6] = [
            (5, &[Some(5), Some(5)], false),
            (5, &[Some(6), Some(5)], true),
            (4, &[Some(5)], true),
            (7, &[None, None], false),
            (0, &[], false),
            (6, &[Some(5)], false),
        ];
        for (n, totals, expected) in table {
            assert_eq!(walk_again(n, totals), expected, "{n} {totals:?}");
        }
    }

    #[test]
    fn state_round_trips_through_text() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert_eq!("lost".parse::<State>(), Err(UnknownState("lost".into())));
    }
}
