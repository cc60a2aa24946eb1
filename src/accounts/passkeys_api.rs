//! Passkeys over the API (SPEC §13): `/api/v1/me/passkeys…` for one's own, `/api/v1/auth/passkey/…`
//! to sign in without a login name, and `/api/v1/auth/reauth…` for step-up.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{LoginResponse, UserSummary};
use super::passkeys::{self, read_credential};
use super::passkeys_store::{self as store, PasskeyRow};
use super::sessions::Device;
use crate::http::auth::CurrentUser;
use crate::http::error::ErrorBodySchema;
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppError, AppResult, AppState, ClientIp, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(list))
        .routes(routes!(rename, remove))
        .routes(routes!(sign_in_start))
        .routes(routes!(sign_in_finish))
        .routes(routes!(reauth_start))
        .routes(routes!(reauth))
}

/// WebAuthn options for the browser, exactly as `navigator.credentials.create()` /
/// `.get()` take them once the base64url fields are decoded (`{"publicKey": {…}}`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct WebauthnOptions(serde_json::Value);

fn options<T: Serialize>(value: &T) -> AppResult<Json<WebauthnOptions>> {
    serde_json::to_value(value)
        .map(|v| Json(WebauthnOptions(v)))
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: i64,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `null` until first used.
    pub last_used_at: Option<String>,
}

impl From<PasskeyRow> for PasskeyView {
    fn from(row: PasskeyRow) -> PasskeyView {
        PasskeyView {
            id: row.id,
            name: row.name,
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// Start adding a passkey (fingerprint, face or device PIN) to one's account.
#[utoipa::path(post, path = "/api/v1/me/passkeys/register/start", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = WebauthnOptions), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema)))]
async fn register_start(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<WebauthnOptions>> {
    options(&passkeys::start_registration(&state, &user).await?)
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterFinish {
    /// What to call it ("iPhone", "办公室电脑"); 1–64 characters, default "Passkey N".
    #[schema(max_length = 64)]
    #[serde(default)]
    pub name: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, binary fields base64url.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finish adding a passkey. 401 `passkey_invalid` when it does not verify.
#[utoipa::path(post, path = "/api/v1/me/passkeys/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = RegisterFinish,
    responses((status = 201, body = PasskeyView), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 409, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn register_finish(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RegisterFinish>,
) -> AppResult<(StatusCode, Json<PasskeyView>)> {
    let credential = read_credential(body.credential)?;
    let row =
        passkeys::finish_registration(&state, &user, body.name.as_deref(), credential).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// One's own passkeys.
#[utoipa::path(get, path = "/api/v1/me/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = Vec<PasskeyView>), (status = 401, body = ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Vec<PasskeyView>>> {
    let rows = store::list_for_user(&state.db.pool, user.id).await?;
    Ok(Json(rows.into_iter().map(PasskeyView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct RenamePasskey {
    #[schema(max_length = 64)]
    pub name: String,
}

/// Rename one of one's passkeys.
#[utoipa::path(patch, path = "/api/v1/me/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = RenamePasskey,
    responses((status = 200, body = PasskeyView), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 404, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn rename(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<RenamePasskey>,
) -> AppResult<Json<PasskeyView>> {
    if body.name.trim().is_empty() {
        return Err(ErrorCode::InvalidInput.with_field("name", "required"));
    }
    Ok(Json(
        passkeys::rename(&state, &user, id, &body.name)
            .await?
            .into(),
    ))
}

/// Remove one of one's passkeys; it no longer signs anyone in.
#[utoipa::path(delete, path = "/api/v1/me/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 400, body = ErrorBodySchema), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema)))]
async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    passkeys::remove(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start signing in with a passkey, without a login name (discoverable credentials).
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "passkeys",
    responses((status = 200, body = WebauthnOptions)))]
async fn sign_in_start(State(state): State<AppState>) -> AppResult<Json<WebauthnOptions>> {
    options(&passkeys::start_sign_in(&state).await?)
}

#[derive(Deserialize, ToSchema)]
pub struct CredentialBody {
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, binary fields base64url.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finish signing in with a passkey: a bearer token as `/api/v1/auth/login` gives. 401
/// `passkey_invalid` for an unknown, removed or cloned (counter) passkey.
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "passkeys", request_body = CredentialBody,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, body = ErrorBodySchema)))]
async fn sign_in_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Device(device): Device,
    ApiJson(body): ApiJson<CredentialBody>,
) -> AppResult<Json<LoginResponse>> {
    let credential = read_credential(body.credential)?;
    let signed = passkeys::finish_sign_in(&state, credential, "api", ip, device.as_deref()).await?;
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

/// Step-up with a passkey: options naming one's own passkeys (404 without any).
#[utoipa::path(post, path = "/api/v1/auth/reauth/start", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = WebauthnOptions), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema)))]
async fn reauth_start(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<WebauthnOptions>> {
    options(&passkeys::start_reauth(&state, &user).await?)
}

#[derive(Deserialize, ToSchema)]
pub struct ReauthRequest {
    /// The account password; or
    #[schema(max_length = 1024)]
    #[serde(default)]
    pub password: Option<String>,
    /// a passkey assertion answering `/api/v1/auth/reauth/start`.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub credential: Option<serde_json::Value>,
}

/// Step-up: prove it is you again (password or passkey); sensitive operations then work for
/// the configured window (default 5 minutes) instead of answering 401 `reauth_required`.
#[utoipa::path(post, path = "/api/v1/auth/reauth", tag = "auth", security(("bearer" = [])),
    request_body = ReauthRequest,
    responses((status = 204), (status = 400, body = ErrorBodySchema), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, body = ErrorBodySchema)))]
async fn reauth(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> AppResult<StatusCode> {
    match (body.password, body.credential) {
        (Some(password), None) => super::reauth_with_password(&state, &user, &password, ip).await?,
        (None, Some(credential)) => {
            passkeys::finish_reauth(&state, &user, read_credential(credential)?).await?
        }
        _ => {
            return Err(ErrorCode::InvalidInput
                .with_field("password", "send either `password` or `credential`"));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
