//! `GET/PUT /api/v1/admin/branding`, `PUT/DELETE /api/v1/admin/branding/logo` (admins).

use axum::Json;
use axum::extract::{Multipart, State};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Fields;
use crate::http::auth::{Admins, RequireRole};
use crate::http::error::ErrorBodySchema;
use crate::http::web::Branding;
use crate::http::{ApiJson, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    let logo = OpenApiRouter::new()
        .routes(routes!(put_logo, delete_logo))
        // The logo reads its own, larger limit while streaming.
        .layer(axum::extract::DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(get_branding, put_branding))
        .merge(logo)
}

/// The branding as set (empty text: not set).
#[utoipa::path(get, path = "/api/v1/admin/branding", tag = "branding", security(("bearer" = [])),
    responses((status = 200, body = Branding), (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema)))]
async fn get_branding(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
) -> AppResult<Json<Branding>> {
    Ok(Json(crate::http::web::brand::load(&state.db.pool).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct BrandingInput {
    #[schema(max_length = 100)]
    #[serde(default)]
    pub university_name: String,
    #[schema(max_length = 100)]
    #[serde(default)]
    pub office_name: String,
    #[schema(max_length = 200)]
    #[serde(default)]
    pub address: String,
    #[schema(max_length = 200)]
    #[serde(default)]
    pub opening_hours: String,
    #[schema(max_length = 50)]
    #[serde(default)]
    pub phone: String,
}

/// Set the university's and the office's names and the office's contact (all five fields; an
/// empty one is "not set").
#[utoipa::path(put, path = "/api/v1/admin/branding", tag = "branding", request_body = BrandingInput, security(("bearer" = [])),
    responses((status = 200, body = Branding), (status = 400, body = ErrorBodySchema), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn put_branding(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(b): ApiJson<BrandingInput>,
) -> AppResult<Json<Branding>> {
    let fields = Fields {
        university_name: b.university_name,
        office_name: b.office_name,
        address: b.address,
        opening_hours: b.opening_hours,
        phone: b.phone,
    };
    Ok(Json(super::update(&state, &admin, fields).await?))
}

/// Set the logo (multipart `file`: a PNG, JPEG or WebP image), shown at `/branding/logo`.
#[utoipa::path(put, path = "/api/v1/admin/branding/logo", tag = "branding", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "`file`: PNG, JPEG or WebP"),
    responses((status = 200, body = Branding), (status = 400, body = ErrorBodySchema), (status = 401, body = ErrorBodySchema),
              (status = 403, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many uploads; see `Retry-After`", body = ErrorBodySchema),
              (status = 503, description = "`busy`: image processing is at capacity; see `Retry-After`", body = ErrorBodySchema)))]
async fn put_logo(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    multipart: Multipart,
) -> AppResult<Json<Branding>> {
    let mut form =
        crate::storage::read_form(multipart, state.settings.max_upload_bytes, 1024).await?;
    let file = form
        .remove("file")
        .filter(|(b, _)| !b.is_empty())
        .ok_or_else(|| {
            ErrorCode::MissingFile
                .with_message("Attach the logo as `file`.")
                .with_field("file", "required")
        })?;
    Ok(Json(super::set_logo(&state, &admin, Some(file)).await?))
}

/// Remove the logo (the product's own is shown again).
#[utoipa::path(delete, path = "/api/v1/admin/branding/logo", tag = "branding", security(("bearer" = [])),
    responses((status = 200, body = Branding), (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema)))]
async fn delete_logo(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
) -> AppResult<Json<Branding>> {
    Ok(Json(super::set_logo(&state, &admin, None).await?))
}
