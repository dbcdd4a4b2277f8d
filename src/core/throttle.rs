//! OPS fair use as pure decisions (`shared/api/epo-ops.md` §8): the `X-Throttling-Control`
//! header, the service bucket of a request path, a per-bucket [`Pacer`], and the byte quotas
//! ([`ByteQuota`]).
//!
//! Time is an argument everywhere: the pacer takes a [`Duration`] since an origin the caller
//! chooses (the client uses the moment it was built), the byte quota takes Unix seconds (the
//! weekly quota resets on the calendar, Monday 00:00 UTC).
//!
//! # How the pacing is computed
//! For each bucket separately, a request may start at the latest of:
//! 1. `now`;
//! 2. the previous start of that bucket plus `window × (1 + 1/32) / limit`, where `limit` is
//!    the **lowest** limit any answer showed for that bucket within the last window (OPS
//!    instances share no state and may disagree). With no answer in the last window the most
//!    recent limit seen is used; with none ever, [`default_limit`] (the most restrictive value
//!    the Guide shows);
//! 3. the `limit`-th previous start plus `window × (1 + 1/32)`, so that after the limit drops
//!    (idle → overloaded) the starts still in the window are counted, not only the spacing;
//! 4. the end of a pause of that bucket (black) and of a pause of everything (hourly quota);
//! 5. after a `ThrottlingControlQuota` rejection, until everything then in the window has left
//!    it: the departure of one of our own starts (the window is shared with someone whose
//!    requests leave it at unknown times; see [`Pacer::rejected`]).
//!
//! The 1/32 guard (about 2 s of a 60 s window) absorbs the difference between when we start a
//! request and when OPS counts it: without it, a request that is delayed on the way and one that
//! is not, `limit` requests apart, land in the same window and the second is refused.
//!
//! # Decisions
//! * **Yellow and red need no extra slowing.** The colours say how full the window is (50 %,
//!   75 %); a client that never starts more than `limit` requests per window cannot make its
//!   bucket go black by itself, and slowing down at yellow would only waste the quota we are
//!   given. Only black, a `ThrottlingControlQuota` rejection or an hourly-quota rejection pause.
//! * **Black** (the colour of any bucket in any answer, or a 403 `ThrottlingControlQuota`)
//!   pauses only that bucket: until `Retry-After` (milliseconds) when the answer is about that
//!   bucket and carries one, else for one full window. A rejection also shares the window
//!   (rule 5), so a black episode costs at most one 403.
//! * **A 403 `IndividualQuotaPerHour`** pauses every bucket for `Retry-After` when given, at
//!   most an hour, and for an hour without one.
//! * **The weekly soft cap** stops before the answer that would cross `quota_stop_share` of
//!   the weekly quota: the next answer is assumed as large as the largest seen so far. A 403
//!   `RegisteredQuotaPerWeek` stops until the next Monday 00:00 UTC.
//! * An unknown service name in the header is skipped (OPS may add services); an unknown state
//!   or colour, or a malformed entry, makes the whole header unreadable (`None`), and the pacer
//!   keeps what it knew.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// The system state OPS reports first in `X-Throttling-Control`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemState {
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

    fn parse(s: &str) -> Option<SystemState> {
        match s.trim().to_ascii_lowercase().as_str() {
            "idle" => Some(SystemState::Idle),
            "busy" => Some(SystemState::Busy),
            "overloaded" => Some(SystemState::Overloaded),
            _ => None,
        }
    }
}

/// How full a bucket's window is: green < 50 %, yellow 50–75 %, red > 75 %, black = exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Green,
    Yellow,
    Red,
    Black,
}

impl Colour {
    fn parse(s: &str) -> Option<Colour> {
        match s.trim().to_ascii_lowercase().as_str() {
            "green" => Some(Colour::Green),
            "yellow" => Some(Colour::Yellow),
            "red" => Some(Colour::Red),
            "black" => Some(Colour::Black),
            _ => None,
        }
    }
}

/// The OPS throttling services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
        let name = name.trim();
        Bucket::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The bucket of a request path (a URL path, or the part after `rest-services/`):
    /// `published-data/search` → search; image and CPC media paths → images; other
    /// `published-data` → retrieval; `family`, `legal` → inpadoc; everything else, including
    /// every `register` call and register search → other (§8.1).
    pub fn for_path(path: &str) -> Bucket {
        const REST: &str = "rest-services/";
        let service = match path.find(REST) {
            Some(i) => &path[i + REST.len()..],
            None => path,
        };
        let mut segs = service.split('/').filter(|s| !s.is_empty());
        match (segs.next(), segs.next(), segs.next()) {
            (Some("published-data"), Some("images"), _) => Bucket::Images,
            (Some("classification"), Some("cpc"), Some("media")) => Bucket::Images,
            (Some("published-data"), Some("search"), _) => Bucket::Search,
            (Some("published-data"), _, _) => Bucket::Retrieval,
            (Some("family" | "legal"), _, _) => Bucket::Inpadoc,
            _ => Bucket::Other,
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The limit assumed for a bucket before any answer has shown one: the most restrictive value
/// the Guide gives for any state (search 5, inpadoc 15 per minute, …).
pub fn default_limit(bucket: Bucket) -> u32 {
    match bucket {
        Bucket::Images | Bucket::Retrieval => 50,
        Bucket::Inpadoc => 15,
        Bucket::Search => 5,
        Bucket::Other => 1000,
    }
}

/// One service of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    pub colour: Colour,
    /// Requests per window for this user on the answering instance.
    pub limit: u32,
}

/// A parsed `X-Throttling-Control` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttling {
    pub state: SystemState,
    services: [Option<Service>; 5],
}

impl Throttling {
    /// Parses `idle (images=green:200, inpadoc=green:60, other=green:1000, …)`: services in
    /// any order, spaces anywhere between the tokens. `None` when it cannot be read.
    pub fn parse(header: &str) -> Option<Throttling> {
        let (state, rest) = header.split_once('(')?;
        let state = SystemState::parse(state)?;
        let list = rest.trim_end().strip_suffix(')')?;
        let mut services = [None; 5];
        for entry in list.split(',').filter(|e| !e.trim().is_empty()) {
            let (name, value) = entry.split_once('=')?;
            let (colour, limit) = value.split_once(':')?;
            let colour = Colour::parse(colour)?;
            let limit: u32 = limit.trim().parse().ok().filter(|l| *l > 0)?;
            let Some(bucket) = Bucket::from_name(name) else {
                continue;
            };
            let slot: &mut Option<Service> = &mut services[bucket.index()];
            // Two values for one service: keep the more restrictive.
            if slot.is_none_or(|s| limit < s.limit) {
                *slot = Some(Service { colour, limit });
            }
        }
        Some(Throttling { state, services })
    }

    pub fn service(&self, bucket: Bucket) -> Option<Service> {
        self.services[bucket.index()]
    }

    /// The services the header named, in [`Bucket::ALL`] order.
    pub fn services(&self) -> impl Iterator<Item = (Bucket, Service)> + '_ {
        Bucket::ALL
            .into_iter()
            .filter_map(|b| self.service(b).map(|s| (b, s)))
    }
}

/// A `Retry-After` value in milliseconds, as OPS sends it with throttling rejections (§8.1),
/// capped at an hour. `None` when it is not a number.
pub fn retry_after_ms(value: &str) -> Option<Duration> {
    let ms: u64 = value.trim().parse().ok()?;
    Some(Duration::from_millis(ms).min(HOUR))
}

const HOUR: Duration = Duration::from_secs(3600);

/// The guard added to the window: 1/32 of it.
const GUARD_DIVISOR: u32 = 32;

#[derive(Clone, Debug, Default)]
struct Lane {
    /// Starts within the last guarded window (at least the newest one is kept).
    starts: VecDeque<Duration>,
    /// Limits seen, as a sliding-window minimum: times and limits both increase from front to
    /// back, so the first entry still inside the window holds the lowest limit in it and the
    /// back holds the most recent one.
    limits: VecDeque<(Duration, u32)>,
    /// Black: no start before this.
    paused_until: Duration,
    /// After a `ThrottlingControlQuota` rejection: until `until`, at most `own` of our starts
    /// in any window (see [`Pacer::rejected`]).
    shared: Option<Shared>,
}

/// A window someone else also uses: we only replace our own requests as they leave it.
#[derive(Clone, Copy, Debug)]
struct Shared {
    until: Duration,
    own: usize,
}

impl Lane {
    /// The earliest start at or after `base` that keeps at most `limit` of our starts in any
    /// guarded window and `interval` after the previous one.
    fn earliest(
        &self,
        base: Duration,
        limit: usize,
        interval: Duration,
        guarded_window: Duration,
    ) -> Duration {
        let mut t = base;
        if let Some(last) = self.starts.back() {
            t = t.max(*last + interval);
        }
        if limit > 0
            && let Some(i) = self.starts.len().checked_sub(limit)
            && let Some(first_of_window) = self.starts.get(i)
        {
            t = t.max(*first_of_window + guarded_window);
        }
        t
    }
}

/// Decides when the next request of each bucket may start (see the module documentation).
#[derive(Clone, Debug)]
pub struct Pacer {
    window: Duration,
    lanes: [Lane; 5],
    /// An exhausted hourly quota: nothing starts before this.
    all_paused_until: Duration,
}

impl Pacer {
    /// `window` is OPS's throttling window (60 s; shorter only on a sandbox's accelerated
    /// clock). A zero window is treated as one millisecond.
    pub fn new(window: Duration) -> Pacer {
        Pacer {
            window: window.max(Duration::from_millis(1)),
            lanes: Default::default(),
            all_paused_until: Duration::ZERO,
        }
    }

    fn guarded_window(&self) -> Duration {
        self.window + self.window / GUARD_DIVISOR
    }

    /// The limit the pacer paces `bucket` by at `now`.
    pub fn limit(&self, bucket: Bucket, now: Duration) -> u32 {
        let lane = &self.lanes[bucket.index()];
        lane.limits
            .iter()
            .find(|(at, _)| *at + self.window > now)
            .or(lane.limits.back())
            .map_or(default_limit(bucket), |(_, l)| *l)
    }

    /// The least time between two starts of `bucket` at `now`.
    pub fn interval(&self, bucket: Bucket, now: Duration) -> Duration {
        self.guarded_window() / self.limit(bucket, now).max(1)
    }

    /// When a request of `bucket` may start, at or after `now`.
    pub fn next_start(&self, bucket: Bucket, now: Duration) -> Duration {
        let lane = &self.lanes[bucket.index()];
        let gw = self.guarded_window();
        let interval = self.interval(bucket, now);
        let base = now.max(lane.paused_until).max(self.all_paused_until);
        let normal = lane.earliest(base, self.limit(bucket, now) as usize, interval, gw);
        match lane.shared {
            // Within a shared window: only as many of ours as we had in it, or wait for its end.
            Some(sh) if normal < sh.until => lane
                .earliest(base, sh.own, interval, gw)
                .min(sh.until.max(normal)),
            _ => normal,
        }
    }

    /// Takes the next start of `bucket` (as [`Pacer::next_start`]) and records it; concurrent
    /// callers each get their own slot.
    pub fn reserve(&mut self, bucket: Bucket, now: Duration) -> Duration {
        let t = self.next_start(bucket, now);
        let gw = self.guarded_window();
        let lane = &mut self.lanes[bucket.index()];
        if lane.shared.is_some_and(|sh| t >= sh.until) {
            lane.shared = None;
        }
        lane.starts.push_back(t);
        while lane.starts.len() > 1 && lane.starts.front().is_some_and(|s| *s + gw <= t) {
            lane.starts.pop_front();
        }
        t
    }

    /// Records an answer to a request of `bucket`, received at `at`, with its throttling
    /// header and its `Retry-After` (milliseconds, already parsed).
    pub fn observe(
        &mut self,
        bucket: Bucket,
        at: Duration,
        header: &Throttling,
        retry_after: Option<Duration>,
    ) {
        let window = self.window;
        for (b, service) in header.services() {
            let lane = &mut self.lanes[b.index()];
            while lane.limits.back().is_some_and(|(_, l)| *l >= service.limit) {
                lane.limits.pop_back();
            }
            lane.limits.push_back((at, service.limit));
            while lane.limits.len() > 1 && lane.limits.front().is_some_and(|(t, _)| *t + window <= at) {
                lane.limits.pop_front();
            }
            if service.colour == Colour::Black {
                let wait = if b == bucket {
                    retry_after.unwrap_or(window)
                } else {
                    window
                };
                self.pause(b, at + wait);
            }
        }
    }

    /// A 403 `ThrottlingControlQuota` at `at` for the request of `bucket` that started at
    /// `started`: the bucket pauses until `Retry-After` (a window without one).
    ///
    /// The window was full, and not only with our requests (the pacer keeps ours below the
    /// limit): another consumer of the same account, or an instance with a lower limit, holds
    /// the rest, and when their requests leave the window is unknown. So until everything now in
    /// the window has left it, our requests only take the places of our own as those leave (and
    /// the place `Retry-After` names when none of ours is in the window). One black episode then
    /// costs one 403, not one per request that finds the window still full.
    pub fn rejected(
        &mut self,
        bucket: Bucket,
        started: Duration,
        at: Duration,
        retry_after: Option<Duration>,
    ) {
        let until = at + retry_after.unwrap_or(self.window);
        self.pause(bucket, until);
        let (window, gw) = (self.window, self.guarded_window());
        let lane = &mut self.lanes[bucket.index()];
        // OPS did not count the refused request.
        if let Some(i) = lane.starts.iter().rposition(|s| *s == started) {
            lane.starts.remove(i);
        }
        let own = lane.starts.iter().filter(|s| **s + window > at).count();
        lane.shared = Some(Shared {
            until: at + gw,
            own: own.max(1),
        });
    }

    fn pause(&mut self, bucket: Bucket, until: Duration) {
        let lane = &mut self.lanes[bucket.index()];
        lane.paused_until = lane.paused_until.max(until);
    }

    /// A 403 `IndividualQuotaPerHour` at `at`: everything pauses for `Retry-After`, at most an
    /// hour, or an hour without one.
    pub fn hour_quota(&mut self, at: Duration, retry_after: Option<Duration>) {
        let wait = retry_after.map_or(HOUR, |r| r.min(HOUR));
        self.all_paused_until = self.all_paused_until.max(at + wait);
    }

    /// How long everything still pauses after `now` (an exhausted hourly quota).
    pub fn paused_all(&self, now: Duration) -> Option<Duration> {
        (self.all_paused_until > now).then(|| self.all_paused_until - now)
    }
}

/// Why the byte quota stops further requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaStop {
    /// The next answer could take the week's use past the soft cap.
    SoftCap { used: u64, cap: u64 },
    /// OPS refused with `RegisteredQuotaPerWeek` this week.
    WeekExhausted,
}

/// The byte quotas as OPS reports them (`X-IndividualQuotaPerHour-Used`,
/// `X-RegisteredQuotaPerWeek-Used`), and the weekly soft cap.
#[derive(Clone, Debug)]
pub struct ByteQuota {
    cap: u64,
    hour_used: Option<u64>,
    /// (bytes, week number) of the latest weekly figure.
    week_used: Option<(u64, u64)>,
    largest_answer: u64,
    /// The week OPS refused with `RegisteredQuotaPerWeek`.
    exhausted_week: Option<u64>,
}

/// Weeks since Monday 1969-12-29 00:00 UTC (the weekly quota resets at each).
fn week_of(unix_secs: u64) -> u64 {
    (unix_secs / 86_400 + 3) / 7
}

impl ByteQuota {
    /// `stop_share` of `week_quota_bytes` is the soft cap (0.8 of 4 GB).
    pub fn new(week_quota_bytes: u64, stop_share: f64) -> ByteQuota {
        let share = if stop_share.is_finite() {
            stop_share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ByteQuota {
            cap: (week_quota_bytes as f64 * share) as u64,
            hour_used: None,
            week_used: None,
            largest_answer: 0,
            exhausted_week: None,
        }
    }

    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Records one answer at `unix_secs`: the two usage headers (when present) and the size of
    /// its body.
    pub fn record(
        &mut self,
        unix_secs: u64,
        hour_used: Option<u64>,
        week_used: Option<u64>,
        answer_bytes: u64,
    ) {
        if hour_used.is_some() {
            self.hour_used = hour_used;
        }
        if let Some(w) = week_used {
            self.week_used = Some((w, week_of(unix_secs)));
        }
        self.largest_answer = self.largest_answer.max(answer_bytes);
    }

    /// OPS refused with `RegisteredQuotaPerWeek` at `unix_secs`.
    pub fn week_exhausted(&mut self, unix_secs: u64) {
        self.exhausted_week = Some(week_of(unix_secs));
    }

    pub fn hour_used(&self) -> Option<u64> {
        self.hour_used
    }

    /// This week's use as last reported (`None` before any answer this week).
    pub fn week_used(&self, unix_secs: u64) -> Option<u64> {
        self.week_used
            .filter(|(_, week)| *week == week_of(unix_secs))
            .map(|(b, _)| b)
    }

    /// Whether another request may be sent at `unix_secs`.
    pub fn check(&self, unix_secs: u64) -> Result<(), QuotaStop> {
        if self.exhausted_week == Some(week_of(unix_secs)) {
            return Err(QuotaStop::WeekExhausted);
        }
        match self.week_used(unix_secs) {
            Some(used) if used.saturating_add(self.largest_answer) > self.cap => {
                Err(QuotaStop::SoftCap { used, cap: self.cap })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: &str =
        "idle (images=green:200, inpadoc=green:60, other=green:1000, retrieval=green:200, search=green:30)";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn header(s: &str) -> Throttling {
        Throttling::parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    #[test]
    fn headers_of_every_shape() {
        use Colour::*;
        let g = |limit| Some(Service { colour: Green, limit });
        type Expected = Option<(SystemState, [Option<Service>; 5])>;
        let table: [(&str, Expected); 13] = [
            (
                IDLE,
                Some((SystemState::Idle, [g(200), g(60), g(1000), g(200), g(30)])),
            ),
            (
                "busy (images=green:100, inpadoc=green:45, other=green:1000, retrieval=green:100, search=green:15)",
                Some((SystemState::Busy, [g(100), g(45), g(1000), g(100), g(15)])),
            ),
            (
                "overloaded (search=red:5, other=yellow:1000, images=green:50, retrieval=black:50, inpadoc=green:30)",
                Some((
                    SystemState::Overloaded,
                    [
                        g(50),
                        g(30),
                        Some(Service {
                            colour: Yellow,
                            limit: 1000,
                        }),
                        Some(Service {
                            colour: Black,
                            limit: 50,
                        }),
                        Some(Service {
                            colour: Red,
                            limit: 5,
                        }),
                    ],
                )),
            ),
            (
                "  Busy(search = green : 10 ,other=green:1000,  )  ",
                Some((SystemState::Busy, [None, None, g(1000), None, g(10)])),
            ),
            (
                "idle (other=green:1000, newservice=green:7)",
                Some((SystemState::Idle, [None, None, g(1000), None, None])),
            ),
            (
                "idle (other=green:1000, other=green:900)",
                Some((SystemState::Idle, [None, None, g(900), None, None])),
            ),
            ("idle ()", Some((SystemState::Idle, [None; 5]))),
            ("sleepy (other=green:1000)", None),
            ("idle (other=purple:1000)", None),
            ("idle (other=green:0)", None),
            ("idle (other=green)", None),
            ("idle other=green:1000", None),
            ("", None),
        ];
        for (text, expected) in table {
            let got = Throttling::parse(text).map(|t| (t.state, Bucket::ALL.map(|b| t.service(b))));
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn buckets_of_paths() {
        let table = [
            (
                "/3.2/rest-services/register/application/epodoc/EP10167109/biblio,events,procedural-steps",
                Bucket::Other,
            ),
            ("register/search/biblio", Bucket::Other),
            ("/ops/3.2/rest-services/register/search", Bucket::Other),
            ("rest-services/published-data/search/biblio", Bucket::Search),
            (
                "published-data/publication/epodoc/EP1000000/biblio",
                Bucket::Retrieval,
            ),
            ("published-data/images/EP/1000000/A1/fullimage", Bucket::Images),
            ("classification/cpc/media/1000", Bucket::Images),
            ("classification/cpc/H04W", Bucket::Other),
            ("family/publication/docdb/EP.2400812.A1", Bucket::Inpadoc),
            (
                "/3.2/rest-services/legal/publication/docdb/EP.2400812.A1",
                Bucket::Inpadoc,
            ),
            ("legalese", Bucket::Other),
            ("number-service/application/original/x/epodoc", Bucket::Other),
            ("", Bucket::Other),
        ];
        for (path, bucket) in table {
            assert_eq!(Bucket::for_path(path), bucket, "{path}");
        }
        for b in Bucket::ALL {
            assert_eq!(Bucket::from_name(b.name()), Some(b));
        }
        assert_eq!(Bucket::from_name("OTHER "), Some(Bucket::Other));
        assert_eq!(Bucket::from_name("register"), None);
    }

    #[test]
    fn retry_after_is_milliseconds() {
        let table = [
            ("60000", Some(ms(60_000))),
            (" 216383 ", Some(ms(216_383))),
            ("0", Some(Duration::ZERO)),
            ("99999999999", Some(HOUR)),
            ("1.5", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("", None),
        ];
        for (value, expected) in table {
            assert_eq!(retry_after_ms(value), expected, "{value:?}");
        }
    }

    #[test]
    fn limits_come_from_the_most_restrictive_answer_of_the_last_window() {
        let w = ms(60_000);
        let mut p = Pacer::new(w);
        // Nothing seen: the most restrictive documented value.
        assert_eq!(p.limit(Bucket::Search, ms(0)), 5);
        assert_eq!(p.limit(Bucket::Other, ms(0)), 1000);
        p.observe(Bucket::Other, ms(1_000), &header(IDLE), None);
        p.observe(
            Bucket::Other,
            ms(2_000),
            &header("busy (search=green:15, other=green:400)"),
            None,
        );
        p.observe(Bucket::Other, ms(3_000), &header(IDLE), None);
        let table = [
            // (bucket, now, limit)
            (Bucket::Search, ms(3_000), 15),
            (Bucket::Other, ms(3_000), 400),
            (Bucket::Other, ms(61_999), 400),
            // The busy answer is a window old: back to the idle ones.
            (Bucket::Other, ms(62_000), 1000),
            (Bucket::Search, ms(62_000), 30),
            // Long after every answer: the most recent one still counts.
            (Bucket::Search, ms(600_000), 30),
            (Bucket::Inpadoc, ms(3_000), 60),
            (Bucket::Images, ms(3_000), 200),
        ];
        for (bucket, now, limit) in table {
            assert_eq!(p.limit(bucket, now), limit, "{bucket} at {now:?}");
        }
    }

    #[test]
    fn starts_are_spaced_by_the_guarded_window_over_the_limit() {
        let w = ms(60_000);
        let mut p = Pacer::new(w);
        p.observe(Bucket::Other, ms(0), &header(IDLE), None);
        // 60 s × 33/32 / 1000 = 61.875 ms; the first start is immediate.
        let gap = ms(61) + Duration::from_micros(875);
        assert_eq!(p.interval(Bucket::Other, ms(0)), gap);
        assert_eq!(p.reserve(Bucket::Other, ms(0)), ms(0));
        assert_eq!(p.reserve(Bucket::Other, ms(1)), gap);
        assert_eq!(p.reserve(Bucket::Other, ms(500)), ms(500));
        assert_eq!(p.next_start(Bucket::Other, ms(510)), ms(500) + gap);
        // Buckets are independent.
        assert_eq!(p.next_start(Bucket::Search, ms(510)), ms(510));
        p.reserve(Bucket::Search, ms(510));
        assert_eq!(p.next_start(Bucket::Search, ms(511)), ms(510) + ms(61_875) / 30);
    }

    #[test]
    fn a_lower_limit_also_counts_the_starts_already_in_the_window() {
        let w = ms(60_000);
        let mut p = Pacer::new(w);
        p.observe(Bucket::Search, ms(0), &header(IDLE), None);
        let mut t = ms(0);
        for _ in 0..10 {
            t = p.reserve(Bucket::Search, t);
        }
        // Overloaded: 5 per window. The 5th-last start was the 6th (index 5).
        p.observe(
            Bucket::Search,
            t,
            &header("overloaded (search=green:5, other=green:1000)"),
            None,
        );
        let sixth = ms(61_875) / 30 * 5;
        assert_eq!(p.next_start(Bucket::Search, t), sixth + ms(61_875));
    }

    #[test]
    fn black_pauses_only_its_bucket() {
        let w = ms(60_000);
        let table = [
            // (retry_after, colour header, expected pause end of other, of search)
            (
                Some(ms(5_000)),
                "idle (other=black:1000, search=green:30)",
                ms(15_000),
                ms(10_000),
            ),
            (
                None,
                "idle (other=black:1000, search=green:30)",
                ms(70_000),
                ms(10_000),
            ),
            // Black on a bucket the request was not about: a full window for that one.
            (
                Some(ms(5_000)),
                "idle (other=green:1000, search=black:30)",
                ms(10_000),
                ms(70_000),
            ),
        ];
        for (ra, text, other, search) in table {
            let mut p = Pacer::new(w);
            p.observe(Bucket::Other, ms(10_000), &header(text), ra);
            assert_eq!(p.next_start(Bucket::Other, ms(10_000)), other, "{text} {ra:?}");
            assert_eq!(p.next_start(Bucket::Search, ms(10_000)), search, "{text} {ra:?}");
            assert_eq!(p.next_start(Bucket::Inpadoc, ms(10_000)), ms(10_000));
            assert_eq!(p.paused_all(ms(10_000)), None);
        }
        let mut p = Pacer::new(w);
        p.rejected(Bucket::Other, ms(900), ms(1_000), Some(ms(216_383)));
        assert_eq!(p.next_start(Bucket::Other, ms(1_000)), ms(217_383));
        p.rejected(Bucket::Other, ms(1_900), ms(2_000), None);
        assert_eq!(
            p.next_start(Bucket::Other, ms(2_000)),
            ms(217_383),
            "pauses never shorten"
        );
        let mut p = Pacer::new(w);
        p.rejected(Bucket::Retrieval, ms(900), ms(1_000), None);
        assert_eq!(p.next_start(Bucket::Retrieval, ms(1_000)), ms(61_000));
    }

    #[test]
    fn after_a_rejection_only_our_own_places_are_reused_until_the_window_has_passed() {
        let w = ms(1_000);
        let gw = ms(1_031) + Duration::from_micros(250);
        // Our own starts every 11 ms from 0 to 649 ms (60 of them; the limit of 100 would allow
        // 10.3 ms), then someone else fills the window and our request at 660 ms is refused;
        // OPS says the oldest (ours, at 0) leaves at 1000.
        let mut p = Pacer::new(w);
        p.observe(Bucket::Other, ms(0), &header("idle (other=green:100)"), None);
        let mut own = Vec::new();
        for i in 0..60 {
            let t = p.reserve(Bucket::Other, ms(i * 11));
            own.push(t);
        }
        let refused = p.reserve(Bucket::Other, ms(660));
        p.rejected(Bucket::Other, refused, ms(661), Some(ms(339)));
        let (own0, own1) = (own[0], own[1]);
        // The retry waits for Retry-After and for our oldest place to be free (plus the guard).
        let retry = p.reserve(Bucket::Other, ms(661));
        assert_eq!(retry, (own0 + gw).max(ms(1_000)));
        // Then each start takes the place of the next of ours, not the spacing of the limit.
        assert_eq!(p.next_start(Bucket::Other, retry), own1 + gw);
        let mut t = retry;
        for (i, o) in own.iter().enumerate().skip(1) {
            t = p.reserve(Bucket::Other, t);
            assert_eq!(t, *o + gw, "{i}");
        }
        // Once the shared window has passed (661 ms + gw), the limit paces again.
        let after = ms(661) + gw + ms(5);
        let next = p.reserve(Bucket::Other, after);
        assert_eq!(next, after);
        assert_eq!(
            p.next_start(Bucket::Other, next),
            next + p.interval(Bucket::Other, next)
        );

        // With none of ours in the window: the place Retry-After names, then the window's end.
        let mut p = Pacer::new(w);
        p.observe(Bucket::Other, ms(0), &header("idle (other=green:100)"), None);
        let refused = p.reserve(Bucket::Other, ms(100));
        p.rejected(Bucket::Other, refused, ms(101), Some(ms(850)));
        let retry = p.reserve(Bucket::Other, ms(101));
        assert_eq!(retry, ms(951));
        assert_eq!(p.next_start(Bucket::Other, retry), ms(101) + gw);
        // Other buckets are not affected.
        assert_eq!(p.next_start(Bucket::Search, ms(101)), ms(101));
    }

    #[test]
    fn the_hourly_quota_pauses_everything_up_to_an_hour() {
        let table = [
            (None, HOUR),
            (Some(ms(120_000)), ms(120_000)),
            (Some(HOUR * 3), HOUR),
        ];
        for (ra, wait) in table {
            let mut p = Pacer::new(ms(60_000));
            p.hour_quota(ms(1_000), ra);
            assert_eq!(p.paused_all(ms(1_000)), Some(wait), "{ra:?}");
            for b in Bucket::ALL {
                assert_eq!(p.next_start(b, ms(1_000)), ms(1_000) + wait);
            }
            assert_eq!(p.paused_all(ms(1_000) + wait), None);
        }
    }

    #[test]
    fn paced_starts_never_exceed_the_limit_in_any_window() {
        // The server's view: a sliding window of `w` holding at most `limit` arrivals, even when
        // every second request arrives late by `w / 64`.
        let w = ms(1_000);
        for limit in [1u32, 5, 30, 200, 1000] {
            let mut p = Pacer::new(w);
            let text = format!("idle (other=green:{limit})");
            p.observe(Bucket::Other, ms(0), &header(&text), None);
            let mut arrivals = Vec::new();
            let mut now = ms(0);
            for i in 0..(3 * limit as usize + 7) {
                now = p.reserve(Bucket::Other, now);
                arrivals.push(if i % 2 == 0 { now + w / 64 } else { now });
            }
            for (i, a) in arrivals.iter().enumerate() {
                let in_window = arrivals[i..].iter().take_while(|b| **b < *a + w).count();
                assert!(in_window <= limit as usize, "limit {limit}: {in_window} at {a:?}");
            }
        }
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2023-11-13 00:00:00 UTC was a Monday.
        let monday = 1_699_833_600;
        assert_eq!(week_of(monday), week_of(monday + 7 * 86_400 - 1));
        assert_eq!(week_of(monday) + 1, week_of(monday + 7 * 86_400));
        assert_eq!(week_of(monday - 1) + 1, week_of(monday));
    }

    #[test]
    fn the_soft_cap_stops_before_the_answer_that_would_cross_it() {
        let monday = 1_699_833_600;
        let mut q = ByteQuota::new(1_000_000, 0.8);
        assert_eq!(q.cap(), 800_000);
        assert_eq!(q.check(monday), Ok(()));
        let table = [
            // (week used after the answer, answer size, verdict)
            (100_000, 100_000, Ok(())),
            (700_000, 90_000, Ok(())),
            // 790 000 + the largest answer (100 000) would cross 800 000.
            (
                790_000,
                90_000,
                Err(QuotaStop::SoftCap {
                    used: 790_000,
                    cap: 800_000,
                }),
            ),
        ];
        for (used, size, verdict) in table {
            q.record(monday + 60, Some(used / 2), Some(used), size);
            assert_eq!(q.check(monday + 60), verdict, "{used}");
        }
        assert_eq!(q.hour_used(), Some(395_000));
        // An answer without the headers keeps the last figures.
        q.record(monday + 61, None, None, 10);
        assert_eq!(q.week_used(monday + 61), Some(790_000));
        // A new week forgets the old figure until OPS reports a new one.
        let next = monday + 7 * 86_400;
        assert_eq!(q.week_used(next), None);
        assert_eq!(q.check(next), Ok(()));
        q.week_exhausted(next + 5);
        assert_eq!(q.check(next + 6), Err(QuotaStop::WeekExhausted));
        assert_eq!(q.check(next + 7 * 86_400), Ok(()));
        // Nonsense shares cannot make the cap larger than the quota.
        assert_eq!(ByteQuota::new(1_000, f64::NAN).cap(), 0);
        assert_eq!(ByteQuota::new(1_000, 7.0).cap(), 1_000);
    }
}
