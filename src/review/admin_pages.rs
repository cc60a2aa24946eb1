//! Console pages for staff search, the policy and notices administration.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::pages::{error_text, parse_yuan, yuan};
use crate::accounts::{CurrentUser, Role};
use crate::http::{AppError, AppState};
use crate::notices::admin::{self as notices, NoticeInput, NoticeView};
use crate::policy::Policy;
use crate::web::{ConsoleFrame, PageUser, Tr, csrf, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/search", get(search_page))
        .route("/console/policy", get(policy_page).post(policy_form))
        .route("/console/notices", get(notices_page).post(notice_create))
        .route(
            "/console/notices/{id}",
            get(notice_edit).post(notice_update),
        )
        .route("/console/notices/{id}/expire", post(notice_expire))
}

struct HitView {
    id: i64,
    status: &'static str,
    student: String,
    hospital: String,
    visit_date: String,
    invoices: String,
}

#[derive(Template)]
#[template(path = "review/search.html")]
struct SearchT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    q: String,
    searched: bool,
    hits: Vec<HitView>,
}

#[derive(Deserialize)]
struct SearchQ {
    q: Option<String>,
}

async fn search_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<SearchQ>,
) -> Response {
    if !user.is_staff() {
        return AppError::forbidden().into_response();
    }
    let query = q.q.unwrap_or_default();
    let (hits, error) = if query.trim().is_empty() {
        (Vec::new(), None)
    } else {
        match super::search::run(&state, &query).await {
            Ok(h) => (h, None),
            Err(e) => (Vec::new(), Some(error_text(tr, e.code))),
        }
    };
    render(&SearchT {
        tr,
        user: &user,
        frame: frame.with_error(error),
        searched: !query.trim().is_empty(),
        q: query,
        hits: hits
            .into_iter()
            .map(|h| HitView {
                id: h.id,
                status: h.status.as_str(),
                student: format!("{} ({})", h.student.name, h.student.username),
                hospital: h.hospital,
                visit_date: h.visit_date,
                invoices: h
                    .invoices
                    .iter()
                    .map(|i| format!("{} ¥{}", i.invoice_no, yuan(i.total_cents)))
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "review/policy.html")]
struct PolicyT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    version: i64,
    ratios: Vec<(i64, String)>,
    deductible: String,
    cap: String,
}

#[derive(Deserialize)]
struct ErrQ {
    error: Option<String>,
}

fn admin_only(user: &CurrentUser) -> Option<Response> {
    (!user.has(Role::Admin)).then(|| AppError::forbidden().into_response())
}

async fn policy_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<ErrQ>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    let p = match crate::policy::store::current(&state.db.pool).await {
        Ok(p) => p,
        Err(e) => return AppError::from(e).into_response(),
    };
    render(&PolicyT {
        tr,
        user: &user,
        frame: frame.with_error(q.error.as_deref().map(|c| error_text(tr, c))),
        version: p.version,
        ratios: (0..4)
            .map(|l| {
                let bp = p.ratios_bp[l as usize];
                (l, format!("{}.{:02}", bp / 100, bp % 100))
            })
            .collect(),
        deductible: yuan(p.deductible_cents),
        cap: yuan(p.annual_cap_cents),
    })
}

#[derive(Deserialize)]
struct PolicyForm {
    csrf: String,
    ratio0: String,
    ratio1: String,
    ratio2: String,
    ratio3: String,
    deductible: String,
    cap: String,
}

async fn policy_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    axum::Form(f): axum::Form<PolicyForm>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    let back = |code: &str| Redirect::to(&format!("/console/policy?error={code}")).into_response();
    if !csrf::same(&f.csrf, &user.csrf_token) {
        return back("csrf_failed");
    }
    // A percentage with up to two decimals is basis points read like yuan.
    let ratios: Option<Vec<i64>> = [&f.ratio0, &f.ratio1, &f.ratio2, &f.ratio3]
        .iter()
        .map(|r| parse_yuan(r.trim_end_matches('%')))
        .collect();
    let (Some(ratios), Some(deductible), Some(cap)) =
        (ratios, parse_yuan(&f.deductible), parse_yuan(&f.cap))
    else {
        return back("invalid_input");
    };
    let body = crate::policy::api::PolicyBody {
        ratios_bp: ratios
            .iter()
            .enumerate()
            .map(|(i, r)| (i.to_string(), *r))
            .collect(),
        deductible_cents: deductible,
        annual_cap_cents: cap,
    };
    let policy: Policy = match crate::policy::api::parse_policy(&body) {
        Ok(p) => p,
        Err(e) => return back(e.code),
    };
    match crate::policy::api::save_policy(&state, &user, policy).await {
        Ok(_) => Redirect::to("/console/policy").into_response(),
        Err(e) => back(e.code),
    }
}

#[derive(Template)]
#[template(path = "review/notices.html")]
struct NoticesT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    notices: Vec<NoticeView>,
}

async fn notices_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(q): Query<ErrQ>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    match notices::all(&state).await {
        Ok(list) => render(&NoticesT {
            tr,
            user: &user,
            frame: frame.with_error(q.error.as_deref().map(|c| error_text(tr, c))),
            notices: list,
        }),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "review/notice_edit.html")]
struct NoticeEditT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    n: NoticeView,
    valid_until: String,
}

async fn notice_edit(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Path(id): Path<i64>,
    Query(q): Query<ErrQ>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    match notices::find(&state, id).await {
        Ok(n) => render(&NoticeEditT {
            tr,
            user: &user,
            frame: frame.with_error(q.error.as_deref().map(|c| error_text(tr, c))),
            valid_until: n.valid_until.clone().unwrap_or_default(),
            n,
        }),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct NoticeForm {
    csrf: String,
    title: String,
    body: String,
    priority: Option<String>,
    valid_until: Option<String>,
}

impl NoticeForm {
    fn input(self) -> Result<NoticeInput, &'static str> {
        let priority = match self.priority.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(p.parse().map_err(|_| "invalid_input")?),
        };
        Ok(NoticeInput {
            title: Some(self.title),
            body: Some(self.body),
            priority,
            valid_until: self.valid_until,
        })
    }
}

async fn notice_create(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    axum::Form(f): axum::Form<NoticeForm>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    let back = |code: &str| Redirect::to(&format!("/console/notices?error={code}")).into_response();
    if !csrf::same(&f.csrf, &user.csrf_token) {
        return back("csrf_failed");
    }
    let fields = match f
        .input()
        .map(|i| notices::parse_notice(i, state.settings.time_zone))
    {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return back(e.code),
        Err(code) => return back(code),
    };
    match notices::insert(&state, &user, fields).await {
        Ok(_) => Redirect::to("/console/notices").into_response(),
        Err(e) => back(e.code),
    }
}

async fn notice_update(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<NoticeForm>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    let back =
        |code: &str| Redirect::to(&format!("/console/notices/{id}?error={code}")).into_response();
    if !csrf::same(&f.csrf, &user.csrf_token) {
        return back("csrf_failed");
    }
    let fields = match f
        .input()
        .map(|i| notices::parse_notice(i, state.settings.time_zone))
    {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return back(e.code),
        Err(code) => return back(code),
    };
    match notices::replace(&state, &user, id, fields).await {
        Ok(()) => Redirect::to("/console/notices").into_response(),
        Err(e) => back(e.code),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn notice_expire(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<CsrfForm>,
) -> Response {
    if let Some(r) = admin_only(&user) {
        return r;
    }
    if !csrf::same(&f.csrf, &user.csrf_token) {
        return Redirect::to("/console/notices?error=csrf_failed").into_response();
    }
    match notices::expire_now(&state, &user, id).await {
        Ok(()) => Redirect::to("/console/notices").into_response(),
        Err(e) => Redirect::to(&format!("/console/notices?error={}", e.code)).into_response(),
    }
}
