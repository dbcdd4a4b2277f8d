//! The legal data the deadline arithmetic (`core::deadline`) reads, from files compiled into
//! the binary (`src/data/*.toml`), each entry with its public source.
//!
//! * `epo-closing-days.toml`: one `[[year]]` per year with `complete` (the whole official list
//!   is here) and `[[year.closed]]` ranges (`from`, `to`, `name`, `source`). A range without a
//!   source, a `to` before its `from`, or a date outside its year is refused.
//! * `epo-periods.toml`: the rules table, `[[rule]]` rows (`titles`, `period`, `basis`,
//!   `extendable`, `remedy`, `source`); a row without a title, a source or a valid period is
//!   refused.
//!
//! Both files are tested, so a bad edit fails the tests rather than a deadline.

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::core::deadline::{Calendar, JpRule, Period, PeriodRule};

const EPO: &str = include_str!("data/epo-closing-days.toml");
const EPO_PERIODS: &str = include_str!("data/epo-periods.toml");
const JPO_PERIODS: &str = include_str!("data/jpo-periods.toml");

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("closing-day calendar {file}: {reason}")]
    Invalid { file: &'static str, reason: String },
    #[error("rules table {file}: {reason}")]
    Rules { file: String, reason: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    titles: Vec<String>,
    period: String,
    basis: String,
    extendable: bool,
    remedy: Option<String>,
    source: String,
}

/// The EPO rules table: which period a communication's title starts.
pub fn epo_period_rules() -> Result<Vec<PeriodRule>, CalendarError> {
    rules(EPO_PERIODS, "epo-periods.toml")
}

/// A rules table in the format of `epo-periods.toml` (the firm's own, `[deadlines] rules_file`);
/// `file` names it in errors.
pub fn rules(text: &str, file: &str) -> Result<Vec<PeriodRule>, CalendarError> {
    let bad = |reason: String| CalendarError::Rules {
        file: file.to_owned(),
        reason,
    };
    let parsed: RulesFile = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
    parsed
        .rule
        .into_iter()
        .map(|r| {
            if r.titles.iter().all(|t| t.trim().is_empty()) {
                return Err(bad(format!("the row for {} has no title pattern", r.basis)));
            }
            if r.source.trim().is_empty() {
                return Err(bad(format!("the row for {} has no source", r.basis)));
            }
            let period: Period = r
                .period
                .parse()
                .map_err(|e: crate::core::deadline::BadPeriod| bad(e.to_string()))?;
            Ok(PeriodRule {
                titles: r.titles,
                period,
                basis: r.basis,
                extendable: r.extendable,
                remedy: r.remedy,
                source: r.source,
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JpRulesFile {
    rule: Vec<RawJpRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJpRule {
    right: String,
    codes: Vec<String>,
    description: String,
    domestic: String,
    abroad: String,
    basis: String,
    source: String,
}

/// The JPO rules table: which period a JPO document starts (`jpo-periods.toml`).
pub fn jpo_period_rules() -> Result<Vec<JpRule>, CalendarError> {
    let file = "jpo-periods.toml";
    let bad = |reason: String| CalendarError::Rules {
        file: file.to_owned(),
        reason,
    };
    let parsed: JpRulesFile = toml::from_str(JPO_PERIODS).map_err(|e| bad(e.message().to_owned()))?;
    parsed
        .rule
        .into_iter()
        .map(|r| {
            if r.codes.iter().all(|c| c.trim().is_empty()) || r.source.trim().is_empty() {
                return Err(bad(format!(
                    "the row for {} needs a document code and a source",
                    r.description
                )));
            }
            if !matches!(r.right.as_str(), "patent" | "design" | "trademark") {
                return Err(bad(format!(
                    "{:?} is not a right (patent, design, trademark)",
                    r.right
                )));
            }
            let period = |s: &str| {
                s.parse::<Period>()
                    .map_err(|e: crate::core::deadline::BadPeriod| bad(e.to_string()))
            };
            Ok(JpRule {
                right: r.right,
                codes: r.codes,
                description: r.description,
                domestic: period(&r.domestic)?,
                abroad: period(&r.abroad)?,
                basis: r.basis,
                source: r.source,
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    year: Vec<Year>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Year {
    year: i32,
    complete: bool,
    #[serde(default)]
    closed: Vec<Range>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    from: toml::value::Datetime,
    to: toml::value::Datetime,
    name: String,
    source: String,
}

fn date(d: &toml::value::Datetime, file: &'static str) -> Result<NaiveDate, CalendarError> {
    let bad = |reason: String| CalendarError::Invalid { file, reason };
    let day = d.date.ok_or_else(|| bad(format!("{d} is not a date")))?;
    NaiveDate::from_ymd_opt(i32::from(day.year), u32::from(day.month), u32::from(day.day))
        .ok_or_else(|| bad(format!("{d} is not a date")))
}

/// The EPO filing offices' closing days.
pub fn epo_closing_days() -> Result<Calendar, CalendarError> {
    parse(EPO, "epo-closing-days.toml")
}

fn parse(text: &str, file: &'static str) -> Result<Calendar, CalendarError> {
    let bad = |reason: String| CalendarError::Invalid { file, reason };
    let parsed: File = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
    let mut cal = Calendar::default();
    for y in parsed.year {
        if y.complete {
            cal.complete.insert(y.year);
        } else {
            cal.partial.insert(y.year);
        }
        for r in y.closed {
            let (from, to) = (date(&r.from, file)?, date(&r.to, file)?);
            if r.source.trim().is_empty() {
                return Err(bad(format!("{from} ({}) has no source", r.name)));
            }
            if to < from || from.year() != y.year || to.year() != y.year {
                return Err(bad(format!("{from}..{to} is not a range within {}", y.year)));
            }
            for d in from.iter_days().take_while(|d| *d <= to) {
                cal.days.insert(d, r.name.clone());
            }
        }
    }
    Ok(cal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_calendar_reads_and_says_what_it_lacks() {
        let cal = epo_closing_days().unwrap();
        assert!(
            cal.complete.is_empty(),
            "no year is complete until its OJ list is copied"
        );
        assert_eq!(cal.partial.iter().copied().collect::<Vec<_>>(), [2025, 2026]);
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(cal.days.contains_key(&d("2025-12-24")) && cal.days.contains_key(&d("2026-01-01")));
        assert_eq!(cal.days.len(), 9);
    }

    #[test]
    fn the_shipped_jpo_table_reads_with_both_periods_and_a_source() {
        let rules = jpo_period_rules().unwrap();
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(
            (r.right.as_str(), r.codes.as_slice()),
            ("patent", &["A131".to_owned()][..])
        );
        assert_eq!(
            (r.domestic.to_string(), r.abroad.to_string()),
            ("60 days".into(), "3 months".into())
        );
        assert!(
            r.source.contains("方式審査便覧") && r.source.contains("https://"),
            "{}",
            r.source
        );
    }

    #[test]
    fn the_shipped_rules_table_reads_with_a_source_per_row() {
        let shipped = epo_period_rules().unwrap();
        assert_eq!(shipped.len(), 5);
        assert!(
            shipped
                .iter()
                .all(|r| r.source.starts_with("https://www.epo.org/en/legal/epc/"))
        );
        let r71 = crate::core::deadline::rule_for(&shipped, "Communication under Rule 71(3) EPC").unwrap();
        assert_eq!(
            (r71.period.to_string().as_str(), r71.basis.as_str()),
            ("4 months", "Rule 71(3) EPC")
        );
        for bad in [
            "[[rule]]\ntitles = [\"x\"]\nperiod = \"4q\"\nbasis = \"b\"\nextendable = false\nsource = \"s\"\n",
            "[[rule]]\ntitles = [\" \"]\nperiod = \"4m\"\nbasis = \"b\"\nextendable = false\nsource = \"s\"\n",
            "[[rule]]\ntitles = [\"x\"]\nperiod = \"4m\"\nbasis = \"b\"\nextendable = false\nsource = \"\"\n",
        ] {
            let e = rules(bad, "t.toml").unwrap_err().to_string();
            assert!(e.starts_with("rules table t.toml: "), "{e}");
        }
    }

    #[test]
    fn bad_files_are_refused_naming_the_culprit() {
        let table = [
            (
                "[[year]]\nyear = 2026\ncomplete = true\n[[year.closed]]\nfrom = 2026-01-01\nto = 2026-01-01\nname = \"x\"\nsource = \" \"\n",
                "has no source",
            ),
            (
                "[[year]]\nyear = 2026\ncomplete = true\n[[year.closed]]\nfrom = 2026-01-02\nto = 2026-01-01\nname = \"x\"\nsource = \"s\"\n",
                "not a range within 2026",
            ),
            (
                "[[year]]\nyear = 2026\ncomplete = true\n[[year.closed]]\nfrom = 2027-01-01\nto = 2027-01-01\nname = \"x\"\nsource = \"s\"\n",
                "not a range within 2026",
            ),
            ("[[year]]\nyear = 2026\n", "missing field `complete`"),
        ];
        for (text, want) in table {
            let e = parse(text, "t.toml").unwrap_err().to_string();
            assert!(
                e.contains(want) && e.starts_with("closing-day calendar t.toml: "),
                "{e}"
            );
        }
    }
}
