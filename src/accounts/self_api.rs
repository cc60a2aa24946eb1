//! One's own password and sessions over the API (SPEC §13): `POST /api/v1/me/password`,
//! `GET /api/v1/me/sessions`, `DELETE /api/v1/me/sessions/{id}`,
//! `POST /api/v1/me/sessions/revoke-others`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::{self, OwnSession};
use crate::http::auth::CurrentUser;
use crate::http::error::ErrorBodySchema;
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppResult, AppState, ClientIp};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_others))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePassword {
    #[schema(max_length = 1024)]
    pub current_password: String,
    /// At least 8 characters (else 422 `weak_password`).
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
}

/// Change one's password with the current one. Every other session ends; this one stays.
/// A wrong current password is 401 `invalid_credentials` and counts towards the account's lock.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePassword,
    responses((status = 204), (status = 400, body = ErrorBodySchema), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, body = ErrorBodySchema)))]
async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    ApiJson(body): ApiJson<ChangePassword>,
) -> AppResult<StatusCode> {
    super::password::change(
        &state,
        &user,
        &body.current_password,
        &body.new_password,
        ip,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    /// A short label from the browser or program that signed in ("Chrome · Android"); `null`
    /// when it did not say.
    pub device: Option<String>,
    /// `web` (a browser) or `api` (a bearer token).
    pub kind: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, to the minute.
    pub last_seen_at: String,
    /// The session this request came with.
    pub current: bool,
}

impl From<OwnSession> for SessionView {
    fn from(s: OwnSession) -> SessionView {
        SessionView {
            id: s.id,
            device: s.device,
            kind: s.kind,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            current: s.current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

/// One's sessions that still work, the most recently used first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBodySchema)))]
async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<SessionList>> {
    let items = sessions::list(&state, &user).await?;
    Ok(Json(SessionList {
        items: items.into_iter().map(SessionView::from).collect(),
    }))
}

/// Sign out one of one's sessions (its token stops working at once). Another person's session,
/// or one already ended, is 404.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 204), (status = 400, body = ErrorBodySchema), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema)))]
async fn revoke_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    sessions::revoke(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out everywhere else: every session but this one ends.
#[utoipa::path(post, path = "/api/v1/me/sessions/revoke-others", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema)))]
async fn revoke_others(State(state): State<AppState>, user: CurrentUser) -> AppResult<StatusCode> {
    sessions::revoke_others(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
