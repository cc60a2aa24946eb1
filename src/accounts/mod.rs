//! Accounts: users, roles, passwords, sessions and the login rules.

pub mod admin;
pub mod admin_api;
pub mod api;
pub mod domain;
pub mod pages;
pub mod passkeys;
pub mod passkeys_api;
pub mod passkeys_store;
pub mod password;
pub mod self_api;
pub mod sessions;
pub mod store;

use std::net::IpAddr;

use crate::audit::{self, Actor, Event};
use crate::db::now_ms;
use crate::http::auth::{CurrentUser, Role};
use crate::http::{AppError, AppState, ErrorCode};

/// A signed-in session: the token to hand out and who it belongs to.
pub struct SignedIn {
    pub token: String,
    pub user: store::UserRow,
    pub roles: Vec<Role>,
}

/// Checks a login name and password under the rules of SPEC §9: a per-address rate limit, the
/// same answer for an unknown user and a wrong password, and a lock after repeated failures.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    kind: &str,
    ip: Option<IpAddr>,
    device: Option<&str>,
) -> Result<SignedIn, AppError> {
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Err(ErrorCode::RateLimited
            .with_message("Too many sign-in attempts from this address; wait a minute."));
    }
    let invalid = || ErrorCode::InvalidCredentials.with_message("Wrong login name or password.");
    let user = store::find_by_username(&state.db.pool, username.trim())
        .await?
        .filter(|u| u.active == 1);
    let Some(user) = user else {
        domain::verify_password(password.to_string(), None).await;
        return Err(invalid());
    };
    // A locked account answers exactly as a wrong password does — same status, body and
    // (the hash is checked all the same) time — so a guesser learns nothing from the lock.
    let locked = user.locked_until.is_some_and(|t| t > now_ms());
    let verified = domain::verify_password(password.to_string(), user.password_hash.clone()).await;
    if locked {
        return Err(invalid());
    }
    let ok = verified;
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let mut tx = state.db.begin().await?;
    if !ok {
        let settings = &state.settings;
        let lock_ms = settings.lockout.as_millis() as i64;
        if store::register_failure(&mut tx, user.id, settings.max_failed_logins, lock_ms).await? {
            let event = Event {
                action: "account.lock",
                object_type: "user",
                object_id: user.id.to_string(),
                summary: format!(
                    "locked for {} s after repeated failed sign-ins",
                    lock_ms / 1000
                ),
            };
            audit::record(&mut tx, &actor, event).await?;
        }
        tx.commit().await?;
        return Err(invalid());
    }
    store::clear_failures(&mut tx, user.id).await?;
    let roles = store::roles_of(&mut *tx, user.id).await?;
    if state.settings.staff_passkey_required
        && roles.iter().any(|r| r.is_staff())
        && passkeys_store::count_for_user(&mut *tx, user.id).await? > 0
    {
        tx.commit().await?;
        return Err(ErrorCode::PasskeyRequired
            .with_message("Staff accounts with a passkey sign in with the passkey."));
    }
    let absolute_ms = state.settings.session_absolute.as_millis() as i64;
    let (token, session_id) =
        store::create_session(&mut tx, user.id, kind, absolute_ms, true, device).await?;
    let event = Event {
        action: "session.create",
        object_type: "session",
        object_id: session_id.to_string(),
        summary: format!("{kind} sign-in"),
    };
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(SignedIn { token, user, roles })
}

/// Ends a session (logout); the token stops working at once.
pub async fn sign_out(state: &AppState, user: &CurrentUser) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    store::revoke_session(&mut tx, user.session_id).await?;
    let event = Event {
        action: "session.revoke",
        object_type: "session",
        object_id: user.session_id.to_string(),
        summary: "sign-out".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Opens a session for a person another party has already authenticated (a sign-on provider
/// named by `via`: `cas`, `oidc`, `wechat`); the audit log says which. The account must be
/// active; its roles are whatever it already has.
pub async fn sign_in_verified(
    state: &AppState,
    user: store::UserRow,
    kind: &str,
    via: &str,
    ip: Option<IpAddr>,
    device: Option<&str>,
) -> Result<(SignedIn, i64), AppError> {
    let actor = Actor::user(user.id, &user.username, ip.map(|i| i.to_string()));
    let mut tx = state.db.begin().await?;
    store::clear_failures(&mut tx, user.id).await?;
    let absolute_ms = state.settings.session_absolute.as_millis() as i64;
    let (token, session_id) =
        store::create_session(&mut tx, user.id, kind, absolute_ms, false, device).await?;
    let event = Event {
        action: "session.create",
        object_type: "session",
        object_id: session_id.to_string(),
        summary: format!("{kind} sign-in via {via}"),
    };
    audit::record(&mut tx, &actor, event).await?;
    let roles = store::roles_of(&mut *tx, user.id).await?;
    tx.commit().await?;
    Ok((SignedIn { token, user, roles }, session_id))
}

/// Ends a session by id on behalf of a provider (CAS single logout).
pub async fn end_session_by_provider(
    state: &AppState,
    session_id: i64,
    via: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    store::revoke_session(&mut tx, session_id).await?;
    let event = Event {
        action: "session.revoke",
        object_type: "session",
        object_id: session_id.to_string(),
        summary: format!("single logout via {via}"),
    };
    audit::record(&mut tx, &Actor::system(via), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks the caller's own password under the sign-in rules: the per-address rate limit, the
/// account's lock, and a failure counted towards it. Used by step-up and by changing the
/// password; on `Ok` the caller clears the failures in its own transaction.
pub async fn check_own_password(
    state: &AppState,
    user: &CurrentUser,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<(), AppError> {
    if let Some(ip) = ip
        && !state.login_limiter.check(ip).await
    {
        return Err(ErrorCode::RateLimited
            .with_message("Too many sign-in attempts from this address; wait a minute."));
    }
    let invalid = || ErrorCode::InvalidCredentials.with_message("Wrong password.");
    if password.len() > 1024 {
        return Err(invalid());
    }
    let row = store::find_by_id(&state.db.pool, user.id)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    let locked = row.locked_until.is_some_and(|t| t > now_ms());
    let verified = domain::verify_password(password.to_string(), row.password_hash.clone()).await;
    if locked || !verified {
        if !locked {
            let mut tx = state.db.begin().await?;
            let lock_ms = state.settings.lockout.as_millis() as i64;
            store::register_failure(&mut tx, user.id, state.settings.max_failed_logins, lock_ms)
                .await?;
            tx.commit().await?;
        }
        return Err(invalid());
    }
    Ok(())
}

/// Step-up with the password (SPEC §9): the same rate limit and lockout as signing in; on
/// success the session counts as freshly authenticated for the configured window.
pub async fn reauth_with_password(
    state: &AppState,
    user: &CurrentUser,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<(), AppError> {
    check_own_password(state, user, password, ip).await?;
    let mut tx = state.db.begin().await?;
    store::clear_failures(&mut tx, user.id).await?;
    store::mark_reauthenticated(&mut tx, user.session_id).await?;
    let event = Event {
        action: "session.reauth",
        object_type: "session",
        object_id: user.session_id.to_string(),
        summary: "step-up with password".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}
