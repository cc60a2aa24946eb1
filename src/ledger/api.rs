//! `GET /api/v1/admin/ledger` (owed vs paid per insurer), `GET /api/v1/admin/ledger/cases`
//! (owed vs paid per case) and `GET /api/v1/admin/reconciliation{,.xlsx}?from=&to=&unpaid_after_days=`
//! (every mismatch, as JSON or a workbook). Finance and admins.

use anyhow::Context;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{Mismatch, Window, reconcile};
use super::export;
use super::store::{self, CaseBalance, InsurerBalance};
use crate::http::auth::FinanceReaders;
use crate::http::auth::RequireRole;
use crate::http::web::Tr;
use crate::http::{AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ledger))
        .routes(routes!(ledger_cases))
        .routes(routes!(reconciliation))
        .routes(routes!(reconciliation_xlsx))
}

type ErrorBody = crate::http::error::ErrorBodySchema;

#[derive(Serialize, ToSchema)]
pub struct LedgerSummary {
    pub items: Vec<InsurerBalance>,
    pub next_cursor: Option<i64>,
}

/// Owed (approved by the insurer) and paid, per insurer.
#[utoipa::path(get, path = "/api/v1/admin/ledger", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = LedgerSummary), (status = 403, body = ErrorBody)))]
async fn ledger(
    State(state): State<AppState>,
    _who: RequireRole<FinanceReaders>,
) -> AppResult<Json<LedgerSummary>> {
    Ok(Json(LedgerSummary {
        items: store::balances(&state.db.pool).await?,
        next_cursor: None,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct ReconciliationQuery {
    /// First date (`YYYY-MM-DD`) of payments, and of approvals for unpaid ones.
    pub from: Option<String>,
    /// Last date, inclusive.
    pub to: Option<String>,
    /// An approved payout unpaid after this many days is flagged (default 30).
    pub unpaid_after_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReconciliationReport {
    pub items: Vec<Mismatch>,
    pub next_cursor: Option<i64>,
}

fn date_param(field: &'static str, v: Option<&str>) -> AppResult<Option<NaiveDate>> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ErrorCode::InvalidInput
                    .with_message("Dates are YYYY-MM-DD.")
                    .with_field(field, "YYYY-MM-DD")
            })
        })
        .transpose()
}

/// A reconciliation run: the filter as understood and what it found.
pub struct Reconciled {
    pub window: Window,
    pub unpaid_after_days: i64,
    pub items: Vec<Mismatch>,
}

/// Parses the filter (422 `invalid_input` for a bad date) and reconciles the whole ledger.
pub async fn reconcile_ledger(state: &AppState, q: &ReconciliationQuery) -> AppResult<Reconciled> {
    let window = Window {
        from: date_param("from", q.from.as_deref())?,
        to: date_param("to", q.to.as_deref())?,
    };
    let days = q.unpaid_after_days.unwrap_or(30).clamp(0, 3650);
    let tz = state.settings.time_zone;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let approvals = store::approvals(&state.db.pool, tz).await?;
    let payments = store::payments(&state.db.pool).await?;
    Ok(Reconciled {
        window,
        unpaid_after_days: days,
        items: reconcile(&approvals, &payments, window, today, days),
    })
}

/// Every mismatch between approved payouts and insurers' payments: paid without an approved
/// claim, amount differs, paid twice, approved but unpaid after N days.
#[utoipa::path(get, path = "/api/v1/admin/reconciliation", tag = "ledger", params(ReconciliationQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReconciliationReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reconciliation(
    State(state): State<AppState>,
    _who: RequireRole<FinanceReaders>,
    Query(q): Query<ReconciliationQuery>,
) -> AppResult<Json<ReconciliationReport>> {
    Ok(Json(ReconciliationReport {
        items: reconcile_ledger(&state, &q).await?.items,
        next_cursor: None,
    }))
}

/// The reconciliation filter and the workbook's language.
#[derive(Deserialize, IntoParams)]
pub struct XlsxQuery {
    /// First date (`YYYY-MM-DD`) of payments, and of approvals for unpaid ones.
    pub from: Option<String>,
    /// Last date, inclusive.
    pub to: Option<String>,
    /// An approved payout unpaid after this many days is flagged (default 30).
    pub unpaid_after_days: Option<i64>,
    /// `zh-CN` or `en`; the user's own language when absent.
    pub lang: Option<String>,
}

/// The same mismatches as `/api/v1/admin/reconciliation`, as a workbook: a sheet of mismatches
/// (kind in words, money in yuan) and a summary sheet with counts and sums per kind.
#[utoipa::path(get, path = "/api/v1/admin/reconciliation.xlsx", tag = "ledger", params(XlsxQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "XLSX workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reconciliation_xlsx(
    State(state): State<AppState>,
    who: RequireRole<FinanceReaders>,
    Query(q): Query<XlsxQuery>,
) -> AppResult<Response> {
    let tr = Tr::for_code(q.lang.as_deref().unwrap_or(&who.lang));
    let filter = ReconciliationQuery {
        from: q.from,
        to: q.to,
        unpaid_after_days: q.unpaid_after_days,
    };
    let rec = reconcile_ledger(&state, &filter).await?;
    let names = store::names(&state.db.pool).await?;
    let name = format!(
        "reconciliation_{}_{}.xlsx",
        rec.window
            .from
            .map(|d| d.to_string())
            .unwrap_or_else(|| "start".into()),
        rec.window
            .to
            .map(|d| d.to_string())
            .unwrap_or_else(|| "now".into())
    );
    let file = tokio::task::spawn_blocking(move || export::reconciliation_xlsx(&rec, &names, tr))
        .await
        .context("reconciliation writer")??;
    tracing::info!(user_id = who.id, "reconciliation.xlsx exported");
    crate::reports::api::xlsx_file_response(&name, file)
}

#[derive(Deserialize, IntoParams)]
pub struct CasesQuery {
    /// Only this insurer's rows.
    pub insurer_id: Option<i64>,
    /// `next_cursor` of the previous page: cases after this case id.
    pub cursor: Option<i64>,
    /// Cases per page, 1–200 (default 50); a case paid by two insurers has a row for each.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CaseBalancePage {
    pub items: Vec<CaseBalance>,
    pub next_cursor: Option<i64>,
}

/// Loads a page of per-case balances.
pub async fn case_page(state: &AppState, q: &CasesQuery) -> AppResult<CaseBalancePage> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let (items, more) =
        store::case_balances(&state.db.pool, q.insurer_id, q.cursor.unwrap_or(0), limit).await?;
    let next_cursor = if more {
        items.last().map(|b| b.case_id)
    } else {
        None
    };
    Ok(CaseBalancePage { items, next_cursor })
}

/// Owed vs paid per case, for every case an insurer approved a payout for or paid: what the
/// insurer approved, the sum and number of its payments, the last payment date and the
/// balance (owed − paid). Ordered by case id.
#[utoipa::path(get, path = "/api/v1/admin/ledger/cases", tag = "ledger", params(CasesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = CaseBalancePage), (status = 403, body = ErrorBody)))]
async fn ledger_cases(
    State(state): State<AppState>,
    _who: RequireRole<FinanceReaders>,
    Query(q): Query<CasesQuery>,
) -> AppResult<Json<CaseBalancePage>> {
    Ok(Json(case_page(&state, &q).await?))
}
