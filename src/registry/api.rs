//! Admin registry of machine partners: `POST/GET /api/v1/admin/hospitals`,
//! `POST/GET /api/v1/admin/insurers`, and per partner `…/{id}/deactivate` and
//! `…/{id}/rotate-secret`. A secret is answered once, at creation or rotation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, Partner, PartnerKind};
use crate::http::auth::Admins;
use crate::http::auth::RequireRole;
use crate::http::{ApiJson, AppError, AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_hospital, list_hospitals))
        .routes(routes!(deactivate_hospital))
        .routes(routes!(rotate_hospital_secret))
        .routes(routes!(create_insurer, list_insurers))
        .routes(routes!(deactivate_insurer))
        .routes(routes!(rotate_insurer_secret))
}

type ErrorBody = crate::http::error::ErrorBodySchema;

#[derive(Deserialize, ToSchema)]
pub struct NewHospital {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 0 unrated, 1, 2 or 3 (一/二/三级).
    #[schema(minimum = 0, maximum = 3)]
    pub level: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct NewInsurer {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Where the insurer's FHIR R4 endpoints live, e.g. `https://fhir.insurer.example/r4`.
    #[schema(max_length = 500, pattern = r"^https?://")]
    pub fhir_base_url: String,
}

/// The credentials of a partner; `secret` is shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct Credentials {
    pub id: i64,
    pub key_id: String,
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerView {
    pub id: i64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_base_url: Option<String>,
    pub key_id: String,
    pub active: bool,
}

impl From<super::Credentials> for Credentials {
    fn from(c: super::Credentials) -> Credentials {
        Credentials {
            id: c.id,
            key_id: c.key_id,
            secret: c.secret,
        }
    }
}

impl From<Partner> for PartnerView {
    fn from(p: Partner) -> PartnerView {
        PartnerView {
            id: p.id,
            name: p.name,
            level: p.level,
            fhir_base_url: p.fhir_base_url,
            key_id: p.key_id,
            active: p.active,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PartnerList {
    pub items: Vec<PartnerView>,
    pub next_cursor: Option<i64>,
}

fn created(c: super::Credentials) -> AppResult<(StatusCode, Json<Credentials>)> {
    Ok((StatusCode::CREATED, Json(c.into())))
}

async fn deactivated(
    state: &AppState,
    admin: &RequireRole<Admins>,
    kind: PartnerKind,
    id: i64,
) -> AppResult<Json<PartnerView>> {
    super::deactivate(state, &admin.actor(), kind, id).await?;
    let partner = store::find_by_id(&state.db.pool, &state.keys, kind, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(partner.into()))
}

async fn rotated(
    state: &AppState,
    admin: &RequireRole<Admins>,
    kind: PartnerKind,
    id: i64,
) -> AppResult<Json<Credentials>> {
    Ok(Json(
        super::rotate(state, &admin.actor(), kind, id).await?.into(),
    ))
}

async fn list(state: &AppState, kind: PartnerKind) -> AppResult<Json<PartnerList>> {
    let items = store::list(&state.db.pool, &state.keys, kind).await?;
    Ok(Json(PartnerList {
        items: items.into_iter().map(PartnerView::from).collect(),
        next_cursor: None,
    }))
}

/// Register a hospital; answers its key id and secret (shown this once).
#[utoipa::path(post, path = "/api/v1/admin/hospitals", tag = "registry", request_body = NewHospital,
    security(("bearer" = [])),
    responses((status = 201, body = Credentials), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_hospital(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(body): ApiJson<NewHospital>,
) -> AppResult<(StatusCode, Json<Credentials>)> {
    let new = super::hospital(&body.name, body.level)?;
    created(super::register(&state, &admin.actor(), &new).await?)
}

/// Registered hospitals.
#[utoipa::path(get, path = "/api/v1/admin/hospitals", tag = "registry", security(("bearer" = [])),
    responses((status = 200, body = PartnerList), (status = 403, body = ErrorBody)))]
async fn list_hospitals(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
) -> AppResult<Json<PartnerList>> {
    list(&state, PartnerKind::Hospital).await
}

/// Deactivate a hospital: its pushes are refused from now on.
#[utoipa::path(post, path = "/api/v1/admin/hospitals/{id}/deactivate", tag = "registry",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PartnerView), (status = 404, body = ErrorBody)))]
async fn deactivate_hospital(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<PartnerView>> {
    deactivated(&state, &admin, PartnerKind::Hospital, id).await
}

/// Give a hospital a new secret (shown this once); the old one stops working.
#[utoipa::path(post, path = "/api/v1/admin/hospitals/{id}/rotate-secret", tag = "registry",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Credentials), (status = 404, body = ErrorBody)))]
async fn rotate_hospital_secret(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<Credentials>> {
    rotated(&state, &admin, PartnerKind::Hospital, id).await
}

/// Register an insurer; answers its key id and secret (shown this once).
#[utoipa::path(post, path = "/api/v1/admin/insurers", tag = "registry", request_body = NewInsurer,
    security(("bearer" = [])),
    responses((status = 201, body = Credentials), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_insurer(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(body): ApiJson<NewInsurer>,
) -> AppResult<(StatusCode, Json<Credentials>)> {
    let new = super::insurer(state.settings.partner_urls, &body.name, &body.fhir_base_url).await?;
    created(super::register(&state, &admin.actor(), &new).await?)
}

/// Registered insurers.
#[utoipa::path(get, path = "/api/v1/admin/insurers", tag = "registry", security(("bearer" = [])),
    responses((status = 200, body = PartnerList), (status = 403, body = ErrorBody)))]
async fn list_insurers(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
) -> AppResult<Json<PartnerList>> {
    list(&state, PartnerKind::Insurer).await
}

/// Deactivate an insurer: its webhooks are refused from now on.
#[utoipa::path(post, path = "/api/v1/admin/insurers/{id}/deactivate", tag = "registry",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = PartnerView), (status = 404, body = ErrorBody)))]
async fn deactivate_insurer(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<PartnerView>> {
    deactivated(&state, &admin, PartnerKind::Insurer, id).await
}

/// Give an insurer a new secret (shown this once); the old one stops working.
#[utoipa::path(post, path = "/api/v1/admin/insurers/{id}/rotate-secret", tag = "registry",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Credentials), (status = 404, body = ErrorBody)))]
async fn rotate_insurer_secret(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<Credentials>> {
    rotated(&state, &admin, PartnerKind::Insurer, id).await
}
