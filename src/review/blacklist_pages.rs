//! The console's blacklist page (admins): every barred invoice number with the student, who
//! barred it and why, and a form to lift a mistaken entry with a reason.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::blacklist::{self, BlacklistEntry};
use crate::http::AppState;
use crate::http::auth::{CsrfForm, CurrentUser};
use crate::http::web::{ConsoleFrame, Flash, PageUser, Tr, back, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/blacklist", get(page))
        .route("/console/blacklist/{id}/lift", post(lift))
}

#[derive(Template)]
#[template(path = "review/blacklist.html")]
struct BlacklistPageT<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    items: Vec<BlacklistEntry>,
}

async fn page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(flash): Query<Flash>,
) -> Response {
    let items = match blacklist::entries(&state).await {
        Ok(items) => items,
        Err(e) => return e.into_response(),
    };
    let (ok, error) = flash.message(&tr, "blacklist");
    render(&BlacklistPageT {
        tr,
        user: &user,
        frame: frame.with_ok(ok).with_error(error),
        items,
    })
}

#[derive(Deserialize)]
struct LiftForm {
    reason: Option<String>,
}

async fn lift(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<LiftForm>,
) -> Response {
    let done = blacklist::lift_entry(&state, &user, id, form.reason.as_deref()).await;
    back("/console/blacklist", done.map(|()| "lifted"))
}
