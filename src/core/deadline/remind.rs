//! The reminder ladder: `remind_days = [30, 14, 7, 3, 1]` sends one reminder as each rung
//! is reached, for deadlines nobody has yet confirmed as docketed.
//!
//! **Decided:** a deadline that reaches several rungs at once (it was created 5 days before
//! it falls due, or the daemon was off for a week) gets one reminder, for the nearest rung,
//! and the rungs it skipped count as sent: three mails at once about one date help nobody.
//! Rung 0 is "due today". A deadline already past gets no ladder reminder; the digest lists
//! it every day until it is acknowledged or done.

use std::collections::BTreeSet;

use chrono::NaiveDate;

/// What to send now: the rung reached and every rung to record as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub rung: u32,
    pub days_left: u32,
    pub mark: Vec<u32>,
}

/// The reminder due on `today` for a deadline due on `due`, given the rungs already sent.
pub fn due(ladder: &[u32], due: NaiveDate, today: NaiveDate, sent: &BTreeSet<u32>) -> Option<Due> {
    let left = (due - today).num_days();
    let days_left = u32::try_from(left).ok()?;
    let reached: Vec<u32> = ladder.iter().copied().filter(|r| *r >= days_left).collect();
    let rung = reached.iter().copied().min()?;
    if sent.contains(&rung) {
        return None;
    }
    let mark = reached.into_iter().filter(|r| !sent.contains(r)).collect();
    Some(Due {
        rung,
        days_left,
        mark,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ladder_table() {
        let ladder = [30, 14, 7, 3, 1];
        let due_on = d("2027-03-01");
        // (today, already sent, expected rung, expected marks)
        type Case<'a> = (&'a str, &'a [u32], Option<(u32, &'a [u32])>);
        let cases: &[Case<'_>] = &[
            ("2027-01-01", &[], None),
            ("2027-01-30", &[], Some((30, &[30]))),
            ("2027-02-01", &[30], None),
            ("2027-02-15", &[30], Some((14, &[14]))),
            ("2027-02-24", &[30], Some((7, &[14, 7]))),
            ("2027-02-26", &[], Some((3, &[30, 14, 7, 3]))),
            ("2027-02-28", &[30, 14, 7, 3], Some((1, &[1]))),
            ("2027-02-28", &[30, 14, 7, 3, 1], None),
            ("2027-03-01", &[30, 14, 7, 3, 1], None),
            ("2027-03-02", &[], None),
        ];
        for (today, sent, want) in cases {
            let sent: BTreeSet<u32> = sent.iter().copied().collect();
            let got = due(&ladder, due_on, d(today), &sent).map(|x| (x.rung, x.mark));
            let want = want.map(|(r, m)| (r, m.to_vec()));
            assert_eq!(got, want, "{today} {sent:?}");
        }
        let today = due(&[0, 1], due_on, due_on, &BTreeSet::new()).unwrap();
        assert_eq!((today.rung, today.days_left), (0, 0));
    }
}
