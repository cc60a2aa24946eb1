//! The designated hospitals over HTTP: suggestions for anyone signed in
//! (`GET /api/v1/hospitals-list?q=`), the whole list for the office
//! (`GET /api/v1/admin/hospitals-list`), and admins' changes: add, edit or retire, import.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListReaders;
use super::service::{self, NewEntry, Patch};
use super::store::{self, DesignatedHospital};
use crate::http::auth::{Admins, CurrentUser, RequireRole};
use crate::http::{ApiJson, AppResult, AppState, ErrorCode};
use crate::roster::Report;
use crate::roster::api::{MAX_IMPORT_BYTES, read_upload};

/// How many suggestions a student gets for what they typed.
const SUGGESTIONS: i64 = 20;
/// The office's list page shows at most this many entries (a university's list is a few
/// dozen to a few hundred).
pub const LIST_LIMIT: i64 = 2000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suggest))
        .routes(routes!(list, create))
        .routes(routes!(update))
        .routes(routes!(import))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

#[derive(Serialize, ToSchema)]
pub struct DesignatedHospitalList {
    pub items: Vec<DesignatedHospital>,
    /// Always null: the whole list fits in one answer.
    pub next_cursor: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
pub struct SuggestQuery {
    /// What the student typed: matched anywhere in the name or an alias, ignoring spaces,
    /// full-width forms and letter case.
    pub q: Option<String>,
}

/// Designated hospitals matching what was typed (at most 20), with their level, for the case
/// form's suggestions.
#[utoipa::path(get, path = "/api/v1/hospitals-list", tag = "hospitals", params(SuggestQuery), security(("bearer" = [])),
    responses((status = 200, body = DesignatedHospitalList), (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn suggest(
    State(state): State<AppState>,
    _user: CurrentUser,
    Query(q): Query<SuggestQuery>,
) -> AppResult<Json<DesignatedHospitalList>> {
    if let Some(text) = &q.q {
        crate::http::text::check("q", text)?;
    }
    let items = store::list(&state.db.pool, q.q.as_deref(), false, SUGGESTIONS).await?;
    Ok(Json(DesignatedHospitalList {
        items,
        next_cursor: None,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only entries whose name or an alias contains this.
    pub q: Option<String>,
    /// Include retired entries.
    #[serde(default)]
    pub all: bool,
}

/// The designated hospitals list, in name order.
#[utoipa::path(get, path = "/api/v1/admin/hospitals-list", tag = "hospitals", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = DesignatedHospitalList), (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    _who: RequireRole<ListReaders>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<DesignatedHospitalList>> {
    if let Some(text) = &q.q {
        crate::http::text::check("q", text)?;
    }
    let items = store::list(&state.db.pool, q.q.as_deref(), q.all, LIST_LIMIT).await?;
    Ok(Json(DesignatedHospitalList {
        items,
        next_cursor: None,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct NewDesignatedHospital {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(minimum = 0, maximum = 3)]
    pub level: i64,
    /// Other names students write; at most 10.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Add a hospital to the list.
#[utoipa::path(post, path = "/api/v1/admin/hospitals-list", tag = "hospitals", request_body = NewDesignatedHospital, security(("bearer" = [])),
    responses((status = 201, body = DesignatedHospital), (status = 400, body = crate::http::error::ErrorBodySchema),
              (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 409, description = "the name or an alias is already on the list", body = crate::http::error::ErrorBodySchema),
              (status = 415, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn create(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(b): ApiJson<NewDesignatedHospital>,
) -> AppResult<(StatusCode, Json<DesignatedHospital>)> {
    let new = NewEntry {
        name: &b.name,
        level: b.level,
        aliases: &b.aliases,
    };
    let h = service::create(&state.db, &admin.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(h)))
}

#[derive(Deserialize, ToSchema)]
pub struct DesignatedHospitalPatch {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 3)]
    pub level: Option<i64>,
    pub aliases: Option<Vec<String>>,
    /// false retires the entry: no longer suggested nor matched.
    pub active: Option<bool>,
}

/// Edit or retire a hospital on the list.
#[utoipa::path(patch, path = "/api/v1/admin/hospitals-list/{id}", tag = "hospitals", request_body = DesignatedHospitalPatch, security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = DesignatedHospital), (status = 400, body = crate::http::error::ErrorBodySchema),
              (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 404, body = crate::http::error::ErrorBodySchema),
              (status = 409, description = "the name or an alias is already on the list", body = crate::http::error::ErrorBodySchema),
              (status = 415, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn update(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DesignatedHospitalPatch>,
) -> AppResult<Json<DesignatedHospital>> {
    let patch = Patch {
        name: b.name.as_deref(),
        level: b.level,
        aliases: b.aliases.as_deref(),
        active: b.active,
    };
    Ok(Json(
        service::update(&state.db, &admin.actor(), id, patch).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// `true`: check only, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Import the list from CSV or XLSX: columns 医院名称 (name), 等级 (level: 0–3 or 一级/二级/
/// 三级/三甲/未定级) and optionally 别名 (aliases, separated by 、). Each row adds a hospital or
/// updates the one of that name; any bad row applies nothing (422 `import_invalid`, the report
/// under `result`).
#[utoipa::path(post, path = "/api/v1/admin/hospitals-list/import", tag = "hospitals", params(ImportQuery),
    security(("bearer" = [])), request_body(content_type = "multipart/form-data", description = "`file`: CSV or XLSX"),
    responses((status = 200, body = Report), (status = 400, body = crate::http::error::ErrorBodySchema),
              (status = 401, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 413, body = crate::http::error::ErrorBodySchema),
              (status = 422, description = "bad rows: nothing applied", body = crate::http::error::ErrorBodySchema)))]
async fn import(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Query(q): Query<ImportQuery>,
    multipart: Multipart,
) -> AppResult<Response> {
    let upload = read_upload(multipart).await?;
    let report = service::import(
        &state.db,
        &admin.actor(),
        &upload.file_name,
        &upload.bytes,
        q.dry_run,
    )
    .await?;
    if report.errors.is_empty() {
        return Ok(Json(report).into_response());
    }
    let body = serde_json::json!({
        "error": {
            "code": ErrorCode::ImportInvalid.as_str(),
            "message": format!("Nothing was imported: {} problem(s) in the file.", report.errors.len()),
        },
        "result": report,
    });
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
}
