//! The `family_lookups`, `family_members`, `pct_lookups` and `case_links` tables: what the
//! offices said about each EP case's family and each PCT application's JP national phase, and
//! which JP case is the counterpart of which EP or PCT case.
//!
//! **Invariants kept here:** a lookup's members, the JP cases it follows and their links are
//! written in one transaction ([`record_family`], [`record_pct`]); linking goes through
//! `core::family::link_action`, so a JP case already followed is linked and left as it is (its
//! source, reference and history) and one a person removed is linked but never followed again;
//! linking is idempotent by (JP case, linked-to number).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::StoreError;
use super::cases::Source;
use crate::core::cases::{CaseKey, Kind, Office};
use crate::core::family::{Family, LinkAction, jp_application_number, link_action};

/// How a JP counterpart was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Family,
    Pct,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Family => "family",
            Via::Pct => "pct",
        }
    }

    /// The source a case found this way is followed with.
    fn source(self) -> Source {
        match self {
            Via::Family => Source::Family,
            Via::Pct => Source::Pct,
        }
    }
}

/// An EP case whose family could be looked up: followed, keyed by its application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyCandidate {
    pub case_id: i64,
    pub number: String,
    /// When its family was last looked up (RFC 3339), if ever.
    pub last: Option<String>,
}

/// Followed EP application cases and their last family lookup, by id.
pub fn family_candidates(conn: &Connection) -> Result<Vec<FamilyCandidate>, StoreError> {
    let mut st = conn.prepare(
        "SELECT c.id, c.number, f.looked_up_at FROM cases c LEFT JOIN family_lookups f ON f.ep_case_id = c.id
         WHERE c.office = 'EP' AND c.removed_at IS NULL AND length(c.number) = 10 ORDER BY c.id",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(FamilyCandidate {
                case_id: r.get(0)?,
                number: r.get(1)?,
                last: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A PCT application seen in the mailbox and its last national-phase lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PctCandidate {
    /// As the mailbox wrote it (`PCT/EP2024/071234`).
    pub number: String,
    pub last: Option<String>,
    /// Found before: a national phase does not go away, so it is not looked up again.
    pub found: bool,
}

/// Every PCT application number in the mailbox, with its last lookup.
pub fn pct_candidates(conn: &Connection) -> Result<Vec<PctCandidate>, StoreError> {
    let mut st = conn.prepare(
        "SELECT m.application_number, p.looked_up_at, p.jp_number IS NOT NULL
         FROM communications m LEFT JOIN pct_lookups p ON p.international_application = m.application_number
         WHERE upper(m.application_number) LIKE 'PCT/%'
         GROUP BY m.application_number ORDER BY min(m.rowid)",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(PctCandidate {
                number: r.get(0)?,
                last: r.get(1)?,
                found: r.get::<_, Option<bool>>(2)?.unwrap_or(false),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What linking one JP counterpart did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Linked {
    /// `JP 2020-123456`.
    pub case: String,
    pub case_id: i64,
    pub action: &'static str,
}

/// What recording one family lookup did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FamilyRecorded {
    pub members: usize,
    /// JP counterparts linked (new, already followed, or removed by a person).
    pub linked: Vec<Linked>,
    /// JP members whose number could not be mapped: (raw reference, reason).
    pub unmapped: Vec<(String, String)>,
}

impl FamilyRecorded {
    /// JP cases this lookup started following.
    pub fn followed(&self) -> impl Iterator<Item = &Linked> {
        self.linked.iter().filter(|l| l.action == "followed")
    }
}

/// Records a family lookup of EP case `ep_case_id` (`None`: OPS knows no family): replaces
/// its members, and follows or links every JP member whose number maps.
pub fn record_family(
    tx: &Transaction<'_>,
    ep_case_id: i64,
    ep_number: &str,
    family: Option<&Family>,
    now: &str,
) -> Result<FamilyRecorded, StoreError> {
    tx.execute("DELETE FROM family_members WHERE ep_case_id = ?1", [ep_case_id])?;
    tx.execute(
        "INSERT INTO family_lookups (ep_case_id, looked_up_at, family_id, truncated) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (ep_case_id) DO UPDATE SET looked_up_at = ?2, family_id = ?3, truncated = ?4",
        params![
            ep_case_id,
            now,
            family.map(|f| f.family_id.as_str()),
            family.is_some_and(|f| f.truncated)
        ],
    )?;
    let mut out = FamilyRecorded::default();
    let Some(family) = family else {
        return Ok(out);
    };
    out.members = family.members.len();
    for m in &family.members {
        let application = m
            .application
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let (jp_number, reason, jp_case) = if m.country == "JP" {
            match jp_application_number(m) {
                Ok(n) => {
                    let l = link(
                        tx,
                        &n,
                        ep_number,
                        Some(ep_case_id),
                        Via::Family,
                        Some(&family.family_id),
                        now,
                    )?;
                    let id = l.case_id;
                    if !out.linked.iter().any(|x| x.case_id == id) {
                        out.linked.push(l);
                    }
                    (Some(n), None, Some(id))
                }
                Err(e) => {
                    let raw = if application.is_empty() {
                        m.publication
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    } else {
                        application.clone()
                    };
                    out.unmapped.push((raw, e.to_string()));
                    (None, Some(e.to_string()), None)
                }
            }
        } else {
            (None, None, None)
        };
        tx.execute(
            "INSERT INTO family_members (ep_case_id, country, publication, application, jp_number, unmapped_reason, jp_case_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                ep_case_id,
                m.country,
                m.publication.as_ref().map(ToString::to_string),
                application,
                jp_number,
                reason,
                jp_case
            ],
        )?;
    }
    Ok(out)
}

/// Records a national-phase lookup of PCT application `number`: `jp` is the JP application
/// the JPO named (followed or linked), `None` if it named none; `reason` when the number
/// cannot be asked about at all.
pub fn record_pct(
    tx: &Transaction<'_>,
    number: &str,
    jpo_form: Option<&str>,
    jp: Option<&str>,
    reason: Option<&str>,
    now: &str,
) -> Result<Option<Linked>, StoreError> {
    let linked = jp
        .map(|n| link(tx, n, number, None, Via::Pct, None, now))
        .transpose()?;
    tx.execute(
        "INSERT INTO pct_lookups (international_application, jpo_form, looked_up_at, jp_number, jp_case_id, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (international_application) DO UPDATE SET jpo_form = ?2, looked_up_at = ?3, jp_number = ?4,
             jp_case_id = ?5, reason = ?6",
        params![number, jpo_form, now, jp, linked.as_ref().map(|l| l.case_id), reason],
    )?;
    Ok(linked)
}

/// The key of a JP patent application: every counterpart is one (the family and PCT lookups
/// find patents only).
fn jp_patent(number: String) -> CaseKey {
    CaseKey {
        office: Office::Jp,
        kind: Kind::Patent,
        number,
    }
}

/// Links JP patent application `jp_number` to `linked_to`, following it first if no case
/// has that number (see the module's invariants).
fn link(
    tx: &Transaction<'_>,
    jp_number: &str,
    linked_to: &str,
    ep_case_id: Option<i64>,
    via: Via,
    family_id: Option<&str>,
    now: &str,
) -> Result<Linked, StoreError> {
    let key = jp_patent(jp_number.to_owned());
    let existing: Option<(i64, bool)> = tx
        .query_row(
            "SELECT id, removed_at IS NOT NULL FROM cases WHERE office = 'JP' AND kind = 'patent' AND number = ?1",
            [jp_number],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (case_id, action) = match (link_action(existing.map(|(_, removed)| removed)), existing) {
        (LinkAction::Follow, _) => {
            tx.execute(
                "INSERT INTO cases (office, kind, number, input_number, source, added_at) VALUES ('JP', 'patent', ?1, ?2, ?3, ?4)",
                params![jp_number, format!("{} ({linked_to})", key.label()), via.source().as_str(), now],
            )?;
            (tx.last_insert_rowid(), "followed")
        }
        (LinkAction::Link, Some((id, _))) => (id, "linked"),
        (LinkAction::LinkRemoved, Some((id, _))) => (id, "removed by a person, stays removed"),
        (_, None) => {
            return Err(StoreError::Corrupt(format!(
                "case {jp_number} vanished while linking"
            )));
        }
    };
    tx.execute(
        "INSERT INTO case_links (jp_case_id, linked_to, ep_case_id, via, family_id, linked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (jp_case_id, linked_to) DO UPDATE SET family_id = coalesce(?5, family_id), ep_case_id = coalesce(?3, ep_case_id)",
        params![case_id, linked_to, ep_case_id, via.as_str(), family_id, now],
    )?;
    Ok(Linked {
        case: key.label(),
        case_id,
        action,
    })
}

/// What a JP case is the counterpart of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkRow {
    /// `EP23184567` or `PCT/EP2024/071234`.
    pub linked_to: String,
    pub via: String,
    pub family_id: Option<String>,
    /// The EP case's client reference, if it is a followed case.
    pub client_reference: Option<String>,
}

/// The EP and PCT cases JP case `jp_case_id` is the counterpart of.
pub fn links_of(conn: &Connection, jp_case_id: i64) -> Result<Vec<LinkRow>, StoreError> {
    let mut st = conn.prepare(
        "SELECT l.linked_to, l.via, l.family_id,
                coalesce(e.client_reference,
                         (SELECT max(user_reference) FROM communications WHERE application_number = l.linked_to))
         FROM case_links l LEFT JOIN cases e ON e.id = l.ep_case_id
         WHERE l.jp_case_id = ?1 ORDER BY l.linked_to",
    )?;
    let rows = st
        .query_map([jp_case_id], |r| {
            Ok(LinkRow {
                linked_to: r.get(0)?,
                via: r.get(1)?,
                family_id: r.get(2)?,
                client_reference: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One member of an EP case's family, as `cases show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberRow {
    pub country: String,
    pub publication: Option<String>,
    pub application: Option<String>,
    pub jp_number: Option<String>,
    pub unmapped_reason: Option<String>,
    /// The JP case it is followed as, with its status.
    pub case: Option<String>,
    pub followed: bool,
    pub status_text: Option<String>,
    pub status_date: Option<String>,
    pub last_change_at: Option<String>,
}

/// The last family lookup of an EP case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FamilyView {
    pub family_id: Option<String>,
    pub looked_up_at: String,
    pub truncated: bool,
    pub members: Vec<MemberRow>,
}

/// The family of EP case `ep_case_id`, if it was looked up.
pub fn family_of(conn: &Connection, ep_case_id: i64) -> Result<Option<FamilyView>, StoreError> {
    let head: Option<(Option<String>, String, bool)> = conn
        .query_row(
            "SELECT family_id, looked_up_at, truncated FROM family_lookups WHERE ep_case_id = ?1",
            [ep_case_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((family_id, looked_up_at, truncated)) = head else {
        return Ok(None);
    };
    let mut st = conn.prepare(
        "SELECT m.country, m.publication, nullif(m.application, ''), m.jp_number, m.unmapped_reason,
                c.number, c.removed_at IS NULL, c.status_text, c.status_date, c.last_change_at
         FROM family_members m LEFT JOIN cases c ON c.id = m.jp_case_id
         WHERE m.ep_case_id = ?1 ORDER BY m.country = 'EP' DESC, m.country = 'JP' DESC, m.id",
    )?;
    let members = st
        .query_map([ep_case_id], |r| {
            let number: Option<String> = r.get(5)?;
            Ok(MemberRow {
                country: r.get(0)?,
                publication: r.get(1)?,
                application: r.get(2)?,
                jp_number: r.get(3)?,
                unmapped_reason: r.get(4)?,
                case: number.map(|n| jp_patent(n).label()),
                followed: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
                status_text: r.get(7)?,
                status_date: r.get(8)?,
                last_change_at: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(FamilyView {
        family_id,
        looked_up_at,
        truncated,
        members,
    }))
}

/// A PCT application of the mailbox and what its national-phase lookup found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PctRow {
    pub number: String,
    pub client_reference: Option<String>,
    pub looked_up_at: String,
    /// The JP national phase, as people read it (`JP 2026-500123`), with its status.
    pub case: Option<String>,
    pub status_text: Option<String>,
    pub reason: Option<String>,
}

/// Every PCT application looked up, by number.
pub fn pct_rows(conn: &Connection) -> Result<Vec<PctRow>, StoreError> {
    let mut st = conn.prepare(
        "SELECT p.international_application,
                (SELECT max(user_reference) FROM communications WHERE application_number = p.international_application),
                p.looked_up_at, c.number, c.status_text, p.reason
         FROM pct_lookups p LEFT JOIN cases c ON c.id = p.jp_case_id ORDER BY p.international_application",
    )?;
    let rows = st
        .query_map([], |r| {
            let number: Option<String> = r.get(3)?;
            Ok(PctRow {
                number: r.get(0)?,
                client_reference: r.get(1)?,
                looked_up_at: r.get(2)?,
                case: number.map(|n| jp_patent(n).label()),
                status_text: r.get(4)?,
                reason: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Per case id, what the family column of `cases list` and the exports shows: for an EP case
/// its family id and JP counterparts, for a JP case what it is the counterpart of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FamilyColumn {
    pub family_id: Option<String>,
    /// EP case: its JP counterparts (`JP 2020-123456`); JP case: the EP or PCT numbers.
    pub linked_to: Vec<String>,
}

/// The family column of every case that has one.
pub fn family_columns(conn: &Connection) -> Result<std::collections::HashMap<i64, FamilyColumn>, StoreError> {
    let mut out: std::collections::HashMap<i64, FamilyColumn> = std::collections::HashMap::new();
    let mut st =
        conn.prepare("SELECT ep_case_id, family_id FROM family_lookups WHERE family_id IS NOT NULL")?;
    for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, fam) = row?;
        out.entry(id).or_default().family_id = Some(fam);
    }
    let mut st = conn.prepare(
        "SELECT l.jp_case_id, l.linked_to, l.ep_case_id, l.family_id, j.number
         FROM case_links l JOIN cases j ON j.id = l.jp_case_id ORDER BY l.linked_to, j.number",
    )?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
        ))
    })? {
        let (jp_id, linked_to, ep_id, family_id, jp_number) = row?;
        let jp = out.entry(jp_id).or_default();
        jp.linked_to.push(linked_to);
        if jp.family_id.is_none() {
            jp.family_id = family_id;
        }
        if let Some(ep) = ep_id {
            let label = jp_patent(jp_number).label();
            out.entry(ep).or_default().linked_to.push(label);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::family::{DocRef, Member, RefFormat};
    use crate::store::Store;
    use crate::store::cases::{self as cases_db, NewCase};

    fn jp_member(number: &str, kind: &str) -> Member {
        Member {
            country: "JP".into(),
            publication: None,
            application: vec![DocRef {
                format: RefFormat::Docdb,
                country: "JP".into(),
                number: number.into(),
                kind: kind.into(),
                date: String::new(),
            }],
        }
    }

    fn family(members: Vec<Member>) -> Family {
        Family {
            family_id: "12345678".into(),
            truncated: false,
            members,
        }
    }

    fn add(store: &Store, office: Office, number: &str, source: Source, reference: &str) -> i64 {
        let key = CaseKey {
            office,
            kind: Kind::Patent,
            number: number.into(),
        };
        let mut conn = store.conn.lock().unwrap();
        let tx = conn.transaction().unwrap();
        cases_db::add(
            &tx,
            &NewCase::new(&key, number, Some(reference), source),
            false,
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        let id = cases_db::find(&tx, &key).unwrap().unwrap().id;
        tx.commit().unwrap();
        id
    }

    #[test]
    fn counterparts_are_followed_linked_or_left_removed_and_never_doubled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.sqlite3")).unwrap();
        let ep = add(&store, Office::Ep, "EP23184567", Source::Mailbox, "ACME-P-0042");
        let manual = add(&store, Office::Jp, "2021000001", Source::Manual, "HAND-1");
        let removed = add(&store, Office::Jp, "2021000002", Source::Manual, "HAND-2");
        {
            let mut conn = store.conn.lock().unwrap();
            let tx = conn.transaction().unwrap();
            let key = CaseKey {
                office: Office::Jp,
                kind: Kind::Patent,
                number: "2021000002".into(),
            };
            cases_db::remove(&tx, &key, "2026-01-02T00:00:00Z").unwrap();
            tx.commit().unwrap();
        }
        let fam = family(vec![
            jp_member("2020123456", "A"),
            jp_member("2021000001", "A"),
            jp_member("2021000002", "A"),
            jp_member("28341297", "A"),
            Member {
                country: "US".into(),
                publication: None,
                application: vec![],
            },
        ]);
        for round in 0..2 {
            let mut conn = store.conn.lock().unwrap();
            let tx = conn.transaction().unwrap();
            let r = record_family(&tx, ep, "EP23184567", Some(&fam), "2026-02-01T00:00:00Z").unwrap();
            tx.commit().unwrap();
            let actions: Vec<(&str, &str)> = r.linked.iter().map(|l| (l.case.as_str(), l.action)).collect();
            let first = if round == 0 { "followed" } else { "linked" };
            assert_eq!(
                actions,
                [
                    ("JP 2020-123456", first),
                    ("JP 2021-000001", "linked"),
                    ("JP 2021-000002", "removed by a person, stays removed")
                ],
                "round {round}"
            );
            assert_eq!(r.members, 5);
            assert_eq!(r.unmapped.len(), 1);
            assert!(r.unmapped[0].0.contains("28341297"), "{:?}", r.unmapped);
        }
        let conn = store.conn.lock().unwrap();
        let jp: Vec<(String, String, Option<String>)> = conn
            .prepare("SELECT number, source, removed_at FROM cases WHERE office = 'JP' ORDER BY number")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(jp.len(), 3, "no duplicate: {jp:?}");
        assert_eq!((jp[0].0.as_str(), jp[0].1.as_str()), ("2020123456", "family"));
        assert_eq!(jp[1].1, "manual", "a hand-added case keeps its source");
        assert!(jp[2].2.is_some(), "a removed case stays removed");
        let links: i64 = conn
            .query_row("SELECT count(*) FROM case_links", [], |r| r.get(0))
            .unwrap();
        assert_eq!(links, 3);
        let manual_ref: Option<String> = conn
            .query_row(
                "SELECT client_reference FROM cases WHERE id = ?1",
                [manual],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(manual_ref.as_deref(), Some("HAND-1"));
        let view = family_of(&conn, ep).unwrap().unwrap();
        assert_eq!(view.family_id.as_deref(), Some("12345678"));
        assert_eq!(view.members.len(), 5);
        assert_eq!(view.members[0].case.as_deref(), Some("JP 2020-123456"));
        let cols = family_columns(&conn).unwrap();
        assert_eq!(cols[&ep].linked_to.len(), 3);
        assert_eq!(cols[&removed].linked_to, ["EP23184567"]);
        assert_eq!(
            links_of(&conn, manual).unwrap()[0].client_reference.as_deref(),
            Some("ACME-P-0042"),
            "a link names the EP case's reference"
        );
    }
}
