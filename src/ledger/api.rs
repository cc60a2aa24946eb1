//! `GET /api/v1/admin/ledger` (owed vs paid per insurer) and
//! `GET /api/v1/admin/reconciliation?from=&to=&unpaid_after_days=` (every mismatch).

use axum::Json;
use axum::extract::{Query, State};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{Mismatch, Window, reconcile};
use super::store::{self, InsurerBalance};
use crate::accounts::RequireRole;
use crate::accounts::extract::FinanceReaders;
use crate::http::{AppError, AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ledger))
        .routes(routes!(reconciliation))
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
    v.filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                AppError::invalid("invalid_input", "Dates are YYYY-MM-DD.")
                    .with_field(field, "YYYY-MM-DD")
            })
        })
        .transpose()
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
    let window = Window {
        from: date_param("from", q.from.as_deref())?,
        to: date_param("to", q.to.as_deref())?,
    };
    let days = q.unpaid_after_days.unwrap_or(30).clamp(0, 3650);
    let tz = state.settings.time_zone;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let approvals = store::approvals(&state.db.pool, tz).await?;
    let payments = store::payments(&state.db.pool).await?;
    Ok(Json(ReconciliationReport {
        items: reconcile(&approvals, &payments, window, today, days),
        next_cursor: None,
    }))
}
