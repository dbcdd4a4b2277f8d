//! Throttling and byte quotas (`shared/api/epo-ops.md` §8), as a pure model on virtual time.
//!
//! Nothing here reads a clock or does I/O: every call is given "now" in virtual milliseconds,
//! so the rules are unit-tested exactly and the HTTP layer only converts `Retry-After` to real
//! time.
//!
//! Decisions the contract leaves open:
//! * A bucket's colour is its use *including* the request being answered; the other buckets
//!   show their use so far. A rejected (black) request is not counted, so the window frees as
//!   soon as its oldest request is 60 s old; `Retry-After` is exactly that wait.
//! * `used / limit` below 50 % is green, 50–75 % (both ends included) yellow, above 75 % red,
//!   and a request beyond the limit is black.
//! * The scenario API may override the limits of the current state per bucket
//!   ([`Throttle::set_limits`]); the header then shows the overridden limits. Changing the
//!   state drops the overrides.
//! * Byte quotas are decimal: 450 MB = 450 000 000 bytes per rolling hour, 4 GB =
//!   4 000 000 000 bytes per calendar week (from Monday 00:00 UTC). A response is served if the
//!   quota is not yet used up *before* it, so the answer that crosses the limit still goes out
//!   and the next one is refused; refused answers are not counted.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration};
use serde::{Deserialize, Serialize};

use crate::clock::VirtualMs;

/// The sliding window of the per-minute limits.
pub const WINDOW_MS: VirtualMs = 60_000;
const HOUR_MS: VirtualMs = 3_600_000;

pub const DEFAULT_HOUR_BYTES: u64 = 450_000_000;
pub const DEFAULT_WEEK_BYTES: u64 = 4_000_000_000;

/// The system state OPS reports first in `X-Throttling-Control`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SystemState {
    #[default]
    Idle,
    Busy,
    Overloaded,
}

impl SystemState {
    pub fn as_str(self) -> &'static str {
        match self {
            SystemState::Idle => "idle",
            SystemState::Busy => "busy",
            SystemState::Overloaded => "overloaded",
        }
    }
}

impl fmt::Display for SystemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown throttle state {0:?}: use idle, busy or overloaded")]
pub struct UnknownState(String);

impl FromStr for SystemState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "idle" => Ok(SystemState::Idle),
            "busy" => Ok(SystemState::Busy),
            "overloaded" => Ok(SystemState::Overloaded),
            _ => Err(UnknownState(s.to_owned())),
        }
    }
}

/// The throttling services, in the order OPS lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Images,
    Inpadoc,
    Other,
    Retrieval,
    Search,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Images,
        Bucket::Inpadoc,
        Bucket::Other,
        Bucket::Retrieval,
        Bucket::Search,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Images => "images",
            Bucket::Inpadoc => "inpadoc",
            Bucket::Other => "other",
            Bucket::Retrieval => "retrieval",
            Bucket::Search => "search",
        }
    }

    pub fn from_name(name: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The bucket of a service path (the part after `rest-services/`).
    pub fn for_service_path(path: &str) -> Bucket {
        let p = path.trim_start_matches('/');
        if p.starts_with("published-data/images") || p.starts_with("classification/cpc/media") {
            Bucket::Images
        } else if p.starts_with("published-data/search") {
            Bucket::Search
        } else if p.starts_with("published-data") {
            Bucket::Retrieval
        } else if p.starts_with("family") || p.starts_with("legal") {
            Bucket::Inpadoc
        } else {
            Bucket::Other
        }
    }
}

/// Requests per 60 s for a bucket in a system state (§8.1 table).
pub fn limit(state: SystemState, bucket: Bucket) -> u32 {
    use Bucket::*;
    use SystemState::*;
    match (state, bucket) {
        (_, Other) => 1000,
        (Idle, Retrieval | Images) => 200,
        (Idle, Search) => 30,
        (Idle, Inpadoc) => 60,
        (Busy, Retrieval | Images) => 100,
        (Busy, Search) => 15,
        (Busy, Inpadoc) => 45,
        (Overloaded, Retrieval | Images) => 50,
        (Overloaded, Search) => 5,
        (Overloaded, Inpadoc) => 30,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Green,
    Yellow,
    Red,
    Black,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
            Colour::Black => "black",
        }
    }
}

/// The colour of a bucket with `used` requests in the window.
pub fn colour(used: u32, limit: u32) -> Colour {
    let (used, limit) = (u64::from(used), u64::from(limit));
    if used > limit {
        Colour::Black
    } else if used * 2 < limit {
        Colour::Green
    } else if used * 4 <= limit * 3 {
        Colour::Yellow
    } else {
        Colour::Red
    }
}

/// The answer to "may this request go through?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The `X-Throttling-Control` value for this answer.
    pub header: String,
    /// `Some(wait)` in virtual ms when the bucket is black and the request is refused.
    pub rejected_for: Option<VirtualMs>,
}

/// Per-credential sliding windows, one per bucket.
#[derive(Default)]
pub struct Throttle {
    state: SystemState,
    /// Scenario overrides of the per-minute limits (`None` = the §8.1 table for the state).
    overrides: [Option<u32>; 5],
    clients: HashMap<String, [VecDeque<VirtualMs>; 5]>,
}

impl Throttle {
    pub fn state(&self) -> SystemState {
        self.state
    }

    /// Sets the state and forgets any limit overrides (they belonged to the previous setting).
    pub fn set_state(&mut self, state: SystemState) {
        self.state = state;
        self.overrides = [None; 5];
    }

    /// Overrides the limits of the given buckets until the next [`Throttle::set_state`] or
    /// [`Throttle::set_limits`]; the others follow the table again. A limit is at least 1.
    pub fn set_limits(&mut self, limits: &[(Bucket, u32)]) {
        self.overrides = [None; 5];
        for (b, l) in limits {
            self.overrides[b.index()] = Some((*l).max(1));
        }
    }

    /// The per-minute limit of `bucket` in effect.
    pub fn limit(&self, bucket: Bucket) -> u32 {
        self.overrides[bucket.index()].unwrap_or_else(|| limit(self.state, bucket))
    }

    /// Every bucket's limit in effect and whether it is overridden, in header order.
    pub fn limits(&self) -> Vec<(Bucket, u32, bool)> {
        Bucket::ALL
            .iter()
            .map(|b| (*b, self.limit(*b), self.overrides[b.index()].is_some()))
            .collect()
    }

    /// Counts a request of `client` in `bucket`, or refuses it when the bucket is full.
    pub fn admit(&mut self, client: &str, bucket: Bucket, now: VirtualMs) -> Admission {
        let limits = Bucket::ALL.map(|b| self.limit(b));
        let state = self.state;
        let windows = self.clients.entry(client.to_owned()).or_default();
        prune(windows, now);
        let w = &mut windows[bucket.index()];
        if w.len() >= limits[bucket.index()] as usize {
            let oldest = w.front().copied().unwrap_or(now);
            let wait = (oldest + WINDOW_MS - now).max(1);
            return Admission {
                header: render(state, &limits, windows, Some(bucket)),
                rejected_for: Some(wait),
            };
        }
        w.push_back(now);
        Admission {
            header: render(state, &limits, windows, None),
            rejected_for: None,
        }
    }

    /// The header for an answer that is not counted (e.g. a request without a valid token).
    pub fn peek(&mut self, client: &str, now: VirtualMs) -> String {
        let limits = Bucket::ALL.map(|b| self.limit(b));
        let state = self.state;
        match self.clients.get_mut(client) {
            Some(windows) => {
                prune(windows, now);
                render(state, &limits, windows, None)
            }
            None => render(state, &limits, &Default::default(), None),
        }
    }

    /// Requests in the current window per bucket, for the scenario API.
    pub fn usage(&mut self, now: VirtualMs) -> Vec<(String, Vec<(Bucket, usize)>)> {
        let mut out: Vec<_> = self
            .clients
            .iter_mut()
            .map(|(client, windows)| {
                prune(windows, now);
                let counts = Bucket::ALL
                    .iter()
                    .map(|b| (*b, windows[b.index()].len()))
                    .collect();
                (client.clone(), counts)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn prune(windows: &mut [VecDeque<VirtualMs>; 5], now: VirtualMs) {
    for w in windows.iter_mut() {
        while w.front().is_some_and(|t| now - t >= WINDOW_MS) {
            w.pop_front();
        }
    }
}

fn render(
    state: SystemState,
    limits: &[u32; 5],
    windows: &[VecDeque<VirtualMs>; 5],
    black: Option<Bucket>,
) -> String {
    let services: Vec<String> = Bucket::ALL
        .iter()
        .map(|b| {
            let lim = limits[b.index()];
            let c = if black == Some(*b) {
                Colour::Black
            } else {
                colour(windows[b.index()].len() as u32, lim)
            };
            format!("{}={}:{}", b.name(), c.as_str(), lim)
        })
        .collect();
    format!("{} ({})", state.as_str(), services.join(", "))
}

/// Which byte quota refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaExceeded {
    Hour,
    Week,
}

impl QuotaExceeded {
    /// The `X-Rejection-Reason` value.
    pub fn reason(self) -> &'static str {
        match self {
            QuotaExceeded::Hour => "IndividualQuotaPerHour",
            QuotaExceeded::Week => "RegisteredQuotaPerWeek",
        }
    }
}

/// One credential's byte use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// (time, bytes) of the answers in the rolling hour.
    hour: VecDeque<(VirtualMs, u64)>,
    /// Start of the week `week` counts.
    week_start: VirtualMs,
    week: u64,
}

/// Byte quotas per credential.
pub struct Quota {
    pub hour_limit: u64,
    pub week_limit: u64,
    usage: HashMap<String, Usage>,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            hour_limit: DEFAULT_HOUR_BYTES,
            week_limit: DEFAULT_WEEK_BYTES,
            usage: HashMap::new(),
        }
    }
}

impl Quota {
    /// Refuses when a quota is already used up (the weekly one is checked first).
    pub fn check(&mut self, client: &str, now: VirtualMs) -> Result<(), QuotaExceeded> {
        let (hour, week) = self.used(client, now);
        if week >= self.week_limit {
            Err(QuotaExceeded::Week)
        } else if hour >= self.hour_limit {
            Err(QuotaExceeded::Hour)
        } else {
            Ok(())
        }
    }

    pub fn record(&mut self, client: &str, now: VirtualMs, bytes: u64) {
        let u = self.usage.entry(client.to_owned()).or_default();
        roll(u, now);
        u.hour.push_back((now, bytes));
        u.week += bytes;
    }

    /// (bytes in the rolling hour, bytes this week).
    pub fn used(&mut self, client: &str, now: VirtualMs) -> (u64, u64) {
        match self.usage.get_mut(client) {
            Some(u) => {
                roll(u, now);
                (u.hour.iter().map(|(_, b)| b).sum(), u.week)
            }
            None => (0, 0),
        }
    }

    /// The credentials that have used bytes, sorted.
    pub fn clients(&self) -> Vec<String> {
        let mut c: Vec<String> = self.usage.keys().cloned().collect();
        c.sort();
        c
    }

    pub fn snapshot(&self) -> HashMap<String, Usage> {
        self.usage.clone()
    }

    pub fn restore(&mut self, usage: HashMap<String, Usage>) {
        self.usage = usage;
    }
}

fn roll(u: &mut Usage, now: VirtualMs) {
    while u.hour.front().is_some_and(|(t, _)| now - t >= HOUR_MS) {
        u.hour.pop_front();
    }
    let start = week_start(now);
    if u.week_start != start {
        u.week_start = start;
        u.week = 0;
    }
}

/// Monday 00:00 UTC of the week holding `now`.
pub fn week_start(now: VirtualMs) -> VirtualMs {
    let Some(t) = DateTime::from_timestamp_millis(now) else {
        return now;
    };
    let day = t.date_naive() - Duration::days(i64::from(t.weekday().num_days_from_monday()));
    day.and_hms_opt(0, 0, 0)
        .map_or(now, |m| m.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: VirtualMs = 1_700_000_000_000;

    #[test]
    fn colours_follow_the_thresholds() {
        assert_eq!(colour(0, 30), Colour::Green);
        assert_eq!(colour(14, 30), Colour::Green);
        assert_eq!(colour(15, 30), Colour::Yellow);
        assert_eq!(colour(22, 30), Colour::Yellow);
        assert_eq!(colour(23, 30), Colour::Red);
        assert_eq!(colour(30, 30), Colour::Red);
        assert_eq!(colour(31, 30), Colour::Black);
    }

    #[test]
    fn buckets_follow_the_paths() {
        assert_eq!(Bucket::for_service_path("register/search"), Bucket::Other);
        assert_eq!(
            Bucket::for_service_path("register/application/epodoc/EP1"),
            Bucket::Other
        );
        assert_eq!(
            Bucket::for_service_path("legal/publication/docdb/EP.1.A1"),
            Bucket::Inpadoc
        );
        assert_eq!(
            Bucket::for_service_path("family/publication/docdb/EP.1.A1"),
            Bucket::Inpadoc
        );
        assert_eq!(Bucket::for_service_path("published-data/search"), Bucket::Search);
        assert_eq!(
            Bucket::for_service_path("published-data/publication/epodoc/EP1"),
            Bucket::Retrieval
        );
        assert_eq!(
            Bucket::for_service_path("published-data/images/EP/1/A1"),
            Bucket::Images
        );
        assert_eq!(
            Bucket::for_service_path("classification/cpc/media/1"),
            Bucket::Images
        );
        assert_eq!(Bucket::for_service_path("number-service"), Bucket::Other);
    }

    #[test]
    fn header_lists_every_service_in_order() {
        let mut t = Throttle::default();
        assert_eq!(
            t.peek("k", T0),
            "idle (images=green:200, inpadoc=green:60, other=green:1000, retrieval=green:200, search=green:30)"
        );
        t.set_state(SystemState::Busy);
        assert_eq!(
            t.peek("k", T0),
            "busy (images=green:100, inpadoc=green:45, other=green:1000, retrieval=green:100, search=green:15)"
        );
    }

    #[test]
    fn a_full_window_goes_black_until_its_oldest_request_is_a_minute_old() {
        let mut t = Throttle::default();
        t.set_state(SystemState::Overloaded);
        for i in 0..30 {
            let a = t.admit("k", Bucket::Inpadoc, T0 + i * 100);
            assert_eq!(a.rejected_for, None);
            if i == 14 {
                assert!(a.header.contains("inpadoc=yellow:30"), "{}", a.header);
            }
            if i == 29 {
                assert!(a.header.contains("inpadoc=red:30"), "{}", a.header);
            }
        }
        let a = t.admit("k", Bucket::Inpadoc, T0 + 5_000);
        assert_eq!(a.rejected_for, Some(55_000));
        assert!(a.header.contains("inpadoc=black:30"));
        assert!(a.header.contains("other=green:1000"));
        // Another credential and another bucket are not affected.
        assert_eq!(t.admit("j", Bucket::Inpadoc, T0 + 5_000).rejected_for, None);
        assert_eq!(t.admit("k", Bucket::Other, T0 + 5_000).rejected_for, None);
        // The window slides: after the first request expires one slot is free again.
        assert_eq!(t.admit("k", Bucket::Inpadoc, T0 + 60_000).rejected_for, None);
        assert_eq!(t.admit("k", Bucket::Inpadoc, T0 + 60_050).rejected_for, Some(50));
    }

    #[test]
    fn limit_overrides_bind_until_the_state_changes() {
        let mut t = Throttle::default();
        t.set_state(SystemState::Busy);
        t.set_limits(&[(Bucket::Other, 3), (Bucket::Search, 0)]);
        assert_eq!(t.limit(Bucket::Other), 3);
        assert_eq!(t.limit(Bucket::Search), 1, "a limit is at least 1");
        assert_eq!(t.limit(Bucket::Inpadoc), 45, "the others follow the state");
        assert_eq!(
            t.peek("k", T0),
            "busy (images=green:100, inpadoc=green:45, other=green:3, retrieval=green:100, search=green:1)"
        );
        for i in 0..3 {
            let a = t.admit("k", Bucket::Other, T0 + i * 1_000);
            assert_eq!(a.rejected_for, None, "{i}");
        }
        assert!(t.peek("k", T0 + 3_000).contains("other=red:3"));
        let a = t.admit("k", Bucket::Other, T0 + 10_000);
        assert_eq!(a.rejected_for, Some(50_000));
        assert!(a.header.contains("other=black:3"), "{}", a.header);
        // New limits replace the old set; a new state forgets them.
        t.set_limits(&[(Bucket::Search, 7)]);
        assert_eq!(t.limit(Bucket::Other), 1000);
        assert_eq!(t.limit(Bucket::Search), 7);
        t.set_limits(&[(Bucket::Other, 3)]);
        t.set_state(SystemState::Overloaded);
        assert_eq!(t.limit(Bucket::Other), 1000);
        assert_eq!(
            t.limits(),
            vec![
                (Bucket::Images, 50, false),
                (Bucket::Inpadoc, 30, false),
                (Bucket::Other, 1000, false),
                (Bucket::Retrieval, 50, false),
                (Bucket::Search, 5, false),
            ]
        );
        assert_eq!(Bucket::from_name("inpadoc"), Some(Bucket::Inpadoc));
        assert_eq!(Bucket::from_name("register"), None);
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2023-11-14 22:13:20 UTC is a Tuesday; its week starts on Monday 2023-11-13.
        assert_eq!(week_start(T0), 1_699_833_600_000);
        assert_eq!(week_start(1_699_833_600_000), 1_699_833_600_000);
        assert_eq!(week_start(1_699_833_599_999), 1_699_833_600_000 - 7 * 86_400_000);
    }

    #[test]
    fn byte_quotas_roll_by_hour_and_reset_weekly() {
        let mut q = Quota {
            hour_limit: 1_000,
            week_limit: 5_000,
            ..Quota::default()
        };
        assert_eq!(q.check("k", T0), Ok(()));
        q.record("k", T0, 900);
        assert_eq!(q.check("k", T0), Ok(()));
        q.record("k", T0 + 1, 200);
        assert_eq!(q.used("k", T0 + 1), (1_100, 1_100));
        assert_eq!(q.check("k", T0 + 2), Err(QuotaExceeded::Hour));
        assert_eq!(q.check("j", T0 + 2), Ok(()));
        assert_eq!(q.check("k", T0 + HOUR_MS + 1), Ok(()));
        assert_eq!(q.used("k", T0 + HOUR_MS + 1), (0, 1_100));
        for i in 0..5 {
            q.record("k", T0 + 2 * HOUR_MS + i * HOUR_MS, 800);
        }
        assert_eq!(q.check("k", T0 + 7 * HOUR_MS), Err(QuotaExceeded::Week));
        let next_monday = week_start(T0) + 7 * 86_400_000;
        assert_eq!(q.used("k", next_monday), (0, 0));
        assert_eq!(q.check("k", next_monday), Ok(()));
    }
}
