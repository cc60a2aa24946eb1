//! `POST /api/v1/me/phone/code` and `POST /api/v1/me/phone`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::CurrentUser;
use crate::http::error::ErrorBodySchema;
use crate::http::{ApiJson, AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(apply_code))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    pub phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct CodeSent {
    /// Masked, e.g. `139****0001`.
    pub sent_to: String,
    pub expires_in_seconds: i64,
}

/// Send a 6-digit code by SMS to the new number.
#[utoipa::path(post, path = "/api/v1/me/phone/code", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 202, body = CodeSent), (status = 422, body = ErrorBodySchema), (status = 429, body = ErrorBodySchema)))]
async fn request_code(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CodeRequest>,
) -> AppResult<(StatusCode, Json<CodeSent>)> {
    let sent_to = super::phone::request_code(&state, &user, &body.phone).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            sent_to,
            expires_in_seconds: super::phone::CODE_TTL_MS / 1000,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ApplyCode {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct PhoneChanged {
    pub phone_masked: String,
}

/// Apply the code: the new number replaces the old one.
#[utoipa::path(post, path = "/api/v1/me/phone", tag = "auth", security(("bearer" = [])), request_body = ApplyCode,
    responses((status = 200, body = PhoneChanged), (status = 422, body = ErrorBodySchema), (status = 429, body = ErrorBodySchema)))]
async fn apply_code(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<ApplyCode>,
) -> AppResult<Json<PhoneChanged>> {
    let phone_masked = super::phone::apply_code(&state, &user, &body.code).await?;
    Ok(Json(PhoneChanged { phone_masked }))
}
