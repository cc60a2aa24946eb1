//! Hash-chained audit log, sealed off the write path. Every state change writes its event in
//! the transaction that makes the change, as a row of its own: no shared row is touched, so
//! writers never queue behind each other for the log. A sealer ([`seal`], run in the background
//! by every instance and before every read of the chain) then gives the committed events their
//! place in the chain, oldest first: a sequence number and a hash over the event's fields and
//! the previous event's hash. `audit_head` (locked only by the sealer) keeps the chain from
//! forking and remembers its tip, so a deleted tail is noticed. An event committed but not yet
//! sealed (a crash between the two) stays in the table and is sealed by the next run.

pub mod api;
pub mod log;
pub mod pages;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Db, Tx, now_ms};

pub use crate::http::auth::Actor;

/// What happened, to which object: `action` is a stable verb (`case.submit`), `summary` says
/// what changed in ids and codes (no names, phone numbers or diagnoses).
pub struct Event<'a> {
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub summary: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
fn event_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor_id: Option<i64>,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    summary: &str,
    client_addr: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &at.to_string(),
        &actor_id.map(|i| i.to_string()).unwrap_or_default(),
        actor,
        action,
        object_type,
        object_id,
        summary,
        client_addr.unwrap_or(""),
    ] {
        // Length-prefixed, so no two different events serialise alike.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The hash of the event in `row` at place `seq` after `prev`.
fn row_hash(prev: &str, seq: i64, row: &sqlx::any::AnyRow) -> Result<String, sqlx::Error> {
    let actor_id: Option<i64> = row.try_get("actor_id")?;
    let client_addr: Option<String> = row.try_get("client_addr")?;
    Ok(event_hash(
        prev,
        seq,
        row.try_get("at")?,
        actor_id,
        &row.try_get::<String, _>("actor")?,
        &row.try_get::<String, _>("action")?,
        &row.try_get::<String, _>("object_type")?,
        &row.try_get::<String, _>("object_id")?,
        &row.try_get::<String, _>("summary")?,
        client_addr.as_deref(),
    ))
}

/// Writes an event inside `tx`, waiting to be sealed into the chain ([`seal`]).
pub async fn record(tx: &mut Tx, actor: &Actor, event: Event<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_id, actor, action, object_type, object_id, summary, client_addr)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ms())
    .bind(actor.id)
    .bind(&actor.label)
    .bind(event.action)
    .bind(event.object_type)
    .bind(&event.object_id)
    .bind(&event.summary)
    .bind(actor.addr.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Events sealed per transaction of the sealer.
const SEAL_BATCH: i64 = 500;

/// Seals every committed event not yet in the chain, oldest first; answers how many. Safe to
/// run from several instances at once: each batch locks `audit_head`, so the chain never forks.
pub async fn seal(db: &Db) -> Result<u64, sqlx::Error> {
    let mut sealed = 0;
    loop {
        // Cheap when there is nothing to do (a partial index holds only the pending events).
        let pending: Option<i64> =
            sqlx::query_scalar("SELECT id FROM audit_events WHERE seq IS NULL LIMIT 1")
                .fetch_optional(&db.pool)
                .await?;
        if pending.is_none() {
            return Ok(sealed);
        }
        let mut tx = db.begin().await?;
        let head =
            sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, last_hash")
                .fetch_one(&mut *tx)
                .await?;
        let mut seq: i64 = head.try_get("seq")?;
        let mut prev: String = head.try_get("last_hash")?;
        let rows = sqlx::query(
            "SELECT id, at, actor_id, actor, action, object_type, object_id, summary, client_addr
             FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT $1",
        )
        .bind(SEAL_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut sealed_rows: Vec<(i64, i64, String, String)> = Vec::with_capacity(rows.len());
        for row in &rows {
            seq += 1;
            let hash = row_hash(&prev, seq, row)?;
            sealed_rows.push((row.try_get("id")?, seq, prev, hash.clone()));
            prev = hash;
        }
        write_seals(&mut tx, &sealed_rows).await?;
        sqlx::query("UPDATE audit_head SET seq = $1, last_hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&prev)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        sealed += rows.len() as u64;
        if (rows.len() as i64) < SEAL_BATCH {
            return Ok(sealed);
        }
    }
}

/// Gives each event `(id, seq, prev_hash, hash)` its place, in one statement per 100 events.
async fn write_seals(tx: &mut Tx, seals: &[(i64, i64, String, String)]) -> Result<(), sqlx::Error> {
    for chunk in seals.chunks(100) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        // Only placeholders are formatted in; every value is bound.
        let sql = format!(
            "WITH v (id, seq, prev_hash, hash) AS (VALUES {})
             UPDATE audit_events SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
             FROM v WHERE audit_events.id = v.id",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, seq, prev, hash) in chunk {
            query = query
                .bind(*id)
                .bind(*seq)
                .bind(prev.as_str())
                .bind(hash.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// How often the background sealer looks for events to seal.
pub const SEAL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Seals in the background every [`SEAL_INTERVAL`] until the task is aborted.
pub fn spawn_sealer(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SEAL_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = seal(&db).await {
                tracing::warn!(error = %e, "sealing audit events");
            }
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        events: i64,
    },
    /// The first event (by sequence number) where the chain no longer holds, and why.
    Broken {
        seq: i64,
        event_id: Option<i64>,
        why: String,
    },
}

/// Seals what is pending, then walks the whole chain up to its head in order and recomputes
/// every hash.
pub async fn verify(db: &Db) -> anyhow::Result<Verdict> {
    use futures_util::TryStreamExt;
    seal(db).await?;
    let head = sqlx::query("SELECT seq, last_hash FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("last_hash")?;

    // Events sealed after the head was read (the sealer runs on) are left for the next check.
    let mut rows = sqlx::query(
        "SELECT id, seq, at, actor_id, actor, action, object_type, object_id, summary, client_addr, prev_hash, hash
         FROM audit_events WHERE seq IS NOT NULL AND seq <= $1 ORDER BY seq",
    )
    .bind(head_seq)
    .fetch(&db.pool);
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    while let Some(row) = rows.try_next().await? {
        let id: i64 = row.try_get("id")?;
        let seq: i64 = row.try_get("seq")?;
        let broken = |why: String| Verdict::Broken {
            seq,
            event_id: Some(id),
            why,
        };
        if seq != expected_seq {
            return Ok(Verdict::Broken {
                seq: expected_seq,
                event_id: None,
                why: format!("event {expected_seq} is missing (next present is {seq})"),
            });
        }
        let stored_prev: Option<String> = row.try_get("prev_hash")?;
        if stored_prev.as_deref() != Some(prev.as_str()) {
            return Ok(broken(
                "does not link to the event before it (reordered or previous one changed)".into(),
            ));
        }
        let computed = row_hash(&prev, seq, &row)?;
        let Some(stored): Option<String> = row.try_get("hash")? else {
            return Ok(broken("its hash is missing (edited)".into()));
        };
        if computed != stored {
            return Ok(broken("content does not match its hash (edited)".into()));
        }
        prev = stored;
        expected_seq += 1;
    }
    let events = expected_seq - 1;
    if events != head_seq || prev != head_hash {
        return Ok(Verdict::Broken {
            seq: events + 1,
            event_id: None,
            why: format!(
                "the log ends at event {events} but {head_seq} were written (tail deleted)"
            ),
        });
    }
    Ok(Verdict::Intact { events })
}
