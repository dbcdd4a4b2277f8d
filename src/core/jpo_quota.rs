//! The JPO's limits (`shared/api/jpo.md` §4) as pure decisions: the JST day, the daily
//! per-API counters, and the sliding request window.
//!
//! * **Days** turn at 00:00 JST (15:00 UTC of the day before); [`jst_day`].
//! * **Daily counters** are kept per (JST day, right, API). The office's last
//!   `remainAccessCount` is trusted over our own count and the configured cap; a call that
//!   spent quota without reporting a count lowers the last known one by one. A call spends
//!   quota when the office served it ([`SPENDING_CODES`]: data, no data, no document — a 107
//!   costs a call). Status [`DAILY_CAP_CODE`] marks the API exhausted for the rest of that JST
//!   day; refusals for other reasons (window, token, parameters) spend nothing.
//! * **The window**: at most `max` request starts in any span of `window`, over all rights
//!   together ([`next_start`], [`SlidingWindow`]).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::cases::Kind;

/// `statusCode` of a call refused because the daily cap of its API is reached.
pub const DAILY_CAP_CODE: &str = "203";

/// `statusCode`s of calls the office served and charged: 100 data, 107 no data, 108 no document.
pub const SPENDING_CODES: [&str; 3] = ["100", "107", "108"];

const JST_OFFSET_HOURS: i64 = 9;

/// The JST calendar day of `t`: 00:00 JST is 15:00 UTC of the previous day.
pub fn jst_day(t: DateTime<Utc>) -> NaiveDate {
    (t + TimeDelta::hours(JST_OFFSET_HOURS)).date_naive()
}

/// One daily counter, as persisted between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    /// The JST day the counter belongs to.
    pub day: NaiveDate,
    pub right: Kind,
    /// The API's path name (`app_progress`).
    pub api: String,
    /// Calls that spent quota, as this client saw them.
    pub used: u32,
    /// The office's count after its last reply that carried one (or lowered by our own calls
    /// since), `None` when it has never said.
    pub remain: Option<u32>,
    /// The office answered 203: no call to this API and right until the next JST day.
    pub exhausted: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counter {
    used: u32,
    remain: Option<u32>,
    exhausted: bool,
}

type Key = (NaiveDate, Kind, String);

/// The daily counters of every (day, right, API) seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyQuota {
    counters: BTreeMap<Key, Counter>,
}

impl DailyQuota {
    /// Counters saved by [`DailyQuota::snapshot`]. Entries of other days than the one asked
    /// about are never consulted, and [`DailyQuota::record`] drops those of past days. Two
    /// entries for one key keep the one with more calls.
    pub fn restore(usage: Vec<ApiUsage>) -> DailyQuota {
        let mut counters: BTreeMap<Key, Counter> = BTreeMap::new();
        for u in usage {
            let c = Counter {
                used: u.used,
                remain: u.remain,
                exhausted: u.exhausted,
            };
            let slot = counters.entry((u.day, u.right, u.api)).or_default();
            if c.used >= slot.used {
                *slot = c;
            }
        }
        DailyQuota { counters }
    }

    /// Calls left today: 0 when exhausted, else the office's last count when known, else
    /// `default_cap` minus the calls made.
    pub fn remaining(&self, right: Kind, api: &str, today: NaiveDate, default_cap: u32) -> u32 {
        match self.counters.get(&(today, right, api.to_owned())) {
            None => default_cap,
            Some(c) if c.exhausted => 0,
            Some(c) => c.remain.unwrap_or_else(|| default_cap.saturating_sub(c.used)),
        }
    }

    /// Records one reply of the office (`status_code` as served, `remain` its
    /// `remainAccessCount`). Counters of days before `today` are dropped.
    pub fn record(
        &mut self,
        right: Kind,
        api: &str,
        today: NaiveDate,
        remain: Option<u32>,
        status_code: &str,
    ) {
        self.counters.retain(|(day, _, _), _| *day >= today);
        let c = self.counters.entry((today, right, api.to_owned())).or_default();
        let spent = SPENDING_CODES.contains(&status_code);
        if spent {
            c.used = c.used.saturating_add(1);
        }
        c.remain = match remain {
            Some(r) => Some(r),
            None if spent => c.remain.map(|r| r.saturating_sub(1)),
            None => c.remain,
        };
        if status_code == DAILY_CAP_CODE {
            c.exhausted = true;
        }
    }

    /// Every counter held, for persistence.
    pub fn snapshot(&self) -> Vec<ApiUsage> {
        self.counters
            .iter()
            .map(|((day, right, api), c)| ApiUsage {
                day: *day,
                right: *right,
                api: api.clone(),
                used: c.used,
                remain: c.remain,
                exhausted: c.exhausted,
            })
            .collect()
    }
}

/// When the next request may start, given the start times of earlier ones (any order, all
/// measured from one origin): at `now` while fewer than `max` starts lie within a window,
/// else once the `max`-th most recent start is a whole window old. A `max` of 0 counts as 1.
pub fn next_start(starts: &[Duration], now: Duration, window: Duration, max: u32) -> Duration {
    let max = max.max(1) as usize;
    if starts.len() < max {
        return now;
    }
    let mut recent = starts.to_vec();
    recent.sort_unstable_by(|a, b| b.cmp(a));
    let limiting = recent[max - 1] + window;
    now.max(limiting)
}

/// The window's book of request starts, shared by every caller of one client.
///
/// A caller [`reserves`](SlidingWindow::reserve) a start (possibly in the future: it then waits
/// until then), and when the answer is in, [`settles`](SlidingWindow::settle) it to the time the
/// answer arrived. The office counts a request when it arrives, which is between the two; the
/// later stamp keeps our count on the safe side of the office's.
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    window: Duration,
    max: u32,
    /// Sorted, at most `max` (older ones no longer decide anything).
    starts: Vec<Duration>,
}

impl SlidingWindow {
    pub fn new(window: Duration, max: u32) -> SlidingWindow {
        SlidingWindow {
            window,
            max: max.max(1),
            starts: Vec::new(),
        }
    }

    /// Books the earliest allowed start at or after `now` and returns it.
    pub fn reserve(&mut self, now: Duration) -> Duration {
        let at = next_start(&self.starts, now, self.window, self.max);
        self.starts.push(at);
        self.tidy();
        at
    }

    /// Moves a booked start to `done` (when the answer arrived). A start no longer held is
    /// ignored.
    pub fn settle(&mut self, reserved: Duration, done: Duration) {
        if let Some(s) = self.starts.iter_mut().find(|s| **s == reserved) {
            *s = done.max(reserved);
            self.tidy();
        }
    }

    fn tidy(&mut self) {
        self.starts.sort_unstable();
        let excess = self.starts.len().saturating_sub(self.max as usize);
        self.starts.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn jst_day_turns_at_15_utc() {
        let table = [
            ("2026-05-07T00:00:00Z", "2026-05-07"),
            ("2026-05-07T14:59:59.999Z", "2026-05-07"),
            ("2026-05-07T15:00:00Z", "2026-05-08"),
            ("2026-05-06T15:00:00Z", "2026-05-07"),
            ("2026-05-06T14:59:59Z", "2026-05-06"),
            ("2026-12-31T15:00:00Z", "2027-01-01"),
            ("2024-02-28T15:00:00Z", "2024-02-29"),
            ("2026-05-07T08:00:00+09:00", "2026-05-07"),
        ];
        for (t, want) in table {
            assert_eq!(jst_day(utc(t)), day(want), "{t}");
        }
    }

    const API: &str = "app_progress";

    #[test]
    fn remaining_trusts_the_office_then_the_cap() {
        let d = day("2026-05-07");
        type Replies<'a> = &'a [(Option<u32>, &'a str)];
        // (replies recorded as (remain, code), cap, expected remaining)
        let table: &[(Replies, u32, u32)] = &[
            (&[], 400, 400),
            (&[(None, "100")], 400, 399),
            (&[(None, "100"), (None, "107")], 400, 398),
            (&[(Some(787), "100")], 400, 787),
            (&[(Some(787), "100"), (Some(786), "107")], 400, 786),
            (&[(Some(5), "100"), (None, "100")], 400, 4),
            (&[(Some(1), "100"), (Some(0), "100")], 400, 0),
            (&[(None, "100")], 1, 0),
            (&[(None, "100"), (None, "100")], 1, 0),
            (&[(None, "203")], 400, 0),
            (&[(Some(3), "100"), (None, "203")], 400, 0),
            (
                &[(None, "303"), (None, "210"), (None, "999"), (None, "204")],
                400,
                400,
            ),
            (&[(None, "108")], 400, 399),
        ];
        for (replies, cap, want) in table {
            let mut q = DailyQuota::default();
            for (remain, code) in *replies {
                q.record(Kind::Patent, API, d, *remain, code);
            }
            assert_eq!(
                q.remaining(Kind::Patent, API, d, *cap),
                *want,
                "{replies:?} cap {cap}"
            );
        }
    }

    #[test]
    fn counters_are_per_day_right_and_api() {
        let d = day("2026-05-07");
        let mut q = DailyQuota::default();
        q.record(Kind::Patent, API, d, None, "203");
        assert_eq!(q.remaining(Kind::Patent, API, d, 400), 0);
        assert_eq!(q.remaining(Kind::Design, API, d, 400), 400);
        assert_eq!(q.remaining(Kind::Patent, "app_progress_simple", d, 400), 400);
        assert_eq!(q.remaining(Kind::Patent, API, day("2026-05-08"), 400), 400);
    }

    #[test]
    fn exhaustion_ends_at_jst_midnight() {
        let before = utc("2026-05-07T14:59:59Z");
        let after = utc("2026-05-07T15:00:00Z");
        let mut q = DailyQuota::default();
        q.record(Kind::Trademark, API, jst_day(before), None, DAILY_CAP_CODE);
        assert_eq!(q.remaining(Kind::Trademark, API, jst_day(before), 800), 0);
        assert_eq!(q.remaining(Kind::Trademark, API, jst_day(after), 800), 800);
        q.record(Kind::Trademark, API, jst_day(after), Some(799), "100");
        assert_eq!(q.snapshot().len(), 1, "yesterday's counter is dropped");
        assert_eq!(q.snapshot()[0].day, day("2026-05-08"));
    }

    #[test]
    fn snapshot_and_restore_round_trip() {
        let d = day("2026-05-07");
        let mut q = DailyQuota::default();
        q.record(Kind::Patent, API, d, Some(10), "100");
        q.record(Kind::Patent, API, d, Some(9), "107");
        q.record(Kind::Design, API, d, None, "203");
        let saved = q.snapshot();
        assert_eq!(
            saved[0],
            ApiUsage {
                day: d,
                right: Kind::Patent,
                api: API.into(),
                used: 2,
                remain: Some(9),
                exhausted: false
            }
        );
        let json = serde_json::to_string(&saved).unwrap();
        let back: Vec<ApiUsage> = serde_json::from_str(&json).unwrap();
        let r = DailyQuota::restore(back);
        assert_eq!(r, q);
        assert_eq!(r.remaining(Kind::Design, API, d, 800), 0);
    }

    #[test]
    fn restore_ignores_other_days_and_keeps_the_larger_count() {
        let today = day("2026-05-07");
        let usage = |day, used, remain, exhausted| ApiUsage {
            day,
            right: Kind::Patent,
            api: API.into(),
            used,
            remain,
            exhausted,
        };
        let q = DailyQuota::restore(vec![
            usage(day("2026-05-06"), 800, Some(0), true),
            usage(today, 3, Some(797), false),
            usage(today, 1, Some(799), false),
        ]);
        assert_eq!(q.remaining(Kind::Patent, API, today, 800), 797);
        assert_eq!(q.remaining(Kind::Patent, API, day("2026-05-08"), 800), 800);
    }

    fn s(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn next_start_table() {
        let w = s(60_000);
        let ten_at_once: Vec<Duration> = vec![s(0); 10];
        let spread: Vec<Duration> = (0..10).map(|i| s(i * 1000)).collect();
        // (earlier starts, now, max, expected)
        let table: Vec<(Vec<Duration>, Duration, u32, Duration)> = vec![
            (vec![], s(0), 10, s(0)),
            (vec![s(0); 9], s(1), 10, s(1)),
            (ten_at_once.clone(), s(1), 10, s(60_000)),
            (ten_at_once.clone(), s(60_000), 10, s(60_000)),
            (ten_at_once, s(70_000), 10, s(70_000)),
            (spread.clone(), s(9_500), 10, s(60_000)),
            (spread.iter().rev().copied().collect(), s(9_500), 10, s(60_000)),
            (
                [spread.clone(), vec![s(60_000)]].concat(),
                s(60_000),
                10,
                s(61_000),
            ),
            (vec![s(5)], s(6), 1, s(60_005)),
            (vec![s(5)], s(6), 0, s(60_005)),
            (vec![s(0), s(50_000)], s(50_001), 2, s(60_000)),
        ];
        for (starts, now, max, want) in table {
            assert_eq!(
                next_start(&starts, now, w, max),
                want,
                "{starts:?} at {now:?}, max {max}"
            );
        }
    }

    #[test]
    fn the_eleventh_waits_until_the_first_is_a_window_old() {
        let mut win = SlidingWindow::new(s(60_000), 10);
        let got: Vec<Duration> = (0..21).map(|i| win.reserve(s(i))).collect();
        assert_eq!(got[..10], (0..10).map(s).collect::<Vec<_>>()[..]);
        assert_eq!(got[10], s(60_000));
        assert_eq!(got[19], s(60_009));
        assert_eq!(got[20], s(120_000));
        for (i, a) in got.iter().enumerate() {
            let within = got.iter().filter(|b| **b >= *a && **b < *a + s(60_000)).count();
            assert!(within <= 10, "{within} starts in the window from request {i}");
        }
    }

    #[test]
    fn settling_moves_a_start_to_when_the_answer_came() {
        let mut win = SlidingWindow::new(s(1000), 2);
        let a = win.reserve(s(0));
        let b = win.reserve(s(0));
        win.settle(a, s(300));
        win.settle(b, s(200));
        assert_eq!(win.reserve(s(250)), s(1200));
        win.settle(s(999_999), s(1));
        assert_eq!(win.reserve(s(250)), s(1300));
    }
}
