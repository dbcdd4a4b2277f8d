//! The quota model of `jpo.md` §4, pure: time comes in as virtual milliseconds.
//!
//! * **Daily counters** per user, right and API, reset at 00:00 JST (15:00 UTC).
//!   `remainAccessCount` is the cap minus the count *after* the call; a call is refused (203)
//!   once the count has reached the cap, and a refused call spends nothing.
//! * **The window**: at most [`WINDOW_LIMIT`] requests per user in any [`WINDOW_MS`], over
//!   patent, design and trademark together. A request at `t` is admitted when fewer than 10
//!   admitted requests lie in `(t − 60 s, t]`. Requests refused with 303 are **not** recorded,
//!   so a client that pauses until the oldest admitted request is 60 s old gets through again
//!   (the live rule for refused requests is unknown; this is the lenient reading).

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::api::{Api, Right};
use crate::clock::VirtualMs;

pub const WINDOW_MS: i64 = 60_000;
pub const WINDOW_LIMIT: usize = 10;
const DAY_MS: i64 = 86_400_000;
const JST_OFFSET_MS: i64 = 9 * 3_600_000;

/// Days since 1970-01-01 in Japan Standard Time.
pub fn jst_day(now: VirtualMs) -> i64 {
    (now + JST_OFFSET_MS).div_euclid(DAY_MS)
}

/// The JST calendar date of `now`.
pub fn jst_date(now: VirtualMs) -> NaiveDate {
    let days = jst_day(now);
    NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).unwrap_or(NaiveDate::MIN)
}

/// The JST date as the API writes dates: `YYYYMMDD`.
pub fn jst_yyyymmdd(now: VirtualMs) -> String {
    jst_date(now).format("%Y%m%d").to_string()
}

/// The outcome of asking to spend one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    /// Counted; this many calls are left today.
    Granted { remain: u32 },
    /// The cap is reached: 203, nothing spent.
    Exhausted,
}

type PerRight = BTreeMap<Right, BTreeMap<Api, u32>>;

/// Today's counters. Serialised as `{"day": <JST day>, "used": {user: {right: {api: n}}}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daily {
    day: i64,
    used: BTreeMap<String, PerRight>,
}

impl Daily {
    pub fn spend(&mut self, user: &str, right: Right, api: Api, cap: u32, now: VirtualMs) -> Spend {
        self.roll(now);
        let n = self
            .used
            .entry(user.to_owned())
            .or_default()
            .entry(right)
            .or_default()
            .entry(api)
            .or_default();
        if *n >= cap {
            return Spend::Exhausted;
        }
        *n += 1;
        Spend::Granted { remain: cap - *n }
    }

    /// Today's counts for every user (after the reset, if the day has turned).
    pub fn today(&mut self, now: VirtualMs) -> &BTreeMap<String, PerRight> {
        self.roll(now);
        &self.used
    }

    fn roll(&mut self, now: VirtualMs) {
        let today = jst_day(now);
        if today != self.day {
            self.day = today;
            self.used.clear();
        }
    }
}

/// The per-user sliding window.
#[derive(Debug, Default)]
pub struct Window {
    admitted: HashMap<String, VecDeque<VirtualMs>>,
}

impl Window {
    /// Records and admits the request, or refuses it (303) without recording it.
    pub fn admit(&mut self, user: &str, now: VirtualMs) -> bool {
        let log = self.admitted.entry(user.to_owned()).or_default();
        while log.front().is_some_and(|t| *t <= now - WINDOW_MS) {
            log.pop_front();
        }
        if log.len() >= WINDOW_LIMIT {
            return false;
        }
        log.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-05-07T00:00:00Z in ms.
    const T: i64 = 1_778_112_000_000;
    const H: i64 = 3_600_000;

    #[test]
    fn jst_day_turns_at_15_utc() {
        for (now, date) in [
            (T, "20260507"),
            (T + 15 * H - 1, "20260507"),
            (T + 15 * H, "20260508"),
            (T - 9 * H, "20260507"),
            (T - 9 * H - 1, "20260506"),
            (0, "19700101"),
            (-9 * H - 1, "19691231"),
        ] {
            assert_eq!(jst_yyyymmdd(now), date, "at {now}");
        }
        assert_eq!(jst_day(T + 15 * H) - jst_day(T + 15 * H - 1), 1);
    }

    #[test]
    fn remain_is_counted_after_the_call_and_resets_at_jst_midnight() {
        let mut d = Daily::default();
        let spend = |d: &mut Daily, now| d.spend("u", Right::Patent, Api::CiteDocInfo, 2, now);
        let before_midnight = T + 15 * H - 1;
        let cases = [
            (T, Spend::Granted { remain: 1 }),
            (T + H, Spend::Granted { remain: 0 }),
            (before_midnight, Spend::Exhausted),
            (T + 15 * H, Spend::Granted { remain: 1 }),
            (T + 16 * H, Spend::Granted { remain: 0 }),
            (T + 17 * H, Spend::Exhausted),
        ];
        for (now, want) in cases {
            assert_eq!(spend(&mut d, now), want, "at {now}");
        }
    }

    #[test]
    fn counters_are_per_user_right_and_api() {
        let mut d = Daily::default();
        assert_eq!(
            d.spend("u", Right::Patent, Api::AppProgress, 800, T),
            Spend::Granted { remain: 799 }
        );
        for (user, right, api) in [
            ("u", Right::Design, Api::AppProgress),
            ("u", Right::Patent, Api::AppProgressSimple),
            ("v", Right::Patent, Api::AppProgress),
        ] {
            assert_eq!(d.spend(user, right, api, 800, T), Spend::Granted { remain: 799 });
        }
        assert_eq!(
            d.spend("u", Right::Patent, Api::AppProgress, 800, T),
            Spend::Granted { remain: 798 }
        );
        assert_eq!(d.today(T)["u"][&Right::Patent][&Api::AppProgress], 2);
        assert!(d.today(T + 15 * H).is_empty());
    }

    #[test]
    fn zero_cap_refuses_at_once() {
        let mut d = Daily::default();
        assert_eq!(
            d.spend("u", Right::Patent, Api::AppProgress, 0, T),
            Spend::Exhausted
        );
    }

    #[test]
    fn window_edges() {
        // (offset from the first request, admitted?)
        let cases: &[(&[i64], i64, bool)] = &[
            (&[0; 9], 1, true),
            (&[0; 10], 1, false),
            (&[0; 10], WINDOW_MS - 1, false),
            (&[0; 10], WINDOW_MS, true),
            (&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], WINDOW_MS - 1, false),
            (&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], WINDOW_MS, true),
            (&[0, 9, 9, 9, 9, 9, 9, 9, 9, 9], WINDOW_MS + 8, true),
            (&[5, 9, 9, 9, 9, 9, 9, 9, 9, 9], WINDOW_MS + 4, false),
        ];
        for (earlier, at, want) in cases {
            let mut w = Window::default();
            for t in *earlier {
                assert!(w.admit("u", T + t));
            }
            assert_eq!(w.admit("u", T + at), *want, "{earlier:?} then {at}");
            assert!(w.admit("other", T + at), "users have separate windows");
        }
    }

    #[test]
    fn refused_requests_are_not_recorded() {
        let mut w = Window::default();
        for _ in 0..10 {
            assert!(w.admit("u", T));
        }
        for i in 1..=20 {
            assert!(!w.admit("u", T + i * 1000));
        }
        assert!(w.admit("u", T + WINDOW_MS));
    }
}
