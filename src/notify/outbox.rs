//! The durable outbox: a message to send later is a row written in the same transaction as the
//! state change that caused it. Workers claim due rows (`sending`, with a lease in
//! `locked_until`), deliver them and mark the outcome; a claim whose worker died expires and the
//! row is delivered again with the same idempotency key.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::NotifySettings;
use crate::db::{Db, Tx, now_ms};

/// Queues one outbound message. `idempotency_key` is unique: queuing the same key twice is a
/// no-op (answers false), so a retried request never sends twice.
pub async fn enqueue(
    tx: &mut Tx,
    channel: &str,
    recipient: Option<&str>,
    payload: &serde_json::Value,
    idempotency_key: &str,
) -> sqlx::Result<bool> {
    let id = insert(
        tx,
        channel,
        None,
        recipient,
        &payload.to_string(),
        idempotency_key,
    )
    .await?;
    Ok(id.is_some())
}

/// What an SMS or e-mail says, rendered in the recipient's language when it was queued.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payload {
    pub kind: String,
    pub lang: String,
    pub subject: String,
    pub text: String,
    /// For a number the user does not have yet (a phone change code): the new number, sealed
    /// like `users.phone_enc` of that user. Otherwise SMS goes to the user's own number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_phone_enc: Option<String>,
}

/// Queues a message to a user. SMS rows carry no phone number: the worker decrypts the user's
/// phone when it sends, so no personal data is copied into the outbox. Answers the new row's
/// id (`None`: that key was queued before).
pub async fn enqueue_for_user(
    tx: &mut Tx,
    channel: &str,
    user_id: i64,
    recipient: Option<&str>,
    payload: &Payload,
    idempotency_key: &str,
) -> sqlx::Result<Option<i64>> {
    let json = serde_json::to_string(payload).expect("payload serialises");
    insert(
        tx,
        channel,
        Some(user_id),
        recipient,
        &json,
        idempotency_key,
    )
    .await
}

async fn insert(
    tx: &mut Tx,
    channel: &str,
    user_id: Option<i64>,
    recipient: Option<&str>,
    payload: &str,
    idempotency_key: &str,
) -> sqlx::Result<Option<i64>> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO outbox (channel, user_id, recipient, payload, idempotency_key, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(channel)
    .bind(user_id)
    .bind(recipient)
    // Message texts carry reasons and diagnoses: sealed like the inbox.
    .bind(crate::seal::seal(payload))
    .bind(idempotency_key)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

/// A claimed row. `attempts` counts this attempt and fences the outcome: only the claim that
/// holds it may mark the row.
#[derive(Clone, Debug, FromRow)]
pub struct Claimed {
    pub id: i64,
    pub channel: String,
    pub user_id: Option<i64>,
    pub recipient: Option<String>,
    #[sqlx(try_from = "crate::seal::Sealed")]
    pub payload: String,
    pub idempotency_key: String,
    pub attempts: i64,
}

/// Claims up to `limit` due rows: pending ones whose time has come and `sending` ones whose
/// lease ran out (their worker died). Row locks with SKIP LOCKED on PostgreSQL; SQLite's single
/// writer makes the `UPDATE … RETURNING` alone enough.
pub async fn claim_due(db: &Db, now: i64, lease_ms: i64, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query_as::<_, Claimed>(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, locked_until = $1
         WHERE id IN (SELECT id FROM outbox
                      WHERE (status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND locked_until <= $2)
                      ORDER BY next_attempt_at, id LIMIT $3{})
         RETURNING id, channel, user_id, recipient, payload, idempotency_key, attempts",
        db.skip_locked()
    )))
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

pub async fn mark_sent(db: &Db, row: &Claimed, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, locked_until = NULL, last_error = NULL
         WHERE id = $2 AND status = 'sending' AND attempts = $3",
    )
    .bind(now)
    .bind(row.id)
    .bind(row.attempts)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt: retried later with exponential backoff, or `dead` after the last
/// attempt. Answers the new status.
pub async fn mark_failed(
    db: &Db,
    row: &Claimed,
    now: i64,
    error: &str,
    settings: &NotifySettings,
) -> sqlx::Result<&'static str> {
    let (status, next) = if row.attempts >= settings.max_attempts {
        ("dead", now)
    } else {
        (
            "pending",
            now + settings.backoff(row.attempts).as_millis() as i64,
        )
    };
    sqlx::query(
        "UPDATE outbox SET status = $1, next_attempt_at = $2, locked_until = NULL, last_error = $3
         WHERE id = $4 AND status = 'sending' AND attempts = $5",
    )
    .bind(status)
    .bind(next)
    .bind(truncate(error))
    .bind(row.id)
    .bind(row.attempts)
    .execute(&db.writer)
    .await?;
    Ok(status)
}

/// A failure retrying cannot mend (the far side refused the request): `dead` at once, kept
/// for an administrator to look at and retry.
pub async fn mark_dead(db: &Db, row: &Claimed, now: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'dead', next_attempt_at = $1, locked_until = NULL, last_error = $2
         WHERE id = $3 AND status = 'sending' AND attempts = $4",
    )
    .bind(now)
    .bind(truncate(error))
    .bind(row.id)
    .bind(row.attempts)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// The channel is not configured: the message is kept, visible, and not retried on its own
/// (an admin retries it once the channel is set up). The claim is not counted as an attempt.
pub async fn mark_not_configured(db: &Db, row: &Claimed, note: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'not_configured', attempts = attempts - 1, locked_until = NULL, last_error = $1
         WHERE id = $2 AND status = 'sending' AND attempts = $3",
    )
    .bind(note)
    .bind(row.id)
    .bind(row.attempts)
    .execute(&db.writer)
    .await?;
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

#[derive(Clone, Debug, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub user_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub idempotency_key: String,
}

/// Newest first, before the keyset `before` (an id) when given, optionally of one status.
pub async fn list(
    db: &Db,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as::<_, OutboxRow>(
        "SELECT id, channel, user_id, status, attempts, last_error, next_attempt_at, created_at, sent_at, idempotency_key
         FROM outbox WHERE ($1 = '' OR status = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(status.unwrap_or(""))
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Puts a dead (or not-configured) message back in the queue, due now, with fresh attempts.
pub async fn requeue(tx: &mut Tx, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, locked_until = NULL
         WHERE id = $2 AND status IN ('dead', 'not_configured')",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
