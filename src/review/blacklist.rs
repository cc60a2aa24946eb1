//! The blacklist (SPEC §4 rule 5, §13 office): invoice numbers a final rejection barred from
//! any claim. Admins list the entries with who put them there and why, and lift a mistaken one
//! with a reason; the student is told and the step is audited (the audit log keeps the entry).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain;
use crate::audit::{self, Event};
use crate::http::auth::{Admins, CurrentUser, RequireRole};
use crate::http::error::ErrorBodySchema;
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppError, AppResult, AppState};
use crate::notify::{Message, notify};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(lift))
}

/// One blacklisted invoice number.
#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct BlacklistEntry {
    pub id: i64,
    pub invoice_no: String,
    /// The student (login name) whose claim it was.
    pub student: String,
    pub student_name: String,
    pub case_id: Option<i64>,
    /// Who rejected the case with the blacklist flag.
    pub created_by: Option<String>,
    /// The reason of that final rejection.
    #[sqlx(try_from = "crate::seal::SealedOpt")]
    pub reason: Option<String>,
    #[sqlx(rename = "created_at")]
    #[serde(skip)]
    pub created_at_ms: i64,
    #[sqlx(skip)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct BlacklistPage {
    pub items: Vec<BlacklistEntry>,
}

/// Every entry, newest first (the list stays short: one row per barred invoice number).
pub async fn entries(state: &AppState) -> AppResult<Vec<BlacklistEntry>> {
    let mut items: Vec<BlacklistEntry> = sqlx::query_as(
        "SELECT b.id, b.invoice_no, u.username AS student, u.name AS student_name, b.case_id,
                s.username AS created_by, b.created_at,
                (SELECT d.reason FROM review_decisions d
                  WHERE d.case_id = b.case_id AND d.invoice_id IS NULL AND d.result = 'reject'
                  ORDER BY d.id DESC LIMIT 1) AS reason
         FROM blacklist b JOIN users u ON u.id = b.user_id LEFT JOIN users s ON s.id = b.created_by
         ORDER BY b.id DESC LIMIT 1000",
    )
    .fetch_all(&state.db.pool)
    .await?;
    for e in &mut items {
        e.created_at = rfc3339(e.created_at_ms);
    }
    Ok(items)
}

/// Lifts one entry: the invoice number may be claimed again.
pub async fn lift_entry(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    reason: Option<&str>,
) -> AppResult<()> {
    let reason = domain::parse_reason(reason, true)?.unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let entry: Option<(i64, String, Option<i64>)> = sqlx::query_as(
        "DELETE FROM blacklist WHERE id = $1 RETURNING user_id, invoice_no, case_id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((student, invoice_no, case_id)) = entry else {
        return Err(AppError::not_found());
    };
    if let Some(case_id) = case_id {
        let message = Message::BlacklistLifted {
            case_id,
            invoice_no: invoice_no.clone(),
            reason,
        };
        notify(&mut tx, student, &message).await?;
    }
    audit::record(
        &mut tx,
        &user.actor(),
        Event {
            action: "blacklist.lift",
            object_type: "case",
            object_id: case_id.map_or_else(|| format!("blacklist-{id}"), |c| c.to_string()),
            summary: format!("entry {id}, invoice {invoice_no}: blacklisted -> lifted"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The blacklist, with who put each number there and why (admins).
#[utoipa::path(get, path = "/api/v1/admin/blacklist", tag = "review", security(("bearer" = [])),
    responses((status = 200, body = BlacklistPage), (status = 403, body = ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
) -> AppResult<Json<BlacklistPage>> {
    Ok(Json(BlacklistPage {
        items: entries(&state).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct LiftBody {
    /// Why the entry was a mistake (shown to the student, kept in the audit log).
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Lift a blacklist entry with a reason; the student is notified.
#[utoipa::path(delete, path = "/api/v1/admin/blacklist/{id}", tag = "review", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = LiftBody,
    responses((status = 204), (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn lift(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<LiftBody>,
) -> AppResult<StatusCode> {
    lift_entry(&state, &admin, id, Some(&body.reason)).await?;
    Ok(StatusCode::NO_CONTENT)
}
