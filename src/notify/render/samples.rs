//! Sample events: what [`super::Templates::load`] renders every template against, so a broken
//! override is refused before anything is sent, and what `examples/render_samples.rs` shows
//! for the screenshots in `docs/`.
//!
//! They cover every branch the built-in templates take (an absent client reference, a
//! communication nobody follows, a JP case, an office stop without a known remedy, a digest
//! with nothing to report), so an override is exercised the same way.

use std::path::PathBuf;

use crate::core::cases::Office;
use crate::core::notify::{
    CaseChanged, ChangeLine, Channel, CheckKind, Communication, DeadlineCheck, DeadlineInfo,
    DeadlineReminder, DeliveryFailed, Digest, DigestDeadline, Document, Event, JobLine, OfficeStopped,
    Outstanding, Quarantined,
};

use super::Context;

/// The archive directory the samples are rendered with.
pub fn context() -> Context {
    Context {
        archive_dir: PathBuf::from("/srv/mailroom/archive"),
    }
}

/// A Rule 71(3) communication of a followed case, with its two files.
pub fn communication() -> Communication {
    let dir = "EP/EP23184567.2";
    Communication {
        id: "7f3a9c21-5b8e-4d0a-9e61-2c4f0b7d1a42".into(),
        office: Office::Ep,
        application_number: "EP23184567.2".into(),
        case: Some("EP23184567".into()),
        client_reference: Some("ACME-P-0042-EP".into()),
        document_code: "2004".into(),
        title: "Communication under Rule 71(3) EPC".into(),
        dispatch_date: "2026-03-14".into(),
        delivered_at: Some("2026-03-14T07:12:09Z".into()),
        archived_at: "2026-03-14T08:00:03Z".into(),
        documents: vec![
            Document {
                file_name: Some("EPO Form 2004.pdf".into()),
                media_type: Some("application/pdf".into()),
                path: format!("{dir}/2026-03-14_EPOFORM2004_7f3a9c21.pdf"),
                size: 245_119,
                sha256: "9f2c4a7be1d03856c1f7e2a94b0d6c38e5a1f7092bd4c6e3a8f5b1d72c9e0a46".into(),
            },
            Document {
                file_name: Some("Text intended for grant.pdf".into()),
                media_type: Some("application/pdf".into()),
                path: format!("{dir}/2026-03-14_EPOFORM2004_7f3a9c21_2.pdf"),
                size: 1_873_402,
                sha256: "3b8e0d5f9a62c14e7d09b3a5f8c2e61d4a7b0c93e5f18d2a6b4c7e09f1d3a58c".into(),
            },
        ],
        deadline: Some(deadline()),
    }
}

/// The deadline the Rule 71(3) sample starts, read from its letter and found in the rules table.
pub fn deadline() -> DeadlineInfo {
    DeadlineInfo {
        id: Some(17),
        line: "Due 2026-07-14 (Tue) — 4 months from 2026-03-14, Rule 71(3) EPC (the letter states it)".into(),
        due: Some("2026-07-14".into()),
        basis: Some("Rule 71(3) EPC".into()),
        source: Some("letter".into()),
        steps: vec![
            "dated 2026-03-14 (Sat): deemed delivered that day (Rules 126(2), 127(2) EPC, documents dated from 1 November 2023)".into(),
            "4 months from 2026-03-14 (Sat) (Rule 131 EPC): 2026-07-14 (Tue)".into(),
        ],
        notes: vec![
            "Due 2026-07-14 (Tue) — 4 months from 2026-03-14, Rule 71(3) EPC (the letter states it)".into(),
            "the letter states 4 months: \"within a period of four months\"".into(),
            "the rules table gives the same for Rule 71(3) EPC".into(),
        ],
        warnings: vec!["calendar incomplete for 2026: only Saturdays, Sundays and the EPO closing days a source confirms were considered".into()],
        register: Some("unchecked".into()),
        remedy: Some("further processing (Rule 135(1) EPC): within two months of the communication of the loss of rights".into()),
    }
}

/// A reminder 7 days before the sample deadline.
pub fn reminder() -> DeadlineReminder {
    DeadlineReminder {
        deadline_id: 17,
        office: Office::Ep,
        application_number: "EP23184567.2".into(),
        case: Some("EP23184567".into()),
        client_reference: Some("ACME-P-0042-EP".into()),
        title: "Communication under Rule 71(3) EPC".into(),
        document_code: "2004".into(),
        document_date: "2026-03-14".into(),
        due: "2026-07-14".into(),
        days_left: 7,
        rung: 7,
        deadline: deadline(),
    }
}

/// The Register gives 6 months where the sample deadline runs 4.
pub fn register_disagrees() -> DeadlineCheck {
    let mut d = deadline();
    d.register = Some("disagrees".into());
    DeadlineCheck {
        kind: CheckKind::Disagrees,
        case: "EP23184567".into(),
        client_reference: Some("ACME-P-0042-EP".into()),
        step_id: "STEP_EXRE_90000017".into(),
        step: "Communication from the examining division".into(),
        dispatch_date: "2026-03-14".into(),
        register_period: "6 months".into(),
        deadline: Some(d),
        summary: "deadline 17 of EP23184567 (Communication under Rule 71(3) EPC, dated 2026-03-14) runs 4 months (Rule 71(3) EPC); the Register's step STEP_EXRE_90000017 gives 6 months".into(),
        detected_at: "2026-03-16T02:00:11Z".into(),
    }
}

/// A Register time limit with no communication of its date.
pub fn register_without_communication() -> DeadlineCheck {
    DeadlineCheck {
        kind: CheckKind::NoCommunication,
        case: "EP22123456".into(),
        client_reference: None,
        step_id: "STEP_EXRE_90000018".into(),
        step: "Communication from the examining division".into(),
        dispatch_date: "2026-03-02".into(),
        register_period: "4 months".into(),
        deadline: None,
        summary: "the Register shows a time limit of 4 months for EP22123456 dated 2026-03-02 (Communication from the examining division); no communication of that date was received".into(),
        detected_at: "2026-03-16T02:00:11Z".into(),
    }
}

fn digest_deadlines() -> Vec<DigestDeadline> {
    vec![
        DigestDeadline {
            id: 17,
            case: "EP23184567".into(),
            client_reference: Some("ACME-P-0042-EP".into()),
            title: "Communication under Rule 71(3) EPC".into(),
            due: "2026-07-14".into(),
            days_left: 122,
            state: "open".into(),
            line: deadline().line,
        },
        DigestDeadline {
            id: 9,
            case: "EP22123456".into(),
            client_reference: None,
            title: "Communication pursuant to Article 94(3) EPC".into(),
            due: "2026-03-30".into(),
            days_left: 16,
            state: "acknowledged".into(),
            line: "Due 2026-03-30 (Mon) — 4 months from 2025-11-28, the period the letter states — confirmed by the Register".into(),
        },
    ]
}

/// A communication for an application nobody follows, without a client reference or a
/// delivery time.
pub fn unfollowed_communication() -> Communication {
    Communication {
        id: "c0ffee42".into(),
        office: Office::Ep,
        application_number: "PCT/EP2024/071234".into(),
        case: None,
        client_reference: None,
        document_code: "1507".into(),
        title: "Communication of the international search report".into(),
        dispatch_date: "2026-03-13".into(),
        deadline: Some(DeadlineInfo {
            line: "Deadline not known: period not known from the form, and the letter states none. Read the letter and docket it by hand.".into(),
            notes: vec!["period not known from the form, and the letter states none".into()],
            ..DeadlineInfo::default()
        }),
        delivered_at: None,
        archived_at: "2026-03-14T08:00:04Z".into(),
        documents: vec![Document {
            file_name: None,
            media_type: None,
            path: "WO/PCT_EP2024_071234/2026-03-13_EPOFORM1507_c0ffee42.pdf".into(),
            size: 1,
            sha256: "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb".into(),
        }],
    }
}

/// An EP grant: the status entry and the publication of its day.
pub fn ep_change() -> CaseChanged {
    CaseChanged {
        office: Office::Ep,
        case: "EP2400812".into(),
        number: "EP2400812".into(),
        right: "patent".into(),
        client_reference: Some("ACME-P-0007-EP".into()),
        status: Some("The patent has been granted".into()),
        detected_at: "2026-03-15T02:00:11Z".into(),
        counterpart_of: Vec::new(),
        deadlines: Vec::new(),
        changes: vec![
            ChangeLine {
                kind: "status".into(),
                date: "2019-10-25".into(),
                summary: "EP2400812: status \"Grant of patent is intended\" → \"The patent has been granted\" (2019-10-25)".into(),
                old: Some("Grant of patent is intended".into()),
                new: Some("The patent has been granted; published EP2400812 B1".into()),
            },
            ChangeLine {
                kind: "step".into(),
                date: "2019-10-25".into(),
                summary: "EP2400812: new procedural step \"Validation of the patent\" due 2020-01-25".into(),
                old: None,
                new: Some("Validation of the patent: 2020-01-25".into()),
            },
        ],
    }
}

/// A JP office action, without a client reference.
pub fn jp_change() -> CaseChanged {
    CaseChanged {
        office: Office::Jp,
        case: "JP 2020-123456".into(),
        number: "2020123456".into(),
        right: "patent".into(),
        client_reference: None,
        status: None,
        detected_at: "2026-03-15T02:00:12Z".into(),
        counterpart_of: Vec::new(),
        deadlines: vec![DeadlineInfo {
            id: Some(18),
            line: "Due 2026-05-11 (Mon) — 60 days from 2026-03-10, Patent Act Art. 50; Patent Act Art. 3(2): 2026-05-09 (Sat) is a Saturday".into(),
            due: Some("2026-05-11".into()),
            basis: Some("Patent Act Art. 50".into()),
            source: Some("rule".into()),
            steps: vec![
                "dispatched 2026-03-10 (Tue): the period starts the next day, 2026-03-11 (Wed) (Patent Act Art. 3(1)(i): the first day is not counted)".into(),
                "60 days: it ends 2026-05-09 (Sat) (Patent Act Art. 3(1))".into(),
                "Patent Act Art. 3(2): 2026-05-09 (Sat) is a Saturday → 2026-05-10 (Sun)".into(),
                "Patent Act Art. 3(2): 2026-05-10 (Sun) is a Sunday → 2026-05-11 (Mon)".into(),
            ],
            notes: vec![
                "Due 2026-05-11 (Mon) — 60 days from 2026-03-10, Patent Act Art. 50; Patent Act Art. 3(2): 2026-05-09 (Sat) is a Saturday".into(),
                "A131 拒絶理由通知書: [deadlines] jp_applicant_abroad is not set: the shorter period, 60 days, is proposed (60 days in Japan, 3 months abroad; 方式審査便覧 04.10)".into(),
            ],
            warnings: Vec::new(),
            register: Some("unchecked".into()),
            remedy: None,
        }],
        changes: vec![ChangeLine {
            kind: "document".into(),
            date: "2026-03-10".into(),
            summary: "JP 2020-123456: new document \"拒絶理由通知書\" (2026-03-10)".into(),
            old: None,
            new: Some("A131 拒絶理由通知書".into()),
        }],
    }
}

pub fn quarantined() -> Quarantined {
    Quarantined {
        id: "5d1e8b37-0c2a-4f96-b7e4-81a9c3d05f17".into(),
        application_number: "EP24000001.5".into(),
        client_reference: Some("ACME-P-0051-EP".into()),
        document_code: "2001".into(),
        title: "Communication pursuant to Article 94(3) EPC".into(),
        dispatch_date: "2026-03-14".into(),
        attempts: 5,
        reason: "the office sent text/html where a PDF was listed (size 2,311 bytes, listed 412,980)".into(),
        quarantined_at: "2026-03-14T08:00:05Z".into(),
    }
}

pub fn office_stopped() -> OfficeStopped {
    OfficeStopped {
        office: "EPO OPS".into(),
        job: "status".into(),
        reason: "the OPS token request was refused (401 invalid_client)".into(),
        action: Some("check [ops] consumer_key and consumer_secret".into()),
        stopped_at: "2026-03-15T02:00:02Z".into(),
    }
}

pub fn office_stopped_without_action() -> OfficeStopped {
    OfficeStopped {
        office: "EPO MyEPO".into(),
        job: "mailbox".into(),
        reason: "the office did not answer for the whole cycle (connect timeout)".into(),
        action: None,
        stopped_at: "2026-03-15T06:00:31Z".into(),
    }
}

pub fn delivery_failed() -> DeliveryFailed {
    DeliveryFailed {
        delivery_id: 1187,
        channel: Channel::Webhook,
        recipient: "teams".into(),
        about: "[EPO] EP23184567 · ACME-P-0042-EP · Form 2004 · Communication under Rule 71(3) EPC · dated 2026-03-14".into(),
        attempts: 8,
        error: "HTTP 403 Forbidden from the webhook".into(),
        failed_at: "2026-03-14T16:02:40Z".into(),
    }
}

fn jobs() -> Vec<JobLine> {
    vec![
        JobLine {
            job: "mailbox".into(),
            last_success: Some("2026-03-14T18:00:12Z".into()),
            last_outcome: Some("ok".into()),
            last_error: None,
        },
        JobLine {
            job: "status".into(),
            last_success: Some("2026-03-14T02:00:40Z".into()),
            last_outcome: Some("failed".into()),
            last_error: Some("EPO OPS: the OPS token request was refused (401 invalid_client)".into()),
        },
    ]
}

fn quota() -> Vec<String> {
    vec![
        "EPO OPS: 212.4 MB of 4 GB this week (5%)".into(),
        "JPO: patent app_progress 112 of 200 today, design 3 of 50, trademark 0 of 50".into(),
    ]
}

/// A day with something in every section (its change is the EP one: a screenshot machine
/// without a Japanese font would show the JP one as empty boxes).
pub fn digest() -> Digest {
    Digest {
        day: "2026-03-14".into(),
        since: "2026-03-13T18:00:00Z".into(),
        until: "2026-03-14T18:00:00Z".into(),
        communications: vec![communication(), unfollowed_communication()],
        changes: vec![ep_change()],
        outstanding: vec![
            Outstanding {
                id: "5d1e8b37-0c2a-4f96-b7e4-81a9c3d05f17".into(),
                application_number: "EP24000001.5".into(),
                state: "quarantined".into(),
                attempts: 5,
                reason: Some("the office sent text/html where a PDF was listed".into()),
            },
            Outstanding {
                id: "a81c04e2".into(),
                application_number: "EP22123456.1".into(),
                state: "waiting".into(),
                attempts: 2,
                reason: None,
            },
        ],
        delivery_failures: vec![delivery_failed()],
        quota: quota(),
        jobs: jobs(),
        deadlines: digest_deadlines(),
    }
}

/// A day on which nothing happened: only the quota and the jobs to report.
pub fn quiet_digest() -> Digest {
    Digest {
        day: "2026-03-15".into(),
        since: "2026-03-14T18:00:00Z".into(),
        until: "2026-03-15T18:00:00Z".into(),
        communications: Vec::new(),
        changes: Vec::new(),
        outstanding: Vec::new(),
        delivery_failures: Vec::new(),
        quota: Vec::new(),
        jobs: vec![JobLine {
            job: "mailbox".into(),
            last_success: None,
            last_outcome: None,
            last_error: None,
        }],
        deadlines: Vec::new(),
    }
}

/// One event of every kind, and the variants of each that take other branches.
pub fn events() -> Vec<Event> {
    vec![
        Event::Communication(communication()),
        Event::Communication(unfollowed_communication()),
        Event::Change(ep_change()),
        Event::Change(jp_change()),
        Event::Quarantine(quarantined()),
        Event::OfficeStop(office_stopped()),
        Event::OfficeStop(office_stopped_without_action()),
        Event::DeliveryFailed(delivery_failed()),
        Event::Deadline(reminder()),
        Event::DeadlineCheck(register_disagrees()),
        Event::DeadlineCheck(register_without_communication()),
        Event::Digest(digest()),
        Event::Digest(quiet_digest()),
    ]
}
