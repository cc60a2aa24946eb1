//! The wizard's photo steps: medical-record photos and invoices one by one, and editing an
//! invoice. Multipart forms; photos arrive already shrunk by the browser when it can.

use crate::ids::{CaseId, InvoiceId};
use crate::money::Cents;
use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::api::{invoice_upload, read_multipart, upload};
use super::domain::{InvoiceFacts, RuleError, parse_invoice_date, parse_yuan};
use super::pages::{CsrfOnly, act, check_csrf, error_page, load, message};
use super::service;
use super::view::CaseView;
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::auth::csrf_refused;
use crate::http::web::{PageUser, Tr, render};
use crate::http::{AppError, AppState};

// ---- record photos ----

#[derive(Template)]
#[template(path = "student/records.html")]
struct Records<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    error: Option<String>,
    case: CaseView,
}

pub(super) async fn records_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(case) => render(&Records {
            tr,
            user: &user,
            tab: "new",
            step: 2,
            error: None,
            case,
        }),
        Err(e) => error_page(tr, &user, e),
    }
}

pub(super) async fn records_upload(
    State(state): State<AppState>,
    tr: Tr,
    headers: axum::http::HeaderMap,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
    multipart: Multipart,
) -> Response {
    let result = async {
        load(&state, &user, id).await?;
        let mut f = read_multipart(&state, multipart).await?;
        let sent = f
            .remove("csrf")
            .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        check_csrf(&user, &sent)?;
        let (bytes, name) = f
            .remove("file")
            .filter(|(b, _)| !b.is_empty())
            .ok_or(RuleError::PhotoRequired)?;
        service::add_record(
            &state,
            &user,
            id,
            upload(&state, user.id, bytes, name).await?,
        )
        .await
    }
    .await;
    match result {
        Err(e) if e.code == "csrf_failed" => csrf_refused(&headers),
        Ok(_) => Redirect::to(&format!("/app/cases/{id}/records")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => error_page(tr, &user, e),
        Err(e) => match load(&state, &user, id).await {
            Ok(case) => {
                let status = e.status;
                (
                    status,
                    render(&Records {
                        tr,
                        user: &user,
                        tab: "new",
                        step: 2,
                        error: Some(message(&tr, &e)),
                        case,
                    }),
                )
                    .into_response()
            }
            Err(e) => error_page(tr, &user, e),
        },
    }
}

// ---- invoices ----

/// The invoice date input's range (`min`, `max`): the claim window up to today, as the server
/// checks it.
pub struct DateRange {
    pub oldest: String,
    pub today: String,
}

impl DateRange {
    fn of(state: &AppState) -> DateRange {
        let today = chrono::Utc::now()
            .with_timezone(&state.settings.time_zone)
            .date_naive();
        let oldest = today - chrono::Duration::days(state.settings.claim_window_days);
        DateRange {
            oldest: oldest.format("%Y-%m-%d").to_string(),
            today: today.format("%Y-%m-%d").to_string(),
        }
    }
}

#[derive(Default)]
pub struct InvoiceInput {
    pub invoice_no: String,
    pub total: String,
    pub self_pay: String,
    /// `YYYY-MM-DD` (a date input) or empty.
    pub invoice_date: String,
}

#[derive(Template)]
#[template(path = "student/invoices.html")]
struct Invoices<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    error: Option<String>,
    case: CaseView,
    action: String,
    form: InvoiceInput,
    dates: DateRange,
    save_label: String,
    photo_required: bool,
}

fn invoices_view<'a>(
    state: &AppState,
    tr: Tr,
    user: &'a CurrentUser,
    case: CaseView,
    form: InvoiceInput,
    error: Option<String>,
) -> Invoices<'a> {
    Invoices {
        tr,
        user,
        tab: "new",
        step: 3,
        error,
        action: format!("/app/cases/{}/invoices", case.id),
        case,
        form,
        dates: DateRange::of(state),
        save_label: tr.t("intake.add_this_invoice"),
        photo_required: true,
    }
}

pub(super) async fn invoices_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(case) => render(&invoices_view(
            &state,
            tr,
            &user,
            case,
            InvoiceInput::default(),
            None,
        )),
        Err(e) => error_page(tr, &user, e),
    }
}

type Fields = std::collections::HashMap<String, (Vec<u8>, Option<String>)>;

fn take_text(f: &mut Fields, name: &str) -> String {
    f.remove(name)
        .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Reads an invoice form: CSRF, the typed values (kept for a re-shown form) and the photo.
async fn read_invoice_page_form(
    state: &AppState,
    user: &CurrentUser,
    multipart: Multipart,
    input: &mut InvoiceInput,
) -> Result<Option<(Vec<u8>, Option<String>)>, AppError> {
    let mut f = read_multipart(state, multipart).await?;
    check_csrf(user, &take_text(&mut f, "csrf"))?;
    input.invoice_no = take_text(&mut f, "invoice_no");
    input.total = take_text(&mut f, "total");
    input.self_pay = take_text(&mut f, "self_pay");
    input.invoice_date = take_text(&mut f, "invoice_date");
    Ok(f.remove("photo").filter(|(b, _)| !b.is_empty()))
}

fn parse_amounts(input: &InvoiceInput) -> Result<(Cents, Cents), RuleError> {
    let total = parse_yuan("total_cents", &input.total)?;
    let self_pay = if input.self_pay.trim().is_empty() {
        Cents::ZERO
    } else {
        parse_yuan("self_pay_cents", &input.self_pay)?
    };
    Ok((total, self_pay))
}

pub(super) async fn invoice_add(
    State(state): State<AppState>,
    tr: Tr,
    headers: axum::http::HeaderMap,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
    multipart: Multipart,
) -> Response {
    let mut input = InvoiceInput::default();
    let result = async {
        load(&state, &user, id).await?;
        let photo = read_invoice_page_form(&state, &user, multipart, &mut input).await?;
        let (total, self_pay) = parse_amounts(&input)?;
        let date = parse_invoice_date(&input.invoice_date)?;
        let facts = InvoiceFacts::parse(&input.invoice_no, total, self_pay)?.dated(date);
        let (bytes, name) = photo.ok_or(RuleError::PhotoRequired)?;
        service::add_invoice(
            &state,
            &user,
            id,
            facts,
            invoice_upload(&state, user.id, bytes, name).await?,
        )
        .await
    }
    .await;
    match result {
        Err(e) if e.code == "csrf_failed" => csrf_refused(&headers),
        Ok(_) => Redirect::to(&format!("/app/cases/{id}/invoices")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => error_page(tr, &user, e),
        Err(e) => match load(&state, &user, id).await {
            Ok(case) => (
                e.status,
                render(&invoices_view(
                    &state,
                    tr,
                    &user,
                    case,
                    input,
                    Some(message(&tr, &e)),
                )),
            )
                .into_response(),
            Err(e) => error_page(tr, &user, e),
        },
    }
}

#[derive(Template)]
#[template(path = "student/invoice_edit.html")]
struct InvoiceEdit<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    error: Option<String>,
    action: String,
    invoice_id: InvoiceId,
    case_id: CaseId,
    form: InvoiceInput,
    dates: DateRange,
    save_label: String,
    photo_required: bool,
}

pub(super) async fn invoice_edit_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<InvoiceId>,
) -> Response {
    match super::store::find_invoice(&state.db.pool, id, Some(user.id)).await {
        Ok(Some(inv)) => render(&InvoiceEdit {
            tr,
            user: &user,
            tab: "home",
            error: None,
            action: format!("/app/invoices/{id}/edit"),
            invoice_id: id,
            case_id: inv.case_id,
            form: InvoiceInput {
                invoice_no: inv.invoice_no.into_string(),
                total: inv.total_cents.to_string(),
                self_pay: inv.self_pay_cents.to_string(),
                invoice_date: inv.invoice_date.unwrap_or_default(),
            },
            dates: DateRange::of(&state),
            save_label: tr.t("intake.save"),
            photo_required: false,
        }),
        Ok(None) => error_page(tr, &user, AppError::not_found()),
        Err(e) => error_page(tr, &user, e.into()),
    }
}

pub(super) async fn invoice_edit(
    State(state): State<AppState>,
    tr: Tr,
    headers: axum::http::HeaderMap,
    PageUser(user): PageUser,
    Path(id): Path<InvoiceId>,
    multipart: Multipart,
) -> Response {
    let inv = match super::store::find_invoice(&state.db.pool, id, Some(user.id)).await {
        Ok(Some(inv)) => inv,
        Ok(None) => return error_page(tr, &user, AppError::not_found()),
        Err(e) => return error_page(tr, &user, e.into()),
    };
    let mut input = InvoiceInput::default();
    let result = async {
        let photo = read_invoice_page_form(&state, &user, multipart, &mut input).await?;
        let (total, self_pay) = parse_amounts(&input)?;
        let date = parse_invoice_date(&input.invoice_date)?;
        let photo = match photo {
            Some((bytes, name)) => Some(invoice_upload(&state, user.id, bytes, name).await?),
            None => None,
        };
        let change = service::InvoiceChange {
            invoice_no: Some(input.invoice_no.clone()),
            total_cents: Some(total),
            self_pay_cents: Some(self_pay),
            invoice_date: Some(date),
            photo,
        };
        service::update_invoice(&state, &user, id, change).await
    }
    .await;
    match result {
        Err(e) if e.code == "csrf_failed" => csrf_refused(&headers),
        Ok(()) => Redirect::to(&format!("/app/cases/{}", inv.case_id)).into_response(),
        Err(e) => {
            let page = InvoiceEdit {
                tr,
                user: &user,
                tab: "home",
                error: Some(message(&tr, &e)),
                action: format!("/app/invoices/{id}/edit"),
                invoice_id: id,
                case_id: inv.case_id,
                form: input,
                dates: DateRange::of(&state),
                save_label: tr.t("intake.save"),
                photo_required: false,
            };
            (e.status, render(&page)).into_response()
        }
    }
}

pub(super) async fn invoice_delete(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<CsrfOnly>,
) -> Response {
    let case_id =
        match super::store::find_invoice(&state.db.pool, InvoiceId::new(id), Some(user.id)).await {
            Ok(Some(inv)) => inv.case_id,
            Ok(None) => return error_page(tr, &user, AppError::not_found()),
            Err(e) => return error_page(tr, &user, e.into()),
        };
    let result = service::delete_invoice(&state, &user, InvoiceId::new(id)).await;
    act(
        &state,
        tr,
        &user,
        case_id,
        result,
        format!("/app/cases/{case_id}"),
    )
    .await
}
