//! Passwords after the first sign-in (SPEC §13): changing one's own with the current one, and
//! resetting a forgotten one with a one-time secret. Either way every other session ends.
//!
//! Reset secrets live in `password_resets`: a 6-digit code sent by SMS (`via = 'sms'`, issued
//! here, sent by `crate::profile::password_reset` through the outbox) or, later, a link an
//! administrator hands over (`via = 'link'`, found by the hash of its token alone). Only a keyed
//! hash of a secret is kept; it expires, is used once and allows a few wrong tries.

use std::net::IpAddr;

use super::domain::{self, Username};
use super::store;
use crate::audit::{self, Actor, Event};
use crate::db::{Tx, now_ms};
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState, ErrorCode};

/// A code by SMS works for 10 minutes, with 5 tries.
pub const RESET_CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const RESET_CODE_TRIES: i64 = 5;
/// Per account: one code a minute, five an hour.
const MIN_GAP_MS: i64 = 60 * 1000;
const PER_HOUR: i64 = 5;

/// The new password (the form's `field`) under the password rules, else 422 `weak_password`.
pub fn check_new(password: &str, field: &str) -> AppResult<()> {
    domain::check_new_password(password).map_err(|why| {
        ErrorCode::WeakPassword
            .with_message(format!("The new password {why}."))
            .with_field(field, why)
    })
}

/// The stored form of a code for one account (the user id binds it to that account).
fn code_hash(state: &AppState, user_id: i64, code: &str) -> String {
    state
        .keys
        .blind_index("password_reset", &format!("{user_id}:{code}"))
}

/// A new reset code for `user_id` by SMS, in the caller's transaction; `None` when the account
/// asked too often (the caller answers exactly as if it had been sent). Answers the code's row
/// id and the code itself, which only the SMS carries.
pub async fn issue_sms_code(
    tx: &mut Tx,
    state: &AppState,
    user_id: i64,
) -> AppResult<Option<(i64, String)>> {
    let now = now_ms();
    let (last_hour, last): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(created_at) FROM password_resets
         WHERE user_id = $1 AND via = 'sms' AND created_at > $2",
    )
    .bind(user_id)
    .bind(now - 3_600_000)
    .fetch_one(&mut **tx)
    .await?;
    if last_hour >= PER_HOUR || last.is_some_and(|t| now - t < MIN_GAP_MS) {
        return Ok(None);
    }
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO password_resets (user_id, via, secret_hash, tries_left, expires_at, created_at)
         VALUES ($1, 'sms', $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(code_hash(state, user_id, &code))
    .bind(RESET_CODE_TRIES)
    .bind(now + RESET_CODE_TTL_MS)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some((id, code)))
}

pub(crate) fn code_invalid() -> AppError {
    ErrorCode::CodeInvalid
        .with_message("The code is not right.")
        .with_field("code", "does not match")
}

/// Sets a new password with the code sent by SMS to the account's phone; every session of the
/// account ends. An unknown login name answers as a wrong code does.
pub async fn reset_with_code(
    state: &AppState,
    username: &str,
    code: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> AppResult<()> {
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Err(ErrorCode::RateLimited.with_message("Too many attempts; wait a minute."));
    }
    check_new(password, "password")?;
    let Ok(username) = Username::parse(username) else {
        return Err(code_invalid());
    };
    // Only an account with a password has one to reset. That also keeps the two kinds of SMS
    // code apart: an activation code (sent only to accounts without a password, after the id
    // number's last six) is never taken here, and a reset code (sent only to accounts with a
    // password) never activates.
    let Some(user) = store::find_by_username(&state.db.pool, username.as_str())
        .await?
        .filter(|u| u.active == 1 && u.password_hash.is_some())
    else {
        return Err(code_invalid());
    };
    let (mut tx, id, password_hash) = claim_sms_code(state, user.id, code, password).await?;
    let ended = replace_password(&mut tx, user.id, &password_hash, None).await?;
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let event = Event {
        action: "user.password_reset",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("password reset with SMS code {id}; {ended} sessions ended"),
    };
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks `code` against the newest open SMS code of `user_id` (expiry, tries, a wrong one
/// spends a try), hashes `password` and spends the code: answers the transaction to finish the
/// change in, and the code's row id. Used to reset a password and to activate an account.
pub(crate) async fn claim_sms_code(
    state: &AppState,
    user_id: i64,
    code: &str,
    password: &str,
) -> AppResult<(Tx, i64, String)> {
    let code = code.trim();
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let newest: Option<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT id, secret_hash, tries_left, expires_at FROM password_resets
         WHERE user_id = $1 AND via = 'sms' AND used_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, hash, tries_left, expires_at)) = newest else {
        return Err(code_invalid());
    };
    if expires_at <= now {
        return Err(ErrorCode::CodeExpired
            .with_message("The code has expired; ask for a new one.")
            .with_field("code", "expired"));
    }
    if tries_left <= 0 {
        return Err(
            ErrorCode::TooManyAttempts.with_message("Too many wrong codes; ask for a new one.")
        );
    }
    let matches =
        code.len() == 6 && crate::http::web::csrf::same(&code_hash(state, user_id, code), &hash);
    if !matches {
        sqlx::query(
            "UPDATE password_resets SET tries_left = tries_left - 1 WHERE id = $1 AND tries_left > 0",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Err(code_invalid());
    }
    // Hashing is slow: done outside the transaction, after the code is known to be right.
    tx.commit().await?;
    let password_hash = domain::hash_password(password.to_string()).await?;
    let mut tx = state.db.begin().await?;
    let claimed = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND tries_left > 0",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() != 1 {
        // Used by a request that got here first.
        return Err(code_invalid());
    }
    Ok((tx, id, password_hash))
}

/// Changes the caller's password, given the current one (the sign-in rules apply to it: rate
/// limit, failures counted, lock); every other session ends, this one stays.
pub async fn change(
    state: &AppState,
    user: &CurrentUser,
    current: &str,
    new: &str,
    ip: Option<IpAddr>,
) -> AppResult<()> {
    super::check_own_password(state, user, current, ip)
        .await
        .map_err(|e| {
            if e.code == ErrorCode::InvalidCredentials {
                ErrorCode::InvalidCredentials
                    .with_message("Wrong current password.")
                    .with_field("current_password", "does not match")
            } else {
                e
            }
        })?;
    check_new(new, "new_password")?;
    let password_hash = domain::hash_password(new.to_string()).await?;
    let mut tx = state.db.begin().await?;
    let ended = replace_password(&mut tx, user.id, &password_hash, Some(user.session_id)).await?;
    let event = Event {
        action: "user.password_change",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("password changed; {ended} other sessions ended"),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// The new password hash replaces the old one (and the lock, and the count of failures); any
/// reset secret still open is spent; every session but `keep` ends. Answers how many ended.
async fn replace_password(
    tx: &mut Tx,
    user_id: i64,
    password_hash: &str,
    keep: Option<i64>,
) -> sqlx::Result<u64> {
    store::set_password(tx, user_id, password_hash).await?;
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now_ms())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    store::revoke_sessions_except(tx, user_id, keep).await
}
