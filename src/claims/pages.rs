//! The student's claim pages (mobile first): home, the new-case wizard (confirm profile → case
//! and record photos → invoices one by one → payout preview and submit), case detail, edits.
//! Forms post here and the handlers call the same operations as the JSON API.

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{read_multipart, upload};
use super::domain::{CaseFacts, InvoiceFacts, RuleError, parse_yuan, yuan};
use super::ops;
use super::view::CaseView;
use crate::accounts::{CurrentUser, store as users};
use crate::crypto::mask_phone;
use crate::http::{AppError, AppState};
use crate::web::{PageUser, Tr, csrf, render};

pub fn router() -> Router<AppState> {
    let uploads = Router::new()
        .route(
            "/app/cases/{id}/records",
            get(records_page).post(records_upload),
        )
        .route(
            "/app/cases/{id}/invoices",
            get(invoices_page).post(invoice_add),
        )
        .route(
            "/app/invoices/{id}/edit",
            get(invoice_edit_page).post(invoice_edit),
        )
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/app/cases/new", get(new_case_page).post(new_case))
        .route("/app/cases/{id}", get(detail))
        .route("/app/cases/{id}/edit", get(edit_case_page).post(edit_case))
        .route("/app/cases/{id}/delete", post(withdraw))
        .route("/app/cases/{id}/records/{rid}/delete", post(record_delete))
        .route("/app/invoices/{id}/delete", post(invoice_delete))
        .route("/app/cases/{id}/review", get(review_page))
        .route("/app/cases/{id}/submit", post(submit))
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
    let key = format!("errors.{}", e.code);
    let text = tr.t(&key);
    if text == key { e.message.clone() } else { text }
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
        tr.t("errors.not_found")
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

fn check_csrf(user: &CurrentUser, sent: &str) -> Result<(), AppError> {
    if csrf::same(sent, &user.csrf_token) {
        Ok(())
    } else {
        Err(AppError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "Missing or wrong CSRF token.",
        ))
    }
}

async fn load(state: &AppState, user: &CurrentUser, id: i64) -> Result<CaseView, AppError> {
    let case = super::store::find_case(&state.db.pool, id, Some(user.id))
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(super::view::load(&state.db, case).await?)
}

/// Cents as yuan, for templates (which may hand over a reference).
pub fn money<T: std::borrow::Borrow<i64>>(cents: T) -> String {
    yuan(*cents.borrow())
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
    pub cases: Vec<CaseView>,
}

pub async fn home(State(state): State<AppState>, tr: Tr, PageUser(user): PageUser) -> Response {
    if user.is_staff() && !user.has(crate::accounts::Role::Student) {
        return Redirect::to("/console").into_response();
    }
    match home_model(&state, &user).await {
        Ok((phone_masked, notices, cases)) => render(&StudentHome {
            tr,
            user: &user,
            tab: "home",
            phone_masked,
            notices,
            cases,
        }),
        Err(e) => error_page(tr, &user, e),
    }
}

type HomeModel = (
    String,
    Vec<crate::notices::store::NoticeView>,
    Vec<CaseView>,
);

async fn home_model(state: &AppState, user: &CurrentUser) -> Result<HomeModel, AppError> {
    let phone = match users::find_by_id(&state.db.pool, user.id).await? {
        Some(row) => users::open_phone(&state.keys, &row)
            .map(|p| mask_phone(&p))
            .unwrap_or_default(),
        None => String::new(),
    };
    let notices = crate::notices::store::valid_at(&state.db.pool, crate::db::now_ms(), 20).await?;
    let mut cases = Vec::new();
    for row in super::store::list_cases(&state.db.pool, user.id, i64::MAX, 50).await? {
        if row.status() != super::CaseStatus::Withdrawn {
            cases.push(super::view::load(&state.db, row).await?);
        }
    }
    Ok((phone, notices, cases))
}

// ---- wizard step 1 and 2: profile, case facts ----

#[derive(Template)]
#[template(path = "student/confirm_profile.html")]
struct ConfirmProfile<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    class_name: String,
    phone_masked: String,
}

#[derive(Template)]
#[template(path = "student/case_form.html")]
struct CaseForm<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    heading: String,
    action: String,
    submit_label: String,
    error: Option<String>,
    hospital: String,
    level_options: Vec<(String, String, bool)>,
    reason: String,
    visit_date: String,
    today: String,
    oldest: String,
}

#[derive(Deserialize, Default)]
struct CaseFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    hospital: String,
    #[serde(default)]
    hospital_level: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    visit_date: String,
}

impl CaseFields {
    fn facts(&self) -> Result<CaseFacts, RuleError> {
        let level = match self.hospital_level.trim() {
            "" => None,
            l => Some(l.parse::<i64>().map_err(|_| RuleError::Invalid {
                field: "hospital_level",
                why: "must be 0, 1, 2 or 3",
            })?),
        };
        CaseFacts::parse(&self.hospital, level, &self.reason, &self.visit_date)
    }
}

#[allow(clippy::too_many_arguments)]
fn case_form<'a>(
    state: &AppState,
    tr: Tr,
    user: &'a CurrentUser,
    step: u8,
    action: String,
    fields: &CaseFields,
    error: Option<String>,
) -> CaseForm<'a> {
    let today = chrono::Utc::now()
        .with_timezone(&state.settings.time_zone)
        .date_naive();
    let oldest = today - chrono::Duration::days(state.settings.claim_window_days);
    let mut level_options = vec![(
        String::new(),
        tr.t("intake.level_unknown"),
        fields.hospital_level.is_empty(),
    )];
    for l in ["0", "1", "2", "3"] {
        level_options.push((
            l.into(),
            tr.t(&format!("intake.level_{l}")),
            fields.hospital_level == l,
        ));
    }
    let new = step > 0;
    CaseForm {
        tr,
        user,
        tab: if new { "new" } else { "home" },
        step,
        heading: tr.t(if new {
            "intake.case_info"
        } else {
            "intake.edit_case"
        }),
        submit_label: tr.t(if new { "intake.next" } else { "intake.save" }),
        action,
        error,
        hospital: fields.hospital.clone(),
        level_options,
        reason: fields.reason.clone(),
        visit_date: fields.visit_date.clone(),
        today: today.format("%Y-%m-%d").to_string(),
        oldest: oldest.format("%Y-%m-%d").to_string(),
    }
}

#[derive(Deserialize)]
struct StepQuery {
    step: Option<u8>,
}

async fn new_case_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Query(q): Query<StepQuery>,
) -> Response {
    if q.step == Some(2) {
        let form = case_form(
            &state,
            tr,
            &user,
            2,
            "/app/cases/new".into(),
            &CaseFields::default(),
            None,
        );
        return render(&form);
    }
    let row = match users::find_by_id(&state.db.pool, user.id).await {
        Ok(Some(row)) => row,
        Ok(None) => return error_page(tr, &user, AppError::not_found()),
        Err(e) => return error_page(tr, &user, e.into()),
    };
    render(&ConfirmProfile {
        tr,
        user: &user,
        tab: "new",
        step: 1,
        class_name: row.class_name.clone().unwrap_or_default(),
        phone_masked: users::open_phone(&state.keys, &row)
            .map(|p| mask_phone(&p))
            .unwrap_or_default(),
    })
}

async fn new_case(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    axum::Form(fields): axum::Form<CaseFields>,
) -> Response {
    let result = async {
        check_csrf(&user, &fields.csrf)?;
        if !user.has(crate::accounts::Role::Student) {
            return Err(AppError::forbidden());
        }
        ops::create_case(&state, &user, fields.facts()?).await
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/app/cases/{id}/records")).into_response(),
        Err(e) => {
            let status = e.status;
            let form = case_form(
                &state,
                tr,
                &user,
                2,
                "/app/cases/new".into(),
                &fields,
                Some(message(&tr, &e)),
            );
            (status, render(&form)).into_response()
        }
    }
}

async fn edit_case_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(c) => {
            let fields = CaseFields {
                csrf: String::new(),
                hospital: c.hospital,
                hospital_level: c.hospital_level.map(|l| l.to_string()).unwrap_or_default(),
                reason: c.reason,
                visit_date: c.visit_date,
            };
            render(&case_form(
                &state,
                tr,
                &user,
                0,
                format!("/app/cases/{id}/edit"),
                &fields,
                None,
            ))
        }
        Err(e) => error_page(tr, &user, e),
    }
}

async fn edit_case(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    axum::Form(fields): axum::Form<CaseFields>,
) -> Response {
    let result = async {
        check_csrf(&user, &fields.csrf)?;
        load(&state, &user, id).await?;
        ops::update_case(&state, &user, id, fields.facts()?).await
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/app/cases/{id}")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => error_page(tr, &user, e),
        Err(e) => {
            let status = e.status;
            let form = case_form(
                &state,
                tr,
                &user,
                0,
                format!("/app/cases/{id}/edit"),
                &fields,
                Some(message(&tr, &e)),
            );
            (status, render(&form)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Runs a simple POST action and goes to `to`, or shows the case with the error.
async fn act(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    case_id: i64,
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
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let result = match check_csrf(&user, &f.csrf) {
        Ok(()) => ops::withdraw_case(&state, &user, id).await,
        Err(e) => Err(e),
    };
    act(&state, tr, &user, id, result, "/app".into()).await
}

async fn record_delete(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path((id, rid)): Path<(i64, i64)>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let result = match check_csrf(&user, &f.csrf) {
        Ok(()) => ops::delete_record(&state, &user, id, rid).await,
        Err(e) => Err(e),
    };
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
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let result = match check_csrf(&user, &f.csrf) {
        Ok(()) => ops::submit_case(&state, &user, id).await,
        Err(e) => Err(e),
    };
    act(&state, tr, &user, id, result, format!("/app/cases/{id}")).await
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
    case: CaseView,
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
            final_payout: case.payout_cents.map(yuan),
            case,
        }
    }
}

async fn detail(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
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
    Path(id): Path<i64>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(case) => {
            let error =
                (!case.actions.submit && case.actions.edit).then(|| tr.t("errors.incomplete_case"));
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

async fn records_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
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

async fn records_upload(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
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
        ops::add_record(&state, &user, id, upload(bytes, name).await?).await
    }
    .await;
    match result {
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

#[derive(Default)]
pub struct InvoiceInput {
    pub invoice_no: String,
    pub total: String,
    pub self_pay: String,
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
    save_label: String,
    photo_required: bool,
}

fn invoices_view<'a>(
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
        save_label: tr.t("intake.add_this_invoice"),
        photo_required: true,
    }
}

async fn invoices_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(case) => render(&invoices_view(
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
    Ok(f.remove("photo").filter(|(b, _)| !b.is_empty()))
}

fn parse_amounts(input: &InvoiceInput) -> Result<(i64, i64), RuleError> {
    let total = parse_yuan("total_cents", &input.total)?;
    let self_pay = if input.self_pay.trim().is_empty() {
        0
    } else {
        parse_yuan("self_pay_cents", &input.self_pay)?
    };
    Ok((total, self_pay))
}

async fn invoice_add(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Response {
    let mut input = InvoiceInput::default();
    let result = async {
        load(&state, &user, id).await?;
        let photo = read_invoice_page_form(&state, &user, multipart, &mut input).await?;
        let (total, self_pay) = parse_amounts(&input)?;
        let facts = InvoiceFacts::parse(&input.invoice_no, total, self_pay)?;
        let (bytes, name) = photo.ok_or(RuleError::PhotoRequired)?;
        ops::add_invoice(&state, &user, id, facts, upload(bytes, name).await?).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/app/cases/{id}/invoices")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => error_page(tr, &user, e),
        Err(e) => match load(&state, &user, id).await {
            Ok(case) => (
                e.status,
                render(&invoices_view(
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
    invoice_id: i64,
    case_id: i64,
    form: InvoiceInput,
    save_label: String,
    photo_required: bool,
}

async fn invoice_edit_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
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
                invoice_no: inv.invoice_no,
                total: yuan(inv.total_cents),
                self_pay: yuan(inv.self_pay_cents),
            },
            save_label: tr.t("intake.save"),
            photo_required: false,
        }),
        Ok(None) => error_page(tr, &user, AppError::not_found()),
        Err(e) => error_page(tr, &user, e.into()),
    }
}

async fn invoice_edit(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
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
        let photo = match photo {
            Some((bytes, name)) => Some(upload(bytes, name).await?),
            None => None,
        };
        ops::update_invoice(
            &state,
            &user,
            id,
            Some(input.invoice_no.clone()),
            Some(total),
            Some(self_pay),
            photo,
        )
        .await
    }
    .await;
    match result {
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
                save_label: tr.t("intake.save"),
                photo_required: false,
            };
            (e.status, render(&page)).into_response()
        }
    }
}

async fn invoice_delete(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let case_id = match super::store::find_invoice(&state.db.pool, id, Some(user.id)).await {
        Ok(Some(inv)) => inv.case_id,
        Ok(None) => return error_page(tr, &user, AppError::not_found()),
        Err(e) => return error_page(tr, &user, e.into()),
    };
    let result = match check_csrf(&user, &f.csrf) {
        Ok(()) => ops::delete_invoice(&state, &user, id).await,
        Err(e) => Err(e),
    };
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
