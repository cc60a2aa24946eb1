//! The console's outbox page (admin): every message with its delivery state, filtered by
//! status, and a retry for a dead one.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::admin::{OutboxItem, OutboxQuery};
use crate::http::AppState;
use crate::http::auth::{CsrfForm, CurrentUser};
use crate::http::web::{ConsoleFrame, Flash, NoFields, PageUser, Tr, back, render, safe_code};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/outbox", get(outbox_page))
        .route("/console/outbox/{id}/retry", post(retry))
}

#[derive(Template)]
#[template(path = "notify/console_outbox.html")]
struct OutboxPage<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    frame: ConsoleFrame,
    status: String,
    statuses: [&'static str; 5],
    items: Vec<OutboxItem>,
}

async fn outbox_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    frame: ConsoleFrame,
    Query(flash): Query<Flash>,
) -> Response {
    let status = safe_code(&flash.status).unwrap_or("").to_string();
    let query = OutboxQuery {
        status: Some(status.clone()),
        cursor: None,
        limit: Some(200),
    };
    let page = match super::admin::load(&state, &query).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (ok, error) = flash.message(&tr, "console");
    render(&OutboxPage {
        tr,
        user: &user,
        frame: frame.with_ok(ok).with_error(error),
        status,
        statuses: ["pending", "sending", "sent", "dead", "not_configured"],
        items: page.items,
    })
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Response {
    back(
        "/console/outbox",
        super::admin::requeue(&state, &user, id)
            .await
            .map(|_| "saved"),
    )
}
