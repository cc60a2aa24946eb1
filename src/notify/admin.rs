//! Admins watch the outbox: `GET /api/v1/admin/outbox` (status, attempts, last error) and
//! `POST /api/v1/admin/outbox/{id}/retry` for a dead or not-configured message.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::outbox::{self, OutboxRow};
use crate::audit::{self, Event};
use crate::http::auth::{Admins, RequireRole};
use crate::http::error::ErrorBodySchema;
use crate::http::web::rfc3339;
use crate::http::{AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_outbox))
        .routes(routes!(retry))
}

/// One message; no recipient or text (personal data stays out of the console).
#[derive(Serialize, ToSchema)]
pub struct OutboxItem {
    pub id: i64,
    /// `sms` or `email` (or another outbound channel).
    pub channel: String,
    pub user_id: Option<i64>,
    /// `pending`, `sending`, `sent`, `dead` or `not_configured`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub idempotency_key: String,
}

impl From<OutboxRow> for OutboxItem {
    fn from(r: OutboxRow) -> OutboxItem {
        OutboxItem {
            id: r.id,
            channel: r.channel,
            user_id: r.user_id,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: rfc3339(r.next_attempt_at),
            created_at: rfc3339(r.created_at),
            sent_at: r.sent_at.map(rfc3339),
            idempotency_key: r.idempotency_key,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// Only messages in this status.
    pub status: Option<String>,
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxItem>,
    pub next_cursor: Option<String>,
}

const STATUSES: [&str; 5] = ["pending", "sending", "sent", "dead", "not_configured"];

pub async fn load(state: &AppState, q: &OutboxQuery) -> AppResult<OutboxPage> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if status.is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ErrorCode::InvalidInput
            .with_message("Unknown status.")
            .with_field("status", "unknown status"));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let rows = outbox::list(&state.db, status, q.cursor, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(OutboxPage {
        items: rows.into_iter().map(OutboxItem::from).collect(),
        next_cursor,
    })
}

/// The outbox, newest first.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "notifications", params(OutboxQuery), security(("bearer" = [])),
    responses((status = 200, body = OutboxPage), (status = 403, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn list_outbox(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
    Query(q): Query<OutboxQuery>,
) -> AppResult<Json<OutboxPage>> {
    Ok(Json(load(&state, &q).await?))
}

/// Queue a dead (or not-configured) message again, due now, with fresh attempts.
pub async fn requeue(
    state: &AppState,
    admin: &crate::http::auth::CurrentUser,
    id: i64,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let status = status.ok_or_else(AppError::not_found)?;
    if !outbox::requeue(&mut tx, id).await? {
        return Err(ErrorCode::NotDead
            .with_message("Only a dead or not-configured message can be retried."));
    }
    let event = Event {
        action: "outbox.retry",
        object_type: "outbox",
        object_id: id.to_string(),
        summary: format!("from {status}"),
    };
    audit::record(&mut tx, &admin.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Retry a dead message.
#[utoipa::path(post, path = "/api/v1/admin/outbox/{id}/retry", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = OutboxItem), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn retry(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<OutboxItem>> {
    requeue(&state, &admin, id).await?;
    let row = outbox::list(&state.db, None, Some(id + 1), 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(AppError::not_found)?;
    Ok(Json(row.into()))
}
