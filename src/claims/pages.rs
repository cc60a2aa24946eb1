//! The student's claim pages (mobile first): home, the new-case wizard (confirm profile → case
//! and record photos → invoices one by one → payout preview and submit), case detail, edits.
//! Forms post here and the handlers call the same operations as the JSON API.

use crate::ids::{CaseId, RecordId};
use crate::money::Cents;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::service;
use super::view::CaseView;
use crate::accounts::store as users;
use crate::crypto::mask_phone;
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{PageUser, Tr, csrf, render};
use crate::http::{AppError, AppState, ErrorCode};

pub fn router() -> Router<AppState> {
    let uploads = Router::new()
        .route(
            "/app/cases/{id}/records",
            get(super::photo_pages::records_page).post(super::photo_pages::records_upload),
        )
        .route(
            "/app/cases/{id}/invoices",
            get(super::photo_pages::invoices_page).post(super::photo_pages::invoice_add),
        )
        .route(
            "/app/invoices/{id}/edit",
            get(super::photo_pages::invoice_edit_page).post(super::photo_pages::invoice_edit),
        )
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route(
            "/app/cases/new",
            get(super::case_pages::new_case_page).post(super::case_pages::new_case),
        )
        .route("/app/cases/{id}", get(detail))
        .route(
            "/app/cases/{id}/edit",
            get(super::case_pages::edit_case_page).post(super::case_pages::edit_case),
        )
        .route("/app/cases/{id}/delete", post(withdraw))
        .route("/app/cases/{id}/records/{rid}/delete", post(record_delete))
        .route(
            "/app/invoices/{id}/delete",
            post(super::photo_pages::invoice_delete),
        )
        .route("/app/cases/{id}/review", get(review_page))
        .route("/app/cases/{id}/submit", post(submit))
        .route("/app/cases/{id}/recall", post(recall))
        .route("/app/visits/{id}/claim", post(claim_visit))
        .route("/static/intake.js", get(script))
        .merge(uploads)
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/intake.js"),
    )
        .into_response()
}

/// A page's message for an error code.
pub fn message(tr: &Tr, e: &AppError) -> String {
    tr.t(e.code.message_key())
}

#[derive(Template)]
#[template(path = "student/error.html")]
struct ErrorPage {
    tr: Tr,
    tab: &'static str,
    title: String,
    message: String,
}

/// An error as a page (404 for what is absent or not yours).
pub fn error_page(tr: Tr, user: &CurrentUser, e: AppError) -> Response {
    let status = e.status;
    let title = if status == StatusCode::NOT_FOUND {
        tr.t(ErrorCode::NotFound.message_key())
    } else {
        tr.t("intake.error_title")
    };
    let _ = user;
    let page = ErrorPage {
        tr,
        tab: "home",
        title,
        message: message(&tr, &e),
    };
    (status, render(&page)).into_response()
}

pub(super) fn check_csrf(user: &CurrentUser, sent: &str) -> Result<(), AppError> {
    if csrf::same(sent, &user.csrf_token) {
        Ok(())
    } else {
        Err(ErrorCode::CsrfFailed.with_message("Missing or wrong CSRF token."))
    }
}

pub(super) async fn load(
    state: &AppState,
    user: &CurrentUser,
    id: CaseId,
) -> Result<CaseView, AppError> {
    let case = super::store::find_case(&state.db.pool, id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(super::view::load(&state.db, case).await?)
}

/// Cents as yuan, for templates (which may hand over a reference).
pub fn money<T: std::borrow::Borrow<Cents>>(cents: T) -> String {
    cents.borrow().to_string()
}

/// Basis points as a percentage (`8500` → `85%`, `7050` → `70.5%`), for templates.
pub fn percent<T: std::borrow::Borrow<i64>>(bp: T) -> String {
    let bp = *bp.borrow();
    let (whole, frac) = (bp / 100, bp % 100);
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

/// An instant as local time in the deployment's usual zone, for templates.
pub fn local_time<T: std::borrow::Borrow<i64>>(ms: T) -> String {
    chrono::DateTime::from_timestamp_millis(*ms.borrow())
        .map(|t| {
            t.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

// ---- home ----

#[derive(Template)]
#[template(path = "app_home.html")]
pub struct StudentHome<'a> {
    pub tr: Tr,
    pub user: &'a CurrentUser,
    pub tab: &'static str,
    pub phone_masked: String,
    pub notices: Vec<crate::notices::store::NoticeView>,
    /// Visits hospitals pushed for this person, to claim in one tap.
    pub visits: Vec<crate::gateway::store::VisitView>,
    pub cases: Vec<CaseView>,
    /// Where and when to reach the office.
    pub brand: crate::http::web::Branding,
}

pub async fn home(State(state): State<AppState>, tr: Tr, PageUser(user): PageUser) -> Response {
    if user.is_staff() && !user.has(crate::http::auth::Role::Student) {
        return Redirect::to("/console").into_response();
    }
    match home_model(&state, &user).await {
        Ok((phone_masked, notices, visits, cases)) => render(&StudentHome {
            tr,
            user: &user,
            tab: "home",
            phone_masked,
            notices,
            visits,
            cases,
            brand: crate::http::web::brand::load(&state.db.pool)
                .await
                .unwrap_or_default(),
        }),
        Err(e) => error_page(tr, &user, e),
    }
}

type HomeModel = (
    String,
    Vec<crate::notices::store::NoticeView>,
    Vec<crate::gateway::store::VisitView>,
    Vec<CaseView>,
);

async fn home_model(state: &AppState, user: &CurrentUser) -> Result<HomeModel, AppError> {
    let account = users::find_by_id(&state.db.pool, user.id).await?;
    let phone = account
        .as_ref()
        .and_then(|row| users::open_phone(&state.keys, row))
        .map(|p| mask_phone(&p))
        .unwrap_or_default();
    let visits = match account.and_then(|a| a.id_number_bidx) {
        Some(bidx) => {
            crate::gateway::store::visits_of_patient(&state.db.pool, &bidx, i64::MAX, 20).await?
        }
        None => Vec::new(),
    };
    let notices = crate::notices::store::valid_at(&state.db.pool, crate::db::now_ms(), 20).await?;
    let rows = super::store::list_cases(&state.db.pool, user.id, i64::MAX, 50).await?;
    let rows = rows
        .into_iter()
        .filter(|row| row.status != super::CaseStatus::Withdrawn)
        .collect();
    let cases = super::view::load_many(&state.db, rows).await?;
    Ok((phone, notices, visits, cases))
}

/// One tap on a pushed visit: the case is made and submitted, and the student lands on it.
async fn claim_visit(
    State(state): State<AppState>,
    tr: Tr,
    Path(visit_id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<CsrfOnly>,
) -> Response {
    match super::from_visit::claim_visit(&state, &user, visit_id).await {
        Ok(case_id) => Redirect::to(&format!("/app/cases/{case_id}")).into_response(),
        Err(e) => error_page(tr, &user, e),
    }
}

/// A form with nothing but its CSRF token (checked by `CsrfForm`).
#[derive(Deserialize)]
pub(super) struct CsrfOnly {}

/// Runs a simple POST action and goes to `to`, or shows the case with the error.
pub(super) async fn act(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    case_id: CaseId,
    result: Result<(), AppError>,
    to: String,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&to).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND || e.status == StatusCode::FORBIDDEN => {
            error_page(tr, user, e)
        }
        Err(e) => match load(state, user, case_id).await {
            Ok(case) => {
                let status = e.status;
                let page = Detail::new(tr, user, Some(message(&tr, &e)), case);
                (status, render(&page)).into_response()
            }
            Err(e) => error_page(tr, user, e),
        },
    }
}

async fn withdraw(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<CsrfOnly>,
) -> Response {
    let result = service::withdraw_case(&state, &user, CaseId::new(id)).await;
    act(&state, tr, &user, CaseId::new(id), result, "/app".into()).await
}

async fn record_delete(
    State(state): State<AppState>,
    tr: Tr,
    Path((id, rid)): Path<(CaseId, RecordId)>,
    CsrfForm { user, .. }: CsrfForm<CsrfOnly>,
) -> Response {
    let result = service::delete_record(&state, &user, id, rid).await;
    act(
        &state,
        tr,
        &user,
        id,
        result,
        format!("/app/cases/{id}/records"),
    )
    .await
}

async fn submit(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<CsrfOnly>,
) -> Response {
    let result = service::submit_case(&state, &user, CaseId::new(id)).await;
    act(
        &state,
        tr,
        &user,
        CaseId::new(id),
        result,
        format!("/app/cases/{id}"),
    )
    .await
}

/// Back to draft to fix something, while no reviewer has started (the student then edits and
/// submits again).
async fn recall(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<CsrfOnly>,
) -> Response {
    let result = service::recall_case(&state, &user, CaseId::new(id)).await;
    act(
        &state,
        tr,
        &user,
        CaseId::new(id),
        result,
        format!("/app/cases/{id}"),
    )
    .await
}

// ---- case detail and preview ----

#[derive(Template)]
#[template(path = "student/case_detail.html")]
struct Detail<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    error: Option<String>,
    level_label: String,
    final_payout: Option<String>,
    /// What the insurer allowed per item, beside what was claimed.
    insurer_items: Vec<InsurerItem>,
    case: CaseView,
}

struct InsurerItem {
    label: String,
    claimed: Option<String>,
    benefit: Option<String>,
    reason: Option<String>,
}

fn insurer_items(case: &CaseView) -> Vec<InsurerItem> {
    let Some(insurer) = &case.insurer else {
        return Vec::new();
    };
    insurer
        .items
        .iter()
        .map(|it| {
            let line = usize::try_from(it.sequence - 1)
                .ok()
                .and_then(|i| case.fee_lines.get(i));
            InsurerItem {
                label: line.map_or_else(|| format!("#{}", it.sequence), |l| l.display.clone()),
                claimed: line.map(|l| l.amount_cents.to_string()),
                benefit: it.benefit_cents.map(|c| c.to_string()),
                reason: it.reason.clone(),
            }
        })
        .collect()
}

impl<'a> Detail<'a> {
    fn new(tr: Tr, user: &'a CurrentUser, error: Option<String>, case: CaseView) -> Detail<'a> {
        let level_label = match case.hospital_level {
            Some(l) => tr.t(&format!("intake.level_{l}")),
            None => tr.t("intake.level_unknown"),
        };
        Detail {
            tr,
            user,
            tab: "home",
            error,
            level_label,
            final_payout: case.payout_cents.map(|c| c.to_string()),
            insurer_items: insurer_items(&case),
            case,
        }
    }
}

async fn detail(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(case) => render(&Detail::new(tr, &user, None, case)),
        Err(e) => error_page(tr, &user, e),
    }
}

#[derive(Template)]
#[template(path = "student/review.html")]
struct Review<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    error: Option<String>,
    case: CaseView,
}

async fn review_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(case) => {
            let error = (!case.actions.submit && case.actions.edit)
                .then(|| tr.t(ErrorCode::IncompleteCase.message_key()));
            render(&Review {
                tr,
                user: &user,
                tab: "new",
                step: 4,
                error,
                case,
            })
        }
        Err(e) => error_page(tr, &user, e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages() {
        assert_eq!(super::percent(10_000), "100%");
        assert_eq!(super::percent(8500), "85%");
        assert_eq!(super::percent(7050), "70.5%");
        assert_eq!(super::percent(7005), "70.05%");
        assert_eq!(super::money(super::Cents::new(-5)), "-0.05");
    }
}
