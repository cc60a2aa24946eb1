//! `GET /api/v1/admin/audit`: the audit log, newest first, keyset-paginated.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::RequireRole;
use crate::accounts::extract::AuditReaders;
use crate::http::{AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Cursor from the previous page: events before this sequence number.
    pub cursor: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditEvent {
    pub seq: i64,
    /// RFC 3339.
    #[sqlx(skip)]
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
    pub client_addr: Option<String>,
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<i64>,
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    _reader: RequireRole<AuditReaders>,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let mut items: Vec<AuditEvent> = sqlx::query_as(
        "SELECT seq, at AS at_ms, actor, action, object_type, object_id, summary, client_addr, hash
         FROM audit_events WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(q.cursor.unwrap_or(i64::MAX))
    .bind(limit + 1)
    .fetch_all(&state.db.pool)
    .await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.seq)
    } else {
        None
    };
    for e in &mut items {
        e.at = crate::web::rfc3339(e.at_ms);
    }
    Ok(Json(AuditPage { items, next_cursor }))
}
