//! `mailroom deadline`: the calculator for people. The due date of a period an office's
//! document starts, with each step of the reasoning (`core::deadline`), e.g.
//!
//! ```text
//! mailroom deadline --office EP --from 2026-10-30 --period 4m --basis "Rule 71(3) EPC"
//! Due 2027-03-01 (Mon) — 4 months from 2026-10-30, Rule 71(3) EPC
//!   1. dated 2026-10-30 (Fri): deemed delivered that day (Rules 126(2), 127(2) EPC, …)
//!   2. 4 months from 2026-10-30 (Fri) (Rule 131 EPC): 2027-02-28 (Sun), the last day of February 2027 (it has no 30th)
//!   3. Rule 134(1) EPC: 2027-02-28 (Sun) is a Sunday → 2027-03-01 (Mon)
//! ```
//!
//! A suggestion with its reasoning, never an authority: a person dockets it. Warnings (a
//! calendar missing or incomplete for a year, an equinox day computed) are printed under the
//! steps and in `--json`; the exit status is 0 once the date is computed.

use chrono::NaiveDate;
use serde::Serialize;

use crate::core::cases::Office;
use crate::core::deadline::{self, Deadline, Period, PeriodRule, Request};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The office whose rules apply: EP (EPC) or JP (Patent Act)
    #[arg(long, value_parser = parse_office)]
    office: Office,
    /// The date the document bears (EP) or its dispatch date, 発送日 (JP): YYYY-MM-DD
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// The period: 4m, 2 months, 6w, 10d, 1y (or give --rule)
    #[arg(long, required_unless_present = "rule")]
    period: Option<Period>,
    /// The rule or the communication's title (EP), e.g. "Rule 71(3)" or "Communication under
    /// Rule 71(3) EPC": the rules table gives the period and its basis
    #[arg(long)]
    rule: Option<String>,
    /// When the document reached you (EP: the seven-day safeguard of Rule 126(2) EPC)
    #[arg(long, value_parser = parse_date)]
    delivered: Option<NaiveDate>,
    /// The legal basis, shown with the result (default: the rules table's, with --rule)
    #[arg(long)]
    basis: Option<String>,
    /// Print {"due", "unextended", "steps", "warnings", "period", "basis", "rule"} as JSON
    #[arg(long)]
    json: bool,
}

fn parse_office(s: &str) -> Result<Office, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        "EP" | "EPO" => Ok(Office::Ep),
        "JP" | "JPO" => Ok(Office::Jp),
        _ => Err(format!("{s:?} is not an office: use EP or JP")),
    }
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date: use YYYY-MM-DD"))
}

#[derive(Serialize)]
struct Out<'a> {
    #[serde(flatten)]
    deadline: &'a Deadline,
    period: String,
    basis: Option<&'a str>,
    /// The rules table's row, with --rule.
    rule: Option<&'a PeriodRule>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let calendar = crate::legal_data::epo_closing_days()?;
    let rules = crate::legal_data::epo_period_rules()?;
    let rule = match &args.rule {
        Some(r) if args.office == Office::Jp => {
            anyhow::bail!("--rule {r:?}: the rules table holds EPC rules; give the JP period with --period")
        }
        Some(r) => Some(deadline::rule_for(&rules, r).ok_or_else(|| {
            anyhow::anyhow!("--rule {r:?}: the rules table knows no period for it; give --period")
        })?),
        None => None,
    };
    let Some(period) = args.period.or(rule.map(|r| r.period)) else {
        anyhow::bail!("give --period or --rule");
    };
    let basis = args.basis.as_deref().or(rule.map(|r| r.basis.as_str()));
    let computed = deadline::compute(&Request {
        office: args.office,
        dated: args.from,
        period,
        received: args.delivered,
        epo_calendar: &calendar,
    })?;
    if args.json {
        let out = Out {
            deadline: &computed,
            period: period.to_string(),
            basis,
            rule,
        };
        return super::print_stdout(&(serde_json::to_string_pretty(&out)? + "\n"));
    }
    super::print_stdout(&text(args.from, period, basis, rule, &computed))
}

fn text(
    from: NaiveDate,
    period: Period,
    basis: Option<&str>,
    rule: Option<&PeriodRule>,
    d: &Deadline,
) -> String {
    let mut out = format!(
        "Due {} — {period} from {}",
        d.due.format("%Y-%m-%d (%a)"),
        from.format("%Y-%m-%d")
    );
    if let Some(b) = basis {
        out.push_str(&format!(", {b}"));
    }
    out.push('\n');
    if let Some(r) = rule {
        let remedy = r
            .remedy
            .as_deref()
            .map_or_else(|| "no remedy listed".to_owned(), |m| format!("if missed: {m}"));
        out.push_str(&format!(
            "  period from the rules table: {} ({}; {remedy}); source {}\n",
            r.basis,
            if r.extendable {
                "extendable"
            } else {
                "not extendable"
            },
            r.source
        ));
    }
    for (i, step) in d.steps.iter().enumerate() {
        out.push_str(&format!("  {}. {step}\n", i + 1));
    }
    for w in &d.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    out.push_str("  (a suggestion with its reasoning: check it, then docket it)\n");
    out
}
