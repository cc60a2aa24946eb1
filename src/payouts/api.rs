//! `GET/PUT /api/v1/me/payout-account` (students) and the payout batches of finance:
//! `GET/POST /api/v1/admin/payout-batches`, `GET /api/v1/admin/payout-batches/{id}` (also
//! `{id}.csv` and `{id}.xlsx`, the bank's transfer file), `POST …/{id}/paid` and
//! `POST …/{id}/returned`.

use anyhow::Context;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{PayoutAccount, SkipReason, mask_account_no};
use super::export::{self, Line};
use super::service::{self, BatchDetail, OpenAccount};
use super::store::{self, BatchRow, ItemRow};
use crate::http::auth::{FinanceReaders, RequireRole, Students};
use crate::http::error::ErrorBodySchema as ErrorBody;
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};
use crate::money::Cents;
use crate::reports::api::{CSV_MIME, attachment};
use crate::reports::domain::Lang;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_account, put_account))
        .routes(routes!(list_batches, create_batch))
        .routes(routes!(get_batch))
        .routes(routes!(mark_paid))
        .routes(routes!(mark_returned))
}

/// A payout account as its owner sees it: the number masked.
#[derive(Serialize, ToSchema)]
pub struct PayoutAccountView {
    pub bank_name: String,
    /// `6222 **** **** 1234`.
    pub account_no_masked: String,
    pub holder_name: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<OpenAccount> for PayoutAccountView {
    fn from(a: OpenAccount) -> PayoutAccountView {
        PayoutAccountView {
            account_no_masked: mask_account_no(&a.account_no),
            bank_name: a.bank_name,
            holder_name: a.holder_name,
            updated_at: rfc3339(a.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PayoutAccountInput {
    /// The bank and branch, e.g. 中国工商银行北京海淀支行; 1–60 characters.
    #[schema(min_length = 1, max_length = 60)]
    pub bank_name: String,
    /// 12–30 digits; spaces between groups are allowed (422 `invalid_account_no` otherwise).
    #[schema(max_length = 64)]
    pub account_no: String,
    /// The account holder's name as the bank knows it; 1–60 characters.
    #[schema(min_length = 1, max_length = 60)]
    pub holder_name: String,
}

/// One's payout account for the university's transfers; 404 when none was entered yet.
#[utoipa::path(get, path = "/api/v1/me/payout-account", tag = "payouts", security(("bearer" = [])),
    responses((status = 200, body = PayoutAccountView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_account(
    State(state): State<AppState>,
    user: RequireRole<Students>,
) -> AppResult<Json<PayoutAccountView>> {
    let account = service::account_of(&state, user.id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(account.into()))
}

/// Enter or change one's payout account. Needs a fresh authentication (password or passkey
/// within the step-up window): 401 `reauth_required` otherwise. A case whose transfer the
/// bank returned is paid in the next batch after this change.
#[utoipa::path(put, path = "/api/v1/me/payout-account", tag = "payouts", security(("bearer" = [])),
    request_body = PayoutAccountInput,
    responses((status = 200, body = PayoutAccountView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn put_account(
    State(state): State<AppState>,
    user: RequireRole<Students>,
    ApiJson(body): ApiJson<PayoutAccountInput>,
) -> AppResult<Json<PayoutAccountView>> {
    let account = PayoutAccount::parse(&body.bank_name, &body.account_no, &body.holder_name)?;
    let saved = service::save_account(&state, &user, &account).await?;
    Ok(Json(saved.into()))
}

/// A case in a batch; the account masked.
#[derive(Serialize, ToSchema)]
pub struct BatchCaseView {
    pub case_id: i64,
    /// The student id (学号, the login name).
    pub student_id: String,
    pub student_name: String,
    pub bank_name: String,
    pub account_no_masked: String,
    pub holder_name: String,
    pub amount_cents: Cents,
    /// `pending` (in an open batch), `paid`, or `returned` (the bank sent it back).
    pub status: String,
}

/// A case waiting for payment that was left out of the batch.
#[derive(Serialize, ToSchema)]
pub struct SkippedCaseView {
    pub case_id: i64,
    pub student_id: String,
    pub student_name: String,
    pub amount_cents: Cents,
    pub reason: SkipReason,
}

/// A payout batch with its totals.
#[derive(Serialize, ToSchema)]
pub struct BatchSummary {
    pub id: i64,
    /// The last hand-in date included (`YYYY-MM-DD`).
    pub through: String,
    /// `open` (built, not yet paid) or `paid`.
    pub status: String,
    /// Cases in the batch, and their sum.
    pub count: i64,
    pub total_cents: Cents,
    /// Transfers the bank returned, and their sum (reconciliation: paid = total − returned).
    pub returned_count: i64,
    pub returned_cents: Cents,
    /// RFC 3339.
    pub created_at: String,
    pub paid_at: Option<String>,
}

impl From<BatchRow> for BatchSummary {
    fn from(b: BatchRow) -> BatchSummary {
        BatchSummary {
            id: b.id,
            through: b.through_date,
            status: b.status,
            count: b.case_count,
            total_cents: b.total_cents,
            returned_count: b.returned_count,
            returned_cents: b.returned_cents,
            created_at: rfc3339(b.created_at),
            paid_at: b.paid_at.map(rfc3339),
        }
    }
}

/// A batch with its cases; right after building it, also the cases left out.
#[derive(Serialize, ToSchema)]
pub struct BatchView {
    #[serde(flatten)]
    pub batch: BatchSummary,
    pub cases: Vec<BatchCaseView>,
    /// Cases waiting for payment that were left out (no account, or not fixed after a
    /// returned transfer), so the office can chase them. Empty except when just built.
    pub skipped_count: usize,
    pub skipped: Vec<SkippedCaseView>,
}

fn case_view(state: &AppState, item: ItemRow) -> AppResult<BatchCaseView> {
    Ok(BatchCaseView {
        account_no_masked: mask_account_no(&service::open_item_no(state, &item)?),
        case_id: item.case_id,
        student_id: item.username,
        student_name: item.student_name,
        bank_name: item.bank_name,
        holder_name: item.holder_name,
        amount_cents: item.amount_cents,
        status: item.status,
    })
}

fn batch_view(state: &AppState, detail: BatchDetail) -> AppResult<BatchView> {
    let cases = detail
        .items
        .into_iter()
        .map(|i| case_view(state, i))
        .collect::<AppResult<Vec<_>>>()?;
    let skipped: Vec<SkippedCaseView> = detail
        .skipped
        .into_iter()
        .map(|(w, reason)| SkippedCaseView {
            case_id: w.case_id,
            student_id: w.username,
            student_name: w.student_name,
            amount_cents: w.payout_cents,
            reason,
        })
        .collect();
    Ok(BatchView {
        batch: detail.batch.into(),
        cases,
        skipped_count: skipped.len(),
        skipped,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct NewBatch {
    /// The last hand-in date (`YYYY-MM-DD`, deployment time zone) to include.
    pub through: String,
}

/// Build a payout batch: every completed, university-funded case (not routed to an insurer)
/// handed in up to `through` that is in no live batch and whose student has a payout account.
/// Cases without one are listed in `skipped`. 409 `nothing_to_pay` when no case qualifies;
/// 422 `invalid_date`.
#[utoipa::path(post, path = "/api/v1/admin/payout-batches", tag = "payouts", security(("bearer" = [])),
    request_body = NewBatch,
    responses((status = 201, body = BatchView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_batch(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    ApiJson(body): ApiJson<NewBatch>,
) -> AppResult<(StatusCode, Json<BatchView>)> {
    let detail = service::build_batch(&state, &user, &body.through).await?;
    Ok((StatusCode::CREATED, Json(batch_view(&state, detail)?)))
}

#[derive(Deserialize, IntoParams)]
pub struct BatchesQuery {
    /// From the previous page's `next_cursor`: batches with a smaller id.
    pub cursor: Option<i64>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchPage {
    pub items: Vec<BatchSummary>,
    pub next_cursor: Option<i64>,
}

/// Payout batches, newest first.
#[utoipa::path(get, path = "/api/v1/admin/payout-batches", tag = "payouts", params(BatchesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = BatchPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn list_batches(
    State(state): State<AppState>,
    _who: RequireRole<FinanceReaders>,
    Query(q): Query<BatchesQuery>,
) -> AppResult<Json<BatchPage>> {
    if q.cursor.is_some_and(|c| c <= 0) {
        return Err(ErrorCode::InvalidCursor.with_message("This cursor was not issued here."));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let rows = store::list_batches(&state.db.pool, q.cursor.unwrap_or(i64::MAX), limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|b| b.id))
        .flatten();
    Ok(Json(BatchPage {
        items: rows.into_iter().map(BatchSummary::from).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct FileQuery {
    /// Language of the file's headings, `zh-CN` or `en`; the user's own when absent.
    pub lang: Option<String>,
}

/// One batch: `{id}` answers the batch as JSON (accounts masked); `{id}.csv` (UTF-8 with BOM)
/// and `{id}.xlsx` answer the bank's transfer file, one row per case to transfer with the
/// FULL account number, and a totals row. A bank needs the full numbers, so the file is never
/// masked: it needs a fresh authentication (401 `reauth_required` otherwise; the console asks
/// for the password or passkey and downloads again), and every download is audited.
#[utoipa::path(get, path = "/api/v1/admin/payout-batches/{id}", tag = "payouts", params(
        ("id" = String, Path, description = "Batch id, optionally with `.csv` or `.xlsx` for the transfer file"),
        FileQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The batch (JSON), or the transfer file", content(
                  (BatchView = "application/json"),
                  (String = "text/csv"),
                  (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_batch(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> AppResult<Response> {
    let (number, format) = match id.split_once('.') {
        Some((n, ext @ ("csv" | "xlsx"))) => (n, Some(ext)),
        Some(_) => return Err(AppError::not_found()),
        None => (id.as_str(), None),
    };
    let batch_id: i64 = number.parse().map_err(|_| AppError::not_found())?;
    let Some(format) = format else {
        let detail = service::batch(&state, batch_id).await?;
        return Ok(Json(batch_view(&state, detail)?).into_response());
    };
    let detail = service::reveal_for_export(&state, &user, batch_id, format).await?;
    let lines = detail
        .items
        .iter()
        .filter(|i| i.status != "returned")
        .map(|i| Ok(Line::new(i, service::open_item_no(&state, i)?)))
        .collect::<AppResult<Vec<_>>>()?;
    let lang = Lang::from_code(q.lang.as_deref().unwrap_or(&user.lang));
    let name = format!("payout_batch_{batch_id}.{format}");
    tracing::info!(
        user_id = user.id,
        batch_id,
        format,
        "payout batch file downloaded"
    );
    if format == "csv" {
        let bytes = export::csv(&lines, lang)?;
        let len = bytes.len() as u64;
        return Ok(attachment(&name, CSV_MIME, Body::from(bytes), Some(len)));
    }
    let sheet = match lang {
        Lang::Zh => format!("打款批次{batch_id}"),
        Lang::En => format!("Payout batch {batch_id}"),
    };
    let file = tokio::task::spawn_blocking(move || export::xlsx(&lines, lang, &sheet))
        .await
        .context("payout batch writer")??;
    crate::reports::api::xlsx_file_response(&name, file)
}

/// The transfers of the batch went out: every case in it becomes `paid` and its student is
/// told (inbox and SMS: "已打款"). 409 `batch_already_paid` the second time.
#[utoipa::path(post, path = "/api/v1/admin/payout-batches/{id}/paid", tag = "payouts",
    params(("id" = i64, Path, description = "Batch id")), security(("bearer" = [])),
    responses((status = 200, body = BatchView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn mark_paid(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Path(id): Path<i64>,
) -> AppResult<Json<BatchView>> {
    let detail = service::mark_paid(&state, &user, id).await?;
    Ok(Json(batch_view(&state, detail)?))
}

#[derive(Deserialize, ToSchema)]
pub struct ReturnedTransfers {
    /// The cases whose transfer the bank sent back (1–1000), each a paid case of this batch.
    pub case_ids: Vec<i64>,
}

/// The bank returned some transfers (e.g. a wrong account): those cases go back to
/// `completed` (not paid), their students are asked to fix the payout account, and they are
/// batched again after the account changed. 409 `batch_not_paid` before the batch is marked
/// paid; 422 `invalid_input` (field `case_ids`) for a case that is not a paid case of it.
#[utoipa::path(post, path = "/api/v1/admin/payout-batches/{id}/returned", tag = "payouts",
    params(("id" = i64, Path, description = "Batch id")), security(("bearer" = [])),
    request_body = ReturnedTransfers,
    responses((status = 200, body = BatchView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn mark_returned(
    State(state): State<AppState>,
    user: RequireRole<FinanceReaders>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ReturnedTransfers>,
) -> AppResult<Json<BatchView>> {
    let detail = service::mark_returned(&state, &user, id, &body.case_ids).await?;
    Ok(Json(batch_view(&state, detail)?))
}
