//! Threads and messages; a student sees only their own threads, staff see all.

use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{self, Event};
use crate::db::{Db, now_ms};
use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult};

#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ThreadRow {
    pub id: i64,
    pub user_id: i64,
    #[sqlx(try_from = "crate::seal::Sealed")]
    pub subject: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ThreadSummary {
    pub id: i64,
    pub user_id: i64,
    pub subject: String,
    /// `open`, `answered` or `closed`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ThreadRow> for ThreadSummary {
    fn from(r: ThreadRow) -> ThreadSummary {
        ThreadSummary {
            id: r.id,
            user_id: r.user_id,
            subject: r.subject,
            status: r.status,
            created_at: crate::http::web::rfc3339(r.created_at),
            updated_at: crate::http::web::rfc3339(r.updated_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub author_name: String,
    /// Written by staff (not the student who asked).
    pub from_staff: bool,
    pub body: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ThreadView {
    #[serde(flatten)]
    pub thread: ThreadSummary,
    pub messages: Vec<MessageView>,
}

fn owner_filter(user: &CurrentUser) -> i64 {
    if user.reads_cases() { 0 } else { user.id }
}

/// A thread `user` may see (own, or any for reviewers and admins).
pub async fn find(db: &Db, user: &CurrentUser, id: i64) -> AppResult<ThreadRow> {
    sqlx::query_as::<_, ThreadRow>(
        "SELECT id, user_id, subject, status, created_at, updated_at FROM support_threads
         WHERE id = $1 AND ($2 = 0 OR user_id = $2)",
    )
    .bind(id)
    .bind(owner_filter(user))
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(AppError::not_found)
}

pub async fn list(
    db: &Db,
    user: &CurrentUser,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<ThreadRow>> {
    sqlx::query_as::<_, ThreadRow>(
        "SELECT id, user_id, subject, status, created_at, updated_at FROM support_threads
         WHERE ($1 = 0 OR user_id = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(owner_filter(user))
    .bind(before)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

pub async fn view(db: &Db, thread: ThreadRow) -> sqlx::Result<ThreadView> {
    let rows: Vec<(i64, i64, String, crate::seal::Sealed, i64)> = sqlx::query_as(
        "SELECT m.id, m.author_id, u.name, m.body, m.created_at FROM support_messages m
         JOIN users u ON u.id = m.author_id WHERE m.thread_id = $1 ORDER BY m.id",
    )
    .bind(thread.id)
    .fetch_all(&db.pool)
    .await?;
    let messages = rows
        .into_iter()
        .map(|(id, author, name, body, at)| MessageView {
            id,
            author_name: name,
            from_staff: author != thread.user_id,
            body: body.into(),
            created_at: crate::http::web::rfc3339(at),
        })
        .collect();
    Ok(ThreadView {
        thread: thread.into(),
        messages,
    })
}

fn text(field: &'static str, v: &str, max: usize) -> AppResult<String> {
    crate::claims::domain::parse_text(field, v, max).map_err(AppError::from)
}

/// A new thread with its first message; answers its id.
pub async fn open(db: &Db, user: &CurrentUser, subject: &str, body: &str) -> AppResult<i64> {
    let subject = text("subject", subject, 100)?;
    let body = text("body", body, 4000)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO support_threads (user_id, subject, status, created_at, updated_at) VALUES ($1, $2, 'open', $3, $3) RETURNING id",
    )
    .bind(user.id)
    .bind(crate::seal::seal(&subject))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO support_messages (thread_id, author_id, body, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(user.id)
        .bind(crate::seal::seal(&body))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let event = Event {
        action: "support.open",
        object_type: "support_thread",
        object_id: id.to_string(),
        summary: "thread opened".into(),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds a message. A staff answer marks the thread answered and tells the student in the inbox.
pub async fn reply(db: &Db, user: &CurrentUser, thread_id: i64, body: &str) -> AppResult<i64> {
    let thread = find(db, user, thread_id).await?;
    let body = text("body", body, 4000)?;
    let from_staff = user.id != thread.user_id;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO support_messages (thread_id, author_id, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(thread_id)
    .bind(user.id)
    .bind(crate::seal::seal(&body))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let status = if from_staff { "answered" } else { "open" };
    sqlx::query("UPDATE support_threads SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now)
        .bind(thread_id)
        .execute(&mut *tx)
        .await?;
    if from_staff {
        let lang: String = sqlx::query_scalar("SELECT lang FROM users WHERE id = $1")
            .bind(thread.user_id)
            .fetch_one(&mut *tx)
            .await?;
        let title = if lang == "en" {
            format!("Reply to \"{}\"", thread.subject)
        } else {
            format!("“{}”有新回复", thread.subject)
        };
        sqlx::query(
            "INSERT INTO notifications (user_id, kind, title, body, created_at) VALUES ($1, 'support_reply', $2, $3, $4)",
        )
        .bind(thread.user_id)
        .bind(crate::seal::seal(&title))
        .bind(crate::seal::seal(&body))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let event = Event {
        action: "support.message",
        object_type: "support_thread",
        object_id: thread_id.to_string(),
        summary: format!(
            "message {id}{}",
            if from_staff { " from staff" } else { "" }
        ),
    };
    audit::record(&mut tx, &user.actor(), event).await?;
    tx.commit().await?;
    Ok(id)
}
