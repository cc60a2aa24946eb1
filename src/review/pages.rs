//! Staff console pages of the review: the queue and the review screen. Plain forms that post
//! to the same domain functions as the API; `assets/app.js` adds the keyboard (a, r, j/k, n, ?)
//! and photo zoom/rotate on top, so the pages also work without script.

use crate::money::Cents;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::domain::{Corrections, Decision, Level};
use super::service::{self, CaseDecisionInput, InvoiceDecisionInput};
use super::view::{CaseDetail, case_detail};
use crate::claims::{CaseStatus, InvoiceStatus};
use crate::http::auth::CsrfForm;
use crate::http::auth::{CurrentUser, Role};
use crate::http::web::{ConsoleFrame, PageUser, Tr, error_text, render};
use crate::http::{AppError, AppState, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/review", get(queue_page))
        .route("/console/review/cases/{id}", get(case_page))
        .route("/console/review/cases/{id}/correct", post(correct_form))
        .route("/console/review/cases/{id}/decide", post(case_form))
        .route("/console/review/cases/{id}/reopen", post(reopen_form))
        .route("/console/review/invoices/{id}", post(invoice_form))
        .merge(super::search_pages::router())
        .merge(super::blacklist_pages::router())
}

fn is_reviewer(u: &CurrentUser) -> bool {
    u.has(Role::Reviewer1) || u.has(Role::Reviewer2)
}

#[derive(Deserialize)]
struct QueueQuery {
    level: Option<i64>,
    cursor: Option<String>,
    error: Option<String>,
}

struct QueueRowView {
    id: i64,
    student: String,
    hospital: String,
    visit_date: String,
    invoice_count: i64,
    total: String,
    submitted_at: String,
}

#[derive(Template)]
#[template(path = "review/queue.html")]
struct QueuePageT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    level: i64,
    level_label: String,
    waiting: i64,
    waiting_more: bool,
    oldest_age: Option<String>,
    rows: Vec<QueueRowView>,
    next_cursor: Option<String>,
    first_case: Option<String>,
}

fn age_text(tr: Tr, seconds: i64) -> String {
    let (n, unit) = if seconds >= 86_400 {
        (seconds / 86_400, "review.days")
    } else if seconds >= 3600 {
        (seconds / 3600, "review.hours")
    } else {
        (seconds / 60, "review.minutes")
    };
    format!("{n} {}", tr.t(unit))
}

async fn queue_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<QueueQuery>,
) -> Response {
    let default = if user.has(Role::Reviewer1) { 1 } else { 2 };
    let Some(level) = Level::parse(q.level.unwrap_or(default)) else {
        return AppError::not_found().into_response();
    };
    if !user.has(level.role()) {
        return AppError::forbidden().into_response();
    }
    let page = match super::api::load_queue(&state, level, q.cursor.as_deref(), 50).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let first_case = page
        .items
        .first()
        .map(|i| format!("/console/review/cases/{}", i.id));
    render(&QueuePageT {
        tr,
        user: &user,
        frame: frame
            .current(&format!("/console/review?level={}", level.as_i64()))
            .with_error(q.error.as_deref().map(|c| error_text(tr, c))),
        level: level.as_i64(),
        level_label: tr.t(&format!("review.level{}", level.as_i64())),
        waiting: page.waiting,
        waiting_more: page.waiting_more,
        oldest_age: page.oldest_age_seconds.map(|s| age_text(tr, s)),
        rows: page
            .items
            .into_iter()
            .map(|i| QueueRowView {
                id: i.id,
                student: format!("{} ({})", i.student_name, i.student_username),
                hospital: i.hospital,
                visit_date: i.visit_date,
                invoice_count: i.invoice_count,
                total: i.total_cents.to_string(),
                submitted_at: i.submitted_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
        first_case,
    })
}

struct InvView {
    id: i64,
    invoice_no: String,
    total: String,
    self_pay: String,
    covered: String,
    /// 开票日期, when known.
    invoice_date: Option<String>,
    status: &'static str,
    reason: Option<String>,
    photo_url: Option<String>,
    /// The invoice file is a PDF e-invoice: linked, not shown as a photo.
    photo_pdf: bool,
    pending: bool,
    /// What the QR code says and how it compares, when the photo has a readable code.
    qr: Option<QrView>,
}

struct QrView {
    read: String,
    matches: bool,
    differences: Vec<String>,
}

fn qr_view(tr: Tr, i: &super::view::InvoiceView) -> Option<QrView> {
    let qr = i.qr.as_ref()?;
    let dash = || "—".to_string();
    let read = tr
        .t("review.qr.read")
        .replace("{number}", &qr.number.clone().unwrap_or_else(dash))
        .replace(
            "{amount}",
            &qr.amount_cents.map_or_else(dash, |c| c.to_string()),
        )
        .replace("{date}", &qr.date.clone().unwrap_or_else(dash));
    let differences = i
        .qr_differences
        .iter()
        .map(|d| {
            tr.t(&format!("review.qr.{}", d.field))
                .replace("{typed}", &d.typed)
                .replace("{qr}", &d.qr)
        })
        .collect::<Vec<_>>();
    Some(QrView {
        read,
        matches: differences.is_empty(),
        differences,
    })
}

struct DecView {
    at: String,
    reviewer: String,
    level: i64,
    what: String,
    reason: String,
    changes: String,
}

#[derive(Template)]
#[template(path = "review/case.html")]
struct CasePageT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    c: &'a CaseDetail,
    status: &'static str,
    status_label: String,
    hospital_level: i64,
    level: i64,
    actionable: bool,
    reopenable: bool,
    reasons: Vec<String>,
    invoices: Vec<InvView>,
    decisions: Vec<DecView>,
    flags: Vec<String>,
    payout_lines: Vec<String>,
    next_case: Option<String>,
}

#[derive(Deserialize)]
struct ErrorQuery {
    error: Option<String>,
}

fn flag_text(tr: Tr, f: &super::flags::Flag, invoice_no: &str) -> String {
    let cases = f
        .other_case_ids
        .iter()
        .map(|c| format!("#{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let median = f.median_cents.map(|c| c.to_string()).unwrap_or_default();
    tr.t(&format!("review.flag.{}", f.kind))
        .replace("{invoice}", invoice_no)
        .replace("{cases}", &cases)
        .replace("{median}", &median)
}

/// A hospital not on the designated list, or on it with another level than the case's.
fn hospital_flag(tr: Tr, c: &CaseDetail) -> Option<String> {
    let check = c.hospital_check.as_ref()?;
    let level = |l: i64| tr.t(&format!("intake.level_{l}"));
    match (&check.listed_name, check.listed_level) {
        (Some(listed), Some(listed_level))
            if c.hospital_level.is_some_and(|l| l != listed_level) =>
        {
            Some(
                tr.t("hospitals_list.level_differs")
                    .replace("{listed}", listed)
                    .replace("{listed_level}", &level(listed_level.get()))
                    .replace(
                        "{typed_level}",
                        &c.hospital_level.map(|l| level(l.get())).unwrap_or_default(),
                    ),
            )
        }
        _ if !check.designated => Some(
            tr.t("hospitals_list.not_designated")
                .replace("{hospital}", &c.hospital),
        ),
        _ => None,
    }
}

fn payout_lines(tr: Tr, c: &CaseDetail) -> Vec<String> {
    let Some(b) = &c.payout_breakdown else {
        return Vec::new();
    };
    let pct = format!("{}.{:02}%", b.ratio_bp / 100, b.ratio_bp % 100);
    let line = |key: &str, v: String| format!("{}: {v}", tr.t(key));
    let mut lines = vec![
        line("review.pb.covered", format!("¥{}", b.covered_cents)),
        line(
            "review.pb.deductible",
            format!(
                "¥{} / ¥{}",
                b.deductible_used_cents, b.deductible_left_cents
            ),
        ),
        line(
            "review.pb.reimbursable",
            format!("¥{}", b.reimbursable_cents),
        ),
        line("review.pb.ratio", pct),
        line("review.pb.after_ratio", format!("¥{}", b.after_ratio_cents)),
    ];
    if b.cap_applied {
        lines.push(line("review.pb.cap", format!("¥{}", b.cap_left_cents)));
    }
    lines.push(line("review.pb.payout", format!("¥{}", b.payout_cents)));
    lines.push(line("review.pb.policy", b.policy_version.to_string()));
    lines
}

/// The next case to review after `current` at `level`: the oldest other case waiting.
async fn next_case(state: &AppState, level: Level, current: i64) -> Option<String> {
    let page = super::api::load_queue(state, level, None, 2).await.ok()?;
    page.items
        .iter()
        .find(|i| i.id != current)
        .map(|i| format!("/console/review/cases/{}", i.id))
}

async fn case_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Path(id): Path<i64>,
    Query(q): Query<ErrorQuery>,
) -> Response {
    let c = match case_detail(&state, id).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let level = Level::of_status(c.status).filter(|l| user.has(l.role()));
    let reasons = match super::reasons::load(&state.db.pool, false).await {
        Ok(r) => r
            .into_iter()
            .map(|r| {
                if tr.lang == "en" {
                    r.text_en
                } else {
                    r.text_zh
                }
            })
            .collect(),
        Err(e) => return AppError::from(e).into_response(),
    };
    let next = match level.or_else(|| Level::of_status(c.status)) {
        Some(l) => next_case(&state, l, id).await,
        None => None,
    };
    let invoice_no = |iid: i64| {
        c.invoices
            .iter()
            .find(|i| i.id == iid)
            .map(|i| i.invoice_no.clone())
            .unwrap_or_default()
    };
    let queue = Level::of_status(c.status)
        .map(|l| format!("/console/review?level={}", l.as_i64()))
        .unwrap_or_default();
    render(&CasePageT {
        tr,
        user: &user,
        frame: frame
            .current(&queue)
            .with_error(q.error.as_deref().map(|code| error_text(tr, code))),
        status: c.status.as_str(),
        status_label: tr.t(&format!("review.status.{}", c.status.as_str())),
        hospital_level: c.hospital_level.map_or(-1, i64::from),
        level: level.map(Level::as_i64).unwrap_or(0),
        actionable: level.is_some() && is_reviewer(&user) && c.insurer_id.is_none(),
        reopenable: c.insurer_id.is_none()
            && ((c.status == CaseStatus::Approved
                && (user.has(Role::Reviewer2) || user.has(Role::Admin)))
                || (matches!(
                    c.status,
                    CaseStatus::Rejected | CaseStatus::Booked | CaseStatus::Completed
                ) && user.has(Role::Admin))),
        reasons,
        invoices: c
            .invoices
            .iter()
            .map(|i| InvView {
                id: i.id,
                invoice_no: i.invoice_no.clone(),
                total: i.total_cents.to_string(),
                self_pay: i.self_pay_cents.to_string(),
                covered: i.covered_cents.to_string(),
                invoice_date: i.invoice_date.clone(),
                status: i.status.as_str(),
                reason: i.reason.clone(),
                photo_url: i.photo_file_id.map(|f| format!("/api/v1/files/{f}")),
                photo_pdf: i.photo_pdf,
                pending: i.status == InvoiceStatus::Pending,
                qr: qr_view(tr, i),
            })
            .collect(),
        decisions: c
            .decisions
            .iter()
            .map(|d| DecView {
                at: d.at.clone(),
                reviewer: d.reviewer.clone(),
                level: d.level,
                what: format!(
                    "{}{}",
                    tr.t(&format!("review.result.{}", d.result)),
                    d.invoice_id
                        .map(|i| format!(" · {}", invoice_no(i)))
                        .unwrap_or_default()
                ),
                reason: d.reason.clone().unwrap_or_default(),
                changes: d
                    .changes
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            })
            .collect(),
        flags: hospital_flag(tr, &c)
            .into_iter()
            .chain(
                c.flags
                    .iter()
                    .map(|f| flag_text(tr, f, &invoice_no(f.invoice_id))),
            )
            .collect(),
        payout_lines: payout_lines(tr, &c),
        next_case: next,
        c: &c,
    })
}

/// After a decision: stay on the case while it waits at this level, else open the next case
/// of the queue (or the queue itself once it is empty).
async fn after_decision(state: &AppState, case_id: i64, level: Level) -> Response {
    let status = super::store::find_case(&state.db.pool, case_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.status);
    if status.and_then(Level::of_status) == Some(level) {
        return Redirect::to(&format!("/console/review/cases/{case_id}")).into_response();
    }
    match next_case(state, level, case_id).await {
        Some(url) => Redirect::to(&url).into_response(),
        None => Redirect::to(&format!("/console/review?level={}", level.as_i64())).into_response(),
    }
}

fn back_with(case_id: i64, e: &AppError) -> Response {
    Redirect::to(&format!("/console/review/cases/{case_id}?error={}", e.code)).into_response()
}

fn combine_reason(preset: Option<String>, free: Option<String>) -> Option<String> {
    let p = preset.filter(|s| !s.trim().is_empty());
    let f = free.filter(|s| !s.trim().is_empty());
    match (p, f) {
        (Some(p), Some(f)) => Some(format!("{p}：{}", f.trim())),
        (p, f) => p.or(f),
    }
}

fn parse_decision(s: &str) -> Decision {
    if s == "approve" {
        Decision::Approve
    } else {
        Decision::Reject
    }
}

#[derive(Deserialize)]
struct InvoiceForm {
    version: i64,
    level: i64,
    decision: String,
    reason_preset: Option<String>,
    reason: Option<String>,
    may_edit: Option<String>,
    invoice_no: Option<String>,
    total: Option<String>,
    self_pay: Option<String>,
}

async fn invoice_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<InvoiceForm>,
) -> Response {
    let Ok(Some(invoice)) = super::store::find_invoice(&state.db.pool, id).await else {
        return AppError::not_found().into_response();
    };
    let case_id = invoice.case_id;
    let money = |s: &Option<String>, field: &'static str| -> Result<Option<Cents>, AppError> {
        match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => Cents::parse_typed(v).ok().map(Some).ok_or_else(|| {
                ErrorCode::InvalidAmount
                    .with_message("amount")
                    .with_field(field, "yuan")
            }),
        }
    };
    let corrections = match (money(&f.total, "total"), money(&f.self_pay, "self_pay")) {
        (Ok(total_cents), Ok(self_pay_cents)) => Corrections {
            invoice_no: f.invoice_no.clone().filter(|s| !s.trim().is_empty()),
            total_cents,
            self_pay_cents,
        },
        (Err(e), _) | (_, Err(e)) => return back_with(case_id, &e),
    };
    let level = match Level::from_request(f.level) {
        Ok(level) => level,
        Err(e) => return back_with(case_id, &e),
    };
    let input = InvoiceDecisionInput {
        version: f.version,
        level,
        decision: parse_decision(&f.decision),
        reason: combine_reason(f.reason_preset, f.reason),
        may_edit: Some(f.may_edit.is_some()),
        corrections,
    };
    match service::decide_invoice(&state, &user, id, input).await {
        Ok(_) => after_decision(&state, case_id, level).await,
        Err(e) => back_with(case_id, &e),
    }
}

#[derive(Deserialize)]
struct CaseForm {
    version: i64,
    level: i64,
    decision: String,
    reason_preset: Option<String>,
    reason: Option<String>,
    may_edit: Option<String>,
    blacklist: Option<String>,
}

async fn case_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<CaseForm>,
) -> Response {
    let level = match Level::from_request(f.level) {
        Ok(level) => level,
        Err(e) => return back_with(id, &e),
    };
    let input = CaseDecisionInput {
        version: f.version,
        level,
        decision: parse_decision(&f.decision),
        reason: combine_reason(f.reason_preset, f.reason),
        may_edit: Some(f.may_edit.is_some()),
        blacklist: f.blacklist.is_some(),
    };
    match service::decide_case(&state, &user, id, input).await {
        Ok(()) => after_decision(&state, id, level).await,
        Err(e) => back_with(id, &e),
    }
}

#[derive(Deserialize)]
struct CorrectForm {
    version: i64,
    hospital: Option<String>,
    hospital_level: Option<String>,
}

async fn correct_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<CorrectForm>,
) -> Response {
    let level = f
        .hospital_level
        .as_deref()
        .and_then(|l| l.trim().parse::<i64>().ok());
    match service::correct_case(&state, &user, id, f.version, f.hospital, level).await {
        Ok(()) => Redirect::to(&format!("/console/review/cases/{id}")).into_response(),
        Err(e) => back_with(id, &e),
    }
}

#[derive(Deserialize)]
struct ReopenForm {
    version: i64,
    reason: Option<String>,
}

async fn reopen_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<ReopenForm>,
) -> Response {
    match service::reopen(&state, &user, id, f.version, f.reason).await {
        Ok(()) => Redirect::to(&format!("/console/review/cases/{id}")).into_response(),
        Err(e) => back_with(id, &e),
    }
}
