//! `POST/GET /api/v1/support/threads`, `GET /api/v1/support/threads/{id}`,
//! `POST /api/v1/support/threads/{id}/messages`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, MessageView, ThreadSummary, ThreadView};
use crate::http::auth::CurrentUser;
use crate::http::auth::{RequireRole, Students};
use crate::http::error::ErrorBodySchema;
use crate::http::{ApiJson, AppError, AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_thread, list_threads))
        .routes(routes!(get_thread))
        .routes(routes!(post_message))
}

#[derive(Deserialize, ToSchema)]
pub struct NewThread {
    pub subject: String,
    pub body: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NewMessage {
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct ThreadList {
    pub items: Vec<ThreadSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Ask the office a question.
#[utoipa::path(post, path = "/api/v1/support/threads", tag = "support", security(("bearer" = [])), request_body = NewThread,
    responses((status = 201, body = ThreadView), (status = 422, body = ErrorBodySchema)))]
async fn open_thread(
    State(state): State<AppState>,
    user: RequireRole<Students>,
    ApiJson(body): ApiJson<NewThread>,
) -> AppResult<(StatusCode, Json<ThreadView>)> {
    let id = store::open(&state.db, &user, &body.subject, &body.body).await?;
    let thread = store::find(&state.db, &user, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(store::view(&state.db, thread).await?),
    ))
}

/// Own threads (reviewers and admins: all), newest first.
#[utoipa::path(get, path = "/api/v1/support/threads", tag = "support", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = ThreadList), (status = 403, body = ErrorBodySchema)))]
async fn list_threads(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<ThreadList>> {
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let before = q
        .cursor
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(i64::MAX);
    let mut rows = store::list(&state.db, &user, before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(ThreadList {
        items: rows.into_iter().map(ThreadSummary::from).collect(),
        next_cursor,
    }))
}

/// A thread with its messages.
#[utoipa::path(get, path = "/api/v1/support/threads/{id}", tag = "support", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = ThreadView), (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema)))]
async fn get_thread(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Json<ThreadView>> {
    let thread = store::find(&state.db, &user, id).await?;
    Ok(Json(store::view(&state.db, thread).await?))
}

/// Add a message (the student on their own thread; staff on any).
#[utoipa::path(post, path = "/api/v1/support/threads/{id}/messages", tag = "support", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewMessage,
    responses((status = 201, body = MessageView), (status = 403, body = ErrorBodySchema), (status = 404, body = ErrorBodySchema),
              (status = 422, body = ErrorBodySchema)))]
async fn post_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NewMessage>,
) -> AppResult<(StatusCode, Json<MessageView>)> {
    let message_id = store::reply(&state.db, &user, id, &body.body).await?;
    let thread = store::find(&state.db, &user, id).await?;
    let view = store::view(&state.db, thread).await?;
    let message = view
        .messages
        .into_iter()
        .find(|m| m.id == message_id)
        .ok_or_else(AppError::not_found)?;
    Ok((StatusCode::CREATED, Json(message)))
}
