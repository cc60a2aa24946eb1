//! "忘记密码": a 6-digit code by SMS to the phone on file (through the outbox), then a new
//! password with it (`crate::accounts::password::reset_with_code`). Asking never tells whether
//! the account exists, has a phone or asked too often: the answer is always the same.

use std::net::IpAddr;

use crate::accounts::domain::Username;
use crate::accounts::password::{self, RESET_CODE_TTL_MS};
use crate::accounts::store as users;
use crate::audit::{self, Actor, Event};
use crate::http::{AppResult, AppState, ErrorCode};

/// Sends a reset code to the account's phone, if there is such an active account with a
/// password and a phone, and it has not asked too often. Only the per-address limit is ever answered (429), since it says
/// nothing about the account.
pub async fn start(state: &AppState, username: &str, ip: Option<IpAddr>) -> AppResult<()> {
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Err(ErrorCode::RateLimited.with_message("Too many attempts; wait a minute."));
    }
    let Ok(username) = Username::parse(username) else {
        return Ok(());
    };
    let Some(user) = users::find_by_username(&state.db.pool, username.as_str())
        .await?
        // An account never activated has no password to reset: activation is its own way in
        // (it asks for more than the phone).
        .filter(|u| u.active == 1 && u.phone_enc.is_some() && u.password_hash.is_some())
    else {
        return Ok(());
    };
    let mut tx = state.db.begin().await?;
    let Some((id, code)) = password::issue_sms_code(&mut tx, state, user.id).await? else {
        return Ok(());
    };
    let minutes = RESET_CODE_TTL_MS / 60_000;
    let text = if user.lang == "en" {
        format!(
            "[medclaim] Your password reset code is {code}. It expires in {minutes} minutes. \
             If you did not ask for it, ignore this message."
        )
    } else {
        format!(
            "【医保通】您正在重设密码，验证码 {code}，{minutes} 分钟内有效。如非本人操作请忽略。"
        )
    };
    let payload = crate::notify::outbox::Payload {
        kind: "password_reset_code".into(),
        lang: user.lang.clone(),
        subject: String::new(),
        text,
        // The worker sends it to the phone on file.
        to_phone_enc: None,
    };
    let masked = users::open_phone(&state.keys, &user).map(|p| crate::crypto::mask_phone(&p));
    crate::notify::outbox::enqueue_for_user(
        &mut tx,
        "sms",
        user.id,
        masked.as_deref(),
        &payload,
        &format!("password_reset:{id}"),
    )
    .await?;
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let event = Event {
        action: "user.password_reset_code",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("password reset code {id} queued"),
    };
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(())
}
