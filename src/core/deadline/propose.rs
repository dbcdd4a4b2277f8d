//! Which deadline a communication gets: from the period its letter states, from the rules
//! table, or none ("period not known"), with the reasoning a person reads before docketing.
//!
//! **Decided:** the letter wins over the rules table. The letter is the office's own act
//! for this case (Art. 94(3) EPC periods are set in it; a Rule 71(3) letter may state a
//! period the table does not foresee), while the table is a general rule matched on a title.
//! When both speak and differ, the proposal says so in its notes; when the letter states
//! several different periods, it is trusted for none of them: the table's period is used if
//! there is one, and a person is told to read the letter.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Calendar, Deadline, DeadlineError, JpRule, Period, PeriodRule, Request, compute, rule_for};
use crate::core::cases::Office;

/// The basis of a period only the letter gives.
const LETTER_BASIS: &str = "the period the letter states";

/// Where a deadline's period came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The rules table (`src/data/epo-periods.toml`), matched on the title.
    Rule,
    /// The period phrase in the letter's text.
    Letter,
    /// The EP Register's procedural step for the same case and date.
    Register,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Rule => "rule",
            SourceKind::Letter => "letter",
            SourceKind::Register => "register",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        [SourceKind::Rule, SourceKind::Letter, SourceKind::Register]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What reading the letter gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum LetterReading {
    /// The text could not be read (why: no PDF, too large, not a PDF with a text layer).
    NotRead { why: String },
    /// Read; it states no period.
    NoPeriod,
    /// One period, with the words as found.
    One { period: Period, quote: String },
    /// Several different periods: none is trusted.
    Several { periods: Vec<(Period, String)> },
}

/// What a communication says about itself.
#[derive(Clone, Debug)]
pub struct Communication<'a> {
    pub office: Office,
    pub title: &'a str,
    /// The date it bears.
    pub dated: NaiveDate,
    /// When the Mailbox delivered it (its local date), if known.
    pub received: Option<NaiveDate>,
    pub letter: &'a LetterReading,
}

impl Communication<'_> {
    /// The end of `period` counted from this communication.
    fn deadline(&self, period: Period, calendar: &Calendar) -> Result<Deadline, DeadlineError> {
        compute(&Request {
            office: self.office,
            dated: self.dated,
            period,
            received: self.received,
            epo_calendar: calendar,
        })
    }
}

/// A proposed deadline and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub source: SourceKind,
    pub period: Period,
    /// The legal basis (`Rule 71(3) EPC`, or `the period the letter states`).
    pub basis: String,
    pub deadline: Deadline,
    /// How the period was chosen, one sentence each.
    pub notes: Vec<String>,
    /// What is left when it is missed, if the rules table says.
    pub remedy: Option<String>,
}

/// The outcome for one communication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Proposed(Proposal),
    /// No period is known: a person reads the letter. Why, in one sentence.
    Unknown {
        why: String,
    },
}

/// Proposes the deadline `c` starts.
pub fn propose(
    c: &Communication<'_>,
    rules: &[PeriodRule],
    calendar: &Calendar,
) -> Result<Outcome, DeadlineError> {
    let rule = rule_for(rules, c.title);
    let mut notes = Vec::new();
    let chosen = match (c.letter, rule) {
        (LetterReading::One { period, quote }, rule) => {
            notes.push(format!("the letter states {period}: \"{quote}\""));
            match rule {
                Some(r) if r.period != *period => notes.push(format!(
                    "the rules table gives {} for {}: the letter's period is used",
                    r.period, r.basis
                )),
                Some(r) => notes.push(format!("the rules table gives the same for {}", r.basis)),
                None => {}
            }
            Some((
                SourceKind::Letter,
                *period,
                rule.map_or_else(|| LETTER_BASIS.to_owned(), |r| r.basis.clone()),
            ))
        }
        (LetterReading::Several { periods }, rule) => {
            let listed: Vec<String> = periods.iter().map(|(p, q)| format!("{p} (\"{q}\")")).collect();
            notes.push(format!(
                "the letter states several periods, {}: none of them is trusted, read the letter",
                listed.join(", ")
            ));
            rule.map(|r| (SourceKind::Rule, r.period, r.basis.clone()))
        }
        (reading, Some(r)) => {
            if let LetterReading::NotRead { why } = reading {
                notes.push(format!("the letter was not read ({why})"));
            }
            notes.push(format!(
                "the rules table gives {} for {} ({})",
                r.period, r.basis, r.source
            ));
            Some((SourceKind::Rule, r.period, r.basis.clone()))
        }
        (LetterReading::NoPeriod, None) => {
            return Ok(Outcome::Unknown {
                why: "period not known from the form, and the letter states none".into(),
            });
        }
        (LetterReading::NotRead { why }, None) => {
            return Ok(Outcome::Unknown {
                why: format!("period not known from the form, and the letter was not read ({why})"),
            });
        }
    };
    let Some((source, period, basis)) = chosen else {
        return Ok(Outcome::Unknown {
            why: notes.join("; "),
        });
    };
    let deadline = c.deadline(period, calendar)?;
    Ok(Outcome::Proposed(Proposal {
        source,
        period,
        basis,
        deadline,
        notes,
        remedy: rule.and_then(|r| r.remedy.clone()),
    }))
}

/// The deadline the Register's time limit gives for a communication that has none of its
/// own: the same computation, sourced `register`.
pub fn from_register(
    c: &Communication<'_>,
    period: Period,
    step: &str,
    calendar: &Calendar,
) -> Result<Proposal, DeadlineError> {
    let deadline = c.deadline(period, calendar)?;
    Ok(Proposal {
        source: SourceKind::Register,
        period,
        basis: format!("time limit the EP Register shows ({step})"),
        deadline,
        notes: vec![format!(
            "neither the rules table nor the letter gives a period; the EP Register's procedural step {step} of the same date gives {period}"
        )],
        remedy: None,
    })
}

/// A JPO document as the JPO's progress data lists it.
#[derive(Clone, Debug)]
pub struct JpDocument<'a> {
    /// `patent`, `design`, `trademark`.
    pub right: &'a str,
    /// `A131`
    pub code: &'a str,
    /// Its dispatch date (発送日), the JPO's legal date for an office document.
    pub dated: NaiveDate,
}

/// The deadline a JPO document starts, if the JPO rules table has a row for it. Whether the
/// applicant resides abroad picks the period; `None` proposes the shorter one and says so,
/// since a deadline docketed early harms less than one docketed late.
pub fn propose_jp(
    doc: &JpDocument<'_>,
    rules: &[JpRule],
    abroad: Option<bool>,
    calendar: &Calendar,
) -> Result<Option<Proposal>, DeadlineError> {
    let Some(rule) = rules
        .iter()
        .find(|r| r.right == doc.right && r.codes.iter().any(|c| c.eq_ignore_ascii_case(doc.code)))
    else {
        return Ok(None);
    };
    let shorter = |a: Period, b: Period| {
        let days = |p: Period| match p.unit {
            super::Unit::Days => p.count,
            super::Unit::Weeks => p.count * 7,
            super::Unit::Months => p.count * 30,
            super::Unit::Years => p.count * 365,
        };
        if days(a) <= days(b) { a } else { b }
    };
    let (period, note) = match abroad {
        Some(true) => (
            rule.abroad,
            format!("the applicant resides abroad: {} ({})", rule.abroad, rule.source),
        ),
        Some(false) => (
            rule.domestic,
            format!(
                "the applicant resides in Japan: {} ({})",
                rule.domestic, rule.source
            ),
        ),
        None => {
            let p = shorter(rule.domestic, rule.abroad);
            (
                p,
                format!(
                    "[deadlines] jp_applicant_abroad is not set: the shorter period, {p}, is proposed ({} in Japan, {} abroad; {})",
                    rule.domestic, rule.abroad, rule.source
                ),
            )
        }
    };
    let deadline = compute(&Request {
        office: Office::Jp,
        dated: doc.dated,
        period,
        received: None,
        epo_calendar: calendar,
    })?;
    Ok(Some(Proposal {
        source: SourceKind::Rule,
        period,
        basis: rule.basis.clone(),
        deadline,
        notes: vec![format!("{} {}: {note}", doc.code, rule.description)],
        remedy: None,
    }))
}

/// The one line a person reads first: `Due 2027-03-01 (Mon) — 4 months from 2026-10-30,
/// Rule 71(3) EPC; Rule 134(1) EPC: 2027-02-28 (Sun) is a Sunday`, then any warning in
/// brackets. A period the letter states says so after its basis.
pub fn headline(p: &Proposal, dated: NaiveDate) -> String {
    let mut line = format!(
        "Due {} — {} from {}, {}",
        super::day(p.deadline.due),
        p.period,
        dated.format("%Y-%m-%d"),
        p.basis
    );
    if p.source == SourceKind::Letter && p.basis != LETTER_BASIS {
        line.push_str(" (the letter states it)");
    }
    for step in &p.deadline.steps {
        if step.contains("seven-day safeguard") {
            let received = step.split(": the period ends").next().unwrap_or(step);
            line.push_str("; seven-day safeguard (Rule 126(2) EPC): ");
            line.push_str(received);
        } else if step.starts_with("Rule 134(1) EPC:") || step.starts_with("Patent Act Art. 3(2):") {
            line.push_str("; ");
            line.push_str(step.split(" → ").next().unwrap_or(step));
            break;
        }
    }
    for w in &p.deadline.warnings {
        line.push_str(" [");
        line.push_str(w.split(':').next().unwrap_or(w));
        line.push(']');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::deadline::Unit;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn rules() -> Vec<PeriodRule> {
        vec![PeriodRule {
            titles: vec!["Rule 71(3)".into()],
            period: "4m".parse().unwrap(),
            basis: "Rule 71(3) EPC".into(),
            extendable: false,
            remedy: Some("further processing".into()),
            source: "https://www.epo.org/en/legal/epc/2020/r71.html".into(),
        }]
    }

    fn months(n: u32) -> Period {
        Period {
            count: n,
            unit: Unit::Months,
        }
    }

    fn one(n: u32) -> LetterReading {
        LetterReading::One {
            period: months(n),
            quote: format!("within a period of {n} months"),
        }
    }

    fn run(title: &str, letter: LetterReading) -> Outcome {
        let c = Communication {
            office: Office::Ep,
            title,
            dated: d("2026-10-30"),
            received: None,
            letter: &letter,
        };
        propose(&c, &rules(), &Calendar::default()).unwrap()
    }

    /// (title, letter, expected source, period months, due, a note that must appear)
    #[test]
    fn letter_and_rules_table_table() {
        let r713 = "Communication under Rule 71(3) EPC";
        let a943 = "Communication pursuant to Article 94(3) EPC";
        let not_read = || LetterReading::NotRead {
            why: "no text layer".into(),
        };
        let several = LetterReading::Several {
            periods: vec![
                (months(2), "two months".into()),
                (months(4), "four months".into()),
            ],
        };
        let cases: Vec<(&str, LetterReading, SourceKind, u32, &str, &str)> = vec![
            (
                r713,
                LetterReading::NoPeriod,
                SourceKind::Rule,
                4,
                "2027-03-01",
                "rules table gives 4 months",
            ),
            (
                r713,
                one(4),
                SourceKind::Letter,
                4,
                "2027-03-01",
                "gives the same",
            ),
            (
                r713,
                one(2),
                SourceKind::Letter,
                2,
                "2026-12-30",
                "the letter's period is used",
            ),
            (
                r713,
                not_read(),
                SourceKind::Rule,
                4,
                "2027-03-01",
                "was not read (no text layer)",
            ),
            (
                r713,
                several.clone(),
                SourceKind::Rule,
                4,
                "2027-03-01",
                "none of them is trusted",
            ),
            (
                a943,
                one(4),
                SourceKind::Letter,
                4,
                "2027-03-01",
                "the letter states 4 months",
            ),
        ];
        for (title, letter, source, n, due, note) in cases {
            let Outcome::Proposed(p) = run(title, letter.clone()) else {
                panic!("{title} {letter:?}: no proposal")
            };
            assert_eq!(
                (p.source, p.period, p.deadline.due),
                (source, months(n), d(due)),
                "{title} {letter:?}"
            );
            assert!(
                p.notes.iter().any(|x| x.contains(note)),
                "{title} {letter:?}: {:?}",
                p.notes
            );
        }
        for (letter, why) in [
            (LetterReading::NoPeriod, "the letter states none"),
            (not_read(), "letter was not read"),
            (several, "several periods"),
        ] {
            match run(a943, letter) {
                Outcome::Unknown { why: w } => assert!(w.contains(why), "{w}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_letter_period_keeps_the_tables_basis_and_remedy() {
        let Outcome::Proposed(p) = run("Communication under Rule 71(3) EPC", one(2)) else {
            panic!()
        };
        assert_eq!(p.basis, "Rule 71(3) EPC");
        assert_eq!(p.remedy.as_deref(), Some("further processing"));
        let Outcome::Proposed(p) = run("Communication pursuant to Article 94(3) EPC", one(4)) else {
            panic!()
        };
        assert_eq!(p.basis, "the period the letter states");
        assert_eq!(p.remedy, None);
    }

    #[test]
    fn a_jpo_refusal_notice_takes_the_period_of_where_the_applicant_resides() {
        let rules = vec![JpRule {
            right: "patent".into(),
            codes: vec!["A131".into()],
            description: "拒絶理由通知書".into(),
            domestic: "60d".parse().unwrap(),
            abroad: "3m".parse().unwrap(),
            basis: "Patent Act Art. 50".into(),
            source: "方式審査便覧 04.10".into(),
        }];
        let doc = |right: &'static str, code: &'static str| JpDocument {
            right,
            code,
            dated: d("2026-03-10"),
        };
        let cal = Calendar::default();
        // 60 days from 2026-03-10, the first day not counted: 2026-05-09 (Sat) → Mon 11 May.
        // 3 months: ends 2026-06-10 (Wed).
        for (abroad, due, note) in [
            (Some(false), "2026-05-11", "resides in Japan"),
            (Some(true), "2026-06-10", "resides abroad"),
            (None, "2026-05-11", "jp_applicant_abroad is not set"),
        ] {
            let p = propose_jp(&doc("patent", "A131"), &rules, abroad, &cal)
                .unwrap()
                .unwrap();
            assert_eq!(p.deadline.due, d(due), "{abroad:?}");
            assert!(p.notes[0].contains(note), "{:?}", p.notes);
        }
        assert!(
            propose_jp(&doc("trademark", "A131"), &rules, None, &cal)
                .unwrap()
                .is_none()
        );
        assert!(
            propose_jp(&doc("patent", "A01"), &rules, None, &cal)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_headline_says_when_the_letter_gave_the_period_and_a_late_delivery() {
        let Outcome::Proposed(p) = run("Communication under Rule 71(3) EPC", one(2)) else {
            panic!()
        };
        assert_eq!(
            headline(&p, d("2026-10-30")),
            "Due 2026-12-30 (Wed) — 2 months from 2026-10-30, Rule 71(3) EPC (the letter states it) \
             [calendar missing for 2026]"
        );
        let letter = LetterReading::NoPeriod;
        let late = Communication {
            office: Office::Ep,
            title: "Communication under Rule 71(3) EPC",
            dated: d("2026-10-30"),
            received: Some(d("2026-11-12")),
            letter: &letter,
        };
        let Outcome::Proposed(p) = propose(&late, &rules(), &Calendar::default()).unwrap() else {
            panic!()
        };
        let line = headline(&p, d("2026-10-30"));
        assert!(
            line.starts_with(
                "Due 2027-03-08 (Mon) — 4 months from 2026-10-30, Rule 71(3) EPC; seven-day safeguard (Rule 126(2) EPC): received 2026-11-12 (Thu), 13 days after its date; Rule 134(1) EPC: 2027-03-06 (Sat) is a Saturday"
            ),
            "{line}"
        );
    }

    #[test]
    fn the_headline_names_the_due_day_the_basis_and_the_move() {
        let Outcome::Proposed(p) = run("Communication under Rule 71(3) EPC", LetterReading::NoPeriod) else {
            panic!()
        };
        // 2026-10-30 + 4 months = 2027-02-28, a Sunday; the calendar knows nothing of 2027.
        assert_eq!(
            headline(&p, d("2026-10-30")),
            "Due 2027-03-01 (Mon) — 4 months from 2026-10-30, Rule 71(3) EPC; \
             Rule 134(1) EPC: 2027-02-28 (Sun) is a Sunday [calendar missing for 2027]"
        );
    }
}
