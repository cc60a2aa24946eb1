//! `/app/messages`: the inbox and support threads, for students.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::store::{self, ThreadSummary, ThreadView};
use crate::claims::pages::{error_page, message};
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{PageUser, Tr, render};
use crate::http::{AppError, AppState};
use crate::notify::inbox::{self, Inbox};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/messages", get(messages))
        .route("/app/messages/read-all", post(read_all))
        .route("/app/support", post(open))
        .route("/app/support/{id}", get(thread).post(reply))
}

#[derive(Template)]
#[template(path = "student/messages.html")]
struct Messages<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    inbox: Inbox,
    threads: Vec<ThreadSummary>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
}

async fn messages_page(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    cursor: Option<&str>,
    error: Option<AppError>,
) -> Response {
    let model = async {
        let inbox = inbox::page(&state.db, user.id, cursor, 20).await?;
        let threads = store::list(&state.db, user, i64::MAX, 50).await?;
        Ok::<_, AppError>((inbox, threads))
    }
    .await;
    match model {
        Ok((inbox, threads)) => {
            let status = error
                .as_ref()
                .map(|e| e.status)
                .unwrap_or(axum::http::StatusCode::OK);
            let page = Messages {
                tr,
                user,
                tab: "messages",
                inbox,
                threads: threads.into_iter().map(ThreadSummary::from).collect(),
                error: error.map(|e| message(&tr, &e)),
            };
            (status, render(&page)).into_response()
        }
        Err(e) => error_page(tr, user, e),
    }
}

async fn messages(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Query(q): Query<CursorQuery>,
) -> Response {
    messages_page(&state, tr, &user, q.cursor.as_deref(), None).await
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct Empty {}

async fn read_all(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> Response {
    match inbox::set_all_read(&state.db, user.id).await {
        Ok(_) => Redirect::to("/app/messages").into_response(),
        Err(e) => error_page(tr, &user, e),
    }
}

#[derive(Deserialize)]
struct NewThread {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

async fn open(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form: f }: CsrfForm<NewThread>,
) -> Response {
    match store::open(&state.db, &user, &f.subject, &f.body).await {
        Ok(id) => Redirect::to(&format!("/app/support/{id}")).into_response(),
        Err(e) => messages_page(&state, tr, &user, None, Some(e)).await,
    }
}

#[derive(Template)]
#[template(path = "student/thread.html")]
struct Thread<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    thread: ThreadView,
    error: Option<String>,
}

async fn thread_page(
    state: &AppState,
    tr: Tr,
    user: &CurrentUser,
    id: i64,
    error: Option<AppError>,
) -> Response {
    let model = async {
        let row = store::find(&state.db, user, id).await?;
        Ok::<_, AppError>(store::view(&state.db, row).await?)
    }
    .await;
    match model {
        Ok(thread) => {
            let status = error
                .as_ref()
                .map(|e| e.status)
                .unwrap_or(axum::http::StatusCode::OK);
            let page = Thread {
                tr,
                user,
                tab: "messages",
                thread,
                error: error.map(|e| message(&tr, &e)),
            };
            (status, render(&page)).into_response()
        }
        Err(e) => error_page(tr, user, e),
    }
}

async fn thread(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<i64>,
) -> Response {
    thread_page(&state, tr, &user, id, None).await
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    body: String,
}

async fn reply(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<Reply>,
) -> Response {
    match store::reply(&state.db, &user, id, &f.body).await {
        Ok(_) => Redirect::to(&format!("/app/support/{id}")).into_response(),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => error_page(tr, &user, e),
        Err(e) => thread_page(&state, tr, &user, id, Some(e)).await,
    }
}
