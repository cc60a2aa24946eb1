//! SQL for users, roles and sessions.

use std::collections::HashMap;

use sqlx::{Any, Executor, FromRow};

use super::domain::{IdNumber, Phone};
use crate::crypto::{Keys, sha256_hex};
use crate::db::{Tx, now_ms};
use crate::http::auth::Role;
pub use crate::http::auth::roles_of;

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub class_name: Option<String>,
    pub phone_enc: Option<String>,
    pub phone_bidx: Option<String>,
    pub id_number_enc: Option<String>,
    pub id_number_bidx: Option<String>,
    pub enrolment_status: String,
    pub password_hash: Option<String>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub lang: String,
    pub active: i64,
}

const USER_COLUMNS: &str = "id, username, name, class_name, phone_enc, phone_bidx, id_number_enc, id_number_bidx, \
                            enrolment_status, password_hash, failed_logins, locked_until, lang, active";

pub async fn find_by_username<'e>(
    exec: impl Executor<'e, Database = Any>,
    username: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(exec)
    .await
}

pub async fn find_by_id<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(exec)
    .await
}

pub struct NewUser {
    pub username: String,
    pub name: String,
    pub class_name: Option<String>,
    pub phone: Option<Phone>,
    pub id_number: Option<IdNumber>,
    pub enrolment_status: String,
    pub password_hash: Option<String>,
    pub roles: Vec<Role>,
}

/// Encrypted column value and blind index of a phone number, bound to the user's login name.
pub fn seal_phone(
    keys: &Keys,
    username: &str,
    phone: Option<&Phone>,
) -> (Option<String>, Option<String>) {
    match phone {
        Some(p) => (
            Some(keys.encrypt(&format!("users.phone|{username}"), p.as_str())),
            Some(keys.blind_index("phone", p.as_str())),
        ),
        None => (None, None),
    }
}

pub fn seal_id_number(
    keys: &Keys,
    username: &str,
    id: Option<&IdNumber>,
) -> (Option<String>, Option<String>) {
    match id {
        Some(i) => (
            Some(keys.encrypt(&format!("users.id_number|{username}"), i.as_str())),
            Some(keys.blind_index("id_number", i.as_str())),
        ),
        None => (None, None),
    }
}

pub fn open_phone(keys: &Keys, user: &UserRow) -> Option<String> {
    let sealed = user.phone_enc.as_deref()?;
    keys.decrypt(&format!("users.phone|{}", user.username), sealed)
        .ok()
}

pub fn open_id_number(keys: &Keys, user: &UserRow) -> Option<String> {
    let sealed = user.id_number_enc.as_deref()?;
    keys.decrypt(&format!("users.id_number|{}", user.username), sealed)
        .ok()
}

pub async fn insert_user(tx: &mut Tx, keys: &Keys, user: &NewUser) -> sqlx::Result<i64> {
    let ids = insert_users(tx, keys, std::slice::from_ref(user)).await?;
    Ok(ids[0])
}

/// Rows per multi-row statement of a bulk write (a roster import): well under either
/// database's limit on bound values.
const BATCH: usize = 200;

/// Inserts `users` with their roles, a few hundred to a statement, and answers their ids in
/// the same order.
pub async fn insert_users(tx: &mut Tx, keys: &Keys, users: &[NewUser]) -> sqlx::Result<Vec<i64>> {
    const COLUMNS: usize = 11;
    let now = now_ms();
    let mut ids = Vec::with_capacity(users.len());
    for chunk in users.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO users (username, name, class_name, phone_enc, phone_bidx, id_number_enc, id_number_bidx,
                                enrolment_status, password_hash, created_at, updated_at)
             VALUES {} RETURNING id, username",
            crate::db::row_placeholders(chunk.len(), COLUMNS)
        );
        let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
        for user in chunk {
            let (phone_enc, phone_bidx) = seal_phone(keys, &user.username, user.phone.as_ref());
            let (id_enc, id_bidx) = seal_id_number(keys, &user.username, user.id_number.as_ref());
            query = query
                .bind(user.username.clone())
                .bind(user.name.clone())
                .bind(user.class_name.clone())
                .bind(phone_enc)
                .bind(phone_bidx)
                .bind(id_enc)
                .bind(id_bidx)
                .bind(user.enrolment_status.clone())
                .bind(user.password_hash.clone())
                .bind(now)
                .bind(now);
        }
        // RETURNING gives the rows in no promised order: match them by login name.
        let inserted: HashMap<String, i64> = query
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|(id, username)| (username, id))
            .collect();
        ids.extend(chunk.iter().map(|u| inserted[&u.username]));
    }
    let roles: Vec<(i64, Role)> = users
        .iter()
        .zip(&ids)
        .flat_map(|(u, id)| u.roles.iter().map(move |r| (*id, *r)))
        .collect();
    add_roles(tx, &roles).await?;
    Ok(ids)
}

pub async fn add_role(tx: &mut Tx, user_id: i64, role: Role) -> sqlx::Result<()> {
    add_roles(tx, &[(user_id, role)]).await
}

/// Gives each user its role (those who have it already keep it), a few hundred to a statement.
pub async fn add_roles(tx: &mut Tx, roles: &[(i64, Role)]) -> sqlx::Result<()> {
    for chunk in roles.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO user_roles (user_id, role) VALUES {} ON CONFLICT DO NOTHING",
            crate::db::row_placeholders(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (user_id, role) in chunk {
            query = query.bind(*user_id).bind(role.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The users among `usernames` that exist, by login name: one query per few hundred names.
pub async fn find_by_usernames(
    tx: &mut Tx,
    usernames: &[&str],
) -> sqlx::Result<HashMap<String, UserRow>> {
    let mut found = HashMap::with_capacity(usernames.len());
    for chunk in usernames.chunks(BATCH) {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username IN ({})",
            crate::db::placeholders(chunk.len())
        );
        let mut query = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql));
        for name in chunk {
            query = query.bind(name.to_string());
        }
        for user in query.fetch_all(&mut **tx).await? {
            found.insert(user.username.clone(), user);
        }
    }
    Ok(found)
}

pub async fn set_password(tx: &mut Tx, user_id: i64, hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now_ms())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts a failed login; at `max` failures the account locks until `now + lockout_ms`.
/// Answers whether this failure locked it.
pub async fn register_failure(
    tx: &mut Tx,
    user_id: i64,
    max: i64,
    lockout_ms: i64,
) -> sqlx::Result<bool> {
    let now = now_ms();
    let failed: i64 = sqlx::query_scalar(
        "UPDATE users SET failed_logins = failed_logins + 1, updated_at = $1 WHERE id = $2 RETURNING failed_logins",
    )
    .bind(now)
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    if failed >= max {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2")
            .bind(now + lockout_ms)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        return Ok(true);
    }
    Ok(false)
}

pub async fn clear_failures(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A new session; answers the token to hand out (only its hash is kept) and the row id.
/// `proven`: the person just gave a password or a passkey here, which counts as a fresh
/// authentication for step-up (a sign-on provider's word does not). `device`: a short label
/// from the User-Agent (`domain::device_label`), shown in the list of one's sessions.
pub async fn create_session(
    tx: &mut Tx,
    user_id: i64,
    kind: &str,
    absolute_ms: i64,
    proven: bool,
    device: Option<&str>,
) -> sqlx::Result<(String, i64)> {
    let token = crate::crypto::random_token();
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (token_hash, user_id, kind, csrf_token, created_at, last_seen_at, expires_at, reauth_at, device)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) RETURNING id",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(user_id)
    .bind(kind)
    .bind(crate::crypto::random_token())
    .bind(now)
    .bind(now + absolute_ms)
    .bind(proven.then_some(now))
    .bind(device)
    .fetch_one(&mut **tx)
    .await?;
    Ok((token, id))
}

/// Step-up: the session's owner has just proven who they are again.
pub async fn mark_reauthenticated(tx: &mut Tx, session_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET reauth_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn revoke_session(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub kind: String,
    pub device: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// A person's sessions that still work (not revoked, not past the absolute or the idle
/// expiry), the most recently used first.
pub async fn active_sessions<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
    idle_ms: i64,
) -> sqlx::Result<Vec<SessionRow>> {
    let now = now_ms();
    sqlx::query_as::<_, SessionRow>(
        "SELECT id, kind, device, created_at, last_seen_at FROM sessions
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at >= $3
         ORDER BY last_seen_at DESC, id DESC",
    )
    .bind(user_id)
    .bind(now)
    .bind(now - idle_ms)
    .fetch_all(exec)
    .await
}

/// Ends one of `user_id`'s sessions; `false` when it has none by that id still open.
pub async fn revoke_own_session(tx: &mut Tx, user_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every open session of `user_id` but `keep` (all of them with `None`); answers how many.
pub async fn revoke_sessions_except(
    tx: &mut Tx,
    user_id: i64,
    keep: Option<i64>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
    )
    .bind(now_ms())
    .bind(user_id)
    .bind(keep.unwrap_or(0))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}
