//! The console's notices pages (admin): list, write, edit and expire what the office tells
//! every student.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::admin::{self as notices, NoticeInput, NoticeView};
use crate::http::auth::{CsrfForm, CurrentUser};
use crate::http::web::{ConsoleFrame, NoFields, PageUser, Tr, error_text, render};
use crate::http::{AppState, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/notices", get(notices_page).post(notice_create))
        .route(
            "/console/notices/{id}",
            get(notice_edit).post(notice_update),
        )
        .route("/console/notices/{id}/expire", post(notice_expire))
        .route(
            "/console/notices/{id}/attachment",
            post(notice_attach).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/console/notices/{id}/attachment/remove",
            post(notice_detach),
        )
}

#[derive(Deserialize)]
struct ErrQ {
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "notices/console.html")]
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
#[template(path = "notices/console_edit.html")]
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
    title: String,
    body: String,
    priority: Option<String>,
    valid_until: Option<String>,
}

impl NoticeForm {
    fn input(self) -> Result<NoticeInput, ErrorCode> {
        let priority = match self.priority.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(p.parse().map_err(|_| ErrorCode::InvalidInput)?),
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
    CsrfForm { user, form: f }: CsrfForm<NoticeForm>,
) -> Response {
    let back =
        |code: ErrorCode| Redirect::to(&format!("/console/notices?error={code}")).into_response();
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
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<NoticeForm>,
) -> Response {
    let back = |code: ErrorCode| {
        Redirect::to(&format!("/console/notices/{id}?error={code}")).into_response()
    };
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

async fn notice_expire(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    match notices::expire_now(&state, &user, id).await {
        Ok(()) => Redirect::to("/console/notices").into_response(),
        Err(e) => Redirect::to(&format!("/console/notices?error={}", e.code)).into_response(),
    }
}

/// The edit page's attachment form (multipart: `csrf`, `file`).
async fn notice_attach(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
    PageUser(user): PageUser,
    multipart: axum::extract::Multipart,
) -> Response {
    let back = |code: ErrorCode| {
        Redirect::to(&format!("/console/notices/{id}?error={code}")).into_response()
    };
    let mut form =
        match crate::storage::read_form(multipart, state.settings.max_upload_bytes, 1024).await {
            Ok(f) => f,
            Err(e) => return back(e.code),
        };
    let csrf = form
        .remove("csrf")
        .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if let Err(refused) = crate::http::auth::check_page_csrf(&user, &csrf, &headers) {
        return refused;
    }
    let Some((bytes, name)) = form.remove("file").filter(|(b, _)| !b.is_empty()) else {
        return back(ErrorCode::MissingFile);
    };
    let done = match notices::attachment(&state, &user, bytes, name).await {
        Ok(file) => notices::set_attachment(&state, &user, id, Some(file)).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => Redirect::to(&format!("/console/notices/{id}")).into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => back(e.code),
    }
}

async fn notice_detach(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    match notices::set_attachment(&state, &user, id, None).await {
        Ok(()) => Redirect::to(&format!("/console/notices/{id}")).into_response(),
        Err(e) => Redirect::to(&format!("/console/notices/{id}?error={}", e.code)).into_response(),
    }
}
