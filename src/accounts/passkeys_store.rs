//! SQL for passkeys and the WebAuthn ceremonies between their two requests.

use sqlx::{Any, Executor, FromRow};

use crate::db::{Tx, now_ms};

#[derive(Debug, Clone, FromRow)]
pub struct PasskeyRow {
    pub id: i64,
    pub user_id: i64,
    pub user_handle: String,
    pub credential_id: String,
    pub passkey_json: String,
    pub name: String,
    pub sign_count: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, user_handle, credential_id, passkey_json, name, sign_count, created_at, last_used_at";

pub async fn list_for_user<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<Vec<PasskeyRow>> {
    sqlx::query_as::<_, PasskeyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY id"
    )))
    .bind(user_id)
    .fetch_all(exec)
    .await
}

pub async fn find_by_credential<'e>(
    exec: impl Executor<'e, Database = Any>,
    credential_id: &str,
) -> sqlx::Result<Option<PasskeyRow>> {
    sqlx::query_as::<_, PasskeyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"
    )))
    .bind(credential_id)
    .fetch_optional(exec)
    .await
}

/// One of the user's own passkeys (another person's answers `None`, as a missing one does).
pub async fn find_own<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<PasskeyRow>> {
    sqlx::query_as::<_, PasskeyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM passkeys WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(exec)
    .await
}

pub async fn count_for_user<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(exec)
        .await
}

pub struct NewPasskey<'a> {
    pub user_id: i64,
    pub user_handle: &'a str,
    pub credential_id: &'a str,
    pub passkey_json: &'a str,
    pub name: &'a str,
}

pub async fn insert(tx: &mut Tx, p: &NewPasskey<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO passkeys (user_id, user_handle, credential_id, passkey_json, name, sign_count, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING id",
    )
    .bind(p.user_id)
    .bind(p.user_handle)
    .bind(p.credential_id)
    .bind(p.passkey_json)
    .bind(p.name)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

/// Records a successful use: the new counter and credential state. Only moves the counter
/// forward (`sign_count < $1`, or both zero for authenticators without a counter), so two
/// instances finishing the same assertion cannot both succeed; answers whether it did.
pub async fn record_use(
    tx: &mut Tx,
    id: i64,
    counter: i64,
    passkey_json: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE passkeys SET sign_count = $1, passkey_json = $2, last_used_at = $3
         WHERE id = $4 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))",
    )
    .bind(counter)
    .bind(passkey_json)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn rename(tx: &mut Tx, user_id: i64, id: i64, name: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
        .bind(name)
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(tx: &mut Tx, user_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps a ceremony's state until its second request (and drops expired ones on the way).
pub async fn save_ceremony<'e>(
    exec: impl Executor<'e, Database = Any> + Copy,
    challenge: &str,
    kind: &str,
    state_json: &str,
    user_id: Option<i64>,
    ttl_ms: i64,
) -> sqlx::Result<()> {
    let now = now_ms();
    sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < $1")
        .bind(now)
        .execute(exec)
        .await?;
    sqlx::query(
        "INSERT INTO passkey_ceremonies (challenge, kind, state_json, user_id, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(challenge)
    .bind(kind)
    .bind(state_json)
    .bind(user_id)
    .bind(now + ttl_ms)
    .execute(exec)
    .await?;
    Ok(())
}

/// Takes a ceremony's state (it is deleted: each works once). `user_id` must match the one it
/// was started for (`None` for a sign-in, which starts anonymous).
pub async fn take_ceremony<'e>(
    exec: impl Executor<'e, Database = Any>,
    challenge: &str,
    kind: &str,
    user_id: Option<i64>,
) -> sqlx::Result<Option<String>> {
    let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(
        "DELETE FROM passkey_ceremonies WHERE challenge = $1 AND kind = $2
         RETURNING state_json, user_id, expires_at",
    )
    .bind(challenge)
    .bind(kind)
    .fetch_optional(exec)
    .await?;
    Ok(row
        .filter(|(_, owner, expires)| *owner == user_id && *expires >= now_ms())
        .map(|(state, _, _)| state))
}
