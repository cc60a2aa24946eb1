//! Hash-chained audit log. Every state change writes an event in the transaction that makes the
//! change; each event's hash covers its fields and the previous event's hash, and `audit_head`
//! (locked by the writer's UPDATE) keeps the chain from forking and remembers its tip.

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

/// Appends an event to the chain inside `tx`.
pub async fn record(tx: &mut Tx, actor: &Actor, event: Event<'_>) -> Result<(), sqlx::Error> {
    let head =
        sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, last_hash")
            .fetch_one(&mut **tx)
            .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: String = head.try_get("last_hash")?;
    let at = now_ms();
    let hash = event_hash(
        &prev,
        seq,
        at,
        actor.id,
        &actor.label,
        event.action,
        event.object_type,
        &event.object_id,
        &event.summary,
        actor.addr.as_deref(),
    );
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor_id, actor, action, object_type, object_id, summary, client_addr, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(seq)
    .bind(at)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(event.action)
    .bind(event.object_type)
    .bind(&event.object_id)
    .bind(&event.summary)
    .bind(actor.addr.as_deref())
    .bind(&prev)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
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

/// Walks the whole chain in order and recomputes every hash.
pub async fn verify(db: &Db) -> anyhow::Result<Verdict> {
    use futures_util::TryStreamExt;
    let head = sqlx::query("SELECT seq, last_hash FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("last_hash")?;

    let mut rows = sqlx::query(
        "SELECT id, seq, at, actor_id, actor, action, object_type, object_id, summary, client_addr, prev_hash, hash
         FROM audit_events ORDER BY seq",
    )
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
        let stored_prev: String = row.try_get("prev_hash")?;
        if stored_prev != prev {
            return Ok(broken(
                "does not link to the event before it (reordered or previous one changed)".into(),
            ));
        }
        let actor_id: Option<i64> = row.try_get("actor_id")?;
        let client_addr: Option<String> = row.try_get("client_addr")?;
        let computed = event_hash(
            &prev,
            seq,
            row.try_get("at")?,
            actor_id,
            &row.try_get::<String, _>("actor")?,
            &row.try_get::<String, _>("action")?,
            &row.try_get::<String, _>("object_type")?,
            &row.try_get::<String, _>("object_id")?,
            &row.try_get::<String, _>("summary")?,
            client_addr.as_deref(),
        );
        let stored: String = row.try_get("hash")?;
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
