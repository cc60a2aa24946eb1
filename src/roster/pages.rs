//! `/console/imports`: upload a roster or coverage file, see the first rows and every problem,
//! then apply. Works as a plain form; with app.js the upload shows its progress and the result
//! replaces the section in place, so the chosen file stays selected for "apply".

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Kind;
use super::api::{ImportResult, MAX_IMPORT_BYTES, read_upload, run};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::auth::check_page_csrf;
use crate::http::web::{ConsoleFrame, PageUser, Tr, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/imports", get(page).post(submit))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

#[derive(Template)]
#[template(path = "roster/imports.html")]
struct ImportsPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    kind: &'static str,
    result: Option<ImportResult>,
}

#[derive(Template)]
#[template(path = "roster/import_result.html")]
struct ImportFragment {
    tr: Tr,
    result: Option<ImportResult>,
}

async fn page(tr: Tr, PageUser(user): PageUser, frame: ConsoleFrame) -> Response {
    render(&ImportsPage {
        tr,
        user: &user,
        frame,
        kind: "students",
        result: None,
    })
}

async fn submit(
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
    let kind = match upload.field("kind") {
        Some("coverage") => Kind::Coverage,
        _ => Kind::Students,
    };
    let dry_run = upload.field("mode") != Some("apply");
    let result = match run(&state, &user, kind, &upload, dry_run).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let status = if result.valid {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    // app.js asks for the result section alone.
    if headers.contains_key("x-fragment") {
        let fragment = ImportFragment {
            tr,
            result: Some(result),
        };
        return (status, render(&fragment)).into_response();
    }
    let page = ImportsPage {
        tr,
        user: &user,
        frame,
        kind: if kind == Kind::Coverage {
            "coverage"
        } else {
            "students"
        },
        result: Some(result),
    };
    (status, render(&page)).into_response()
}
