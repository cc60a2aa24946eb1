//! The durable outbox: a message to send later is a row written in the same transaction as the
//! state change that caused it. The worker that delivers rows lives beside this.

use crate::db::{Tx, now_ms};

/// Queues one outbound message. `idempotency_key` is unique: queuing the same key twice is a
/// no-op (answers false), so a retried request never sends twice.
pub async fn enqueue(
    tx: &mut Tx,
    channel: &str,
    recipient: Option<&str>,
    payload: &serde_json::Value,
    idempotency_key: &str,
) -> sqlx::Result<bool> {
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO outbox (channel, recipient, payload, idempotency_key, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(channel)
    .bind(recipient)
    .bind(payload.to_string())
    .bind(idempotency_key)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
