//! The review API of SPEC §11: the queue, a case as staff see it, corrections, decisions on
//! invoices and cases, and reopening an approved case.

use crate::money::Cents;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{Corrections, Decision, Level};
use super::service::{self, CaseDecisionInput, InvoiceDecisionInput};
use super::view::{CaseDetail, case_detail};
use super::{Reopeners, Reviewers, store};
use crate::db::now_ms;
use crate::http::auth::RequireRole;
use crate::http::auth::Staff;
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue))
        .routes(routes!(get_case, patch_case, decide_case))
        .routes(routes!(decide_invoice))
        .routes(routes!(reopen))
        .merge(super::reasons::router())
        .merge(super::blacklist::router())
        .merge(super::search::router())
        .merge(crate::policy::api::router())
}

#[derive(Deserialize, IntoParams)]
pub struct QueueQuery {
    /// 1 or 2.
    pub level: i64,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct QueueItem {
    pub id: i64,
    pub student_id: i64,
    pub student_username: String,
    pub student_name: String,
    pub hospital: String,
    pub hospital_level: Option<i64>,
    pub visit_date: String,
    /// The latest (re)submission, RFC 3339: the queue's order.
    pub submitted_at: String,
    pub version: i64,
    pub invoice_count: i64,
    pub total_cents: Cents,
}

#[derive(Serialize, ToSchema)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub next_cursor: Option<String>,
    /// Cases waiting at this level, counted up to the configured limit (10,000 by default).
    pub waiting: i64,
    /// More cases than `waiting` wait: the count stopped at its limit ("10,000+").
    pub waiting_more: bool,
    pub oldest_submitted_at: Option<String>,
    /// How long the oldest case has waited, in seconds.
    pub oldest_age_seconds: Option<i64>,
}

fn parse_cursor(c: &str) -> Option<(i64, i64)> {
    let (at, id) = c.split_once('.')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

pub async fn load_queue(
    state: &AppState,
    level: Level,
    cursor: Option<&str>,
    limit: i64,
) -> AppResult<QueuePage> {
    let after = match cursor {
        Some(c) => parse_cursor(c).ok_or_else(|| {
            ErrorCode::InvalidInput
                .with_message("Bad cursor.")
                .with_field("cursor", "malformed")
        })?,
        None => (i64::MIN, i64::MIN),
    };
    let status = level.awaiting().as_str();
    let mut rows = store::queue(&state.db.pool, status, after, limit + 1).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}.{}", r.submitted_at, r.id))
    } else {
        None
    };
    let limit = state.settings.queue_count_limit;
    let (counted, oldest) = store::queue_stats(&state.db.pool, status, limit + 1).await?;
    Ok(QueuePage {
        items: rows
            .into_iter()
            .map(|r| QueueItem {
                id: r.id,
                student_id: r.student_id,
                student_username: r.student_username,
                student_name: r.student_name,
                hospital: r.hospital,
                hospital_level: r.hospital_level,
                visit_date: r.visit_date,
                submitted_at: rfc3339(r.submitted_at),
                version: r.version,
                invoice_count: r.invoice_count,
                total_cents: r.total_cents,
            })
            .collect(),
        next_cursor,
        waiting: counted.min(limit),
        waiting_more: counted > limit,
        oldest_submitted_at: oldest.map(rfc3339),
        oldest_age_seconds: oldest.map(|o| ((now_ms() - o) / 1000).max(0)),
    })
}

/// Cases awaiting a level, oldest (re)submission first.
#[utoipa::path(get, path = "/api/v1/review/queue", tag = "review", params(QueueQuery), security(("bearer" = [])),
    responses((status = 200, body = QueuePage), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn queue(
    State(state): State<AppState>,
    user: RequireRole<Reviewers>,
    Query(q): Query<QueueQuery>,
) -> AppResult<Json<QueuePage>> {
    let level = Level::from_request(q.level)?;
    if !user.has(level.role()) {
        return Err(AppError::forbidden());
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    Ok(Json(
        load_queue(&state, level, q.cursor.as_deref(), limit).await?,
    ))
}

/// A case with its invoices, record photos, decision log and flags.
#[utoipa::path(get, path = "/api/v1/review/cases/{id}", tag = "review", security(("bearer" = [])),
    responses((status = 200, body = CaseDetail), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 404, body = crate::http::error::ErrorBodySchema)))]
async fn get_case(
    State(state): State<AppState>,
    _staff: RequireRole<Staff>,
    Path(id): Path<i64>,
) -> AppResult<Json<CaseDetail>> {
    Ok(Json(case_detail(&state, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ReviewCasePatch)]
pub struct CasePatch {
    /// The case's version as you saw it.
    pub version: i64,
    #[schema(min_length = 1, max_length = 200)]
    pub hospital: Option<String>,
    /// 0 unrated, 1–3.
    #[schema(minimum = 0, maximum = 3)]
    pub hospital_level: Option<i64>,
}

/// Correct the hospital name or level (logged old → new).
#[utoipa::path(patch, path = "/api/v1/review/cases/{id}", tag = "review", request_body = CasePatch, security(("bearer" = [])),
    responses((status = 200, body = CaseDetail), (status = 409, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn patch_case(
    State(state): State<AppState>,
    user: RequireRole<Reviewers>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CasePatch>,
) -> AppResult<Json<CaseDetail>> {
    service::correct_case(
        &state,
        &user,
        id,
        body.version,
        body.hospital,
        body.hospital_level,
    )
    .await?;
    Ok(Json(case_detail(&state, id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct InvoiceDecisionBody {
    /// The case's version as you saw it (also when deciding one invoice).
    pub version: i64,
    pub level: i64,
    pub decision: Decision,
    /// Required to reject: a preset reason and/or free text.
    pub reason: Option<String>,
    /// For a rejection: may the student fix it (default true) or is it final.
    pub may_edit: Option<bool>,
    pub invoice_no: Option<String>,
    pub total_cents: Option<Cents>,
    pub self_pay_cents: Option<Cents>,
}

/// Approve or reject an invoice, optionally correcting its number and amounts.
#[utoipa::path(post, path = "/api/v1/review/invoices/{id}", tag = "review", request_body = InvoiceDecisionBody, security(("bearer" = [])),
    responses((status = 200, body = CaseDetail), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 409, body = crate::http::error::ErrorBodySchema), (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn decide_invoice(
    State(state): State<AppState>,
    user: RequireRole<Reviewers>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<InvoiceDecisionBody>,
) -> AppResult<Json<CaseDetail>> {
    let input = InvoiceDecisionInput {
        version: b.version,
        level: Level::from_request(b.level)?,
        decision: b.decision,
        reason: b.reason,
        may_edit: b.may_edit,
        corrections: Corrections {
            invoice_no: b.invoice_no,
            total_cents: b.total_cents,
            self_pay_cents: b.self_pay_cents,
        },
    };
    let case_id = service::decide_invoice(&state, &user, id, input).await?;
    Ok(Json(case_detail(&state, case_id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CaseDecisionBody {
    pub version: i64,
    pub level: i64,
    pub decision: Decision,
    pub reason: Option<String>,
    /// For a rejection: return the case for changes (default true) or reject it finally.
    pub may_edit: Option<bool>,
    /// For a rejection: blacklist every invoice number of the case for this student.
    #[serde(default)]
    pub blacklist: bool,
}

/// Approve the case (pending invoices approved, then rule 6) or reject it.
#[utoipa::path(post, path = "/api/v1/review/cases/{id}", tag = "review", request_body = CaseDecisionBody, security(("bearer" = [])),
    responses((status = 200, body = CaseDetail), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 409, body = crate::http::error::ErrorBodySchema), (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn decide_case(
    State(state): State<AppState>,
    user: RequireRole<Reviewers>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<CaseDecisionBody>,
) -> AppResult<Json<CaseDetail>> {
    let input = CaseDecisionInput {
        version: b.version,
        level: Level::from_request(b.level)?,
        decision: b.decision,
        reason: b.reason,
        may_edit: b.may_edit,
        blacklist: b.blacklist,
    };
    service::decide_case(&state, &user, id, input).await?;
    Ok(Json(case_detail(&state, id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ReopenBody {
    pub version: i64,
    pub reason: String,
}

/// Reopen a case, back to level 2 with the payout recomputed at the next approval: an approved
/// one not yet handed in (level-2 reviewers and admins), or, admins only, a rejected, booked
/// (the seat is released) or handed-in one. The student is notified.
#[utoipa::path(post, path = "/api/v1/review/cases/{id}/reopen", tag = "review", request_body = ReopenBody, security(("bearer" = [])),
    responses((status = 200, body = CaseDetail), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 404, body = crate::http::error::ErrorBodySchema), (status = 409, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn reopen(
    State(state): State<AppState>,
    user: RequireRole<Reopeners>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReopenBody>,
) -> AppResult<Json<CaseDetail>> {
    service::reopen(&state, &user, id, b.version, Some(b.reason)).await?;
    Ok(Json(case_detail(&state, id).await?))
}
