//! `/console/support`: staff read every support thread and answer from the console.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::store::{self, ThreadSummary, ThreadView};
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{ConsoleFrame, PageUser, Tr, render};
use crate::http::{AppError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/support", get(list))
        .route("/console/support/{id}", get(show_thread).post(reply))
}

#[derive(Template)]
#[template(path = "support/console_list.html")]
struct ListPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    threads: Vec<ThreadSummary>,
}

#[derive(Template)]
#[template(path = "support/console_thread.html")]
struct ThreadPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    view: ThreadView,
    status_label: String,
}

async fn list(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
) -> Response {
    match store::list(&state.db, &user, i64::MAX, 100).await {
        Ok(rows) => {
            let threads = rows.into_iter().map(ThreadSummary::from).collect();
            render(&ListPage {
                tr,
                user: &user,
                frame,
                threads,
            })
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

async fn thread_page(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    frame: ConsoleFrame,
    id: i64,
    error: Option<String>,
) -> Response {
    let view = async {
        let row = store::find(&state.db, user, id).await?;
        Ok::<_, AppError>(store::view(&state.db, row).await?)
    }
    .await;
    match view {
        Ok(view) => {
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            (status, {
                let status_label = tr.t(&format!("support_console.status_{}", view.thread.status));
                render(&ThreadPage {
                    tr,
                    user,
                    frame: frame.with_error(error),
                    view,
                    status_label,
                })
            })
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn show_thread(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Path(id): Path<i64>,
) -> Response {
    thread_page(&state, tr, &user, frame, id, None).await
}

#[derive(Deserialize)]
struct ReplyForm {
    body: String,
}

async fn reply(
    State(state): State<AppState>,
    tr: Tr,
    frame: ConsoleFrame,
    Path(id): Path<i64>,
    CsrfForm { user, form }: CsrfForm<ReplyForm>,
) -> Response {
    match store::reply(&state.db, &user, id, &form.body).await {
        Ok(_) => Redirect::to(&format!("/console/support/{id}")).into_response(),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            let why = tr.t("support_console.reply_invalid");
            thread_page(&state, tr, &user, frame, id, Some(why)).await
        }
        Err(e) => e.into_response(),
    }
}
