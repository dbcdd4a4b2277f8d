//! Deadlines: the last day of a period an office's document starts, with every step of the
//! reasoning, for the EPC and the Japanese Patent Act. Pure: the closing-day calendars are
//! arguments, and Japanese national holidays are computed here by the rules of the law.
//!
//! **EPC** (European Patent Convention, Implementing Regulations):
//! * *Deemed delivery.* A document dated on or after 1 November 2023 is deemed delivered on
//!   the date it bears (Rules 126(2) and 127(2) EPC as amended by decision CA/D 11/22, OJ EPO
//!   2022, A101). One dated before is deemed delivered on the tenth day after it was handed to
//!   the postal service (the former Rule 126(2)), taken here as its date, or on the later day
//!   it was received.
//! * *Rule 131(2)–(4) EPC.* Computation starts on the day after the delivery. A period of days
//!   ends that many days after it; of weeks, on the same weekday; of months or years, on the
//!   day with the same number as the delivery, or on the last day of a month that has none.
//! * *Seven-day safeguard* (Rule 126(2) EPC, last sentence, as amended): a document that
//!   reached the firm more than seven days after the date it bears moves the end of the
//!   period later by the days beyond seven. Applied before Rule 134.
//! * *Rule 134(1) EPC.* A last day on which at least one EPO filing office is closed
//!   (Saturdays, Sundays, and the days the EPO's yearly notice lists) becomes the next day on
//!   which all are open. A year whose list is not complete is flagged on every deadline that
//!   depends on it; its weekends still count.
//!
//! **Japan** (特許法, Patent Act):
//! * *Art. 3(1)(i).* The first day is not counted: the period starts the day after dispatch
//!   (発送日).
//! * *Art. 3(1)(ii).* Months and years follow the calendar. A period that does not start at the
//!   beginning of a month ends on the day before the day of the last month that corresponds to
//!   its first day, or on the last day of that month if it has no such day.
//! * *Art. 3(2).* A last day that is a holiday of the administrative organs (行政機関の休日に
//!   関する法律 Art. 1(1): Saturdays, Sundays, national holidays, 29 December to 3 January)
//!   becomes the next day that is not.
//! * *National holidays* (国民の祝日に関する法律 Arts. 2 and 3): computed by the law's rules,
//!   in force unchanged since 2022, with the substitute holiday (Art. 3(2)) and the day between
//!   two holidays (Art. 3(3)). The equinox days are fixed each year by the 暦要項 that the
//!   National Astronomical Observatory publishes in the Official Gazette every 1 February for
//!   the next year; here they come from the standard approximation valid 1980–2099, and every
//!   step that rests on one says so. Years before 2022 (the Olympic moves of 2020 and 2021) are
//!   not computed: they are "calendar missing".

pub mod propose;
pub mod register;
pub mod remind;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::cases::Office;

/// The unit of a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Days,
    Weeks,
    Months,
    Years,
}

/// A period: `4 months`, `10 days`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub count: u32,
    pub unit: Unit,
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            Unit::Days => "day",
            Unit::Weeks => "week",
            Unit::Months => "month",
            Unit::Years => "year",
        };
        let s = if self.count == 1 { "" } else { "s" };
        write!(f, "{} {unit}{s}", self.count)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a period: write e.g. 4m, 2 months, 6w, 10d or 1y (1 to 120 units)")]
pub struct BadPeriod(pub String);

impl FromStr for Period {
    type Err = BadPeriod;

    /// `4m`, `4 months`, `6w`, `10 days`, `1y`: a count and an English unit.
    fn from_str(s: &str) -> Result<Period, BadPeriod> {
        let bad = || BadPeriod(s.to_owned());
        let t = s.trim().to_ascii_lowercase();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = t.split_at(split);
        let count: u32 = n.parse().map_err(|_| bad())?;
        let unit = match unit.trim() {
            "d" | "day" | "days" => Unit::Days,
            "w" | "week" | "weeks" => Unit::Weeks,
            "m" | "month" | "months" => Unit::Months,
            "y" | "year" | "years" => Unit::Years,
            _ => return Err(bad()),
        };
        if !(1..=120).contains(&count) {
            return Err(bad());
        }
        Ok(Period { count, unit })
    }
}

/// Which period a communication starts, from the rule its title names (a row of the rules
/// table, `src/data/epo-periods.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodRule {
    /// Matched case-insensitively anywhere in the title.
    pub titles: Vec<String>,
    pub period: Period,
    pub basis: String,
    pub extendable: bool,
    /// What is left when the period is missed, if anything.
    pub remedy: Option<String>,
    pub source: String,
}

/// Which period a JPO document starts (a row of `src/data/jpo-periods.toml`): by its document
/// code for one kind of right, with the periods for applicants in Japan and abroad.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JpRule {
    /// `patent`, `design` or `trademark`.
    pub right: String,
    /// The JPO document codes (`A131`).
    pub codes: Vec<String>,
    pub description: String,
    pub domestic: Period,
    pub abroad: Period,
    pub basis: String,
    pub source: String,
}

/// The first row whose title pattern occurs in `title`, if any ("period not known from the
/// form" otherwise).
pub fn rule_for<'a>(rules: &'a [PeriodRule], title: &str) -> Option<&'a PeriodRule> {
    let title = title.to_lowercase();
    rules
        .iter()
        .find(|r| r.titles.iter().any(|t| title.contains(&t.to_lowercase())))
}

/// What the deadline jobs need, from `[deadlines]` and the legal data: passed in, so the
/// store's transactions and the tests decide with the same values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `false`: no deadline is proposed, checked or reminded.
    pub enabled: bool,
    /// The firm's rows first, then the shipped table.
    pub rules: Vec<PeriodRule>,
    /// The JPO rules table.
    pub jp_rules: Vec<JpRule>,
    /// Whether the firm's JP applicants reside abroad (`[deadlines] jp_applicant_abroad`);
    /// `None`: not said, and the shorter period is proposed.
    pub jp_applicant_abroad: Option<bool>,
    /// The EPO closing days, with any Rule 134(2) days the firm entered.
    pub calendar: Calendar,
    /// Reminder rungs, days before the due date, largest first.
    pub remind_days: Vec<u32>,
    /// The digest lists deadlines due within this many days.
    pub horizon_days: u32,
    /// A Register time limit with no communication of its date is reported after this many days.
    pub register_grace_days: u32,
    /// Register time limits dated before this day are not checked against the mailbox
    /// (`None`: from the day mailroom first listed the mailbox, before which it vouches for
    /// nothing).
    pub register_since: Option<NaiveDate>,
    /// The firm's zone (`[schedule] time_zone`): what "today" is for reminders and the digest.
    pub zone: chrono_tz::Tz,
}

impl Policy {
    /// The firm's date at `now`.
    pub fn today(&self, now: chrono::DateTime<chrono::Utc>) -> NaiveDate {
        now.with_timezone(&self.zone).date_naive()
    }
}

impl Default for Policy {
    /// Enabled, with no rules and no closing days: what a bare store uses (tests, tools).
    fn default() -> Self {
        Policy {
            enabled: true,
            rules: Vec::new(),
            jp_rules: Vec::new(),
            jp_applicant_abroad: None,
            calendar: Calendar::default(),
            remind_days: vec![30, 14, 7, 3, 1],
            horizon_days: 30,
            register_grace_days: 7,
            register_since: None,
            zone: chrono_tz::UTC,
        }
    }
}

/// The days an office is closed besides weekends, by year, with what each list says of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Closed days and their names.
    pub days: BTreeMap<NaiveDate, String>,
    /// Years whose list is complete (a source lists every closing day of the year).
    pub complete: BTreeSet<i32>,
    /// Years with a partial list (some days confirmed by a source, not all).
    pub partial: BTreeSet<i32>,
}

/// A computed deadline and how it was reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// The last day of the period.
    pub due: NaiveDate,
    /// The last day before Rule 134(1) EPC / Art. 3(2) Patent Act moved it.
    pub unextended: NaiveDate,
    /// How `due` was reached, one step per line.
    pub steps: Vec<String>,
    /// What a person must check ("calendar missing for 2027", an equinox day computed).
    pub warnings: Vec<String>,
}

/// What the computation needs.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub office: Office,
    /// The date the document bears (EPO) or its dispatch date (JPO).
    pub dated: NaiveDate,
    pub period: Period,
    /// When the firm received it (the Mailbox delivery), if known.
    pub received: Option<NaiveDate>,
    /// The EPO filing offices' closing days (ignored for the JPO).
    pub epo_calendar: &'a Calendar,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("the period runs past the end of the calendar")]
    OutOfRange,
    #[error("received {received} is before the document's date {dated}")]
    ReceivedBeforeDated { dated: NaiveDate, received: NaiveDate },
}

/// The first day documents are deemed delivered on the date they bear (CA/D 11/22).
fn new_delivery_rule_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 11, 1).unwrap_or(NaiveDate::MIN)
}

/// `2027-03-01 (Mon)`: how every step names a day.
fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d (%a)").to_string()
}

/// Computes the deadline and its reasoning.
pub fn compute(req: &Request<'_>) -> Result<Deadline, DeadlineError> {
    if let Some(r) = req.received
        && r < req.dated
    {
        return Err(DeadlineError::ReceivedBeforeDated {
            dated: req.dated,
            received: r,
        });
    }
    match req.office {
        Office::Ep => epc(req),
        Office::Jp => japan(req),
    }
}

fn epc(req: &Request<'_>) -> Result<Deadline, DeadlineError> {
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let new_rule = req.dated >= new_delivery_rule_from();
    let delivered = if new_rule {
        steps.push(format!(
            "dated {}: deemed delivered that day (Rules 126(2), 127(2) EPC, documents dated from 1 November 2023)",
            day(req.dated)
        ));
        req.dated
    } else {
        let tenth = req
            .dated
            .checked_add_days(Days::new(10))
            .ok_or(DeadlineError::OutOfRange)?;
        match req.received.filter(|r| *r > tenth) {
            Some(r) => {
                steps.push(format!(
                    "dated {}: received {}, after the tenth day: delivered then (former Rule 126(2) EPC)",
                    day(req.dated),
                    day(r)
                ));
                r
            }
            None => {
                steps.push(format!(
                    "dated {}: deemed delivered ten days later, {} (former Rule 126(2) EPC, documents dated before 1 November 2023)",
                    day(req.dated),
                    day(tenth)
                ));
                tenth
            }
        }
    };
    let (end, how) = add_epc(delivered, req.period)?;
    steps.push(format!(
        "{} from {} (Rule 131 EPC): {}{how}",
        req.period,
        day(delivered),
        day(end)
    ));
    let mut end = end;
    if new_rule && let Some(r) = req.received {
        let late = (r - req.dated).num_days();
        if late > 7 {
            let excess = u64::try_from(late - 7).unwrap_or(0);
            end = end
                .checked_add_days(Days::new(excess))
                .ok_or(DeadlineError::OutOfRange)?;
            steps.push(format!(
                "received {}, {late} days after its date: the period ends {excess} day(s) later (Rule 126(2) EPC, seven-day safeguard): {}",
                day(r),
                day(end)
            ));
        }
    }
    let unextended = end;
    let mut flagged: BTreeSet<i32> = BTreeSet::new();
    for _ in 0..60 {
        let closed = epo_closed(end, req.epo_calendar);
        let year = end.year();
        if !req.epo_calendar.complete.contains(&year) && flagged.insert(year) {
            warnings.push(if req.epo_calendar.partial.contains(&year) {
                format!("calendar incomplete for {year}: only Saturdays, Sundays and the EPO closing days a source confirms were considered")
            } else {
                format!("calendar missing for {year}: only Saturdays and Sundays were considered")
            });
        }
        let Some(why) = closed else { break };
        let next = end.succ_opt().ok_or(DeadlineError::OutOfRange)?;
        steps.push(format!("Rule 134(1) EPC: {} is {why} → {}", day(end), day(next)));
        end = next;
    }
    Ok(Deadline {
        due: end,
        unextended,
        steps,
        warnings,
    })
}

/// Rule 131(2)–(4) EPC: the end of `period` counted from `from`, and a note on a month end.
fn add_epc(from: NaiveDate, period: Period) -> Result<(NaiveDate, String), DeadlineError> {
    let n = period.count;
    let end = match period.unit {
        Unit::Days => from.checked_add_days(Days::new(u64::from(n))),
        Unit::Weeks => from.checked_add_days(Days::new(u64::from(n) * 7)),
        Unit::Months => from.checked_add_months(Months::new(n)),
        Unit::Years => from.checked_add_months(Months::new(n * 12)),
    }
    .ok_or(DeadlineError::OutOfRange)?;
    let clamped = matches!(period.unit, Unit::Months | Unit::Years) && end.day() != from.day();
    let how = if clamped {
        format!(
            ", the last day of {} (it has no {})",
            end.format("%B %Y"),
            ordinal(from.day())
        )
    } else {
        String::new()
    };
    Ok((end, how))
}

/// `29th`, `30th`, `31st`: the days a month may lack.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn epo_closed(d: NaiveDate, cal: &Calendar) -> Option<String> {
    match d.weekday() {
        Weekday::Sat => Some("a Saturday".into()),
        Weekday::Sun => Some("a Sunday".into()),
        _ => cal
            .days
            .get(&d)
            .map(|name| format!("an EPO closing day ({name})")),
    }
}

fn japan(req: &Request<'_>) -> Result<Deadline, DeadlineError> {
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let first = req.dated.succ_opt().ok_or(DeadlineError::OutOfRange)?;
    steps.push(format!(
        "dispatched {}: the period starts the next day, {} (Patent Act Art. 3(1)(i): the first day is not counted)",
        day(req.dated),
        day(first)
    ));
    let n = req.period.count;
    let end = match req.period.unit {
        Unit::Days => first.checked_add_days(Days::new(u64::from(n) - 1)),
        Unit::Weeks => first.checked_add_days(Days::new(u64::from(n) * 7 - 1)),
        Unit::Months => calendar_end(first, n),
        Unit::Years => calendar_end(first, n * 12),
    }
    .ok_or(DeadlineError::OutOfRange)?;
    steps.push(format!(
        "{}: it ends {} (Patent Act Art. 3(1))",
        req.period,
        day(end)
    ));
    let unextended = end;
    let mut end = end;
    let mut equinox_noted = false;
    for _ in 0..60 {
        let Some(why) = jp_closed(end) else { break };
        let next = end.succ_opt().ok_or(DeadlineError::OutOfRange)?;
        match &why {
            JpClosed::Unknown(year) => {
                warnings.push(format!(
                    "calendar missing for {year}: Japanese national holidays are computed from 2022 to 2099 only"
                ));
                break;
            }
            JpClosed::Holiday { equinox: true, .. } if !equinox_noted => {
                equinox_noted = true;
                warnings.push(format!(
                    "{} is a day off because of an equinox day computed by the standard approximation: confirm it against the 暦要項 for {}",
                    day(end),
                    end.year()
                ));
            }
            _ => {}
        }
        steps.push(format!(
            "Patent Act Art. 3(2): {} is {why} → {}",
            day(end),
            day(next)
        ));
        end = next;
    }
    Ok(Deadline {
        due: end,
        unextended,
        steps,
        warnings,
    })
}

/// Art. 3(1)(ii): `months` from a period whose first day is `first`.
fn calendar_end(first: NaiveDate, months: u32) -> Option<NaiveDate> {
    let target_month = first.with_day(1)?.checked_add_months(Months::new(months))?;
    match target_month.with_day(first.day()) {
        // The corresponding day exists: the period ends the day before.
        Some(corresponding) => corresponding.pred_opt(),
        // It does not: the last day of that month.
        None => target_month.checked_add_months(Months::new(1))?.pred_opt(),
    }
}

/// Why a day is not a working day of the JPO.
#[derive(Clone, Debug, PartialEq, Eq)]
enum JpClosed {
    Weekend(&'static str),
    YearEnd,
    Holiday { name: &'static str, equinox: bool },
    Unknown(i32),
}

impl fmt::Display for JpClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JpClosed::Weekend(d) => write!(f, "a {d}"),
            JpClosed::YearEnd => f.write_str("in the year-end closure (29 December to 3 January)"),
            JpClosed::Holiday { name, .. } => write!(f, "a national holiday ({name})"),
            JpClosed::Unknown(y) => write!(f, "in {y}, whose holidays are not computed"),
        }
    }
}

fn jp_closed(d: NaiveDate) -> Option<JpClosed> {
    match d.weekday() {
        Weekday::Sat => return Some(JpClosed::Weekend("Saturday")),
        Weekday::Sun => return Some(JpClosed::Weekend("Sunday")),
        _ => {}
    }
    if (d.month() == 12 && d.day() >= 29) || (d.month() == 1 && d.day() <= 3) {
        return Some(JpClosed::YearEnd);
    }
    let Some(holidays) = jp_holidays(d.year()) else {
        return Some(JpClosed::Unknown(d.year()));
    };
    holidays.get(&d).map(|h| JpClosed::Holiday {
        name: h.name,
        equinox: h.equinox,
    })
}

/// A Japanese national holiday or other day off under the National Holidays Act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JpHoliday {
    pub name: &'static str,
    /// Its date comes from the equinox approximation, not from a published 暦要項.
    pub equinox: bool,
}

/// The first and last years [`jp_holidays`] computes.
pub const JP_HOLIDAY_YEARS: (i32, i32) = (2022, 2099);

/// The days off of `year` under the National Holidays Act (Arts. 2, 3), or `None` outside
/// [`JP_HOLIDAY_YEARS`].
pub fn jp_holidays(year: i32) -> Option<BTreeMap<NaiveDate, JpHoliday>> {
    if !(JP_HOLIDAY_YEARS.0..=JP_HOLIDAY_YEARS.1).contains(&year) {
        return None;
    }
    let ymd = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d);
    let monday = |m: u32, nth: u8| NaiveDate::from_weekday_of_month_opt(year, m, Weekday::Mon, nth);
    let y = f64::from(year - 1980);
    let leap = f64::from((year - 1980) / 4);
    // The standard approximation of the equinox days (valid 1980–2099).
    let vernal = (20.8431 + 0.242194 * y - leap).floor() as u32;
    let autumnal = (23.2488 + 0.242194 * y - leap).floor() as u32;
    let fixed: [(Option<NaiveDate>, &'static str, bool); 16] = [
        (ymd(1, 1), "元日 New Year's Day", false),
        (monday(1, 2), "成人の日 Coming of Age Day", false),
        (ymd(2, 11), "建国記念の日 National Foundation Day", false),
        (ymd(2, 23), "天皇誕生日 The Emperor's Birthday", false),
        (ymd(3, vernal), "春分の日 Vernal Equinox Day", true),
        (ymd(4, 29), "昭和の日 Showa Day", false),
        (ymd(5, 3), "憲法記念日 Constitution Memorial Day", false),
        (ymd(5, 4), "みどりの日 Greenery Day", false),
        (ymd(5, 5), "こどもの日 Children's Day", false),
        (monday(7, 3), "海の日 Marine Day", false),
        (ymd(8, 11), "山の日 Mountain Day", false),
        (monday(9, 3), "敬老の日 Respect for the Aged Day", false),
        (ymd(9, autumnal), "秋分の日 Autumnal Equinox Day", true),
        (monday(10, 2), "スポーツの日 Sports Day", false),
        (ymd(11, 3), "文化の日 Culture Day", false),
        (ymd(11, 23), "勤労感謝の日 Labour Thanksgiving Day", false),
    ];
    let mut out: BTreeMap<NaiveDate, JpHoliday> = fixed
        .iter()
        .filter_map(|(d, name, equinox)| {
            d.map(|d| {
                (
                    d,
                    JpHoliday {
                        name,
                        equinox: *equinox,
                    },
                )
            })
        })
        .collect();
    let national: Vec<NaiveDate> = out.keys().copied().collect();
    // Art. 3(2): a holiday on a Sunday makes the next day that is no holiday a day off.
    for d in &national {
        if d.weekday() == Weekday::Sun {
            let mut next = d.succ_opt()?;
            while out.contains_key(&next) {
                next = next.succ_opt()?;
            }
            out.insert(
                next,
                JpHoliday {
                    name: "振替休日 substitute holiday",
                    equinox: out.get(d).is_some_and(|h| h.equinox),
                },
            );
        }
    }
    // Art. 3(3): a day between two national holidays is a day off.
    for d in &national {
        let between = d.succ_opt()?;
        let after = between.succ_opt()?;
        if national.contains(&after) && !out.contains_key(&between) {
            out.insert(
                between,
                JpHoliday {
                    name: "国民の休日 citizens' holiday",
                    equinox: out.get(d).is_some_and(|h| h.equinox)
                        || out.get(&after).is_some_and(|h| h.equinox),
                },
            );
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    fn calendar() -> Calendar {
        Calendar {
            days: [
                ("2027-01-01", "New Year's Day"),
                ("2027-03-26", "Good Friday"),
                ("2027-03-29", "Easter Monday"),
                ("2027-12-24", "Christmas Eve"),
            ]
            .into_iter()
            .map(|(a, b)| (d(a), b.to_owned()))
            .collect(),
            complete: [2027].into(),
            partial: [2026].into(),
        }
    }

    fn ep(dated: &str, period: &str, received: Option<&str>) -> Deadline {
        let cal = calendar();
        compute(&Request {
            office: Office::Ep,
            dated: d(dated),
            period: p(period),
            received: received.map(d),
            epo_calendar: &cal,
        })
        .unwrap()
    }

    fn jp(dated: &str, period: &str) -> Deadline {
        let cal = Calendar::default();
        compute(&Request {
            office: Office::Jp,
            dated: d(dated),
            period: p(period),
            received: None,
            epo_calendar: &cal,
        })
        .unwrap()
    }

    #[test]
    fn periods_parse_from_what_people_type() {
        let table = [
            ("4m", Some((4, Unit::Months))),
            ("4 months", Some((4, Unit::Months))),
            (" 2 Weeks ", Some((2, Unit::Weeks))),
            ("10d", Some((10, Unit::Days))),
            ("1 year", Some((1, Unit::Years))),
            ("60 days", Some((60, Unit::Days))),
            ("0m", None),
            ("121d", None),
            ("m4", None),
            ("4 fortnights", None),
            ("", None),
            ("-1m", None),
        ];
        for (s, want) in table {
            let got = s.parse::<Period>().ok().map(|p| (p.count, p.unit));
            assert_eq!(got, want, "{s:?}");
        }
        assert_eq!(p("1m").to_string(), "1 month");
        assert_eq!(p("4m").to_string(), "4 months");
    }

    #[test]
    fn epc_arithmetic() {
        // (dated, period, received, unextended, due)
        let table = [
            // Rule 131(4): same day number; a month without it ends on its last day.
            ("2026-10-30", "4m", None, "2027-02-28", "2027-03-01"),
            ("2026-11-30", "4m", None, "2027-03-30", "2027-03-30"),
            ("2027-01-31", "1m", None, "2027-02-28", "2027-03-01"),
            ("2027-10-31", "4m", None, "2028-02-29", "2028-02-29"),
            // Weeks and days.
            ("2027-03-01", "2w", None, "2027-03-15", "2027-03-15"),
            ("2027-03-01", "10d", None, "2027-03-11", "2027-03-11"),
            // Rule 134(1) over a calendar day and a weekend: Good Friday, Sat, Sun, Easter Monday.
            ("2026-11-26", "4m", None, "2027-03-26", "2027-03-30"),
            // The seven-day safeguard: received 12 days after its date → 5 days later.
            ("2027-04-01", "2m", Some("2027-04-13"), "2027-06-06", "2027-06-07"),
            // Exactly seven days late: no change.
            ("2027-04-01", "2m", Some("2027-04-08"), "2027-06-01", "2027-06-01"),
            // The safeguard pushes into a weekend, then Rule 134 moves on to Monday.
            ("2027-04-01", "2m", Some("2027-04-11"), "2027-06-04", "2027-06-04"),
            ("2027-04-01", "2m", Some("2027-04-12"), "2027-06-05", "2027-06-07"),
            // Before 1 November 2023: ten days after the date.
            ("2023-10-20", "4m", None, "2024-02-29", "2024-02-29"),
            // ... or the later receipt.
            ("2023-10-20", "4m", Some("2023-11-06"), "2024-03-06", "2024-03-06"),
            // On 1 November 2023 the new rule applies.
            ("2023-11-01", "4m", None, "2024-03-01", "2024-03-01"),
        ];
        for (dated, period, received, unextended, due) in table {
            let got = ep(dated, period, received);
            assert_eq!(
                (got.unextended, got.due),
                (d(unextended), d(due)),
                "{dated} + {period} (received {received:?}): {:#?}",
                got.steps
            );
        }
    }

    #[test]
    fn epc_steps_say_why_and_missing_calendars_are_flagged() {
        let got = ep("2026-10-30", "4m", None);
        assert_eq!(
            got.steps,
            [
                "dated 2026-10-30 (Fri): deemed delivered that day (Rules 126(2), 127(2) EPC, documents dated from 1 November 2023)",
                "4 months from 2026-10-30 (Fri) (Rule 131 EPC): 2027-02-28 (Sun), the last day of February 2027 (it has no 30th)",
                "Rule 134(1) EPC: 2027-02-28 (Sun) is a Sunday → 2027-03-01 (Mon)",
            ]
        );
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
        let partial = ep("2026-01-05", "2m", None);
        assert_eq!(
            partial.warnings,
            [
                "calendar incomplete for 2026: only Saturdays, Sundays and the EPO closing days a source confirms were considered"
            ]
        );
        let missing = ep("2027-10-05", "6m", None);
        assert_eq!(
            missing.warnings,
            ["calendar missing for 2028: only Saturdays and Sundays were considered"]
        );
    }

    #[test]
    fn japanese_arithmetic() {
        // (dispatched, period, unextended, due)
        let table = [
            // Days: the first day is not counted. 2026-11-20 + 60 days → 2027-01-19.
            ("2026-11-20", "60d", "2027-01-19", "2027-01-19"),
            // Months: the day before the corresponding day.
            ("2026-10-31", "3m", "2027-01-31", "2027-02-01"),
            // Dispatched on 28 February (not leap): the period starts 1 March, ends 31 March
            // (the EPC would say 28 March).
            ("2027-02-28", "1m", "2027-03-31", "2027-03-31"),
            // No corresponding day: the last day of the month.
            ("2027-01-30", "1m", "2027-02-28", "2027-03-01"),
            // The New Year closure: ends 2026-12-29 → 4 January 2027 (Mon).
            ("2026-10-29", "2m", "2026-12-29", "2027-01-04"),
            // Golden Week 2026: 3 May is a Sunday, 4 and 5 holidays, 6 the substitute holiday.
            ("2026-04-02", "1m", "2026-05-02", "2026-05-07"),
            // The citizens' holiday of 22 September 2026, between Respect for the Aged Day and
            // the equinox.
            ("2026-08-20", "1m", "2026-09-20", "2026-09-24"),
        ];
        for (dispatched, period, unextended, due) in table {
            let got = jp(dispatched, period);
            assert_eq!(
                (got.unextended, got.due),
                (d(unextended), d(due)),
                "{dispatched} + {period}: {:#?}",
                got.steps
            );
        }
        let golden = jp("2026-04-02", "1m");
        assert!(
            golden.steps.iter().any(|s| s.contains("振替休日")),
            "{:#?}",
            golden.steps
        );
        let equinox = jp("2026-08-20", "1m");
        assert!(
            equinox.warnings.iter().any(|w| w.contains("暦要項 for 2026")),
            "{:?}",
            equinox.warnings
        );
        let cal = Calendar::default();
        let far = compute(&Request {
            office: Office::Jp,
            dated: d("2021-06-30"),
            period: p("3d"),
            received: None,
            epo_calendar: &cal,
        })
        .unwrap();
        assert_eq!(far.warnings.len(), 1, "{far:?}");
        assert!(far.warnings[0].starts_with("calendar missing for 2021"));
    }

    #[test]
    fn japanese_holidays_follow_the_law() {
        let h = jp_holidays(2026).unwrap();
        let names: Vec<(String, &str)> = h
            .iter()
            .map(|(d, h)| (d.format("%m-%d").to_string(), h.name))
            .collect();
        let days: Vec<&str> = names.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(
            days,
            [
                "01-01", "01-12", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05", "05-06",
                "07-20", "08-11", "09-21", "09-22", "09-23", "10-12", "11-03", "11-23"
            ]
        );
        assert_eq!(h[&d("2026-05-06")].name, "振替休日 substitute holiday");
        assert_eq!(h[&d("2026-09-22")].name, "国民の休日 citizens' holiday");
        // 2027: the vernal equinox falls on a Sunday (21 March): the 22nd is a substitute.
        let h27 = jp_holidays(2027).unwrap();
        assert_eq!(h27[&d("2027-03-21")].name, "春分の日 Vernal Equinox Day");
        assert_eq!(h27[&d("2027-03-22")].name, "振替休日 substitute holiday");
        assert!(jp_holidays(2021).is_none());
        assert!(jp_holidays(2100).is_none());
    }

    #[test]
    fn a_title_finds_the_rule_it_names() {
        let rule = |titles: &[&str], period: &str| PeriodRule {
            titles: titles.iter().map(|t| (*t).to_owned()).collect(),
            period: p(period),
            basis: titles[0].to_owned(),
            extendable: false,
            remedy: None,
            source: "s".into(),
        };
        let rules = [
            rule(&["Rule 71(3)"], "4m"),
            rule(&["Rules 161(1) and 162", "Rule 161(1)"], "6m"),
        ];
        let table = [
            ("Communication under Rule 71(3) EPC", Some("Rule 71(3)")),
            ("COMMUNICATION UNDER RULE 71(3) EPC", Some("Rule 71(3)")),
            (
                "Communication pursuant to Rules 161(1) and 162 EPC",
                Some("Rules 161(1) and 162"),
            ),
            ("Communication from the Examining Division", None),
            ("Rule 71(2) communication", None),
        ];
        for (title, want) in table {
            assert_eq!(rule_for(&rules, title).map(|r| r.basis.as_str()), want, "{title}");
        }
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 29, 30, 31]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "29th", "30th",
                "31st"
            ]
        );
    }

    #[test]
    fn received_before_dated_is_refused() {
        let cal = Calendar::default();
        let e = compute(&Request {
            office: Office::Ep,
            dated: d("2027-04-01"),
            period: p("2m"),
            received: Some(d("2027-03-31")),
            epo_calendar: &cal,
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "received 2027-03-31 is before the document's date 2027-04-01"
        );
    }
}
