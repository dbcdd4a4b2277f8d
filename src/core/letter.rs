//! The period a letter states: "within a period of four months", "innerhalb einer Frist von
//! vier Monaten", "dans un délai de quatre mois". Pure: the text comes from `pdf_text`.
//!
//! Many communications (Article 94(3) EPC among them) set their period in the text rather
//! than by a rule the form implies, so the deadline code (issue 13) prefers what the letter
//! says. It only trusts an unambiguous letter: different periods stated in one letter give
//! [`Stated::Several`], and the caller then trusts none of them.
//!
//! **What is read.** The text is first made flat: a word hyphenated at a line end is joined
//! (`Mo-\nnaten`), soft hyphens are dropped, and every run of white space becomes one space.
//! A period is a number (digits 1–999, or a number word one to twelve in English, German or
//! French, with any German inflection of *ein*) followed by a unit (day, week, month, year,
//! singular or plural, any German case: `Monat`, `Monate`, `Monaten`, `Monats`; French
//! `jour`, `semaine`, `mois`, `an`, `année`), optionally with the digits repeated in
//! parentheses (`four (4) months`). It counts only right after the words that introduce a
//! time limit in EPO letters ([`TRIGGERS`]): `within`, `a period of`, `a time limit of`;
//! `innerhalb (einer Frist) von`, `Frist von`, `binnen`; `dans un délai de`, `délai d'`,
//! `dans les`. The quote runs from the first of those words to the unit.
//!
//! **What is excluded**, because it is not the period for the reply:
//! * a phrase after *deemed* (`deemed`, `gilt`/`gelten`, `réputé`…) in the same sentence:
//!   the old ten-day delivery fiction ("is deemed to be delivered within ten days");
//! * a phrase in a sentence about a remedy (further processing, re-establishment of rights,
//!   `Weiterbehandlung`, `Wiedereinsetzung`, `poursuite de la procédure`, `restitutio`): the
//!   two months of Rule 135(1) or Rule 136(1) EPC run from a different event.
//!
//! Sentences end at `.`, `;`, `!` or `?`; an abbreviation such as `Art.` only makes the
//! context shorter.

use super::deadline::{Period, Unit};

/// Longest quote kept, in characters.
pub const MAX_QUOTE_CHARS: usize = 200;

/// What a letter says about its period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stated {
    /// No period phrase.
    None,
    /// One period, however often it is stated (the first phrase).
    One(Phrase),
    /// Different periods: the first phrase of each, in the order of the text.
    Several(Vec<Phrase>),
}

/// A period phrase found in a letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phrase {
    pub period: Period,
    /// The words as found, white space collapsed, at most [`MAX_QUOTE_CHARS`] characters.
    pub quote: String,
}

/// The words (lower case, split at anything that is not a letter or digit) that introduce a
/// time limit, longest first within each language so the quote takes the most words.
pub const TRIGGERS: &[&[&str]] = &[
    &["within", "a", "period", "of"],
    &["within", "the", "period", "of"],
    &["within", "a", "time", "limit", "of"],
    &["within", "the", "time", "limit", "of"],
    &["a", "period", "of"],
    &["the", "period", "of"],
    &["a", "time", "limit", "of"],
    &["period", "of"],
    &["time", "limit", "of"],
    &["within"],
    &["innerhalb", "einer", "frist", "von"],
    &["innerhalb", "der", "frist", "von"],
    &["einer", "frist", "von"],
    &["frist", "von"],
    &["innerhalb", "von"],
    &["binnen"],
    &["innerhalb"],
    &["dans", "un", "délai", "de"],
    &["dans", "un", "délai", "d"],
    &["dans", "le", "délai", "de"],
    &["un", "délai", "de"],
    &["un", "délai", "d"],
    &["délai", "de"],
    &["délai", "d"],
    &["dans", "les"],
];

/// Words before a phrase, in its sentence, that make it a delivery fiction.
const DEEMED: &[&str] = &[
    "deemed",
    "gilt",
    "gelten",
    "réputé",
    "réputée",
    "réputés",
    "réputées",
];

/// Words that make a sentence about a remedy (two-word ones as pairs).
const REMEDY_WORDS: &[&str] = &["weiterbehandlung", "wiedereinsetzung", "restitutio"];
const REMEDY_PAIRS: &[(&str, &str)] = &[
    ("further", "processing"),
    ("re", "establishment"),
    ("poursuite", "de"),
];

/// The period `text` states, if any; see the module doc for what counts.
pub fn stated_period(text: &str) -> Stated {
    let flat = flatten(text);
    let tokens = tokenize(&flat);
    let remedy = remedy_sentences(&tokens);
    // For each token, the index of the last DEEMED word at or before it in its sentence.
    let mut last_deemed: Vec<Option<usize>> = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let carried = i
            .checked_sub(1)
            .and_then(|p| last_deemed[p].filter(|_| tokens[p].sentence == t.sentence));
        last_deemed.push(if DEEMED.contains(&t.low.as_str()) {
            Some(i)
        } else {
            carried
        });
    }

    let mut found: Vec<Phrase> = Vec::new();
    for i in 0..tokens.len() {
        let Some(count) = number(&tokens[i].low) else {
            continue;
        };
        let mut u = i + 1;
        if tokens
            .get(u)
            .is_some_and(|t| t.low == count.to_string() && t.low != tokens[i].low)
        {
            u += 1;
        }
        let Some(unit) = tokens.get(u).and_then(|t| unit(&t.low)) else {
            continue;
        };
        let Some(start) = trigger_start(&tokens, i) else {
            continue;
        };
        let sentence = tokens[i].sentence;
        let deemed = start
            .checked_sub(1)
            .and_then(|p| last_deemed[p])
            .is_some_and(|d| tokens[d].sentence == sentence);
        if deemed || remedy.get(sentence).copied().unwrap_or(false) {
            continue;
        }
        let quote: String = flat[tokens[start].start..tokens[u].end]
            .chars()
            .take(MAX_QUOTE_CHARS)
            .collect();
        found.push(Phrase {
            period: Period { count, unit },
            quote,
        });
    }

    let mut distinct: Vec<Phrase> = Vec::new();
    for p in found {
        if !distinct.iter().any(|d| d.period == p.period) {
            distinct.push(p);
        }
    }
    match distinct.len() {
        0 => Stated::None,
        1 => distinct.pop().map_or(Stated::None, Stated::One),
        _ => Stated::Several(distinct),
    }
}

/// A word of the flattened text: lower case, its byte range, and its sentence number.
struct Token {
    low: String,
    start: usize,
    end: usize,
    sentence: usize,
}

/// Joins words hyphenated at a line end, drops soft hyphens, collapses white space.
fn flatten(text: &str) -> String {
    let chars: Vec<char> = text.chars().filter(|&c| c != '\u{ad}').collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '-' | '\u{2010}') && i > 0 && chars[i - 1].is_alphabetic() {
            // A hyphen, then blanks with a line break among them, then a lower-case letter.
            let mut j = i + 1;
            let mut newline = false;
            while j < chars.len() && chars[j].is_whitespace() {
                newline |= chars[j] == '\n';
                j += 1;
            }
            if newline && chars.get(j).is_some_and(|c| c.is_lowercase()) {
                i = j;
                continue;
            }
        }
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn tokenize(flat: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut sentence = 0;
    let mut start: Option<usize> = None;
    let push = |tokens: &mut Vec<Token>, s: usize, e: usize, sentence: usize| {
        tokens.push(Token {
            low: flat[s..e].to_lowercase(),
            start: s,
            end: e,
            sentence,
        });
    };
    for (at, c) in flat.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(at);
            continue;
        }
        if let Some(s) = start.take() {
            push(&mut tokens, s, at, sentence);
        }
        if matches!(c, '.' | ';' | '!' | '?') {
            sentence += 1;
        }
    }
    if let Some(s) = start {
        push(&mut tokens, s, flat.len(), sentence);
    }
    tokens
}

/// For each sentence, whether it is about a remedy.
fn remedy_sentences(tokens: &[Token]) -> Vec<bool> {
    let mut out = vec![false; tokens.last().map_or(0, |t| t.sentence + 1)];
    for (i, t) in tokens.iter().enumerate() {
        let pair = tokens
            .get(i + 1)
            .filter(|n| n.sentence == t.sentence)
            .is_some_and(|n| REMEDY_PAIRS.contains(&(t.low.as_str(), n.low.as_str())));
        if pair || REMEDY_WORDS.contains(&t.low.as_str()) {
            out[t.sentence] = true;
        }
    }
    out
}

/// The first token of the longest trigger that ends right before token `i`, in its sentence.
fn trigger_start(tokens: &[Token], i: usize) -> Option<usize> {
    TRIGGERS
        .iter()
        .filter_map(|words| {
            let start = i.checked_sub(words.len())?;
            let run = &tokens[start..i];
            let same = run.iter().all(|t| t.sentence == tokens[i].sentence);
            (same && run.iter().zip(words.iter()).all(|(t, w)| t.low == *w)).then_some(start)
        })
        .min()
}

/// A count: digits 1–999 or a number word one to twelve.
fn number(word: &str) -> Option<u32> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return (word.len() <= 3)
            .then(|| word.parse().ok())
            .flatten()
            .filter(|&n| n > 0);
    }
    let n = match word {
        "one" | "ein" | "eine" | "einer" | "eines" | "einem" | "einen" | "un" | "une" => 1,
        "two" | "zwei" | "deux" => 2,
        "three" | "drei" | "trois" => 3,
        "four" | "vier" | "quatre" => 4,
        "five" | "fünf" | "fuenf" | "cinq" => 5,
        "six" | "sechs" => 6,
        "seven" | "sieben" | "sept" => 7,
        "eight" | "acht" | "huit" => 8,
        "nine" | "neun" | "neuf" => 9,
        "ten" | "zehn" | "dix" => 10,
        "eleven" | "elf" | "onze" => 11,
        "twelve" | "zwölf" | "zwoelf" | "douze" => 12,
        _ => return None,
    };
    Some(n)
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "day" | "days" | "tag" | "tage" | "tagen" | "tages" | "jour" | "jours" => Unit::Days,
        "week" | "weeks" | "woche" | "wochen" | "semaine" | "semaines" => Unit::Weeks,
        "month" | "months" | "monat" | "monate" | "monaten" | "monats" | "mois" => Unit::Months,
        "year" | "years" | "jahr" | "jahre" | "jahren" | "jahres" | "an" | "ans" | "année" | "années" => {
            Unit::Years
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(n: u32) -> Period {
        Period {
            count: n,
            unit: Unit::Months,
        }
    }

    fn one(text: &str) -> Option<(Period, String)> {
        match stated_period(text) {
            Stated::One(p) => Some((p.period, p.quote)),
            _ => None,
        }
    }

    #[test]
    fn the_phrasings_of_epo_letters_in_three_languages() {
        let days = |n| Period {
            count: n,
            unit: Unit::Days,
        };
        let cases: &[(&str, Period, &str)] = &[
            (
                "You are invited to file your observations within a period of four months from the notification of this communication.",
                months(4),
                "within a period of four months",
            ),
            (
                "Please reply within two months of notification of this communication.",
                months(2),
                "within two months",
            ),
            (
                "... within a time limit of 2 months.",
                months(2),
                "within a time limit of 2 months",
            ),
            (
                "The applicant is given a period of 6 months to reply.",
                months(6),
                "a period of 6 months",
            ),
            (
                "within a time-limit of one month",
                months(1),
                "within a time-limit of one month",
            ),
            (
                "within a period of four (4) months",
                months(4),
                "within a period of four (4) months",
            ),
            (
                "Sie werden aufgefordert, innerhalb einer Frist von vier Monaten Stellung zu nehmen.",
                months(4),
                "innerhalb einer Frist von vier Monaten",
            ),
            (
                "innerhalb von zwei Monaten nach Zustellung dieses Bescheids",
                months(2),
                "innerhalb von zwei Monaten",
            ),
            ("innerhalb eines Monats", months(1), "innerhalb eines Monats"),
            ("binnen 10 Tagen", days(10), "binnen 10 Tagen"),
            (
                "einer Frist von 6 Monaten",
                months(6),
                "einer Frist von 6 Monaten",
            ),
            (
                "Vous êtes invité à répondre dans un délai de quatre mois.",
                months(4),
                "dans un délai de quatre mois",
            ),
            (
                "dans un délai de deux mois à compter de la signification de la présente notification",
                months(2),
                "dans un délai de deux mois",
            ),
            ("dans un délai d'un mois", months(1), "dans un délai d'un mois"),
            (
                "DANS UN DÉLAI DE SIX MOIS",
                months(6),
                "DANS UN DÉLAI DE SIX MOIS",
            ),
            // Broken across lines, and hyphenated at a line end.
            (
                "to correct the deficiencies within a\nperiod of four mon-\nths from the notification",
                months(4),
                "within a period of four months",
            ),
            (
                "innerhalb einer Frist\r\n  von  vier Mo-\n  naten",
                months(4),
                "innerhalb einer Frist von vier Monaten",
            ),
            (
                "within a period of\u{ad} 3 weeks",
                Period {
                    count: 3,
                    unit: Unit::Weeks,
                },
                "within a period of 3 weeks",
            ),
            (
                "within one year",
                Period {
                    count: 1,
                    unit: Unit::Years,
                },
                "within one year",
            ),
        ];
        for (text, period, quote) in cases {
            assert_eq!(one(text), Some((*period, (*quote).to_owned())), "{text}");
        }
    }

    #[test]
    fn the_same_period_twice_is_one_and_different_periods_are_several() {
        let same =
            "Reply within a period of four months. The fees must be paid within the period of four months.";
        assert_eq!(
            one(same),
            Some((months(4), "within a period of four months".to_owned()))
        );
        let Stated::Several(phrases) =
            stated_period("Reply within two months. Alternatively, within a period of 4 months.")
        else {
            panic!("several periods");
        };
        let periods: Vec<Period> = phrases.iter().map(|p| p.period).collect();
        assert_eq!(periods, [months(2), months(4)]);
    }

    #[test]
    fn periods_that_are_not_the_reply_period_are_not_read() {
        for text in [
            "",
            "Communication pursuant to Article 94(3) EPC",
            "The communication is deemed to be delivered within ten days of posting.",
            "Der Bescheid gilt innerhalb von zehn Tagen als zugestellt.",
            "La notification est réputée signifiée dans un délai de dix jours.",
            "Further processing may be requested within two months of notification of the communication concerning the loss of rights.",
            "Die Weiterbehandlung kann innerhalb von zwei Monaten beantragt werden.",
            "Re-establishment of rights must be requested within two months of the removal of the cause of non-compliance.",
            "La poursuite de la procédure peut être requise dans un délai de deux mois.",
            "The time limit may be extended by two months on request.",
            "Rule 71(3) EPC; four months have elapsed.",
            "within 0 months",
            "within 1000 months",
            "within a period of many months",
        ] {
            assert_eq!(stated_period(text), Stated::None, "{text}");
        }
        // The exclusion is the sentence's: the next sentence is read.
        let text = "Further processing: within two months. You must reply within four months.";
        assert_eq!(one(text), Some((months(4), "within four months".to_owned())));
    }

    #[test]
    fn a_quote_is_at_most_200_characters() {
        let text = format!("within {} four months", "a ".repeat(300));
        assert_eq!(stated_period(&text), Stated::None);
        let long = format!("within a period of {}", "1".repeat(250));
        assert_eq!(stated_period(&long), Stated::None);
        let Some((_, quote)) = one("within a period of 4 months") else {
            panic!("one");
        };
        assert!(quote.chars().count() <= MAX_QUOTE_CHARS);
    }
}
