//! Which JP cases to refresh today.
//!
//! The JPO allows few calls per day: a cap per API per kind of right (patent, design,
//! trademark counters are separate) that resets at 00:00 JST, and its data changes once a day
//! (today's action appears tomorrow). So each kind gets a rotation: with `n` cases and a cap of
//! `c` calls a day, every case is refreshed every ⌈n ÷ c⌉ days, and cases with something going
//! on (priority) get the slots the rotation leaves free.
//!
//! Decisions:
//! - **Order per kind**: (1) never-checked cases (by id), then cases at least one period old,
//!   oldest first; (2) priority cases, oldest first; (3) the rest, oldest first. Ties go by id,
//!   so the choice is deterministic.
//! - **A case checked today is never chosen again today**, priority or not: the JPO publishes
//!   a day's changes the next day, so a second call could only repeat the first answer and
//!   spend a slot. A `last_checked` after `today` (a clock set back) counts as today.
//! - **At most `min(cap, remaining)` per kind**: `remaining` is what the office says is left
//!   today, `cap` is our share of it, and neither is ever exceeded.
//! - **Across kinds** the chosen cases are merged in the order above (then kind, then id), so
//!   the most overdue go first when a run is cut short by the per-minute window.
//! - Because the rotation is oldest first, with no priority cases every case of a kind is
//!   refreshed exactly once in every window of ⌈n ÷ c⌉ consecutive days.

pub mod jobs;

use chrono::NaiveDate;

use super::cases::Kind;

/// A JP case that could be refreshed today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JpCandidate {
    pub id: i64,
    pub kind: Kind,
    /// The JST day of the last successful refresh; `None` if never.
    pub last_checked: Option<NaiveDate>,
    /// Recent mailbox activity or a recent change: worth a spare slot before its turn.
    pub priority: bool,
}

/// The rotation period in days for `cases` cases at `cap` calls a day: ⌈cases ÷ cap⌉, at
/// least 1. A cap of 0 counts as 1 (nothing can be refreshed then anyway).
pub fn refresh_period(cases: usize, cap: u32) -> u32 {
    let cap = usize::try_from(cap.max(1)).unwrap_or(usize::MAX);
    u32::try_from(cases.div_ceil(cap).max(1)).unwrap_or(u32::MAX)
}

/// Which cases to refresh today, in order, never more per kind than `remaining(kind)` nor
/// `cap(kind)` (see the module's decisions).
pub fn choose_jp(
    cands: &[JpCandidate],
    today: NaiveDate,
    cap: impl Fn(Kind) -> u32,
    remaining: impl Fn(Kind) -> u32,
) -> Vec<i64> {
    // (tier, last checked, kind, id): tier 0 = never checked or a period old, 1 = priority,
    // 2 = the rest.
    let mut chosen: Vec<(u8, Option<NaiveDate>, Kind, i64)> = Vec::new();
    for kind in Kind::ALL {
        let of_kind: Vec<&JpCandidate> = cands.iter().filter(|c| c.kind == kind).collect();
        let period = i64::from(refresh_period(of_kind.len(), cap(kind)));
        let mut due: Vec<(u8, Option<NaiveDate>, Kind, i64)> = of_kind
            .iter()
            .filter_map(|c| {
                let tier = match c.last_checked {
                    None => 0,
                    Some(date) => match today.signed_duration_since(date).num_days() {
                        age if age < 1 => return None,
                        age if age >= period => 0,
                        _ if c.priority => 1,
                        _ => 2,
                    },
                };
                Some((tier, c.last_checked, kind, c.id))
            })
            .collect();
        due.sort_unstable();
        let slots = usize::try_from(cap(kind).min(remaining(kind))).unwrap_or(usize::MAX);
        chosen.extend(due.into_iter().take(slots));
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|(.., id)| id).collect()
}

/// The longest wait between two lookups of a case the office does not know.
pub const NOT_FOUND_MAX_WAIT_DAYS: u32 = 30;

/// How many days after its `misses`-th consecutive "not found" (1 = the first) a case is
/// looked up again: 1, 2, 4, 8, 16, then 30 days for good.
///
/// Decision: a number the office does not know is usually one it has not published yet
/// (a new filing, a number typed before the Register has it) or a typo. Doubling keeps a new
/// filing found within days of its appearance while a typo costs one request a month; the
/// request per cycle that every other case costs would instead make the unknown case fail
/// every run. `misses` of 0 is treated as 1.
pub fn not_found_wait_days(misses: u32) -> u32 {
    let doublings = misses.saturating_sub(1).min(5);
    (1u32 << doublings).min(NOT_FOUND_MAX_WAIT_DAYS)
}

/// A slow, capped lookup (an EP case's INPADOC family, a PCT application's JP national
/// phase) that could be made this cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    pub id: i64,
    /// The day of the last answer (a family, or "none"); `None` if never looked up.
    pub last: Option<NaiveDate>,
}

/// Which lookups to make this cycle, in order: never looked up first (by id, so the order
/// of arrival), then those at least `every_days` old, oldest first; at most `max`.
///
/// Decision: families change rarely (a new national phase, a divisional), so one lookup when
/// a case first appears and one a month after is enough; `max` spreads a large first import
/// over days (500 new cases at 100 a cycle are all looked up within five nights) and leaves
/// the inpadoc bucket and the JPO's per-API caps to everything else. The callers also stop at
/// the office's own caps; this only decides the order and the share.
pub fn lookups_due(cands: &[Lookup], today: NaiveDate, every_days: u32, max: usize) -> Vec<i64> {
    let mut due: Vec<(Option<NaiveDate>, i64)> = cands
        .iter()
        .filter(|c| {
            c.last
                .is_none_or(|d| (today - d).num_days() >= i64::from(every_days))
        })
        .map(|c| (c.last, c.id))
        .collect();
    // `None` sorts before any day.
    due.sort();
    due.into_iter().take(max).map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use Kind::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 5, d).unwrap()
    }

    fn c(id: i64, kind: Kind, last_checked: Option<u32>, priority: bool) -> JpCandidate {
        JpCandidate {
            id,
            kind,
            last_checked: last_checked.map(day),
            priority,
        }
    }

    fn per_kind(values: [u32; 3]) -> impl Fn(Kind) -> u32 {
        move |kind| match kind {
            Patent => values[0],
            Design => values[1],
            Trademark => values[2],
        }
    }

    #[test]
    fn not_found_waits_double_up_to_thirty_days() {
        let table = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (6, 30),
            (7, 30),
            (40, 30),
            (u32::MAX, 30),
        ];
        for (misses, days) in table {
            assert_eq!(not_found_wait_days(misses), days, "{misses}");
        }
    }

    #[test]
    fn refresh_period_table() {
        let table = [
            (0, 400, 1),
            (1, 400, 1),
            (399, 400, 1),
            (400, 400, 1),
            (401, 400, 2),
            (2000, 400, 5),
            (2001, 400, 6),
            (7, 2, 4),
            (5, 0, 5),
            (0, 0, 1),
            (usize::MAX, 1, u32::MAX),
        ];
        for (cases, cap, expected) in table {
            assert_eq!(refresh_period(cases, cap), expected, "{cases} cases, cap {cap}");
        }
    }

    /// Name, candidates, cap and remaining per kind (patent, design, trademark), expected ids.
    type Row = (&'static str, Vec<JpCandidate>, [u32; 3], [u32; 3], Vec<i64>);

    /// A case's `last_checked` before the first simulated day, by id.
    type LastChecked = fn(i64) -> Option<NaiveDate>;

    #[test]
    fn choose_jp_table() {
        // Today is the 20th.
        let today = day(20);
        let table: Vec<Row> = vec![
            ("nothing", vec![], [400; 3], [400; 3], vec![]),
            (
                "never checked by id, then a period old oldest first, then priority, then the rest",
                // 6 patents at cap 2: period 3.
                vec![
                    c(1, Patent, Some(19), false),
                    c(2, Patent, Some(18), true),
                    c(3, Patent, Some(17), false),
                    c(4, Patent, None, false),
                    c(5, Patent, Some(10), false),
                    c(6, Patent, None, true),
                ],
                [6; 3],
                [6; 3],
                vec![4, 6, 5, 3, 2, 1],
            ),
            (
                "the cap limits",
                vec![
                    c(1, Patent, Some(19), false),
                    c(2, Patent, Some(18), true),
                    c(3, Patent, Some(17), false),
                    c(4, Patent, None, false),
                    c(5, Patent, Some(10), false),
                    c(6, Patent, None, true),
                ],
                [2; 3],
                [6; 3],
                vec![4, 6],
            ),
            (
                "the remaining count limits",
                vec![
                    c(1, Patent, Some(19), false),
                    c(2, Patent, Some(18), true),
                    c(3, Patent, Some(17), false),
                    c(5, Patent, Some(10), false),
                ],
                [6; 3],
                [3; 3],
                vec![5, 3, 2],
            ),
            (
                "priority before younger cases, after overdue ones",
                // 4 patents at cap 2: period 2.
                vec![
                    c(1, Patent, Some(19), true),
                    c(2, Patent, Some(18), false),
                    c(3, Patent, Some(19), false),
                    c(4, Patent, Some(17), false),
                ],
                [2; 3],
                [2; 3],
                vec![4, 2],
            ),
            (
                "priority takes the slot a young case would have",
                // 4 patents at cap 1: period 4.
                vec![
                    c(1, Patent, Some(19), true),
                    c(2, Patent, Some(17), false),
                    c(3, Patent, Some(18), false),
                    c(4, Patent, Some(18), false),
                ],
                [1; 3],
                [1; 3],
                vec![1],
            ),
            (
                "checked today: never again today, priority or not; a future date counts as today",
                vec![
                    c(1, Patent, Some(20), true),
                    c(2, Patent, Some(20), false),
                    c(3, Patent, Some(21), true),
                    c(4, Patent, Some(19), false),
                ],
                [10; 3],
                [10; 3],
                vec![4],
            ),
            (
                "ties go by id",
                vec![
                    c(9, Design, Some(15), false),
                    c(3, Design, Some(15), false),
                    c(7, Design, None, false),
                    c(5, Design, None, false),
                ],
                [10; 3],
                [10; 3],
                vec![5, 7, 3, 9],
            ),
            (
                "kinds have their own caps and periods",
                vec![
                    c(1, Patent, Some(18), false),
                    c(2, Patent, Some(19), false),
                    c(3, Design, Some(19), false),
                    c(4, Design, None, false),
                    c(5, Trademark, Some(19), false),
                    c(6, Trademark, Some(10), true),
                ],
                [1, 2, 0],
                [5, 1, 5],
                vec![4, 1],
            ),
            (
                "kinds are merged by urgency, then kind",
                // Patents: 4 at cap 3, designs: 3 at cap 2; both period 2.
                vec![
                    c(1, Trademark, None, false),
                    c(2, Design, Some(19), true),
                    c(3, Patent, Some(18), false),
                    c(4, Patent, Some(1), false),
                    c(5, Design, Some(1), false),
                    c(6, Patent, None, false),
                    c(7, Patent, Some(19), false),
                    c(8, Design, Some(19), false),
                ],
                [3, 2, 10],
                [10; 3],
                vec![6, 1, 4, 5, 3, 2],
            ),
        ];
        for (name, cands, cap, remaining, expected) in table {
            assert_eq!(
                choose_jp(&cands, today, per_kind(cap), per_kind(remaining)),
                expected,
                "{name}"
            );
        }
    }

    /// Runs `days` days from the 1st, marking what was chosen as checked that day; returns each
    /// day's choice. Checks that no day exceeds `min(cap, remaining)` per kind and that no case
    /// is chosen twice a day; `inspect` sees each day's candidates before they are marked.
    fn simulate(
        cands: &mut [JpCandidate],
        days: u32,
        cap: [u32; 3],
        remaining: impl Fn(u32) -> [u32; 3],
        priority: impl Fn(u32, i64) -> bool,
        mut inspect: impl FnMut(u32, NaiveDate, &[JpCandidate], &[i64]),
    ) -> Vec<Vec<i64>> {
        let mut history = Vec::new();
        for d in 1..=days {
            let today = day(1) + chrono::Days::new(u64::from(d - 1));
            for cand in cands.iter_mut() {
                cand.priority = priority(d, cand.id);
            }
            let chosen = choose_jp(cands, today, per_kind(cap), per_kind(remaining(d)));
            inspect(d, today, cands, &chosen);
            let unique: BTreeSet<i64> = chosen.iter().copied().collect();
            assert_eq!(unique.len(), chosen.len(), "day {d}: a case chosen twice");
            for (i, kind) in Kind::ALL.into_iter().enumerate() {
                let count = cands
                    .iter()
                    .filter(|c| c.kind == kind && unique.contains(&c.id))
                    .count();
                let limit = cap[i].min(remaining(d)[i]);
                assert!(
                    count <= limit as usize,
                    "day {d}: {count} {kind} refreshes, limit {limit}"
                );
            }
            for cand in cands.iter_mut().filter(|c| unique.contains(&c.id)) {
                assert_ne!(
                    cand.last_checked,
                    Some(today),
                    "day {d}: {} checked twice",
                    cand.id
                );
                cand.last_checked = Some(today);
            }
            history.push(chosen);
        }
        history
    }

    #[test]
    fn two_thousand_patents_at_cap_400_rotate_in_exactly_five_days() {
        let starts: Vec<(&str, LastChecked)> = vec![
            ("never checked", |_| None),
            ("all checked the day before", |_| {
                Some(day(1) - chrono::Days::new(1))
            }),
            ("scattered, some never", |id| {
                (id % 11 != 0).then(|| day(1) - chrono::Days::new(1 + (id * 7919 % 13) as u64))
            }),
        ];
        for (name, start) in starts {
            // Served in a scrambled order: the choice must not depend on it.
            let mut cands: Vec<JpCandidate> = (0..2000)
                .map(|i| (i * 7 + 3) % 2000)
                .map(|id| JpCandidate {
                    id,
                    kind: Patent,
                    last_checked: start(id),
                    priority: false,
                })
                .collect();
            let history = simulate(
                &mut cands,
                20,
                [400; 3],
                |_| [400; 3],
                |_, _| false,
                |_, _, _, _| {},
            );
            for (d, chosen) in history.iter().enumerate() {
                assert_eq!(chosen.len(), 400, "{name}: day {}", d + 1);
            }
            for first in 0..=15 {
                let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
                for id in history[first..first + 5].iter().flatten() {
                    *seen.entry(*id).or_default() += 1;
                }
                assert_eq!(seen.len(), 2000, "{name}: days {}–{}", first + 1, first + 5);
                assert!(
                    seen.values().all(|n| *n == 1),
                    "{name}: days {}–{}",
                    first + 1,
                    first + 5
                );
            }
        }
    }

    #[test]
    fn mixed_kinds_and_priorities_stay_within_caps_and_keep_rotating() {
        // (kind, cases, cap): periods 3, 3 and 3.
        let kinds = [(Patent, 1000, 400), (Design, 120, 50), (Trademark, 30, 10)];
        let mut cands = Vec::new();
        for (kind, n, _) in kinds {
            for _ in 0..n {
                let id = cands.len() as i64;
                cands.push(JpCandidate {
                    id,
                    kind,
                    last_checked: None,
                    priority: false,
                });
            }
        }
        let cap = [400, 50, 10];
        // Some days the office has fewer calls left than our share.
        let remaining = |d: u32| if d % 5 == 0 { [300, 50, 4] } else { [800, 200, 10] };
        // A shifting tenth of the cases has recent activity.
        let priority = |d: u32, id: i64| (id + i64::from(d)) % 10 == 0;
        let days = 40;
        let periods = [3, 3, 3];
        // A case chosen without being due or a priority took a slot no waiting priority case of
        // its kind wanted.
        let priorities_first = |d: u32, today: NaiveDate, cands: &[JpCandidate], chosen: &[i64]| {
            let age = |c: &JpCandidate| c.last_checked.map(|l| (today - l).num_days());
            for (i, kind) in Kind::ALL.into_iter().enumerate() {
                let of_kind = || cands.iter().filter(move |c| c.kind == kind);
                let filler_chosen = of_kind()
                    .any(|c| chosen.contains(&c.id) && !c.priority && age(c).is_some_and(|a| a < periods[i]));
                let priority_left =
                    of_kind().any(|c| c.priority && !chosen.contains(&c.id) && age(c).is_none_or(|a| a >= 1));
                assert!(
                    !(filler_chosen && priority_left),
                    "day {d}: a {kind} priority case passed over"
                );
            }
        };
        let history = simulate(&mut cands, days, cap, remaining, priority, priorities_first);

        let kind_of: BTreeMap<i64, Kind> = cands.iter().map(|c| (c.id, c.kind)).collect();
        let mut last: BTreeMap<i64, u32> = BTreeMap::new();
        let mut longest_wait = [0u32; 3];
        for (d, chosen) in (1..=days).zip(&history) {
            for id in chosen {
                if let Some(before) = last.insert(*id, d) {
                    let i = Kind::ALL.iter().position(|k| *k == kind_of[id]).unwrap();
                    longest_wait[i] = longest_wait[i].max(d - before);
                }
            }
        }
        assert_eq!(last.len(), cands.len(), "every case was refreshed");
        // Patents and designs have spare slots (333 and 40 due a day of 400 and 50), so
        // priorities never stretch their three-day rotation; trademarks lose six of ten calls
        // every fifth day and wait one day more then.
        assert_eq!(longest_wait, [3, 3, 4]);
    }

    #[test]
    fn lookups_new_first_then_the_stalest_within_the_share() {
        let l = |id, last: Option<u32>| Lookup {
            id,
            last: last.map(day),
        };
        // (candidates, today, every, max, chosen)
        type Row = (Vec<Lookup>, u32, u32, usize, Vec<i64>);
        let table: Vec<Row> = vec![
            (vec![], 30, 30, 10, vec![]),
            // Never looked up: all, by id.
            (
                vec![l(3, None), l(1, None), l(2, None)],
                30,
                30,
                10,
                vec![1, 2, 3],
            ),
            // Looked up 29 days ago: not due; 30: due.
            (vec![l(1, Some(1)), l(2, Some(2))], 31, 30, 10, vec![1]),
            // New before stale, stale oldest first, and the share.
            (
                vec![l(1, Some(1)), l(2, None), l(3, Some(1)), l(4, None)],
                31,
                30,
                3,
                vec![2, 4, 1],
            ),
            // A clock set back (a last day after today) is not due.
            (vec![l(1, Some(20))], 10, 30, 10, vec![]),
            (vec![l(1, None)], 10, 30, 0, vec![]),
        ];
        for (cands, today, every, max, want) in table {
            assert_eq!(lookups_due(&cands, day(today), every, max), want, "{cands:?}");
        }
    }

    #[test]
    fn five_hundred_new_cases_are_looked_up_within_five_nights_and_not_again_for_a_month() {
        let mut last: BTreeMap<i64, NaiveDate> = BTreeMap::new();
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut per_night = Vec::new();
        for night in 0..40 {
            let today = start + chrono::Days::new(night);
            let cands: Vec<Lookup> = (1..=500)
                .map(|id| Lookup {
                    id,
                    last: last.get(&id).copied(),
                })
                .collect();
            let chosen = lookups_due(&cands, today, 30, 100);
            for id in &chosen {
                last.insert(*id, today);
            }
            per_night.push(chosen.len());
        }
        assert_eq!(&per_night[..5], &[100; 5]);
        assert!(per_night[5..30].iter().all(|&n| n == 0), "{per_night:?}");
        assert_eq!(&per_night[30..35], &[100; 5], "the monthly refresh, again spread");
        assert!(per_night.iter().all(|&n| n <= 100));
    }
}
