//! Accounts: users, roles, passwords, sessions and the login rules.

pub mod api;
pub mod domain;
pub mod extract;
pub mod pages;
pub mod store;

use std::net::IpAddr;

use axum::http::StatusCode;

pub use domain::Role;
pub use extract::{CurrentUser, RequireRole};

use crate::audit::{self, Actor, Event};
use crate::db::now_ms;
use crate::http::{AppError, AppState};

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
) -> Result<SignedIn, AppError> {
    if let Some(ip) = ip
        && state.login_limiter.check_key(&ip).is_err()
    {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many sign-in attempts from this address; wait a minute.",
        ));
    }
    let invalid = || {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Wrong login name or password.",
        )
    };
    let user = store::find_by_username(&state.db.pool, username.trim())
        .await?
        .filter(|u| u.active == 1);
    let Some(user) = user else {
        domain::verify_password(password.to_string(), None).await;
        return Err(invalid());
    };
    let now = now_ms();
    if user.locked_until.is_some_and(|t| t > now) {
        return Err(locked());
    }
    let ok = domain::verify_password(password.to_string(), user.password_hash.clone()).await;
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
    let absolute_ms = state.settings.session_absolute.as_millis() as i64;
    let (token, session_id) = store::create_session(&mut tx, user.id, kind, absolute_ms).await?;
    let event = Event {
        action: "session.create",
        object_type: "session",
        object_id: session_id.to_string(),
        summary: format!("{kind} sign-in"),
    };
    audit::record(&mut tx, &actor, event).await?;
    let roles = store::roles_of(&mut *tx, user.id).await?;
    tx.commit().await?;
    Ok(SignedIn { token, user, roles })
}

fn locked() -> AppError {
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "This account is locked for a while after repeated failed sign-ins.",
    )
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
