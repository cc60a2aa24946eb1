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

use super::store::{self, NewPartner, Partner, PartnerKind};
use crate::accounts::RequireRole;
use crate::accounts::extract::Admins;
use crate::audit::{self, Event};
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
    pub name: String,
    /// 0 unrated, 1, 2 or 3 (一/二/三级).
    pub level: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct NewInsurer {
    pub name: String,
    /// Where the insurer's FHIR R4 endpoints live, e.g. `https://fhir.insurer.example/r4`.
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

fn checked_name(name: &str) -> AppResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(
            AppError::invalid("invalid_input", "Give a name of 1–100 characters.")
                .with_field("name", "1–100 characters"),
        );
    }
    Ok(name)
}

async fn create(
    state: &AppState,
    admin: &RequireRole<Admins>,
    new: NewPartner<'_>,
) -> AppResult<(StatusCode, Json<Credentials>)> {
    let mut tx = state.db.begin().await?;
    let (id, key_id, secret) = store::insert(&mut tx, &state.keys, &new).await?;
    let kind = match new {
        NewPartner::Hospital { .. } => PartnerKind::Hospital,
        NewPartner::Insurer { .. } => PartnerKind::Insurer,
    };
    audit::record(
        &mut tx,
        &admin.actor(),
        Event {
            action: "partner.register",
            object_type: kind.as_str(),
            object_id: id.to_string(),
            summary: format!("key_id={key_id}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Credentials { id, key_id, secret }),
    ))
}

async fn list(state: &AppState, kind: PartnerKind) -> AppResult<Json<PartnerList>> {
    let items = store::list(&state.db.pool, &state.keys, kind).await?;
    Ok(Json(PartnerList {
        items: items.into_iter().map(PartnerView::from).collect(),
        next_cursor: None,
    }))
}

async fn deactivate(
    state: &AppState,
    admin: &RequireRole<Admins>,
    kind: PartnerKind,
    id: i64,
) -> AppResult<Json<PartnerView>> {
    let mut tx = state.db.begin().await?;
    if !store::deactivate(&mut tx, kind, id).await? {
        return Err(AppError::not_found());
    }
    audit::record(
        &mut tx,
        &admin.actor(),
        Event {
            action: "partner.deactivate",
            object_type: kind.as_str(),
            object_id: id.to_string(),
            summary: String::new(),
        },
    )
    .await?;
    tx.commit().await?;
    let partner = store::find_by_id(&state.db.pool, &state.keys, kind, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(partner.into()))
}

async fn rotate(
    state: &AppState,
    admin: &RequireRole<Admins>,
    kind: PartnerKind,
    id: i64,
) -> AppResult<Json<Credentials>> {
    let mut tx = state.db.begin().await?;
    let (key_id, secret) = store::rotate_secret(&mut tx, &state.keys, kind, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    audit::record(
        &mut tx,
        &admin.actor(),
        Event {
            action: "partner.rotate_secret",
            object_type: kind.as_str(),
            object_id: id.to_string(),
            summary: format!("key_id={key_id}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Credentials { id, key_id, secret }))
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
    let name = checked_name(&body.name)?;
    if crate::claims::domain::parse_hospital_level(body.level).is_none() {
        return Err(
            AppError::invalid("invalid_input", "The level is 0, 1, 2 or 3.")
                .with_field("level", "0, 1, 2 or 3"),
        );
    }
    let new = NewPartner::Hospital {
        name,
        level: body.level,
    };
    create(&state, &admin, new).await
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
    deactivate(&state, &admin, PartnerKind::Hospital, id).await
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
    rotate(&state, &admin, PartnerKind::Hospital, id).await
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
    let name = checked_name(&body.name)?;
    let url = body.fhir_base_url.trim().trim_end_matches('/');
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 500 {
        return Err(
            AppError::invalid("invalid_input", "The FHIR base URL must be http(s).")
                .with_field("fhir_base_url", "an http:// or https:// URL"),
        );
    }
    let new = NewPartner::Insurer {
        name,
        fhir_base_url: url,
    };
    create(&state, &admin, new).await
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
    deactivate(&state, &admin, PartnerKind::Insurer, id).await
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
    rotate(&state, &admin, PartnerKind::Insurer, id).await
}
