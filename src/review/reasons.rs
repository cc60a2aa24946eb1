//! Preset rejection reasons (驳回理由), admin-editable, in Chinese and English.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ReasonReaders;
use crate::audit::{self, Event};
use crate::http::auth::Admins;
use crate::http::auth::RequireRole;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Reason {
    pub id: i64,
    pub text_zh: String,
    pub text_en: String,
    pub sort_order: i64,
    #[serde(skip)]
    pub active: i64,
    #[sqlx(skip)]
    #[serde(rename = "active")]
    pub is_active: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ReasonList {
    pub items: Vec<Reason>,
    pub next_cursor: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Include retired reasons too.
    #[serde(default)]
    pub all: bool,
}

/// Reasons in display order; retired ones only with `all=true`.
pub async fn load(pool: &sqlx::AnyPool, all: bool) -> sqlx::Result<Vec<Reason>> {
    let mut items: Vec<Reason> = sqlx::query_as(
        "SELECT id, text_zh, text_en, sort_order, active FROM rejection_reasons
         WHERE active = 1 OR $1 = 1 ORDER BY sort_order, id",
    )
    .bind(i64::from(all))
    .fetch_all(pool)
    .await?;
    for r in &mut items {
        r.is_active = r.active == 1;
    }
    Ok(items)
}

/// The preset rejection reasons.
#[utoipa::path(get, path = "/api/v1/admin/rejection-reasons", tag = "review", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = ReasonList), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    _who: RequireRole<ReasonReaders>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<ReasonList>> {
    Ok(Json(ReasonList {
        items: load(&state.db.pool, q.all).await?,
        next_cursor: None,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct NewReason {
    #[schema(min_length = 1, max_length = 200)]
    pub text_zh: String,
    #[schema(min_length = 1, max_length = 200)]
    pub text_en: String,
    pub sort_order: Option<i64>,
}

fn text(field: &'static str, s: &str) -> AppResult<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 {
        return Err(ErrorCode::InvalidInput
            .with_message("A reason is 1–200 characters.")
            .with_field(field, "1–200 characters"));
    }
    Ok(s.to_string())
}

/// Add a preset reason.
#[utoipa::path(post, path = "/api/v1/admin/rejection-reasons", tag = "review", request_body = NewReason, security(("bearer" = [])),
    responses((status = 201, body = Reason), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn create(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ApiJson(b): ApiJson<NewReason>,
) -> AppResult<(StatusCode, Json<Reason>)> {
    let (zh, en) = (text("text_zh", &b.text_zh)?, text("text_en", &b.text_en)?);
    let sort = b.sort_order.unwrap_or(100);
    let mut tx = state.db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO rejection_reasons (text_zh, text_en, sort_order, active) VALUES ($1, $2, $3, 1) RETURNING id",
    )
    .bind(&zh)
    .bind(&en)
    .bind(sort)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &admin.actor(),
        Event {
            action: "rejection_reason.create",
            object_type: "rejection_reason",
            object_id: id.to_string(),
            summary: "created".into(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Reason {
            id,
            text_zh: zh,
            text_en: en,
            sort_order: sort,
            active: 1,
            is_active: true,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ReasonPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub text_zh: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub text_en: Option<String>,
    pub sort_order: Option<i64>,
    /// false retires the reason (kept for old decisions, no longer offered).
    pub active: Option<bool>,
}

/// Edit or retire a preset reason.
#[utoipa::path(patch, path = "/api/v1/admin/rejection-reasons/{id}", tag = "review", request_body = ReasonPatch, security(("bearer" = [])),
    responses((status = 200, body = Reason), (status = 404, body = crate::http::error::ErrorBodySchema)))]
async fn update(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReasonPatch>,
) -> AppResult<Json<Reason>> {
    let zh = b
        .text_zh
        .as_deref()
        .map(|s| text("text_zh", s))
        .transpose()?;
    let en = b
        .text_en
        .as_deref()
        .map(|s| text("text_en", s))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    let mut r: Reason = sqlx::query_as(
        "UPDATE rejection_reasons SET text_zh = COALESCE($1, text_zh), text_en = COALESCE($2, text_en),
           sort_order = COALESCE($3, sort_order), active = COALESCE($4, active)
         WHERE id = $5 RETURNING id, text_zh, text_en, sort_order, active",
    )
    .bind(zh)
    .bind(en)
    .bind(b.sort_order)
    .bind(b.active.map(i64::from))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(AppError::not_found)?;
    audit::record(
        &mut tx,
        &admin.actor(),
        Event {
            action: "rejection_reason.update",
            object_type: "rejection_reason",
            object_id: id.to_string(),
            summary: format!("active={}", r.active),
        },
    )
    .await?;
    tx.commit().await?;
    r.is_active = r.active == 1;
    Ok(Json(r))
}
