//! One's own sessions (SPEC §13): the list in "我的" (device, when opened, last seen), ending
//! one of them, and ending all but the current one.

use axum::extract::FromRequestParts;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;

use super::{domain, store};
use crate::audit::{self, Event};
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState};

/// The short device label of the caller's User-Agent, for a session about to be opened.
pub struct Device(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Device {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ua = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(Device(domain::device_label(ua)))
    }
}

/// A session as its owner sees it.
pub struct OwnSession {
    pub id: i64,
    pub device: Option<String>,
    /// `api` (a bearer token) or `web` (a browser's cookie).
    pub kind: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session this request came with.
    pub current: bool,
}

/// The caller's sessions that still work, the most recently used first.
pub async fn list(state: &AppState, user: &CurrentUser) -> AppResult<Vec<OwnSession>> {
    let idle_ms = state.settings.session_idle.as_millis() as i64;
    let rows = store::active_sessions(&state.db.pool, user.id, idle_ms).await?;
    Ok(rows
        .into_iter()
        .map(|row| OwnSession {
            current: row.id == user.session_id,
            id: row.id,
            device: row.device,
            kind: row.kind,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
        })
        .collect())
}

/// Ends one of the caller's own sessions (the current one too: that is signing out); another
/// person's session, or one already ended, is 404.
pub async fn revoke(state: &AppState, user: &CurrentUser, id: i64) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    if !store::revoke_own_session(&mut tx, user.id, id).await? {
        return Err(AppError::not_found());
    }
    let event = Event {
        action: "session.revoke",
        object_type: "session",
        object_id: id.to_string(),
        summary: "signed out from the list of sessions".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends every session of the caller but the current one ("sign out everywhere else").
pub async fn revoke_others(state: &AppState, user: &CurrentUser) -> AppResult<u64> {
    let mut tx = state.db.begin().await?;
    let ended = store::revoke_sessions_except(&mut tx, user.id, Some(user.session_id)).await?;
    let event = Event {
        action: "session.revoke_others",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("{ended} other sessions signed out"),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(ended)
}
