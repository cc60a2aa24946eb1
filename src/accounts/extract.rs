//! Who is asking: `CurrentUser` from a bearer token or the session cookie, and
//! `RequireRole<R>` for routes that need one of a set of roles.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum_extra::extract::CookieJar;

use super::domain::Role;
use super::store;
use crate::audit::Actor;
use crate::db::now_ms;
use crate::http::{AppError, AppState, client_ip};

pub const SESSION_COOKIE: &str = "medclaim_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub lang: String,
    pub session_id: i64,
    pub csrf_token: String,
    pub addr: Option<String>,
}

impl CurrentUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    pub fn is_staff(&self) -> bool {
        self.roles.iter().any(|r| r.is_staff())
    }
    pub fn actor(&self) -> Actor {
        Actor::user(self.id, &self.username, self.addr.clone())
    }
}

/// Where the credentials came from: a cookie-borne session must prove a non-safe API call is
/// not cross-site (CSRF token header); a bearer token cannot be sent by another site.
enum Source {
    Bearer(String),
    Cookie(String),
}

fn credentials(parts: &Parts) -> Option<Source> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(Source::Bearer(token.trim().to_string()));
    }
    CookieJar::from_headers(&parts.headers)
        .get(SESSION_COOKIE)
        .map(|c| Source::Cookie(c.value().to_string()))
}

impl CurrentUser {
    /// Resolves the session, or `None` when there is no valid one.
    pub async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<CurrentUser>, AppError> {
        let Some(source) = credentials(parts) else {
            return Ok(None);
        };
        let (token, from_cookie) = match &source {
            Source::Bearer(t) => (t.as_str(), false),
            Source::Cookie(t) => (t.as_str(), true),
        };
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let Some(session) = store::find_session(&state.db.pool, token).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let idle_ms = state.settings.session_idle.as_millis() as i64;
        if session.revoked_at.is_some()
            || now >= session.expires_at
            || now - session.last_seen_at > idle_ms
        {
            return Ok(None);
        }
        let Some(user) = store::find_by_id(&state.db.pool, session.user_id)
            .await?
            .filter(|u| u.active == 1)
        else {
            return Ok(None);
        };
        if now - session.last_seen_at > 60_000 {
            store::touch_session(&state.db.pool, session.id, now).await?;
        }
        let is_api = parts.uri.path().starts_with("/api/");
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && is_api && !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !crate::web::csrf::same(sent, &session.csrf_token) {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "Missing or wrong CSRF token.",
                ));
            }
        }
        let roles = store::roles_of(&state.db.pool, user.id).await?;
        Ok(Some(CurrentUser {
            id: user.id,
            username: user.username,
            name: user.name,
            roles,
            lang: user.lang,
            session_id: session.id,
            csrf_token: session.csrf_token,
            addr: client_ip(parts).map(|ip| ip.to_string()),
        }))
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let user = CurrentUser::resolve(parts, state)
            .await?
            .ok_or_else(AppError::unauthenticated)?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A set of roles any one of which opens a route.
pub trait RoleSet {
    const ROLES: &'static [Role];
}

/// The current user, who holds one of `R::ROLES` (else 403).
pub struct RequireRole<R: RoleSet>(pub CurrentUser, PhantomData<R>);

impl<R: RoleSet> std::ops::Deref for RequireRole<R> {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

impl<R: RoleSet + Send + Sync> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if R::ROLES.iter().any(|r| user.has(*r)) {
            Ok(RequireRole(user, PhantomData))
        } else {
            Err(AppError::forbidden())
        }
    }
}

macro_rules! role_set {
    ($($(#[$doc:meta])* $name:ident => [$($role:ident),+];)+) => {
        $(
            $(#[$doc])*
            pub struct $name;
            impl RoleSet for $name {
                const ROLES: &'static [Role] = &[$(Role::$role),+];
            }
        )+
    };
}

role_set! {
    /// Claimants.
    Students => [Student];
    /// Office administrators.
    Admins => [Admin];
    /// Anyone on the staff.
    Staff => [Reviewer1, Reviewer2, Admin, Finance, Auditor];
    /// Level-1 reviewers.
    Reviewers1 => [Reviewer1];
    /// Level-2 reviewers.
    Reviewers2 => [Reviewer2];
    /// Who may read the audit log.
    AuditReaders => [Auditor, Admin];
    /// Who may download finance reports.
    FinanceReaders => [Finance, Admin];
    /// Staff at the hand-in desk: confirm hand-ins and no-shows.
    Desk => [Reviewer1, Reviewer2, Admin];
}

/// 401 for pages means "go to the login page".
pub fn status_is_unauthenticated(e: &AppError) -> bool {
    e.status == StatusCode::UNAUTHORIZED
}
