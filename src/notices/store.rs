//! Reading notices.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct NoticeRow {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub priority: i64,
    pub published_at: i64,
    pub valid_until: Option<i64>,
    pub file_id: Option<i64>,
    pub file_mime: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub priority: i64,
    /// RFC 3339.
    pub published_at: String,
    pub valid_until: Option<String>,
    /// `/api/v1/files/{id}` of an attached file (PDF or image), readable by everyone signed in.
    pub file_url: Option<String>,
    /// The attached file's type: `application/pdf`, `image/jpeg`, `image/png` or `image/webp`.
    pub file_mime: Option<String>,
}

impl From<NoticeRow> for NoticeView {
    fn from(r: NoticeRow) -> NoticeView {
        NoticeView {
            id: r.id,
            title: r.title,
            body: r.body,
            priority: r.priority,
            published_at: crate::http::web::rfc3339(r.published_at),
            valid_until: r.valid_until.map(crate::http::web::rfc3339),
            file_url: r.file_id.map(|f| format!("/api/v1/files/{f}")),
            file_mime: r.file_mime,
        }
    }
}

/// Notices published and not expired at `now`: highest priority first, then newest.
pub async fn valid_at<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Any>,
    now: i64,
    limit: i64,
) -> sqlx::Result<Vec<NoticeView>> {
    let rows = sqlx::query_as::<_, NoticeRow>(
        "SELECT n.id, n.title, n.body, n.priority, n.published_at, n.valid_until, n.file_id,
                f.mime AS file_mime
         FROM notices n LEFT JOIN files f ON f.id = n.file_id
         WHERE n.published_at <= $1 AND (n.valid_until IS NULL OR n.valid_until > $1)
         ORDER BY n.priority DESC, n.published_at DESC, n.id DESC LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(exec)
    .await?;
    Ok(rows.into_iter().map(NoticeView::from).collect())
}
