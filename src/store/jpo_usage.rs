//! The `jpo_usage` table: the JPO's per-API daily counters, so a restart on the same JST day
//! does not forget what was spent (`core::jpo_quota` decides with them).

use chrono::NaiveDate;
use rusqlite::{Connection, Transaction, params};

use super::StoreError;
use crate::core::jpo_quota::ApiUsage;

/// The counters of one JST day.
pub fn load(conn: &Connection, day: NaiveDate) -> Result<Vec<ApiUsage>, StoreError> {
    let mut st =
        conn.prepare("SELECT right_kind, api, used, remain, exhausted FROM jpo_usage WHERE day = ?1")?;
    let rows = st
        .query_map([day.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(right, api, used, remain, exhausted)| {
            Ok(ApiUsage {
                day,
                right: right
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("jpo_usage: {e}")))?,
                api,
                used: u32::try_from(used).unwrap_or(u32::MAX),
                remain: remain.map(|r| u32::try_from(r).unwrap_or(0)),
                exhausted: exhausted != 0,
            })
        })
        .collect()
}

/// Stores counters (replacing those of the same day, right and API).
pub fn save(tx: &Transaction<'_>, usage: &[ApiUsage]) -> Result<(), StoreError> {
    let mut st = tx.prepare(
        "INSERT INTO jpo_usage (day, right_kind, api, used, remain, exhausted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (day, right_kind, api) DO UPDATE SET used = ?4, remain = ?5, exhausted = ?6",
    )?;
    for u in usage {
        st.execute(params![
            u.day.to_string(),
            u.right.as_str(),
            u.api,
            i64::from(u.used),
            u.remain.map(i64::from),
            u.exhausted as i64
        ])?;
    }
    Ok(())
}
