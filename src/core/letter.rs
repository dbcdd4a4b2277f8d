//! STUB (not committed)
use crate::core::deadline::Period;
pub struct Phrase {
    pub period: Period,
    pub quote: String,
}
pub enum Stated {
    None,
    One(Phrase),
    Several(Vec<Phrase>),
}
pub fn stated_period(text: &str) -> Stated {
    if text.contains("within a period of four months") {
        Stated::One(Phrase {
            period: "4m".parse().unwrap(),
            quote: "within a period of four months".into(),
        })
    } else if text.contains("six months") {
        Stated::One(Phrase {
            period: "6m".parse().unwrap(),
            quote: "within a period of six months".into(),
        })
    } else {
        Stated::None
    }
}
