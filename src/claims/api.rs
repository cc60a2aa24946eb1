//! The student's claims API (SPEC §11): cases, record photos, invoices, submit.

use crate::ids::{CaseId, InvoiceId, RecordId};
use crate::money::Cents;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::domain::{
    CaseFacts, CaseStatus, InvoiceFacts, RuleError, parse_cents_text, parse_invoice_date,
};
use super::service::{self, InvoiceChange, Upload};
use super::store;
use super::view::{self, CaseView, InvoiceView, RecordView};
use crate::http::auth::CurrentUser;
use crate::http::auth::{RequireRole, Students};
use crate::http::error::ErrorBodySchema;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(add_record))
        .routes(routes!(add_invoice))
        .routes(routes!(update_invoice, delete_invoice))
        .merge(super::scan::router())
        // Uploads enforce their own, larger limit per file while streaming.
        .layer(axum::extract::DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(create_case, list_cases))
        .routes(routes!(case_from_visit))
        .routes(routes!(get_case, update_case, delete_case))
        .routes(routes!(delete_record))
        .routes(routes!(submit_case))
        .routes(routes!(recall_case))
        .merge(uploads)
}

type Student = RequireRole<Students>;

#[derive(Deserialize, ToSchema)]
pub struct NewCase {
    #[schema(min_length = 1, max_length = 100)]
    pub hospital: String,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// `YYYY-MM-DD`.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub visit_date: String,
    /// 0 unrated, 1–3, when the student knows it. A hospital on the designated list
    /// (`GET /api/v1/hospitals-list`) is stored under the list's name with the list's level,
    /// whatever was sent.
    #[schema(minimum = 0, maximum = 3)]
    pub hospital_level: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
pub struct CasePatch {
    #[schema(min_length = 1, max_length = 100)]
    pub hospital: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub visit_date: Option<String>,
    #[schema(minimum = 0, maximum = 3)]
    pub hospital_level: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    pub items: Vec<CaseView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The case as `user` may see it: their own, or any submitted one for reviewers and admins
/// (drafts are the student's alone; finance and auditors read no case).
pub async fn visible_case(state: &AppState, user: &CurrentUser, id: i64) -> AppResult<CaseView> {
    let owner = (!user.reads_cases()).then_some(user.id);
    let case = store::find_case(&state.db.pool, CaseId::new(id), owner)
        .await?
        .filter(|c| c.student_id == user.id || c.status != CaseStatus::Draft)
        .ok_or_else(AppError::not_found)?;
    Ok(view::load(&state.db, case).await?)
}

/// 404 unless the case is the student's own (before reading a large body).
async fn own_case(state: &AppState, user: &CurrentUser, id: CaseId) -> AppResult<store::CaseRow> {
    store::find_case(&state.db.pool, id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)
}

/// Start a claim (draft). Needs coverage for the visit date's year.
#[utoipa::path(post, path = "/api/v1/cases", tag = "claims", security(("bearer" = [])), request_body = NewCase,
    responses((status = 201, body = CaseView), (status = 403, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema)))]
async fn create_case(
    State(state): State<AppState>,
    user: Student,
    ApiJson(body): ApiJson<NewCase>,
) -> AppResult<(StatusCode, Json<CaseView>)> {
    let facts = CaseFacts::parse(
        &body.hospital,
        body.hospital_level,
        &body.reason,
        &body.visit_date,
    )?;
    let id = service::create_case(&state, &user, facts).await?;
    Ok((
        StatusCode::CREATED,
        Json(visible_case(&state, &user, id).await?),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct FromVisit {
    /// A visit of `GET /api/v1/visits`.
    pub visit_id: i64,
}

/// Claim a visit a hospital pushed, in one request: the case is created and submitted with the
/// hospital's data (`source: "hospital"`, no photo needed). 404 when the visit is not the
/// caller's; 409 `visit_already_claimed`; the usual rules (`not_insured`,
/// `visit_date_out_of_range`, `duplicate_invoice`, `blacklisted_invoice`).
#[utoipa::path(post, path = "/api/v1/cases/from-visit", tag = "claims", security(("bearer" = [])), request_body = FromVisit,
    responses((status = 201, body = CaseView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn case_from_visit(
    State(state): State<AppState>,
    user: Student,
    ApiJson(body): ApiJson<FromVisit>,
) -> AppResult<(StatusCode, Json<CaseView>)> {
    let id = super::from_visit::claim_visit(&state, &user, body.visit_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(visible_case(&state, &user, id.get()).await?),
    ))
}

/// Own cases (reviewers and admins: every submitted one and their own), newest first.
#[utoipa::path(get, path = "/api/v1/cases", tag = "claims", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = CaseList), (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema)))]
async fn list_cases(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<CaseList>> {
    let limit = q.limit.unwrap_or(20).clamp(1, 50);
    let before = q
        .cursor
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let mut rows = if user.reads_cases() {
        store::list_visible(&state.db.pool, user.id, before, limit + 1).await?
    } else {
        store::list_cases(&state.db.pool, user.id, before, limit + 1).await?
    };
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items = view::load_many(&state.db, rows).await?;
    let next_cursor = if more {
        items.last().map(|c| c.id.to_string())
    } else {
        None
    };
    Ok(Json(CaseList { items, next_cursor }))
}

/// One case with its records, invoices, timeline and payout preview.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 404, body = ErrorBodySchema)))]
async fn get_case(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<CaseId>,
) -> AppResult<Json<CaseView>> {
    Ok(Json(visible_case(&state, &user, id.get()).await?))
}

/// Change a draft or returned case.
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = CasePatch,
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn update_case(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<CaseId>,
    ApiJson(body): ApiJson<CasePatch>,
) -> AppResult<Json<CaseView>> {
    let old = own_case(&state, &user, id).await?;
    if !old.student_may_edit() {
        return Err(RuleError::NotEditable.into());
    }
    let facts = CaseFacts::parse(
        body.hospital.as_deref().unwrap_or(&old.hospital),
        body.hospital_level.or(old.hospital_level.map(i64::from)),
        body.reason.as_deref().unwrap_or(&old.reason),
        body.visit_date.as_deref().unwrap_or(&old.visit_date),
    )?;
    service::update_case(&state, &user, id, facts).await?;
    Ok(Json(visible_case(&state, &user, id.get()).await?))
}

/// Withdraw a draft or returned case (kept, shown as withdrawn).
#[utoipa::path(delete, path = "/api/v1/cases/{id}", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn delete_case(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<CaseId>,
) -> AppResult<StatusCode> {
    service::withdraw_case(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fields of an invoice form (multipart) or body (JSON), not yet checked.
#[derive(Default)]
pub struct InvoiceForm {
    pub invoice_no: Option<String>,
    pub total_cents: Option<Result<Cents, RuleError>>,
    pub self_pay_cents: Option<Result<Cents, RuleError>>,
    /// Sent: `YYYY-MM-DD`, or empty / `null` for none.
    pub invoice_date: Option<Result<Option<chrono::NaiveDate>, RuleError>>,
    pub photo: Option<(Vec<u8>, Option<String>)>,
}

/// Reads a multipart form: text fields up to 1 KiB, file fields (`file`, `photo`) up to the
/// upload limit.
pub async fn read_multipart(
    state: &AppState,
    multipart: Multipart,
) -> AppResult<std::collections::HashMap<String, (Vec<u8>, Option<String>)>> {
    crate::storage::read_form(multipart, state.settings.max_upload_bytes, 1024).await
}

fn text(field: Option<(Vec<u8>, Option<String>)>) -> Option<String> {
    field.map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
}

fn json_date(v: Option<&Value>) -> Option<Result<Option<chrono::NaiveDate>, RuleError>> {
    v.map(|v| match v {
        Value::Null => Ok(None),
        Value::String(s) => parse_invoice_date(s),
        _ => Err(RuleError::InvalidInvoiceDate),
    })
}

fn json_cents(field: &'static str, v: Option<&Value>) -> Option<Result<Cents, RuleError>> {
    v.filter(|v| !v.is_null()).map(|v| match v {
        Value::Number(n) => n
            .as_i64()
            .map(Cents::new)
            .ok_or(RuleError::InvalidAmount { field }),
        Value::String(s) => parse_cents_text(field, s),
        _ => Err(RuleError::InvalidAmount { field }),
    })
}

/// An invoice form from multipart or JSON.
async fn read_invoice_form(state: &AppState, req: Request) -> AppResult<InvoiceForm> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let mp = Multipart::from_request(req, state).await.map_err(|_| {
            ErrorCode::MalformedMultipart.with_message("The form upload could not be read.")
        })?;
        let mut f = read_multipart(state, mp).await?;
        Ok(InvoiceForm {
            invoice_no: text(f.remove("invoice_no")),
            total_cents: text(f.remove("total_cents")).map(|s| parse_cents_text("total_cents", &s)),
            self_pay_cents: text(f.remove("self_pay_cents"))
                .map(|s| parse_cents_text("self_pay_cents", &s)),
            invoice_date: text(f.remove("invoice_date")).map(|s| parse_invoice_date(&s)),
            photo: f
                .remove("photo")
                .or_else(|| f.remove("file"))
                .filter(|(b, _)| !b.is_empty()),
        })
    } else {
        // This route has no global body limit (for photos): bound the JSON body here.
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, state.settings.max_json_bytes)
            .await
            .map_err(|_| crate::http::json::payload_too_large())?;
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        let ApiJson(v) = ApiJson::<Value>::from_request(req, state).await?;
        Ok(InvoiceForm {
            invoice_no: v
                .get("invoice_no")
                .and_then(|s| s.as_str())
                .map(str::to_string),
            total_cents: json_cents("total_cents", v.get("total_cents")),
            self_pay_cents: json_cents("self_pay_cents", v.get("self_pay_cents")),
            invoice_date: json_date(v.get("invoice_date")),
            photo: None,
        })
    }
}

/// A photo or PDF prepared for storing, once the account's upload allowance lets it in.
pub async fn upload(
    state: &AppState,
    owner: i64,
    bytes: Vec<u8>,
    name: Option<String>,
) -> AppResult<Upload> {
    check_upload_allowance(state, owner)?;
    Ok(Upload {
        prepared: crate::storage::prepare_async(&state.decodes, bytes).await?,
        name,
        qr: None,
    })
}

/// [`upload`] for an invoice photo: its QR code is looked for in the same budgeted decode.
pub async fn invoice_upload(
    state: &AppState,
    owner: i64,
    bytes: Vec<u8>,
    name: Option<String>,
) -> AppResult<Upload> {
    check_upload_allowance(state, owner)?;
    read_invoice(state, bytes, name).await
}

/// An invoice photo or PDF prepared and its QR code read, under the decode budget; whose
/// allowance it spends is the caller's to check (uploads, or the scan's own bucket).
pub async fn read_invoice(
    state: &AppState,
    bytes: Vec<u8>,
    name: Option<String>,
) -> AppResult<Upload> {
    if crate::storage::sniff(&bytes) == Some(crate::storage::Kind::Pdf) {
        return pdf_invoice_upload(state, bytes, name).await;
    }
    let (prepared, qr) = crate::storage::prepare_reading_async(
        &state.decodes,
        bytes,
        crate::invoice_qr::decode::COST_MIB,
        crate::invoice_qr::decode::SIDE,
        crate::invoice_qr::decode::read,
    )
    .await?;
    Ok(Upload { prepared, name, qr })
}

/// An e-invoice PDF: stored as it is, its QR image or text layer read on the blocking pool under
/// the decode budget (skipped when the budget is configured smaller than the read needs); a PDF
/// over the reading's bounds is refused with 422 `pdf_too_complex`.
async fn pdf_invoice_upload(
    state: &AppState,
    bytes: Vec<u8>,
    name: Option<String>,
) -> AppResult<Upload> {
    use crate::invoice_qr::pdf;
    let cost = pdf::COST_MIB;
    if cost > state.settings.image_decodes.memory_mib {
        let prepared = crate::storage::prepare_async(&state.decodes, bytes).await?;
        return Ok(Upload {
            prepared,
            name,
            qr: None,
        });
    }
    let permit = state
        .decodes
        .acquire(cost, crate::http::budget::busy)
        .await?;
    let (bytes, read) = tokio::task::spawn_blocking(move || {
        let read = pdf::read(&bytes);
        (bytes, read)
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("pdf task: {e}")))?;
    drop(permit);
    let qr = read.map_err(|_| {
        ErrorCode::PdfTooComplex
            .with_message(format!(
                "The PDF is too large or complex to read (at most {} pages).",
                pdf::MAX_PAGES
            ))
            .with_field("photo", "too complex")
    })?;
    let prepared = crate::storage::prepare_async(&state.decodes, bytes).await?;
    Ok(Upload { prepared, name, qr })
}

fn check_upload_allowance(state: &AppState, owner: i64) -> AppResult<()> {
    if state.upload_limiter.check_key(owner) {
        Ok(())
    } else {
        Err(ErrorCode::RateLimited.with_message("Too many uploads in a short time; wait a minute."))
    }
}

/// Add a medical-record photo (multipart field `file`).
#[utoipa::path(post, path = "/api/v1/cases/{id}/records", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "field `file`: JPEG, PNG, WebP or PDF"),
    responses((status = 201, body = RecordView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema), (status = 413, body = ErrorBodySchema),
              (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many uploads; see `Retry-After`", body = ErrorBodySchema),
              (status = 503, description = "`busy`: photo processing is at capacity; see `Retry-After`", body = ErrorBodySchema)))]
async fn add_record(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<CaseId>,
    multipart: Multipart,
) -> AppResult<(StatusCode, Json<RecordView>)> {
    if !own_case(&state, &user, id).await?.student_may_edit() {
        return Err(RuleError::NotEditable.into());
    }
    let mut f = read_multipart(&state, multipart).await?;
    let (bytes, name) = f
        .remove("file")
        .or_else(|| f.remove("photo"))
        .filter(|(b, _)| !b.is_empty())
        .ok_or(RuleError::PhotoRequired)?;
    let record_id = service::add_record(
        &state,
        &user,
        id,
        upload(&state, user.id, bytes, name).await?,
    )
    .await?;
    let case = visible_case(&state, &user, id.get()).await?;
    let record = case
        .records
        .into_iter()
        .find(|r| r.id == record_id)
        .ok_or_else(AppError::not_found)?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Remove a record photo from a draft or returned case.
#[utoipa::path(delete, path = "/api/v1/cases/{id}/records/{record_id}", tag = "claims", security(("bearer" = [])),
    params(("id" = i64, Path), ("record_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn delete_record(
    State(state): State<AppState>,
    user: Student,
    Path((id, record_id)): Path<(CaseId, RecordId)>,
) -> AppResult<StatusCode> {
    service::delete_record(&state, &user, id, record_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn invoice_of(case: CaseView, invoice_id: InvoiceId) -> AppResult<InvoiceView> {
    case.invoices
        .into_iter()
        .find(|i| i.id == invoice_id)
        .ok_or_else(AppError::not_found)
}

/// Add an invoice: multipart `invoice_no, total_cents, self_pay_cents, invoice_date, photo`.
/// `invoice_date` (开票日期, `YYYY-MM-DD`) is optional; left out or empty, the date on the
/// photo's QR code is stored when there is one. A date that is not a calendar date, is in the
/// future or is older than the claim window: 422 `invalid_invoice_date`.
#[utoipa::path(post, path = "/api/v1/cases/{id}/invoices", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "`invoice_no`, `total_cents`, `self_pay_cents`, `invoice_date` (optional, `YYYY-MM-DD`), `photo`"),
    responses((status = 201, body = InvoiceView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema),
              (status = 413, body = ErrorBodySchema), (status = 415, body = ErrorBodySchema), (status = 422, body = ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many uploads; see `Retry-After`", body = ErrorBodySchema),
              (status = 503, description = "`busy`: photo processing is at capacity; see `Retry-After`", body = ErrorBodySchema)))]
async fn add_invoice(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<CaseId>,
    req: Request,
) -> AppResult<(StatusCode, Json<InvoiceView>)> {
    if !own_case(&state, &user, id).await?.student_may_edit() {
        return Err(RuleError::NotEditable.into());
    }
    let form = read_invoice_form(&state, req).await?;
    let total = form.total_cents.unwrap_or(Err(RuleError::InvalidAmount {
        field: "total_cents",
    }))?;
    let self_pay = form.self_pay_cents.unwrap_or(Ok(Cents::ZERO))?;
    let date = form.invoice_date.transpose()?.flatten();
    let facts =
        InvoiceFacts::parse(form.invoice_no.as_deref().unwrap_or(""), total, self_pay)?.dated(date);
    let (bytes, name) = form.photo.ok_or(RuleError::PhotoRequired)?;
    let photo = invoice_upload(&state, user.id, bytes, name).await?;
    let invoice_id = service::add_invoice(&state, &user, id, facts, photo).await?;
    let case = visible_case(&state, &user, id.get()).await?;
    Ok((StatusCode::CREATED, Json(invoice_of(case, invoice_id)?)))
}

/// Change an invoice marked may-edit (multipart or JSON; photo optional). `invoice_date`: a
/// `YYYY-MM-DD` sets it, empty (or JSON `null`) clears it, absent keeps it.
#[utoipa::path(patch, path = "/api/v1/invoices/{id}", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "any of `invoice_no`, `total_cents`, `self_pay_cents`, `invoice_date` (`YYYY-MM-DD`, empty to clear), `photo`; or the same as JSON"),
    responses((status = 200, body = InvoiceView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many uploads; see `Retry-After`", body = ErrorBodySchema),
              (status = 503, description = "`busy`: photo processing is at capacity; see `Retry-After`", body = ErrorBodySchema)))]
async fn update_invoice(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<InvoiceId>,
    req: Request,
) -> AppResult<Json<InvoiceView>> {
    let invoice = store::find_invoice(&state.db.pool, id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)?;
    let form = read_invoice_form(&state, req).await?;
    let change = InvoiceChange {
        total_cents: form.total_cents.transpose()?,
        self_pay_cents: form.self_pay_cents.transpose()?,
        invoice_date: form.invoice_date.transpose()?,
        invoice_no: form.invoice_no,
        photo: match form.photo {
            Some((bytes, name)) => Some(invoice_upload(&state, user.id, bytes, name).await?),
            None => None,
        },
    };
    service::update_invoice(&state, &user, id, change).await?;
    let case = visible_case(&state, &user, invoice.case_id.get()).await?;
    Ok(Json(invoice_of(case, id)?))
}

/// Remove an invoice marked may-edit from a draft or returned case.
#[utoipa::path(delete, path = "/api/v1/invoices/{id}", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn delete_invoice(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<InvoiceId>,
) -> AppResult<StatusCode> {
    service::delete_invoice(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Submit for review (needs a record photo and an invoice).
#[utoipa::path(post, path = "/api/v1/cases/{id}/submit", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn submit_case(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<CaseId>,
) -> AppResult<Json<CaseView>> {
    service::submit_case(&state, &user, id).await?;
    Ok(Json(visible_case(&state, &user, id.get()).await?))
}

/// Take a submitted case back to draft before any reviewer decided on it (409
/// `already_in_review` once review has begun).
#[utoipa::path(post, path = "/api/v1/cases/{id}/recall", tag = "claims", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBodySchema), (status = 409, body = ErrorBodySchema)))]
async fn recall_case(
    State(state): State<AppState>,
    user: Student,
    Path(id): Path<CaseId>,
) -> AppResult<Json<CaseView>> {
    service::recall_case(&state, &user, id).await?;
    Ok(Json(visible_case(&state, &user, id.get()).await?))
}
