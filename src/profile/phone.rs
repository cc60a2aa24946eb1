//! Changing the phone number: a 6-digit code goes by SMS (through the outbox) to the new
//! number; only a keyed hash of it is kept; it expires in 10 minutes and allows 5 tries;
//! asking for codes is rate-limited per account (in the database, so across instances).

use crate::accounts::domain::Phone;
use crate::audit::{self, Event};
use crate::crypto::mask_phone;
use crate::db::now_ms;
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState, ErrorCode};

pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const MAX_TRIES: i64 = 5;
/// One code a minute, five an hour.
const MIN_GAP_MS: i64 = 60 * 1000;
const PER_HOUR: i64 = 5;

fn code_hash(state: &AppState, user_id: i64, code: &str) -> String {
    state
        .keys
        .blind_index("phone_code", &format!("{user_id}:{code}"))
}

fn rate_limited() -> AppError {
    ErrorCode::RateLimited.with_message("Too many codes requested; wait a while.")
}

/// Sends a code to `phone`; answers the masked number it went to.
pub async fn request_code(state: &AppState, user: &CurrentUser, phone: &str) -> AppResult<String> {
    let phone = Phone::parse(phone).map_err(|why| {
        ErrorCode::InvalidInput
            .with_message("Check the phone number.")
            .with_field("phone", why)
    })?;
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let (last_hour, last): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(created_at) FROM phone_change_codes WHERE user_id = $1 AND created_at > $2",
    )
    .bind(user.id)
    .bind(now - 3_600_000)
    .fetch_one(&mut *tx)
    .await?;
    if last_hour >= PER_HOUR || last.is_some_and(|t| now - t < MIN_GAP_MS) {
        return Err(rate_limited());
    }
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let phone_enc = state
        .keys
        .encrypt(&format!("users.phone|{}", user.username), phone.as_str());
    let phone_bidx = state.keys.blind_index("phone", phone.as_str());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO phone_change_codes (user_id, code_hash, phone_enc, phone_bidx, tries_left, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(user.id)
    .bind(code_hash(state, user.id, &code))
    .bind(&phone_enc)
    .bind(&phone_bidx)
    .bind(MAX_TRIES)
    .bind(now + CODE_TTL_MS)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let text = if user.lang == "en" {
        format!("[medclaim] Your verification code is {code}. It expires in 10 minutes.")
    } else {
        format!("【医保通】您的验证码是 {code}，10 分钟内有效。")
    };
    let payload = crate::notify::outbox::Payload {
        kind: "phone_code".into(),
        lang: user.lang.clone(),
        subject: String::new(),
        text,
        to_phone_enc: Some(phone_enc),
    };
    let masked = mask_phone(phone.as_str());
    crate::notify::outbox::enqueue_for_user(
        &mut tx,
        "sms",
        user.id,
        Some(&masked),
        &payload,
        &format!("phone_code:{id}"),
    )
    .await?;
    let event = Event {
        action: "user.phone_code",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("verification code {id} queued"),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(masked)
}

/// Applies the newest code; answers the new masked number.
pub async fn apply_code(state: &AppState, user: &CurrentUser, code: &str) -> AppResult<String> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let row: Option<(i64, String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, code_hash, phone_enc, phone_bidx, tries_left, expires_at FROM phone_change_codes
         WHERE user_id = $1 AND used_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, hash, phone_enc, phone_bidx, tries_left, expires_at)) = row else {
        return Err(expired());
    };
    if expires_at <= now {
        return Err(expired());
    }
    if tries_left <= 0 {
        return Err(
            ErrorCode::TooManyAttempts.with_message("Too many wrong codes; ask for a new one.")
        );
    }
    let code = code.trim();
    let ok =
        code.len() == 6 && crate::http::web::csrf::same(&code_hash(state, user.id, code), &hash);
    if !ok {
        sqlx::query("UPDATE phone_change_codes SET tries_left = tries_left - 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Err(ErrorCode::InvalidCode
            .with_message("The code is not right.")
            .with_field("code", "does not match"));
    }
    sqlx::query("UPDATE users SET phone_enc = $1, phone_bidx = $2, updated_at = $3 WHERE id = $4")
        .bind(&phone_enc)
        .bind(&phone_bidx)
        .bind(now)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE phone_change_codes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    let event = Event {
        action: "user.phone_change",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("phone changed with code {id}"),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    let plain = state
        .keys
        .decrypt(&format!("users.phone|{}", user.username), &phone_enc)
        .map_err(|e| AppError::internal(e.into()))?;
    Ok(mask_phone(&plain))
}

fn expired() -> AppError {
    ErrorCode::CodeExpired
        .with_message("The code has expired; ask for a new one.")
        .with_field("code", "expired")
}
