//! `/console/hospitals-list` (admins): the designated hospitals with their level and other
//! names; add one, edit or retire one in its row, or import a CSV/XLSX list (any bad row
//! applies nothing and every problem is listed by line).

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::LIST_LIMIT;
use super::service::{self, NewEntry, Patch};
use super::store::{self, DesignatedHospital};
use crate::http::AppState;
use crate::http::auth::{CsrfForm, CurrentUser, check_page_csrf};
use crate::http::web::{ConsoleFrame, Flash, PageUser, Tr, back, render};
use crate::roster::Report;
use crate::roster::api::{MAX_IMPORT_BYTES, read_upload};

const PAGE: &str = "/console/hospitals-list";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/hospitals-list", get(page).post(add))
        .route("/console/hospitals-list/{id}", post(edit))
        .route("/console/hospitals-list/import", post(import))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

#[derive(Template)]
#[template(path = "hospitals/console.html")]
struct ListPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    items: Vec<DesignatedHospital>,
    report: Option<Report>,
}

impl ListPage<'_> {
    fn level_label(&self, level: &i64) -> String {
        self.tr.t(&format!("intake.level_{level}"))
    }
}

async fn show(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    frame: ConsoleFrame,
    report: Option<Report>,
) -> Response {
    let items = match store::list(&state.db.pool, None, true, LIST_LIMIT).await {
        Ok(items) => items,
        Err(e) => return crate::http::AppError::from(e).into_response(),
    };
    render(&ListPage {
        tr,
        user,
        frame,
        items,
        report,
    })
}

async fn page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(flash): Query<Flash>,
) -> Response {
    let (ok, error) = flash.message(&tr, "hospitals_list");
    show(&state, tr, &user, frame.with_ok(ok).with_error(error), None).await
}

#[derive(Deserialize)]
struct EntryForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    aliases: String,
    /// The edit form's checkbox: present when the entry stays active.
    active: Option<String>,
}

impl EntryForm {
    fn level(&self) -> i64 {
        self.level.trim().parse().unwrap_or(-1)
    }
    fn aliases(&self) -> Vec<String> {
        vec![self.aliases.clone()]
    }
}

async fn add(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<EntryForm>,
) -> Response {
    let aliases = form.aliases();
    let new = NewEntry {
        name: &form.name,
        level: form.level(),
        aliases: &aliases,
    };
    let done = service::create(&state.db, &user.actor(), new).await;
    back(PAGE, done.map(|_| "added"))
}

async fn edit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<EntryForm>,
) -> Response {
    let aliases = form.aliases();
    let patch = Patch {
        name: Some(&form.name),
        level: Some(form.level()),
        aliases: Some(&aliases),
        active: Some(form.active.is_some()),
    };
    let done = service::update(&state.db, &user.actor(), id, patch).await;
    back(PAGE, done.map(|_| "saved"))
}

async fn import(
    State(state): State<AppState>,
    tr: Tr,
    headers: HeaderMap,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    multipart: Multipart,
) -> Response {
    let upload = match read_upload(multipart).await {
        Ok(u) => u,
        Err(e) => return (e.status, tr.t(e.code.message_key())).into_response(),
    };
    if let Err(refused) = check_page_csrf(&user, upload.field("csrf").unwrap_or(""), &headers) {
        return refused;
    }
    let report = match service::import(
        &state.db,
        &user.actor(),
        &upload.file_name,
        &upload.bytes,
        false,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let status = if report.applied {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, show(&state, tr, &user, frame, Some(report)).await).into_response()
}
