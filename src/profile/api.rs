//! `POST /api/v1/me/phone/code` and `POST /api/v1/me/phone`; a forgotten password:
//! `POST /api/v1/auth/password-reset/start` and `POST /api/v1/auth/password-reset`; the first
//! sign-in: `POST /api/v1/auth/activate/start` and `POST /api/v1/auth/activate`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::api::{LoginResponse, UserSummary};
use crate::accounts::sessions::Device;
use crate::http::auth::CurrentUser;
use crate::http::error::ErrorBodySchema;
use crate::http::{ApiJson, AppResult, AppState, ClientIp};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(apply_code))
        .routes(routes!(password_reset_start))
        .routes(routes!(password_reset))
        .routes(routes!(activate_start))
        .routes(routes!(activate))
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

#[derive(Deserialize, ToSchema)]
pub struct PasswordResetStart {
    /// The login name (student id).
    #[schema(max_length = 64)]
    pub username: String,
}

/// Forgotten password: a 6-digit code goes by SMS to the phone on file, valid 10 minutes.
/// Always 202, whether or not the account exists, has a phone, or asked a moment ago (one code
/// a minute, five an hour per account); 429 only for too many requests from one address.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/start", tag = "auth", request_body = PasswordResetStart,
    responses((status = 202), (status = 400, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, body = ErrorBodySchema)))]
async fn password_reset_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordResetStart>,
) -> AppResult<StatusCode> {
    super::password_reset::start(&state, &body.username, ip).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordReset {
    #[schema(max_length = 64)]
    pub username: String,
    /// The 6 digits from the SMS.
    #[schema(max_length = 6)]
    pub code: String,
    /// The new password: at least 8 characters (else 422 `weak_password`).
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// Set a new password with the code. Every session of the account ends. 422 `code_invalid`
/// (also for an unknown login name), 422 `code_expired`, 422 `weak_password`; 429
/// `too_many_attempts` after 5 wrong codes (ask for a new one) or `rate_limited` per address.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordReset,
    responses((status = 204), (status = 400, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, body = ErrorBodySchema)))]
async fn password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PasswordReset>,
) -> AppResult<StatusCode> {
    crate::accounts::password::reset_with_code(
        &state,
        &body.username,
        &body.code,
        &body.password,
        ip,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ActivateStart {
    /// The student id (the login name on the roster).
    #[schema(max_length = 64)]
    pub student_id: String,
    /// The last six characters of the national id number (`X` in either case).
    #[schema(max_length = 16)]
    pub id_last6: String,
}

/// First sign-in of an imported student (only where no campus sign-on is configured, else 404):
/// a 6-digit code goes by SMS to the roster phone, valid 10 minutes. Always 202 with no body,
/// whether or not the id exists, the six characters match, the account is already activated, or
/// a limit was hit (per account one a minute and five an hour, per phone three an hour, per
/// address).
#[utoipa::path(post, path = "/api/v1/auth/activate/start", tag = "auth", request_body = ActivateStart,
    responses((status = 202), (status = 400, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema),
              (status = 413, body = ErrorBodySchema), (status = 415, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn activate_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ActivateStart>,
) -> AppResult<StatusCode> {
    super::activation::start(&state, &body.student_id, &body.id_last6, ip).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
pub struct Activate {
    #[schema(max_length = 64)]
    pub student_id: String,
    /// The 6 digits from the SMS.
    #[schema(max_length = 6)]
    pub code: String,
    /// The password: at least 8 characters (else 422 `weak_password`).
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// Set the first password with the code and sign in. 422 `code_invalid` (also for an unknown
/// or already activated id), 422 `code_expired`, 422 `weak_password`; 429 `too_many_attempts`
/// after 5 wrong codes (ask for a new one) or `rate_limited` per address; 404 where a campus
/// sign-on is configured.
#[utoipa::path(post, path = "/api/v1/auth/activate", tag = "auth", request_body = Activate,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBodySchema),
              (status = 404, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, body = ErrorBodySchema)))]
async fn activate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Device(device): Device,
    ApiJson(body): ApiJson<Activate>,
) -> AppResult<Json<LoginResponse>> {
    let signed = super::activation::activate(
        &state,
        &body.student_id,
        &body.code,
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
