//! Staff administration for scripts (SPEC §13): `GET/POST /api/v1/admin/users`,
//! `PATCH /api/v1/admin/users/{id}`, and `POST /api/v1/auth/password-reset/link` where a
//! person sets a password with the one-time link an administrator handed over. The reset link
//! itself is issued by `crate::profile::reset_link` (it may e-mail it through the outbox).
//! Changes need a fresh authentication (step-up): 401 `reauth_required` otherwise.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{self, Change, Filter, NewStaff, Person};
use crate::http::auth::{Admins, RequireRole, Role};
use crate::http::error::ErrorBodySchema;
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
        .routes(routes!(reset_with_link))
}

/// A person as the administration sees them (no phone or ID number).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub active: bool,
    pub email: Option<String>,
    /// The last session opened, RFC 3339.
    pub last_sign_in_at: Option<String>,
}

impl From<Person> for UserView {
    fn from(p: Person) -> UserView {
        UserView {
            id: p.id,
            username: p.username,
            name: p.name,
            roles: p.roles,
            active: p.active,
            email: p.email,
            last_sign_in_at: p.last_sign_in_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct UsersQuery {
    /// A substring of the login name or the name.
    pub q: Option<String>,
    /// Only holders of this role.
    pub role: Option<String>,
    /// Only active (true) or deactivated (false) people.
    pub active: Option<bool>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<i64>,
    /// Page size, 1 to 200 (50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UsersPage {
    pub items: Vec<UserView>,
    pub next_cursor: Option<String>,
}

/// The filter of a list request; 422 `invalid_input` on `role` for an unknown role.
pub fn filter_of(q: UsersQuery) -> AppResult<Filter> {
    let role = match q.role.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Some(r.parse::<Role>().map_err(|why| {
            ErrorCode::InvalidInput
                .with_message(why.clone())
                .with_field("role", why)
        })?),
        None => None,
    };
    Ok(Filter {
        q: q.q,
        role,
        active: q.active,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(50),
    })
}

/// People, by id: search by login name or name, filter by role and active.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(UsersQuery), security(("bearer" = [])),
    responses((status = 200, body = UsersPage), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn list_users(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
    Query(q): Query<UsersQuery>,
) -> AppResult<Json<UsersPage>> {
    let (people, next) = admin::list(&state, &filter_of(q)?).await?;
    Ok(Json(UsersPage {
        items: people.into_iter().map(UserView::from).collect(),
        next_cursor: next.map(|c| c.to_string()),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct NewUserBody {
    pub username: String,
    pub name: String,
    /// Staff roles: reviewer1, reviewer2, admin, finance, auditor.
    pub roles: Vec<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Create a staff account (no password yet: send it a reset link). 409 `conflict` when the
/// login name is taken; 422 `invalid_input` with fields; 401 `reauth_required` without a fresh
/// authentication.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUserBody, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 409, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn create_user(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    admin.require_fresh_auth(&state)?;
    let new = NewStaff {
        username: body.username,
        name: body.name,
        roles: body.roles,
        email: body.email,
        phone: body.phone,
    };
    let person = admin::create(&state, &admin, new).await?;
    Ok((StatusCode::CREATED, Json(person.into())))
}

#[derive(Deserialize, ToSchema)]
pub struct UserChange {
    /// The staff roles the person holds from now on (a student keeps the student role).
    pub roles: Option<Vec<String>>,
    /// false deactivates (every session ends at once), true reactivates.
    pub active: Option<bool>,
}

/// Grant and revoke roles, deactivate or reactivate. 409 `last_admin` when no active
/// administrator would remain; 401 `reauth_required` without a fresh authentication.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", request_body = UserChange, security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema),
              (status = 413, body = ErrorBodySchema), (status = 415, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn update_user(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<UserChange>,
) -> AppResult<Json<UserView>> {
    admin.require_fresh_auth(&state)?;
    let change = Change {
        roles: body.roles,
        active: body.active,
    };
    Ok(Json(
        admin::update(&state, &admin, id, change).await?.into(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct LinkReset {
    /// The token from the reset link (`/password-reset/link/{token}`).
    pub token: String,
    pub password: String,
}

/// Set one's password with a one-time reset link from an administrator; every session of the
/// account ends. 422 `code_invalid` for a used, replaced or expired link, `weak_password`.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/link", tag = "auth", request_body = LinkReset,
    responses((status = 204), (status = 400, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn reset_with_link(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LinkReset>,
) -> AppResult<StatusCode> {
    admin::reset_with_link(&state, &body.token, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
