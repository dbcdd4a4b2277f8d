//! The EP Register as a second source: its procedural steps carry the time limit the EPO set
//! (`time-limit`, e.g. `04` `months`) and the date of the communication that set it
//! (`DATE_OF_DISPATCH`). A deadline of the same case and date is confirmed when the periods
//! agree and flagged when they differ; a time limit no communication of that date explains
//! is how a lost communication is caught.
//!
//! **Decided:** the Register's `DATE_OF_REPLY` is the day the applicant replied, not a due
//! date (in the recorded EP2400812 steps it falls before or after the period's end), so only
//! the period and the dispatch date are compared. A unit the parser does not know makes the
//! step incomparable: it is skipped, never guessed.

use chrono::NaiveDate;

use super::{Period, Unit};
use crate::core::status::ProceduralStep;

/// A time limit the Register shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterLimit {
    /// `STEP_EXRE_13225478`
    pub step_id: String,
    /// `Communication from the examining division`
    pub description: String,
    pub dispatched: NaiveDate,
    pub period: Period,
}

/// The steps with a time limit and a dispatch date both readable.
pub fn limits_of(steps: &[ProceduralStep]) -> Vec<RegisterLimit> {
    steps
        .iter()
        .filter_map(|s| {
            let limit = s.time_limit.as_ref()?;
            let count: u32 = limit
                .value
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=120).contains(n))?;
            let unit = match limit.unit.trim().to_ascii_lowercase().as_str() {
                "days" | "day" => Unit::Days,
                "weeks" | "week" => Unit::Weeks,
                "months" | "month" => Unit::Months,
                "years" | "year" => Unit::Years,
                _ => return None,
            };
            let dispatched = s
                .dates
                .iter()
                .find(|(kind, _)| kind == "DATE_OF_DISPATCH")
                .and_then(|(_, d)| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())?;
            Some(RegisterLimit {
                step_id: s.id.clone(),
                description: s.description.clone(),
                dispatched,
                period: Period { count, unit },
            })
        })
        .collect()
}

/// Our period against the Register's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    Confirmed,
    Disagrees,
}

/// Periods agree when they are the same length: `1y` is `12 months`, `2 weeks` is `14 days`.
pub fn compare(ours: Period, register: Period) -> Agreement {
    fn norm(p: Period) -> (u32, bool) {
        match p.unit {
            Unit::Days => (p.count, false),
            Unit::Weeks => (p.count * 7, false),
            Unit::Months => (p.count, true),
            Unit::Years => (p.count * 12, true),
        }
    }
    if norm(ours) == norm(register) {
        Agreement::Confirmed
    } else {
        Agreement::Disagrees
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::status::TimeLimit;

    fn step(id: &str, dates: &[(&str, &str)], limit: Option<(&str, &str)>) -> ProceduralStep {
        ProceduralStep {
            id: id.into(),
            code: "EXRE".into(),
            phase: "examination".into(),
            description: "Communication from the examining division".into(),
            dates: dates.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            time_limit: limit.map(|(value, unit)| TimeLimit {
                value: value.into(),
                unit: unit.into(),
                due: String::new(),
            }),
        }
    }

    #[test]
    fn only_steps_with_a_readable_limit_and_dispatch_date_count() {
        let dispatch = [
            ("DATE_OF_DISPATCH", "2026-10-30"),
            ("DATE_OF_REPLY", "2027-01-15"),
        ];
        let steps = [
            step("ok", &dispatch, Some(("04", "months"))),
            step("days", &dispatch, Some(("10", "Days"))),
            step("no-limit", &dispatch, None),
            step(
                "no-date",
                &[("DATE_OF_REPLY", "2027-01-15")],
                Some(("04", "months")),
            ),
            step("bad-unit", &dispatch, Some(("04", "fortnights"))),
            step("bad-value", &dispatch, Some(("four", "months"))),
            step("zero", &dispatch, Some(("0", "months"))),
            step(
                "bad-date",
                &[("DATE_OF_DISPATCH", "20261030")],
                Some(("04", "months")),
            ),
        ];
        let got: Vec<(String, Period)> = limits_of(&steps)
            .into_iter()
            .map(|l| (l.step_id, l.period))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "ok".into(),
                    Period {
                        count: 4,
                        unit: Unit::Months
                    }
                ),
                (
                    "days".into(),
                    Period {
                        count: 10,
                        unit: Unit::Days
                    }
                ),
            ]
        );
    }

    #[test]
    fn periods_compare_by_length() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        for (a, b, want) in [
            ("4m", "4m", Agreement::Confirmed),
            ("1y", "12m", Agreement::Confirmed),
            ("2w", "14d", Agreement::Confirmed),
            ("4m", "6m", Agreement::Disagrees),
            ("1m", "30d", Agreement::Disagrees),
        ] {
            assert_eq!(compare(p(a), p(b)), want, "{a} vs {b}");
        }
    }
}
