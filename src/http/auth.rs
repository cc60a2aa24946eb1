//! Who is asking: `CurrentUser` from a bearer token or the session cookie, and
//! `RequireRole<R>` for routes that need one of a set of roles. Plumbing: the session and
//! role lookups live here so that every context can guard its routes without importing
//! `accounts` (which signs people in and manages them).

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum_extra::extract::CookieJar;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor, FromRow};

use super::{AppError, AppState, client_ip};
use crate::crypto::sha256_hex;
use crate::db::now_ms;
use crate::http::ErrorCode;

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
    /// When this session's owner last gave a password or passkey (step-up).
    pub reauth_at: Option<i64>,
}

impl CurrentUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    pub fn is_staff(&self) -> bool {
        self.roles.iter().any(|r| r.is_staff())
    }
    /// Reads other people's case details, invoices, record photos and support threads
    /// (reviewers and admins, SPEC §2); finance and auditors do not.
    pub fn reads_cases(&self) -> bool {
        crate::http::access::CASE_READERS
            .iter()
            .any(|r| self.has(*r))
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
        // The session, its person and their roles in one round trip (one row per role).
        let rows = find_session(&state.db.pool, token).await?;
        let roles: Vec<Role> = rows
            .iter()
            .filter_map(|r| r.role.as_deref()?.parse().ok())
            .collect();
        let Some(session) = rows.into_iter().next() else {
            return Ok(None);
        };
        let now = now_ms();
        let idle_ms = state.settings.session_idle.as_millis() as i64;
        if session.revoked_at.is_some()
            || now >= session.expires_at
            || now - session.last_seen_at > idle_ms
            || session.active != 1
        {
            return Ok(None);
        }
        if now - session.last_seen_at > 60_000 {
            touch_session(&state.db.pool, session.id, now).await?;
        }
        let is_api = parts.uri.path().starts_with("/api/");
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && is_api && !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_token(sent, &session.csrf_token) {
                return Err(ErrorCode::CsrfFailed.with_message("Missing or wrong CSRF token."));
            }
        }
        Ok(Some(CurrentUser {
            id: session.user_id,
            username: session.username,
            name: session.name,
            roles,
            lang: session.lang,
            session_id: session.id,
            csrf_token: session.csrf_token,
            addr: client_ip(parts).map(|ip| ip.to_string()),
            reauth_at: session.reauth_at,
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

impl CurrentUser {
    /// Step-up (SPEC §9): `Ok` when a password or passkey was given in this session within
    /// the configured window, else 401 `reauth_required` (pages ask inline and try again).
    pub fn require_fresh_auth(&self, state: &AppState) -> Result<(), AppError> {
        let window = state.settings.reauth_window.as_millis() as i64;
        match self.reauth_at {
            Some(at) if now_ms() - at <= window => Ok(()),
            _ => Err(ErrorCode::ReauthRequired
                .with_message("Confirm it is you (password or passkey) to continue.")),
        }
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Student,
    Reviewer1,
    Reviewer2,
    Admin,
    Finance,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Student,
        Role::Reviewer1,
        Role::Reviewer2,
        Role::Admin,
        Role::Finance,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Reviewer1 => "reviewer1",
            Role::Reviewer2 => "reviewer2",
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Auditor => "auditor",
        }
    }

    pub fn is_staff(self) -> bool {
        self != Role::Student
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}' (one of student, reviewer1, reviewer2, admin, finance, auditor)"))
    }
}

/// Who did something, and from where. Never carries personal data.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Option<i64>,
    pub label: String,
    pub addr: Option<String>,
}

impl Actor {
    pub fn system(label: &str) -> Actor {
        Actor {
            id: None,
            label: label.to_string(),
            addr: None,
        }
    }
    pub fn user(id: i64, username: &str, addr: Option<String>) -> Actor {
        Actor {
            id: Some(id),
            label: username.to_string(),
            addr,
        }
    }
}

/// Constant-time equality of two tokens (false when either is empty).
pub fn same_token(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() || a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// A session with its person, and one of their roles (`None`: they hold none).
#[derive(Debug, Clone, FromRow)]
struct SessionRow {
    id: i64,
    user_id: i64,
    csrf_token: String,
    last_seen_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    reauth_at: Option<i64>,
    username: String,
    name: String,
    lang: String,
    active: i64,
    role: Option<String>,
}

async fn find_session<'e>(
    exec: impl Executor<'e, Database = Any>,
    token: &str,
) -> sqlx::Result<Vec<SessionRow>> {
    sqlx::query_as::<_, SessionRow>(
        "SELECT s.id, s.user_id, s.csrf_token, s.last_seen_at, s.expires_at, s.revoked_at, s.reauth_at,
                u.username, u.name, u.lang, u.active, r.role
         FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN user_roles r ON r.user_id = u.id
         WHERE s.token_hash = $1 ORDER BY r.role",
    )
    .bind(sha256_hex(token.as_bytes()))
    .fetch_all(exec)
    .await
}

async fn touch_session<'e>(
    exec: impl Executor<'e, Database = Any>,
    id: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// The roles a person holds.
pub async fn roles_of<'e>(
    exec: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> sqlx::Result<Vec<Role>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(exec)
            .await?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

/// Refuses a page form whose CSRF token is not the session's: the one 403 page.
pub fn csrf_refused(headers: &axum::http::HeaderMap) -> axum::response::Response {
    crate::http::access::refuse(
        true,
        ErrorCode::CsrfFailed.with_message("Missing or wrong CSRF token."),
        headers,
    )
}

/// Checks a page form's `csrf` field against the session (for multipart forms, which read
/// their fields themselves); `Err` is the 403 page (a `Response`, as axum rejections are).
#[allow(clippy::result_large_err)]
pub fn check_page_csrf(
    user: &CurrentUser,
    sent: &str,
    headers: &axum::http::HeaderMap,
) -> Result<(), axum::response::Response> {
    if crate::http::web::csrf::same(sent, &user.csrf_token) {
        Ok(())
    } else {
        Err(csrf_refused(headers))
    }
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A signed-in user's URL-encoded form post: the session is resolved (an anonymous browser
/// goes to the login page), the form's `csrf` field is checked against the session's token
/// (the 403 page otherwise) and the form is parsed into `T`. The route's roles are checked
/// before, by the access table (`crate::http::access`).
pub struct CsrfForm<T> {
    pub user: CurrentUser,
    pub form: T,
}

impl<T> FromRequest<AppState> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = axum::response::Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (mut parts, body) = req.into_parts();
        let user = match CurrentUser::from_request_parts(&mut parts, state).await {
            Ok(user) => user,
            Err(e) => return Err(crate::http::access::refuse(true, e, &parts.headers)),
        };
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let parse = |bytes: axum::body::Bytes| {
            let mut req = axum::extract::Request::new(axum::body::Body::from(bytes));
            *req.headers_mut() = headers.clone();
            *req.method_mut() = Method::POST;
            req
        };
        let axum::Form(CsrfField { csrf }) =
            axum::Form::<CsrfField>::from_request(parse(bytes.clone()), state)
                .await
                .map_err(IntoResponse::into_response)?;
        check_page_csrf(&user, &csrf, &headers)?;
        let axum::Form(form) = axum::Form::<T>::from_request(parse(bytes), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(CsrfForm { user, form })
    }
}
