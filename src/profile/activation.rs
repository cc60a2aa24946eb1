//! "首次登录": self-service activation of an imported student (issue 16, SPEC §13) where no
//! campus sign-on is configured. The student gives the student id and the last six characters
//! of the national id number; a 6-digit code goes by SMS to the roster phone (through the
//! outbox); with it the student sets a password and is signed in.
//!
//! Asking never tells whether the id exists, matches, is already activated or asked too often:
//! the answer is always the same. Codes are the reset codes of `crate::accounts::password`
//! (same store, expiry, single use, tries, per-account limits); on top, a phone gets at most
//! [`PER_PHONE_HOUR`] codes an hour, and an address at most what `activation_limiter` allows.

use std::net::IpAddr;

use crate::accounts::domain::Username;
use crate::accounts::password::{self, RESET_CODE_TTL_MS};
use crate::accounts::store::{self as users, UserRow};
use crate::accounts::{SignedIn, sign_in_verified};
use crate::audit::{self, Actor, Event};
use crate::db::now_ms;
use crate::http::{AppResult, AppState, ErrorCode};

/// Codes sent to one phone number in an hour, whichever accounts carry it.
pub const PER_PHONE_HOUR: i64 = 3;

/// Activation is only offered where no campus sign-on is configured; else 404.
pub fn ensure_offered(state: &AppState) -> AppResult<()> {
    if state.settings.sso.campus() {
        return Err(ErrorCode::NotFound
            .with_message("Sign in with the campus account; self-service activation is off."));
    }
    Ok(())
}

/// The last six characters of an id number as typed: no spaces, `x` as `X`.
fn last6(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// An imported student not activated yet, whose id number ends with `id_last6`.
async fn candidate(
    state: &AppState,
    student_id: &str,
    id_last6: &str,
) -> AppResult<Option<UserRow>> {
    let Ok(username) = Username::parse(student_id) else {
        return Ok(None);
    };
    let typed = last6(id_last6);
    if typed.chars().count() != 6 {
        return Ok(None);
    }
    let Some(user) = users::find_by_username(&state.db.pool, username.as_str())
        .await?
        .filter(|u| u.active == 1 && u.password_hash.is_none() && u.phone_enc.is_some())
    else {
        return Ok(None);
    };
    // Decrypted for this comparison only; never logged.
    let Some(id_number) = users::open_id_number(&state.keys, &user) else {
        return Ok(None);
    };
    let tail: String = {
        let chars: Vec<char> = id_number.to_uppercase().chars().collect();
        chars[chars.len().saturating_sub(6)..].iter().collect()
    };
    let same = tail.len() == 6 && crate::http::web::csrf::same(&tail, &typed);
    Ok(same.then_some(user))
}

/// Sends an activation code to the roster phone when the student id and the last six match an
/// account not yet activated, and no limit is hit. Answers `Ok(())` either way.
pub async fn start(
    state: &AppState,
    student_id: &str,
    id_last6: &str,
    ip: Option<IpAddr>,
) -> AppResult<()> {
    ensure_offered(state)?;
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Ok(());
    }
    let Some(user) = candidate(state, student_id, id_last6).await? else {
        return Ok(());
    };
    let mut tx = state.db.begin().await?;
    if let Some(phone_bidx) = user.phone_bidx.as_deref() {
        let sent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM password_resets r JOIN users u ON u.id = r.user_id
             WHERE u.phone_bidx = $1 AND r.via = 'sms' AND r.created_at > $2",
        )
        .bind(phone_bidx)
        .bind(now_ms() - 3_600_000)
        .fetch_one(&mut *tx)
        .await?;
        if sent >= PER_PHONE_HOUR {
            return Ok(());
        }
    }
    if let Some(ip) = ip
        && !state.activation_limiter.check(ip)
    {
        return Ok(());
    }
    let Some((id, code)) = password::issue_sms_code(&mut tx, state, user.id).await? else {
        return Ok(());
    };
    let minutes = RESET_CODE_TTL_MS / 60_000;
    let text = if user.lang == "en" {
        format!(
            "[medclaim] Your activation code is {code}. It expires in {minutes} minutes. \
             If you did not ask for it, ignore this message."
        )
    } else {
        format!(
            "【医保通】您正在激活账号，验证码 {code}，{minutes} 分钟内有效。如非本人操作请忽略。"
        )
    };
    let payload = crate::notify::outbox::Payload {
        kind: "activation_code".into(),
        lang: user.lang.clone(),
        subject: String::new(),
        text,
        // The worker sends it to the phone on file (the roster phone).
        to_phone_enc: None,
    };
    let masked = users::open_phone(&state.keys, &user).map(|p| crate::crypto::mask_phone(&p));
    crate::notify::outbox::enqueue_for_user(
        &mut tx,
        "sms",
        user.id,
        masked.as_deref(),
        &payload,
        &format!("activation:{id}"),
    )
    .await?;
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let event = Event {
        action: "account.activation_code",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("activation code {id} queued"),
    };
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets the first password with the code and signs in. 422 `code_invalid` for an unknown,
/// already activated or wrong one, `code_expired`, `weak_password`; 429 `too_many_attempts`.
pub async fn activate(
    state: &AppState,
    student_id: &str,
    code: &str,
    new_password: &str,
    kind: &str,
    ip: Option<IpAddr>,
    device: Option<&str>,
) -> AppResult<SignedIn> {
    ensure_offered(state)?;
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Err(ErrorCode::RateLimited.with_message("Too many attempts; wait a minute."));
    }
    password::check_new(new_password, "password")?;
    let Ok(username) = Username::parse(student_id) else {
        return Err(password::code_invalid());
    };
    let Some(user) = users::find_by_username(&state.db.pool, username.as_str())
        .await?
        .filter(|u| u.active == 1 && u.password_hash.is_none())
    else {
        return Err(password::code_invalid());
    };
    let (mut tx, id, password_hash) =
        password::claim_sms_code(state, user.id, code, new_password).await?;
    let set = sqlx::query(
        "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2
         WHERE id = $3 AND password_hash IS NULL",
    )
    .bind(&password_hash)
    .bind(now_ms())
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    if set.rows_affected() != 1 {
        // Activated by a request that got here first.
        return Err(password::code_invalid());
    }
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now_ms())
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let event = Event {
        action: "account.activate",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("account activated with SMS code {id}"),
    };
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    let user = UserRow {
        password_hash: Some(password_hash),
        ..user
    };
    let (signed, _) = sign_in_verified(state, user, kind, "activation", ip, device).await?;
    Ok(signed)
}
