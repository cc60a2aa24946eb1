//! The in-app inbox: `GET /api/v1/notifications` (own, newest first, keyset by id, with the
//! unread count) and marking messages read.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::now_ms;
use crate::http::auth::CurrentUser;
use crate::http::error::ErrorBodySchema;
use crate::http::{AppError, AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
}

#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub kind: String,
    #[sqlx(try_from = "crate::seal::Sealed")]
    pub title: String,
    #[sqlx(try_from = "crate::seal::Sealed")]
    pub body: String,
    pub case_id: Option<i64>,
    pub read_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub case_id: Option<i64>,
    pub read: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<NotificationRow> for NotificationView {
    fn from(r: NotificationRow) -> NotificationView {
        NotificationView {
            id: r.id,
            kind: r.kind,
            title: r.title,
            body: r.body,
            case_id: r.case_id,
            read: r.read_at.is_some(),
            created_at: crate::http::web::rfc3339(r.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Inbox {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
    pub unread: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct InboxQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// A page of `user_id`'s inbox, newest first, before the id `cursor`.
pub async fn page(
    db: &crate::db::Db,
    user_id: i64,
    cursor: Option<&str>,
    limit: i64,
) -> sqlx::Result<Inbox> {
    let limit = limit.clamp(1, 100);
    let before = cursor
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let mut rows = sqlx::query_as::<_, NotificationRow>(
        "SELECT id, kind, title, body, case_id, read_at, created_at FROM notifications
         WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(user_id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&db.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let unread: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&db.pool)
    .await?;
    let next_cursor = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Inbox {
        items: rows.into_iter().map(NotificationView::from).collect(),
        next_cursor,
        unread,
    })
}

/// Own inbox, newest first, with the number unread.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(InboxQuery),
    responses((status = 200, body = Inbox), (status = 401, body = ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<InboxQuery>,
) -> AppResult<Json<Inbox>> {
    Ok(Json(
        page(
            &state.db,
            user.id,
            q.cursor.as_deref(),
            q.limit.unwrap_or(20),
        )
        .await?,
    ))
}

/// Marks one of the user's messages read (idempotent); 404 for anyone else's.
pub async fn set_read(db: &crate::db::Db, user_id: i64, id: i64) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM notifications WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    found.ok_or_else(AppError::not_found)?;
    sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND read_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_all_read(db: &crate::db::Db, user_id: i64) -> AppResult<u64> {
    let done =
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
            .bind(now_ms())
            .bind(user_id)
            .execute(&db.writer)
            .await?;
    Ok(done.rows_affected())
}

/// Mark one message read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBodySchema)))]
async fn mark_read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    set_read(&state.db, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Marked {
    pub marked: u64,
}

/// Mark every message read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Marked)))]
async fn mark_all_read(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Marked>> {
    Ok(Json(Marked {
        marked: set_all_read(&state.db, user.id).await?,
    }))
}
