//! `GET /api/v1/admin/audit`: the audit log, newest first, keyset-paginated and filtered by
//! actor, case, action and dates; `GET /api/v1/admin/audit/verification`: whether the hash
//! chain still holds.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::log::{self, AuditEvent, ChainStatus, Filter};
use crate::http::auth::AuditReaders;
use crate::http::auth::RequireRole;
use crate::http::{AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(verification))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Cursor from the previous page: events before this sequence number.
    pub cursor: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// Only events by this actor (a username, or a system actor's label), exactly.
    pub actor: Option<String>,
    /// Only events on this case (its id).
    pub case_id: Option<String>,
    /// Only this action (a stable verb such as `case.submit`), exactly.
    pub action: Option<String>,
    /// First day included, `YYYY-MM-DD` (deployment time zone).
    pub from: Option<String>,
    /// Last day included, `YYYY-MM-DD`.
    pub to: Option<String>,
}

impl AuditQuery {
    pub fn filter(&self, tz: chrono_tz::Tz) -> AppResult<Filter> {
        Filter::parse(
            self.actor.as_deref(),
            self.case_id.as_deref(),
            self.action.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            tz,
        )
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<i64>,
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    _reader: RequireRole<AuditReaders>,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    let filter = q.filter(state.settings.time_zone)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let (items, next_cursor) = log::page(&state.db, &filter, q.cursor, limit).await?;
    Ok(Json(AuditPage { items, next_cursor }))
}

/// Recomputes the whole hash chain: `ok`, or `broken` at the first event that no longer holds.
#[utoipa::path(get, path = "/api/v1/admin/audit/verification", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = ChainStatus), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn verification(
    State(state): State<AppState>,
    _reader: RequireRole<AuditReaders>,
) -> AppResult<Json<ChainStatus>> {
    Ok(Json(log::chain_status(&state.db).await?))
}
