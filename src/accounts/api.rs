//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`, `GET /api/v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::Device;
use super::store;
use crate::crypto::{mask_id_number, mask_phone};
use crate::http::auth::CurrentUser;
use crate::http::auth::Role;
use crate::http::{ApiJson, AppError, AppResult, AppState, ClientIp, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(max_length = 64)]
    pub username: String,
    #[schema(max_length = 1024)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: UserSummary,
}

/// Sign in and get a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 429, body = crate::http::error::ErrorBodySchema)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Device(device): Device,
    ApiJson(body): ApiJson<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    if body.username.len() > 64 || body.password.len() > 1024 {
        return Err(ErrorCode::InvalidCredentials.with_message("Wrong login name or password."));
    }
    let signed = super::sign_in(
        &state,
        &body.username,
        &body.password,
        "api",
        ip,
        device.as_deref(),
    )
    .await?;
    Ok(Json(LoginResponse {
        token: signed.token,
        user: UserSummary {
            id: signed.user.id,
            username: signed.user.username,
            name: signed.user.name,
            roles: signed.roles,
        },
    }))
}

/// End this session; the token stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::http::error::ErrorBodySchema)))]
async fn logout(State(state): State<AppState>, user: CurrentUser) -> AppResult<StatusCode> {
    super::sign_out(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub class_name: Option<String>,
    pub enrolment_status: String,
    /// Masked, e.g. `138****8000`.
    pub phone_masked: Option<String>,
    /// Masked, e.g. `110***********002X`.
    pub id_number_masked: Option<String>,
    pub lang: String,
}

/// Who am I: own profile, personal data masked.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::http::error::ErrorBodySchema)))]
async fn me(State(state): State<AppState>, user: CurrentUser) -> AppResult<Json<Me>> {
    let row = store::find_by_id(&state.db.pool, user.id)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    Ok(Json(Me {
        phone_masked: store::open_phone(&state.keys, &row).map(|p| mask_phone(&p)),
        id_number_masked: store::open_id_number(&state.keys, &row).map(|i| mask_id_number(&i)),
        id: row.id,
        username: row.username,
        name: row.name,
        roles: user.roles,
        class_name: row.class_name,
        enrolment_status: row.enrolment_status,
        lang: row.lang,
    }))
}
