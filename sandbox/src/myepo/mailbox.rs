//! The company Mailbox: communications with their `read`/`handled` flags, and the activity
//! log the EPO keeps.
//!
//! Communications are never deleted, so they live in a vector in creation order (the stable
//! order E1 pages through) with an id index beside it.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::hash::{keyed, splitmix64};
use super::pdf::Pdf;

/// The activity log keeps this many entries; older ones are dropped (their `seq` numbers
/// stay taken), so a long demo cannot grow the state file without bound.
pub const MAX_ACTIVITY: usize = 100_000;

/// Seeded and default-sized files are 20 KB to 300 KB, like real Mailbox letters.
const SEED_SIZE_MIN: u64 = 20_000;
const SEED_SIZE_SPAN: u64 = 280_001;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Document {
    /// Unique only within its communication (`d1`, `d2`, …), like the §5 example.
    pub document_id: String,
    pub file_name: String,
    /// The exact size of the generated PDF.
    pub file_size: u64,
    /// A download link injected by a test (listed in every profile instead of the sandbox's
    /// own), to model an office whose metadata points elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Communication {
    pub id: String,
    /// Creation sequence number: the listing order.
    pub seq: u64,
    pub application_number: String,
    pub procedure: String,
    pub document_code: String,
    pub document_title: String,
    pub dispatch_date: NaiveDate,
    pub delivery_date_time: DateTime<Utc>,
    pub recipient_name: String,
    pub recipient_id: String,
    pub user_reference: Option<String>,
    pub read: bool,
    pub handled: bool,
    /// At least one. The flat profile exposes the first only.
    pub documents: Vec<Document>,
    /// The letter's body a test chose, written on every document's page instead of the
    /// form's own text (absent in state saved before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letter: Option<Vec<String>>,
}

impl Communication {
    /// The key of a document's PDF bytes: the communication id for the first, `id/docId`
    /// for further ones.
    fn pdf_key(&self, index: usize) -> String {
        match index {
            0 => self.id.clone(),
            _ => format!("{}/{}", self.id, self.documents[index].document_id),
        }
    }

    /// The page's text: a header naming the communication, then the letter's body (the one
    /// a test chose, or the form's text in the case's language).
    fn pdf_lines(&self, index: usize, file_name: &str) -> Vec<String> {
        let mut lines = vec![
            "European Patent Office - MyEPO Mailbox (sandbox copy, not an official document)".to_owned(),
            format!("Communication {}", self.id),
            format!("EPO Form {}: {}", self.document_code, self.document_title),
            format!("Application number: {}", self.application_number),
            format!("Dispatch date: {}", self.dispatch_date),
            format!("Recipient: {}", self.recipient_name),
            format!("Document {} of {}: {file_name}", index + 1, self.documents.len()),
        ];
        match &self.letter {
            Some(letter) => lines.extend(letter.iter().cloned()),
            None => lines.extend(
                letter_body(&self.document_code, language_of(&self.application_number))
                    .iter()
                    .map(|l| (*l).to_owned()),
            ),
        }
        lines
    }

    /// The PDF of document `index` (which must exist).
    pub fn pdf(&self, seed: u64, index: usize) -> Pdf {
        let doc = &self.documents[index];
        let lines = self.pdf_lines(index, &doc.file_name);
        Pdf::new(seed, &self.pdf_key(index), &lines, doc.file_size)
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    Listed,
    Downloaded,
    MarkedHandled,
    /// A person took the handled flag off again in the web Mailbox.
    MarkedUnhandled,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The B2B API (mailroom).
    Api,
    /// A person in the MyEPO web Mailbox (simulated through the scenario API).
    Web,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Activity {
    pub seq: u64,
    /// Virtual-clock time.
    pub at: DateTime<Utc>,
    pub action: Action,
    pub communication_id: String,
    pub actor: Actor,
}

/// What marking one id did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MarkStatus {
    Handled,
    AlreadyHandled,
    NotFound,
}

/// E1 filters; `None` = no filter.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub handled: Option<bool>,
    pub read: Option<bool>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Already passed through [`normalize_application_number`].
    pub application_number: Option<String>,
}

impl Filter {
    fn matches(&self, c: &Communication) -> bool {
        self.handled.is_none_or(|h| c.handled == h)
            && self.read.is_none_or(|r| c.read == r)
            && self.from.is_none_or(|d| c.dispatch_date >= d)
            && self.to.is_none_or(|d| c.dispatch_date <= d)
            && self
                .application_number
                .as_deref()
                .is_none_or(|a| normalize_application_number(&c.application_number) == a)
    }
}

/// The comparison form of an application number for the `applicationNumber` filter:
/// upper case, without spaces, `/`, a leading `EP` or a trailing `.N` check digit, so that
/// `EP10167109`, `EP 10167109.7` and `10167109.7` all find `EP10167109.7`, and
/// `PCT/EP2024/071234` finds itself.
pub fn normalize_application_number(s: &str) -> String {
    let mut n: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '/')
        .collect::<String>()
        .to_ascii_uppercase();
    let bytes = n.as_bytes();
    if bytes.len() >= 2 && bytes[bytes.len() - 2] == b'.' && bytes[bytes.len() - 1].is_ascii_digit() {
        n.truncate(n.len() - 2);
    }
    match n.strip_prefix("EP") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest.to_owned(),
        _ => n,
    }
}

/// The check digit of an EP application number filed from 2002 on: digits weighted
/// 1, 2, 1, 2, … from the left, the digit sums of the products added up, and the result
/// the difference to the next multiple of ten (rule published by EPO OPS support).
pub fn ep_check_digit(number: &str) -> u32 {
    let sum: u32 = number
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            let p = if i % 2 == 0 { d } else { d * 2 };
            p / 10 + p % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

/// The language of a case's proceedings, which its letters are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    En,
    De,
    Fr,
}

/// The language of the letters for `application_number`: its seeded case's, else English.
fn language_of(application_number: &str) -> Language {
    let bare = application_number.split('.').next().unwrap_or_default();
    CASES
        .iter()
        .find(|c| c.number == bare)
        .map_or(Language::En, |c| c.language)
}

/// The default body of a letter of form `code` in `language`; empty for a code the sandbox
/// does not know.
pub fn letter_body(code: &str, language: Language) -> &'static [&'static str] {
    FORMS
        .iter()
        .find(|f| f.code == code)
        .map_or(&[], |f| match language {
            Language::En => f.en,
            Language::De => f.de,
            Language::Fr => f.fr,
        })
}

/// A case the seeded mailbox refers to.
struct Case {
    /// EP without the check digit, or a PCT number.
    number: &'static str,
    procedure: &'static str,
    recipient_name: &'static str,
    recipient_id: &'static str,
    user_reference: Option<&'static str>,
    language: Language,
}

/// EP10167109 is EP2400812; EP14735465 is EP3000000, a Euro-PCT application from
/// WO2014206532: the sample cases of `shared/ops-samples`. The PCT and the third EP number
/// are made up.
const CASES: [Case; 4] = [
    Case {
        number: "EP10167109",
        procedure: "EP",
        recipient_name: "Dr. A. Example",
        recipient_id: "123456",
        user_reference: Some("MR-0812-EP"),
        language: Language::En,
    },
    Case {
        number: "EP14735465",
        procedure: "EP",
        recipient_name: "Example & Partners Patentanw\u{e4}lte mbB",
        recipient_id: "A-789",
        user_reference: Some("MR-3000-EP"),
        language: Language::De,
    },
    Case {
        number: "PCT/EP2024/071234",
        procedure: "PCT",
        recipient_name: "Example & Partners Patentanw\u{e4}lte mbB",
        recipient_id: "A-789",
        user_reference: Some("MR-0915-WO"),
        language: Language::En,
    },
    Case {
        number: "EP23184567",
        procedure: "EP",
        recipient_name: "Dr. A. Example",
        recipient_id: "123456",
        user_reference: None,
        language: Language::Fr,
    },
];

/// An EPO form the sandbox knows: its code, its title, and the body of its letter in the
/// three languages of proceedings, worded as the EPO words it (a few lines, each at most 100
/// characters, the width of the page).
struct Form {
    code: &'static str,
    title: &'static str,
    en: &'static [&'static str],
    de: &'static [&'static str],
    fr: &'static [&'static str],
}

/// EPO Form codes, their titles and letters. Only Art. 94(3) (2001), Rule 71(3) (2004) and
/// Rules 161(1)/162 (1226AA) state a period for the reply; the others state none that runs
/// from their notification: 1176 names the Rule 51(2) six months from the renewal fee's due
/// date without a period phrase, and PCT/ISA/220 the Article 19 time limit ("normally two
/// months from the date of transmittal", which also depends on the priority date). 1226AA is
/// last so that the indices of [`SEED_PLAN`] keep their forms.
const FORMS: [Form; 9] = [
    Form {
        code: "1133",
        title: "Information on forthcoming publication",
        en: &[
            "Information on forthcoming publication",
            "The European patent application identified above will be published on the date indicated",
            "in the register. The publication will comprise the description, the claims and any drawings.",
        ],
        de: &[
            "Mitteilung über die bevorstehende Veröffentlichung",
            "Die oben genannte europäische Patentanmeldung wird an dem im Register angegebenen Tag",
            "veröffentlicht. Die Veröffentlichung umfasst die Beschreibung, die Ansprüche und die Zeichnungen.",
        ],
        fr: &[
            "Information relative à la publication prochaine",
            "La demande de brevet européen mentionnée ci-dessus sera publiée à la date indiquée dans le",
            "registre. La publication comprendra la description, les revendications et les dessins.",
        ],
    },
    Form {
        code: "1176",
        title: "Notice drawing attention to Article 86(2) EPC",
        en: &[
            "Notice drawing attention to the payment of the renewal fee and additional fee",
            "The renewal fee for the application identified above was not paid by the due date. It may",
            "still be validly paid up to the last day of the sixth month after the due date, provided",
            "that the additional fee is paid at the same time (Article 86(1) and Rule 51(2) EPC).",
        ],
        de: &[
            "Hinweis auf die Zahlung der Jahresgebühr und der Zuschlagsgebühr",
            "Die Jahresgebühr für die oben genannte Anmeldung wurde nicht bis zum Fälligkeitstag entrichtet.",
            "Sie kann noch bis zum letzten Tag des sechsten Monats nach Fälligkeit wirksam entrichtet",
            "werden, sofern zugleich die Zuschlagsgebühr entrichtet wird (Artikel 86(1), Regel 51(2) EPÜ).",
        ],
        fr: &[
            "Notification attirant l'attention sur le paiement de la taxe annuelle et de la surtaxe",
            "La taxe annuelle pour la demande susmentionnée n'a pas été acquittée à l'échéance. Elle peut",
            "encore être valablement acquittée jusqu'au dernier jour du sixième mois suivant l'échéance,",
            "sous réserve du paiement simultané de la surtaxe (article 86(1) et règle 51(2) CBE).",
        ],
    },
    Form {
        code: "2001",
        title: "Communication from the Examining Division",
        en: &[
            "Communication pursuant to Article 94(3) EPC",
            "The examination of the above-identified application has revealed that it does not meet the",
            "requirements of the European Patent Convention for the reasons set out in the annex.",
            "You are invited to file your observations and, insofar as the deficiencies are such as to be",
            "rectifiable, to correct the indicated deficiencies within a period of four months from the",
            "notification of this communication. If you fail to reply in due time, the application will",
            "be deemed to be withdrawn (Article 94(4) EPC).",
        ],
        de: &[
            "Bescheid gemäß Artikel 94(3) EPÜ",
            "Die Prüfung der oben genannten Anmeldung hat ergeben, dass sie den Erfordernissen des",
            "Europäischen Patentübereinkommens aus den in der Anlage genannten Gründen nicht genügt.",
            "Sie werden aufgefordert, innerhalb einer Frist von vier Monaten nach Zustellung dieses",
            "Bescheids Ihre Stellungnahme einzureichen und die festgestellten Mängel zu beseitigen.",
            "Wird die Frist versäumt, so gilt die Anmeldung als zurückgenommen (Artikel 94(4) EPÜ).",
        ],
        fr: &[
            "Notification établie conformément à l'article 94(3) CBE",
            "L'examen de la demande susmentionnée a révélé qu'elle ne satisfait pas aux exigences de la",
            "Convention sur le brevet européen, pour les motifs exposés dans l'annexe.",
            "Vous êtes invité à présenter vos observations et à corriger les irrégularités constatées dans",
            "un délai de quatre mois à compter de la signification de la présente notification.",
            "À défaut, la demande est réputée retirée (article 94(4) CBE).",
        ],
    },
    Form {
        code: "2004",
        title: "Communication under Rule 71(3) EPC",
        en: &[
            "Communication under Rule 71(3) EPC",
            "The Examining Division intends to grant a European patent on the basis of the text and",
            "drawings indicated in the annex. You are requested within a period of four months from",
            "notification of this communication to pay the fee for grant and publication and to file a",
            "translation of the claims in the two official languages of the EPO other than the language",
            "of the proceedings.",
        ],
        de: &[
            "Mitteilung gemäß Regel 71(3) EPÜ",
            "Die Prüfungsabteilung beabsichtigt, ein europäisches Patent auf der Grundlage der in der",
            "Anlage angegebenen Fassung zu erteilen. Sie werden aufgefordert, innerhalb einer Frist von",
            "vier Monaten nach Zustellung dieser Mitteilung die Erteilungs- und Veröffentlichungsgebühr",
            "zu entrichten und eine Übersetzung der Patentansprüche in den beiden anderen Amtssprachen",
            "einzureichen.",
        ],
        fr: &[
            "Notification au titre de la règle 71(3) CBE",
            "La division d'examen envisage de délivrer un brevet européen sur la base du texte indiqué en",
            "annexe. Vous êtes invité, dans un délai de quatre mois à compter de la signification de la",
            "présente notification, à acquitter la taxe de délivrance et de publication et à produire une",
            "traduction des revendications dans les deux autres langues officielles de l'OEB.",
        ],
    },
    Form {
        code: "2006A",
        title: "Decision to grant a European patent",
        en: &[
            "Decision to grant a European patent pursuant to Article 97(1) EPC",
            "Following the examination of the application, a European patent is granted for the",
            "designated Contracting States. The mention of the grant will be published in the European",
            "Patent Bulletin.",
        ],
        de: &[
            "Entscheidung über die Erteilung eines europäischen Patents gemäß Artikel 97(1) EPÜ",
            "Nach Prüfung der Anmeldung wird ein europäisches Patent für die benannten Vertragsstaaten",
            "erteilt. Der Hinweis auf die Erteilung wird im Europäischen Patentblatt bekannt gemacht.",
        ],
        fr: &[
            "Décision de délivrance d'un brevet européen conformément à l'article 97(1) CBE",
            "À l'issue de l'examen de la demande, un brevet européen est délivré pour les États",
            "contractants désignés. La mention de la délivrance sera publiée au Bulletin européen des",
            "brevets.",
        ],
    },
    Form {
        code: "2907",
        title: "Refund of fees",
        en: &[
            "Refund of fees",
            "The fees listed below will be refunded to the deposit account or bank account indicated.",
        ],
        de: &[
            "Rückerstattung von Gebühren",
            "Die nachstehend aufgeführten Gebühren werden auf das angegebene laufende Konto zurückgezahlt.",
        ],
        fr: &[
            "Remboursement de taxes",
            "Les taxes énumérées ci-dessous seront remboursées sur le compte courant indiqué.",
        ],
    },
    Form {
        code: "PCT/ISA/220",
        title: "Notification of transmittal of the international search report and the written opinion",
        en: &[
            "Notification of transmittal of the international search report and the written opinion",
            "The applicant is hereby notified that the international search report and the written",
            "opinion of the International Searching Authority have been established and are transmitted",
            "herewith. Amendments under Article 19: the time limit for filing them is normally two months",
            "from the date of transmittal of the international search report (Rule 46.1 PCT).",
        ],
        de: &[
            "Übermittlung des internationalen Recherchenberichts und des schriftlichen Bescheids",
            "Dem Anmelder wird mitgeteilt, dass der internationale Recherchenbericht und der schriftliche",
            "Bescheid der Internationalen Recherchenbehörde erstellt wurden und hiermit übermittelt werden.",
        ],
        fr: &[
            "Notification de la transmission du rapport de recherche internationale et de l'opinion écrite",
            "Le déposant est informé que le rapport de recherche internationale et l'opinion écrite de",
            "l'administration chargée de la recherche internationale ont été établis et sont transmis.",
        ],
    },
    Form {
        code: "1507N",
        title: "Extended European search report",
        en: &[
            "Extended European search report",
            "The extended European search report, consisting of the search report and the search",
            "opinion, is enclosed. Copies of the documents cited are attached.",
        ],
        de: &[
            "Erweiterter europäischer Recherchenbericht",
            "Der erweiterte europäische Recherchenbericht, bestehend aus dem Recherchenbericht und der",
            "Stellungnahme zur Recherche, ist beigefügt. Kopien der genannten Druckschriften liegen bei.",
        ],
        fr: &[
            "Rapport de recherche européenne élargi",
            "Le rapport de recherche européenne élargi, comprenant le rapport de recherche et l'opinion",
            "sur la recherche, est joint. Des copies des documents cités sont annexées.",
        ],
    },
    Form {
        code: "1226AA",
        title: "Communication pursuant to Rules 161(1) and 162 EPC",
        en: &[
            "Communication pursuant to Rules 161(1) and 162 EPC",
            "The applicant is invited to correct any deficiencies noted in the written opinion of the",
            "International Searching Authority and to amend the application within a period of six",
            "months after notification of this communication (Rule 161(1) EPC). Claims fees for claims",
            "in excess of fifteen must be paid within the same period (Rule 162(2) EPC).",
        ],
        de: &[
            "Mitteilung gemäß den Regeln 161(1) und 162 EPÜ",
            "Der Anmelder wird aufgefordert, innerhalb einer Frist von sechs Monaten nach Zustellung",
            "dieser Mitteilung die im schriftlichen Bescheid der Internationalen Recherchenbehörde",
            "festgestellten Mängel zu beseitigen (Regel 161(1) EPÜ). Anspruchsgebühren für mehr als",
            "fünfzehn Patentansprüche sind innerhalb derselben Frist zu entrichten (Regel 162(2) EPÜ).",
        ],
        fr: &[
            "Notification conformément aux règles 161(1) et 162 CBE",
            "Le demandeur est invité à corriger les irrégularités relevées dans l'opinion écrite de",
            "l'administration chargée de la recherche internationale dans un délai de six mois à compter",
            "de la signification de la présente notification (règle 161(1) CBE). Les taxes de",
            "revendication doivent être acquittées dans le même délai (règle 162(2) CBE).",
        ],
    },
];

/// The seeded mailbox, oldest first: (form index, case index, number of documents). A
/// Rule 71(3) communication comes with the text intended for grant and an examination
/// communication with its annex, so those carry two documents.
const SEED_PLAN: [(usize, usize, usize); 12] = [
    (2, 1, 2),
    (6, 2, 1),
    (0, 3, 1),
    (3, 0, 2),
    (1, 1, 1),
    (5, 0, 1),
    (7, 3, 1),
    (4, 0, 1),
    (2, 3, 2),
    (5, 1, 1),
    (1, 3, 1),
    (0, 1, 1),
];

/// A communication to create; `None` fields get the defaults described at each field.
#[derive(Clone, Debug, Default)]
pub struct NewCommunication {
    /// Default: the case of the next seed-plan entry.
    pub application_number: Option<String>,
    /// Default: the form of the next seed-plan entry.
    pub document_code: Option<String>,
    /// Default: the form's title, or `EPO Form <code>` for a code the sandbox does not know.
    pub title: Option<String>,
    /// Default: the virtual clock's date, delivered now.
    pub dispatch_date: Option<NaiveDate>,
    /// Default: a pseudo-random 20 KB to 300 KB. Raised to the PDF minimum when smaller.
    pub size: Option<u64>,
    /// Default: 1. Ignored when `document_specs` is not empty.
    pub documents: Option<usize>,
    /// The documents, one each, with the fields a test chose (ids may repeat or sanitise
    /// alike: the sandbox serves the first document of a repeated id).
    pub document_specs: Vec<NewDocument>,
    pub read: bool,
    /// Default: the form's text in the case's language. Lines longer than the page holds
    /// are cut by the PDF.
    pub letter: Option<Vec<String>>,
}

/// One document of a [`NewCommunication`]; `None` fields get the defaults.
#[derive(Clone, Debug, Default)]
pub struct NewDocument {
    /// Default: `d<position>`.
    pub document_id: Option<String>,
    /// Default: the communication's `size`.
    pub size: Option<u64>,
    pub href: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Mailbox {
    pub seed: u64,
    pub next_seq: u64,
    pub communications: Vec<Communication>,
    pub activity: VecDeque<Activity>,
    pub next_activity_seq: u64,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Mailbox {
    pub fn empty(seed: u64) -> Self {
        Mailbox {
            seed,
            next_seq: 1,
            communications: Vec::new(),
            activity: VecDeque::new(),
            next_activity_seq: 1,
            index: HashMap::new(),
        }
    }

    /// The default mailbox: `count` unhandled communications dispatched over the ten days up
    /// to `now`, every third one already read.
    pub fn seeded(seed: u64, count: usize, now: DateTime<Utc>) -> Self {
        let mut m = Mailbox::empty(seed);
        let today = now.date_naive();
        let span = count.saturating_sub(1).max(1) as u64;
        for i in 0..count {
            let days_ago = 10 - (i as u64 * 10) / span;
            let (form, case, docs) = SEED_PLAN[i % SEED_PLAN.len()];
            m.create(
                NewCommunication {
                    application_number: Some(with_check_digit(CASES[case].number)),
                    document_code: Some(FORMS[form].code.to_owned()),
                    dispatch_date: Some(today.checked_sub_days(Days::new(days_ago)).unwrap_or(today)),
                    documents: Some(docs),
                    read: i % 3 == 1,
                    ..NewCommunication::default()
                },
                now,
            );
        }
        m
    }

    /// Rebuilds the id index after deserialising, and checks the invariants.
    pub fn reindex(&mut self) -> Result<(), String> {
        self.index.clear();
        for (i, c) in self.communications.iter().enumerate() {
            if c.documents.is_empty() {
                return Err(format!("communication {} has no document", c.id));
            }
            if self.index.insert(c.id.clone(), i).is_some() {
                return Err(format!("communication id {} appears twice", c.id));
            }
        }
        let max_seq = self.communications.iter().map(|c| c.seq).max().unwrap_or(0);
        self.next_seq = self.next_seq.max(max_seq + 1);
        let max_act = self.activity.back().map_or(0, |a| a.seq);
        self.next_activity_seq = self.next_activity_seq.max(max_act + 1);
        Ok(())
    }

    /// A UUID-v4-shaped id that is a pure function of the seed and the sequence number.
    fn id_for(&self, seq: u64) -> String {
        let a = (keyed(self.seed, "communication", seq) & !0xF000) | 0x4000;
        let b = (splitmix64(a ^ seq) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    pub fn create(&mut self, new: NewCommunication, now: DateTime<Utc>) -> &Communication {
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = self.id_for(seq);
        let (plan_form, plan_case, _) = SEED_PLAN[(seq as usize - 1) % SEED_PLAN.len()];
        let application_number = new
            .application_number
            .unwrap_or_else(|| with_check_digit(CASES[plan_case].number));
        let bare = application_number.split('.').next().unwrap_or_default();
        let case = CASES.iter().find(|c| c.number == bare);
        let procedure = match case {
            Some(c) => c.procedure,
            None if application_number.to_ascii_uppercase().starts_with("PCT") => "PCT",
            None => "EP",
        };
        let (recipient_name, recipient_id) = case
            .map_or((CASES[0].recipient_name, CASES[0].recipient_id), |c| {
                (c.recipient_name, c.recipient_id)
            });
        let document_code = new
            .document_code
            .unwrap_or_else(|| FORMS[plan_form].code.to_owned());
        let document_title = new.title.unwrap_or_else(|| {
            FORMS
                .iter()
                .find(|f| f.code == document_code)
                .map_or_else(|| format!("EPO Form {document_code}"), |f| f.title.to_owned())
        });
        let jitter = keyed(self.seed, &id, 6);
        let (dispatch_date, delivery_date_time) = match new.dispatch_date {
            // The EPO delivers overnight; a seeded letter arrives between 05:00 and 06:00 UTC.
            Some(d) => {
                let t = NaiveTime::from_num_seconds_from_midnight_opt(5 * 3600 + (jitter % 3600) as u32, 0)
                    .unwrap_or(NaiveTime::MIN);
                (d, d.and_time(t).and_utc())
            }
            None => {
                let secs = now.timestamp();
                let now_s = DateTime::from_timestamp(secs, 0).unwrap_or(now);
                (now_s.date_naive(), now_s)
            }
        };
        let base_name = format!(
            "{}_{}_{}",
            file_stem(&application_number),
            file_stem(&document_code),
            dispatch_date.format("%Y%m%d")
        );
        let specs = if new.document_specs.is_empty() {
            vec![NewDocument::default(); new.documents.unwrap_or(1).max(1)]
        } else {
            new.document_specs
        };
        let documents = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Document {
                document_id: spec.document_id.unwrap_or_else(|| format!("d{}", i + 1)),
                file_name: match i {
                    0 => format!("{base_name}.pdf"),
                    _ => format!("{base_name}_{}.pdf", i + 1),
                },
                file_size: spec.size.or(new.size).unwrap_or_else(|| {
                    SEED_SIZE_MIN + keyed(self.seed, &id, 5 + 16 * i as u64) % SEED_SIZE_SPAN
                }),
                href: spec.href,
            })
            .collect();
        let mut c = Communication {
            id: id.clone(),
            seq,
            user_reference: case.and_then(|c| c.user_reference).map(str::to_owned),
            procedure: procedure.to_owned(),
            application_number,
            document_code,
            document_title,
            dispatch_date,
            delivery_date_time,
            recipient_name: recipient_name.to_owned(),
            recipient_id: recipient_id.to_owned(),
            read: new.read,
            handled: false,
            documents,
            letter: new.letter,
        };
        // Raise sizes below the PDF minimum now, so `fileSize` is always the real size.
        for i in 0..c.documents.len() {
            let lines = c.pdf_lines(i, &c.documents[i].file_name);
            let min = Pdf::min_size(self.seed, &c.pdf_key(i), &lines);
            let doc = &mut c.documents[i];
            doc.file_size = doc.file_size.max(min);
        }
        let at = self.communications.len();
        self.index.insert(id, at);
        self.communications.push(c);
        &self.communications[at]
    }

    pub fn get(&self, id: &str) -> Option<&Communication> {
        self.index.get(id).map(|&i| &self.communications[i])
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Communication> {
        self.index.get(id).map(|&i| &mut self.communications[i])
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// One E1 page: the matching total and the page items (cloned), each logged `LISTED`.
    pub fn list(
        &mut self,
        filter: &Filter,
        offset: u64,
        limit: u64,
        now: DateTime<Utc>,
    ) -> (u64, Vec<Communication>) {
        let matching = self.communications.iter().filter(|c| filter.matches(c));
        let mut total = 0u64;
        let mut page = Vec::new();
        for c in matching {
            if total >= offset && (page.len() as u64) < limit {
                page.push(c.clone());
            }
            total += 1;
        }
        for c in &page {
            self.log(Action::Listed, &c.id, Actor::Api, now);
        }
        (total, page)
    }

    /// Records a download of `id` (sets `read`), and marks it handled when asked.
    pub fn downloaded(&mut self, id: &str, set_handled: bool, now: DateTime<Utc>) {
        let Some(c) = self.get_mut(id) else {
            return;
        };
        c.read = true;
        self.log(Action::Downloaded, id, Actor::Api, now);
        if set_handled {
            self.mark(id, Actor::Api, now);
        }
    }

    pub fn mark(&mut self, id: &str, actor: Actor, now: DateTime<Utc>) -> MarkStatus {
        let Some(c) = self.get_mut(id) else {
            return MarkStatus::NotFound;
        };
        if c.handled {
            return MarkStatus::AlreadyHandled;
        }
        c.handled = true;
        self.log(Action::MarkedHandled, id, actor, now);
        MarkStatus::Handled
    }

    /// A person takes the handled flag off again (web Mailbox): the communication is listed
    /// as unhandled again. Returns false for an unknown id.
    pub fn unmark(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let Some(c) = self.get_mut(id) else {
            return false;
        };
        if c.handled {
            c.handled = false;
            self.log(Action::MarkedUnhandled, id, Actor::Web, now);
        }
        true
    }

    fn log(&mut self, action: Action, id: &str, actor: Actor, at: DateTime<Utc>) {
        self.activity.push_back(Activity {
            seq: self.next_activity_seq,
            at,
            action,
            communication_id: id.to_owned(),
            actor,
        });
        self.next_activity_seq += 1;
        while self.activity.len() > MAX_ACTIVITY {
            self.activity.pop_front();
        }
    }
}

/// `EP10167109` → `EP10167109.7`; PCT numbers and numbers with a check digit are unchanged.
fn with_check_digit(number: &str) -> String {
    match number.strip_prefix("EP") {
        Some(digits) if digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{number}.{}", ep_check_digit(digits))
        }
        _ => number.to_owned(),
    }
}

/// A file-name part: the check digit dropped, anything but ASCII letters, digits and `-`
/// dropped, `/` turned into `-` (`PCT/EP2024/071234` → `PCT-EP2024-071234`).
fn file_stem(s: &str) -> String {
    let s = s.split('.').next().unwrap_or_default();
    s.chars()
        .filter_map(|c| match c {
            '/' => Some('-'),
            c if c.is_ascii_alphanumeric() || c == '-' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-03-14T10:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn check_digits_follow_the_published_rule() {
        assert_eq!(ep_check_digit("99403122"), 7);
        assert_eq!(ep_check_digit("16839078"), 9);
        assert_eq!(with_check_digit("EP10167109"), "EP10167109.7");
        assert_eq!(with_check_digit("EP14735465"), "EP14735465.8");
        assert_eq!(with_check_digit("PCT/EP2024/071234"), "PCT/EP2024/071234");
    }

    #[test]
    fn application_numbers_normalise_for_the_filter() {
        let want = normalize_application_number("EP10167109.7");
        assert_eq!(want, "10167109");
        for v in ["EP10167109", "ep 10167109.7", "10167109.7", "EP 10 167 109"] {
            assert_eq!(normalize_application_number(v), want, "{v}");
        }
        assert_eq!(
            normalize_application_number("PCT/EP2024/071234"),
            "PCTEP2024071234"
        );
    }

    #[test]
    fn seeded_mailbox_is_deterministic_and_spread_over_ten_days() {
        let a = Mailbox::seeded(7, 12, now());
        let b = Mailbox::seeded(7, 12, now());
        assert_eq!(a.communications, b.communications);
        let c = Mailbox::seeded(8, 12, now());
        assert_ne!(a.communications[0].id, c.communications[0].id);
        let first = &a.communications[0];
        let last = &a.communications[11];
        assert_eq!((now().date_naive() - first.dispatch_date).num_days(), 10);
        assert_eq!(last.dispatch_date, now().date_naive());
        assert!(a.communications.iter().all(|c| !c.handled));
        assert_eq!(a.communications.iter().filter(|c| c.read).count(), 4);
        assert!(a.communications.iter().any(|c| c.documents.len() == 2));
        for c in &a.communications {
            assert_eq!(c.id.len(), 36);
            assert_eq!(&c.id[14..15], "4");
            for d in &c.documents {
                assert!((20_000..=300_000).contains(&d.file_size), "{}", d.file_size);
                assert!(d.file_name.ends_with(".pdf"));
            }
        }
        assert_eq!(first.application_number, "EP14735465.8");
        assert_eq!(
            first.documents[0].file_name,
            format!("EP14735465_2001_{}.pdf", first.dispatch_date.format("%Y%m%d"))
        );
    }

    #[test]
    fn tiny_sizes_are_raised_and_default_fields_are_filled() {
        let mut m = Mailbox::empty(1);
        let c = m
            .create(
                NewCommunication {
                    application_number: Some("PCT/EP2024/099999".to_owned()),
                    document_code: Some("9999".to_owned()),
                    size: Some(10),
                    ..NewCommunication::default()
                },
                now(),
            )
            .clone();
        assert_eq!(c.procedure, "PCT");
        assert_eq!(c.document_title, "EPO Form 9999");
        assert_eq!(c.dispatch_date, now().date_naive());
        assert_eq!(c.delivery_date_time, now());
        assert!(c.documents[0].file_name.starts_with("PCT-EP2024-099999_9999_"));
        let pdf = c.pdf(1, 0);
        assert_eq!(pdf.len(), c.documents[0].file_size);
        assert!(c.documents[0].file_size > 10);
    }

    #[test]
    fn every_form_has_a_letter_in_each_language_that_fits_the_page() {
        for f in &FORMS {
            for body in [f.en, f.de, f.fr] {
                assert!(!body.is_empty(), "{}", f.code);
                for line in body {
                    assert!(line.chars().count() <= 100, "{}: {line}", f.code);
                }
            }
        }
        assert_eq!(
            FORMS.last().map(|f| (f.code, f.title)),
            Some(("1226AA", "Communication pursuant to Rules 161(1) and 162 EPC"))
        );
    }

    #[test]
    fn a_letter_is_in_the_cases_language_unless_a_test_chose_one() {
        let m = Mailbox::seeded(7, 12, now());
        let page = |c: &Communication| c.pdf_lines(0, "f.pdf").join("\n");
        // Seed plan: 2001 for EP14735465 (German), 2004 for EP10167109 (English), 2001 for
        // EP23184567 (French).
        assert!(page(&m.communications[0]).contains("innerhalb einer Frist von vier Monaten"));
        assert!(page(&m.communications[3]).contains("within a period of four months"));
        assert!(page(&m.communications[8]).contains("dans\nun d\u{e9}lai de quatre mois"));

        let mut m = Mailbox::empty(1);
        let chosen = vec!["Reply within two months.".to_owned()];
        let c = m
            .create(
                NewCommunication {
                    document_code: Some("2001".to_owned()),
                    letter: Some(chosen.clone()),
                    ..NewCommunication::default()
                },
                now(),
            )
            .clone();
        let lines = c.pdf_lines(0, "f.pdf");
        assert_eq!(lines.last(), chosen.last());
        assert!(!lines.join(" ").contains("four months"));
        assert_eq!(
            c.pdf(1, 0).len(),
            c.documents[0].file_size,
            "the size was raised for the chosen letter"
        );

        // State saved before letters existed still loads, and a default letter is not saved.
        let mut saved = serde_json::to_value(&m.communications[0]).expect("json");
        saved.as_object_mut().expect("object").remove("letter");
        let old: Communication = serde_json::from_value(saved).expect("old state loads");
        assert_eq!(old.letter, None);
        let plain = Mailbox::seeded(1, 1, now());
        let json = serde_json::to_value(&plain.communications[0]).expect("json");
        assert!(json.get("letter").is_none());
    }

    #[test]
    fn marking_and_downloading_log_activity() {
        let mut m = Mailbox::seeded(1, 3, now());
        let id = m.communications[0].id.clone();
        assert_eq!(m.mark(&id, Actor::Web, now()), MarkStatus::Handled);
        assert_eq!(m.mark(&id, Actor::Api, now()), MarkStatus::AlreadyHandled);
        assert_eq!(m.mark("nope", Actor::Api, now()), MarkStatus::NotFound);
        let other = m.communications[2].id.clone();
        m.downloaded(&other, true, now());
        let actions: Vec<(Action, Actor)> = m.activity.iter().map(|a| (a.action, a.actor)).collect();
        assert_eq!(
            actions,
            [
                (Action::MarkedHandled, Actor::Web),
                (Action::Downloaded, Actor::Api),
                (Action::MarkedHandled, Actor::Api)
            ]
        );
        assert!(m.communications[2].read && m.communications[2].handled);
    }
}
