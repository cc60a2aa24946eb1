//! Pages: the student's payout account (`/app/me/payout-account`, linked from "我的") and
//! finance's `/console/payouts`: build a batch, the batches, one batch with its transfer file
//! (CSV/XLSX, after a step-up), "paid" and returned transfers.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::domain::{PayoutAccount, SkipReason, mask_account_no};
use super::service;
use super::store;
use crate::http::auth::{CsrfForm, CurrentUser};
use crate::http::web::{ConsoleFrame, PageUser, REAUTH_INLINE_HEADER, Tr, error_text, render};
use crate::http::{AppError, AppState, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/app/me/payout-account",
            get(account_page).post(account_form),
        )
        .route("/console/payouts", get(batches_page).post(build_form))
        .route("/console/payouts/{id}", get(batch_page))
        .route("/console/payouts/{id}/paid", post(paid_form))
        .route("/console/payouts/{id}/returned", post(returned_form))
}

#[derive(Deserialize, Default)]
struct Flash {
    ok: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "payouts/account.html")]
struct AccountPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    bank_name: String,
    account_no_masked: String,
    holder_name: String,
    has_account: bool,
    ok: bool,
    error: Option<String>,
}

async fn account_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Query(q): Query<Flash>,
) -> Response {
    let account = match service::account_of(&state, user.id).await {
        Ok(a) => a,
        Err(e) => return crate::claims::pages::error_page(tr, &user, e),
    };
    let has_account = account.is_some();
    let (bank_name, account_no_masked, holder_name) = account
        .map(|a| (a.bank_name, mask_account_no(&a.account_no), a.holder_name))
        .unwrap_or_default();
    render(&AccountPage {
        tr,
        user: &user,
        tab: "me",
        bank_name,
        account_no_masked,
        holder_name,
        has_account,
        ok: q.ok.is_some(),
        error: q.error.as_deref().map(|c| error_text(tr, c)),
    })
}

#[derive(Deserialize)]
struct AccountForm {
    #[serde(default)]
    bank_name: String,
    #[serde(default)]
    account_no: String,
    #[serde(default)]
    holder_name: String,
}

/// A step-up refusal: the inline prompt's 401 for the page's script, else back to `to`.
fn refused(headers: &HeaderMap, e: AppError, to: &str) -> Response {
    if e.code == ErrorCode::ReauthRequired && headers.contains_key(REAUTH_INLINE_HEADER) {
        return e.into_response();
    }
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}error={}", e.code)).into_response()
}

async fn account_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { user, form }: CsrfForm<AccountForm>,
) -> Response {
    const BACK: &str = "/app/me/payout-account";
    let account = match PayoutAccount::parse(&form.bank_name, &form.account_no, &form.holder_name) {
        Ok(a) => a,
        Err(e) => return refused(&headers, e, BACK),
    };
    match service::save_account(&state, &user, &account).await {
        Ok(_) => Redirect::to("/app/me/payout-account?ok=saved").into_response(),
        Err(e) => refused(&headers, e, BACK),
    }
}

/// Amounts on pages: yuan with two decimals.
fn yuan(c: crate::money::Cents) -> String {
    format!("¥{c}")
}

struct BatchLine {
    id: i64,
    through: String,
    status: String,
    count: i64,
    total: String,
    returned_count: i64,
    returned: String,
    paid_out: String,
}

struct WaitingLine {
    case_id: i64,
    student_id: String,
    student_name: String,
    amount: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "payouts/console.html")]
struct BatchesPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    today: String,
    batches: Vec<BatchLine>,
    waiting: Vec<WaitingLine>,
}

fn batch_line(tr: Tr, b: store::BatchRow) -> BatchLine {
    BatchLine {
        id: b.id,
        through: b.through_date,
        status: tr.t(&format!("payouts.batch_{}", b.status)),
        count: b.case_count,
        total: yuan(b.total_cents),
        returned_count: b.returned_count,
        returned: yuan(b.returned_cents),
        paid_out: if b.status == "paid" {
            yuan(b.total_cents - b.returned_cents)
        } else {
            yuan(crate::money::Cents::ZERO)
        },
    }
}

fn flash(tr: Tr, frame: ConsoleFrame, q: &Flash) -> ConsoleFrame {
    frame
        .with_ok(q.ok.as_deref().map(|k| tr.t(&format!("payouts.ok_{k}"))))
        .with_error(q.error.as_deref().map(|c| error_text(tr, c)))
}

async fn batches_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<Flash>,
) -> Response {
    let batches = match store::list_batches(&state.db.pool, i64::MAX, 100).await {
        Ok(b) => b,
        Err(e) => return AppError::from(e).into_response(),
    };
    let waiting = match service::unpayable(&state).await {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let today = chrono::Utc::now()
        .with_timezone(&state.settings.time_zone)
        .format("%Y-%m-%d")
        .to_string();
    render(&BatchesPage {
        tr,
        user: &user,
        frame: flash(tr, frame, &q),
        today,
        batches: batches.into_iter().map(|b| batch_line(tr, b)).collect(),
        waiting: waiting
            .into_iter()
            .map(|(w, why)| WaitingLine {
                case_id: w.case_id,
                student_id: w.username,
                student_name: w.student_name,
                amount: yuan(w.payout_cents),
                reason: tr.t(match why {
                    SkipReason::NoAccount => "payouts.skip_no_account",
                    SkipReason::AccountNotFixed => "payouts.skip_account_not_fixed",
                }),
            })
            .collect(),
    })
}

#[derive(Deserialize)]
struct BuildForm {
    #[serde(default)]
    through: String,
}

async fn build_form(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<BuildForm>,
) -> Response {
    match service::build_batch(&state, &user, &form.through).await {
        Ok(d) => Redirect::to(&format!("/console/payouts/{}?ok=built", d.batch.id)).into_response(),
        Err(e) => Redirect::to(&format!("/console/payouts?error={}", e.code)).into_response(),
    }
}

struct CaseLine {
    case_id: i64,
    student_id: String,
    student_name: String,
    bank_name: String,
    account_no_masked: String,
    holder_name: String,
    amount: String,
    status: String,
    paid: bool,
}

#[derive(Template)]
#[template(path = "payouts/batch.html")]
struct BatchPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    batch: BatchLine,
    open: bool,
    cases: Vec<CaseLine>,
}

async fn batch_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Path(id): Path<i64>,
    Query(q): Query<Flash>,
) -> Response {
    let detail = match service::batch(&state, id).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let mut cases = Vec::new();
    for item in detail.items {
        let number = match service::open_item_no(&state, &item) {
            Ok(n) => n,
            Err(e) => return e.into_response(),
        };
        cases.push(CaseLine {
            case_id: item.case_id,
            account_no_masked: mask_account_no(&number),
            student_id: item.username,
            student_name: item.student_name,
            bank_name: item.bank_name,
            holder_name: item.holder_name,
            amount: yuan(item.amount_cents),
            status: tr.t(&format!("payouts.item_{}", item.status)),
            paid: item.status == "paid",
        });
    }
    render(&BatchPage {
        tr,
        user: &user,
        frame: flash(tr, frame, &q),
        open: detail.batch.status == "open",
        batch: batch_line(tr, detail.batch),
        cases,
    })
}

#[derive(Deserialize)]
struct Empty {}

async fn paid_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: _ }: CsrfForm<Empty>,
) -> Response {
    back_to_batch(id, service::mark_paid(&state, &user, id).await, "paid")
}

/// Back to the batch's page with the outcome as its one-time message.
fn back_to_batch<T>(id: i64, done: crate::http::AppResult<T>, ok: &str) -> Response {
    let to = match done {
        Ok(_) => format!("/console/payouts/{id}?ok={ok}"),
        Err(e) => format!("/console/payouts/{id}?error={}", e.code),
    };
    Redirect::to(&to).into_response()
}

#[derive(Deserialize)]
struct ReturnedForm {
    case_id: i64,
}

async fn returned_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<ReturnedForm>,
) -> Response {
    let done = service::mark_returned(&state, &user, id, &[form.case_id]).await;
    back_to_batch(id, done, "returned")
}
