//! Notices administration (SPEC §7, §11): admins publish, edit and expire notices. Bodies are
//! Markdown rendered safely — raw HTML is shown as text and only http(s), mailto and relative
//! links survive — so a notice can never inject script into the student app.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event as AuditEvent};
use crate::db::now_ms;
use crate::http::auth::Admins;
use crate::http::auth::{CurrentUser, RequireRole};
use crate::http::web::rfc3339;
use crate::http::{ApiJson, AppError, AppResult, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    // Creating (with an attachment) and attaching read their own, larger limit per file and
    // bound a JSON body themselves.
    let uploads = OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(attach, detach))
        .layer(axum::extract::DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(update))
        .routes(routes!(expire))
        .merge(uploads)
}

/// Markdown to HTML without raw HTML or script links.
pub fn render_markdown(src: &str) -> String {
    let safe_url = |u: &str| {
        let lower = u.trim().to_ascii_lowercase();
        let scheme = lower.split_once(':').map(|(s, _)| s);
        match scheme {
            None => true,
            Some(s) => matches!(s, "http" | "https" | "mailto") || s.contains('/'),
        }
    };
    let events = Parser::new_ext(src, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |e| match e {
            Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_url(&dest_url) => Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            other => other,
        },
    );
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

#[derive(Serialize, ToSchema, Clone)]
#[schema(as = AdminNoticeView)]
pub struct NoticeView {
    pub id: i64,
    pub title: String,
    /// Markdown source.
    pub body: String,
    /// The body rendered to safe HTML.
    pub body_html: String,
    /// Higher first.
    pub priority: i64,
    pub published_at: String,
    pub valid_until: Option<String>,
    pub expired: bool,
    /// `/api/v1/files/{id}` of the attached file, readable by everyone signed in.
    pub file_url: Option<String>,
    /// `application/pdf` or an image type.
    pub file_mime: Option<String>,
}

#[derive(sqlx::FromRow)]
struct NoticeRow {
    id: i64,
    title: String,
    body: String,
    priority: i64,
    published_at: i64,
    valid_until: Option<i64>,
    file_id: Option<i64>,
    file_mime: Option<String>,
}

const NOTICE_COLUMNS: &str = "n.id, n.title, n.body, n.priority, n.published_at, n.valid_until, \
     n.file_id, f.mime AS file_mime FROM notices n LEFT JOIN files f ON f.id = n.file_id";

impl From<NoticeRow> for NoticeView {
    fn from(r: NoticeRow) -> NoticeView {
        NoticeView {
            body_html: render_markdown(&r.body),
            expired: r.valid_until.is_some_and(|v| v <= now_ms()),
            id: r.id,
            title: r.title,
            body: r.body,
            priority: r.priority,
            published_at: rfc3339(r.published_at),
            valid_until: r.valid_until.map(rfc3339),
            file_url: r.file_id.map(|f| format!("/api/v1/files/{f}")),
            file_mime: r.file_mime,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminNoticeList)]
pub struct NoticeList {
    pub items: Vec<NoticeView>,
    pub next_cursor: Option<i64>,
}

/// Every notice, expired ones too, newest first (at most 200).
pub async fn all(state: &AppState) -> AppResult<Vec<NoticeView>> {
    let rows: Vec<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} ORDER BY n.id DESC LIMIT 200"
    )))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(NoticeView::from).collect())
}

pub async fn find(state: &AppState, id: i64) -> AppResult<NoticeView> {
    let row: NoticeRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} WHERE n.id = $1"
    )))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(AppError::not_found)?;
    Ok(row.into())
}

/// All notices for administration.
#[utoipa::path(get, path = "/api/v1/admin/notices", tag = "notices", security(("bearer" = [])),
    responses((status = 200, body = NoticeList), (status = 403, body = crate::http::error::ErrorBodySchema)))]
async fn list(
    State(state): State<AppState>,
    _admin: RequireRole<Admins>,
) -> AppResult<Json<NoticeList>> {
    Ok(Json(NoticeList {
        items: all(&state).await?,
        next_cursor: None,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct NoticeInput {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 20000)]
    pub body: Option<String>,
    #[schema(minimum = -1000, maximum = 1000)]
    pub priority: Option<i64>,
    /// RFC 3339, or a date `YYYY-MM-DD` meaning the end of that day in the deployment's zone.
    pub valid_until: Option<String>,
}

/// A checked notice: title 1–200 characters, body up to 20,000, priority −1000…1000.
pub struct NoticeFields {
    pub title: String,
    pub body: String,
    pub priority: i64,
    pub valid_until: Option<i64>,
}

fn parse_instant(s: &str, tz: chrono_tz::Tz) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let next = d.succ_opt()?.and_hms_opt(0, 0, 0)?;
    next.and_local_timezone(tz)
        .earliest()
        .map(|t| t.timestamp_millis() - 1)
}

pub fn parse_notice(input: NoticeInput, tz: chrono_tz::Tz) -> AppResult<NoticeFields> {
    let title = input.title.unwrap_or_default().trim().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ErrorCode::InvalidInput
            .with_message("The title is 1–200 characters.")
            .with_field("title", "1–200 characters"));
    }
    let body = input.body.unwrap_or_default();
    if body.chars().count() > 20_000 {
        return Err(ErrorCode::InvalidInput
            .with_message("The body is at most 20,000 characters.")
            .with_field("body", "at most 20,000 characters"));
    }
    let priority = input.priority.unwrap_or(0);
    if !(-1000..=1000).contains(&priority) {
        return Err(ErrorCode::InvalidInput
            .with_message("Priority is −1000…1000.")
            .with_field("priority", "-1000 to 1000"));
    }
    let valid_until = match input.valid_until.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(parse_instant(s, tz).ok_or_else(|| {
            ErrorCode::InvalidInput
                .with_message("valid_until is RFC 3339 or YYYY-MM-DD.")
                .with_field("valid_until", "RFC 3339 or YYYY-MM-DD")
        })?),
    };
    Ok(NoticeFields {
        title,
        body,
        priority,
        valid_until,
    })
}

pub async fn insert(state: &AppState, admin: &CurrentUser, n: NoticeFields) -> AppResult<i64> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notices (title, body, priority, published_at, valid_until, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $4, $4) RETURNING id",
    )
    .bind(&n.title)
    .bind(&n.body)
    .bind(n.priority)
    .bind(now)
    .bind(n.valid_until)
    .bind(admin.id)
    .fetch_one(&mut *tx)
    .await?;
    audit_notice(&mut tx, admin, "notice.create", id).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn replace(
    state: &AppState,
    admin: &CurrentUser,
    id: i64,
    n: NoticeFields,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE notices SET title = $1, body = $2, priority = $3, valid_until = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(&n.title)
    .bind(&n.body)
    .bind(n.priority)
    .bind(n.valid_until)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found());
    }
    audit_notice(&mut tx, admin, "notice.update", id).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a notice's validity now (it stays in the archive).
pub async fn expire_now(state: &AppState, admin: &CurrentUser, id: i64) -> AppResult<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE notices SET valid_until = $1, updated_at = $1 WHERE id = $2 AND (valid_until IS NULL OR valid_until > $1)",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        find(state, id).await?; // 404 when missing; already expired is fine
        return Ok(());
    }
    audit_notice(&mut tx, admin, "notice.expire", id).await?;
    tx.commit().await?;
    Ok(())
}

async fn audit_notice(
    tx: &mut crate::db::Tx,
    admin: &CurrentUser,
    action: &str,
    id: i64,
) -> sqlx::Result<()> {
    audit::record(
        tx,
        &admin.actor(),
        AuditEvent {
            action,
            object_type: "notice",
            object_id: id.to_string(),
            summary: action.to_string(),
        },
    )
    .await
}

/// A notice's attachment as uploaded: checked and prepared like any upload (images re-encoded
/// without metadata, PDFs as they are).
pub struct Attachment {
    prepared: crate::storage::Prepared,
    name: Option<String>,
}

/// Checks an uploaded attachment: PDF or image, within the upload limits.
pub async fn attachment(
    state: &AppState,
    admin: &CurrentUser,
    bytes: Vec<u8>,
    name: Option<String>,
) -> AppResult<Attachment> {
    if !state.upload_limiter.check_key(admin.id) {
        return Err(
            ErrorCode::RateLimited.with_message("Too many uploads in a short time; wait a minute.")
        );
    }
    Ok(Attachment {
        prepared: crate::storage::prepare_async(&state.decodes, bytes).await?,
        name,
    })
}

/// Attaches `file` to notice `id` (replacing any earlier one), or removes the attachment.
pub async fn set_attachment(
    state: &AppState,
    admin: &CurrentUser,
    id: i64,
    file: Option<Attachment>,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let file_id = match &file {
        Some(a) => Some(
            crate::storage::save(
                &mut tx,
                &state.files,
                admin.id,
                &a.prepared,
                a.name.as_deref(),
            )
            .await?,
        ),
        None => None,
    };
    let done = sqlx::query("UPDATE notices SET file_id = $1, updated_at = $2 WHERE id = $3")
        .bind(file_id)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found());
    }
    let action = if file.is_some() {
        "notice.attach"
    } else {
        "notice.detach"
    };
    audit_notice(&mut tx, admin, action, id).await?;
    tx.commit().await?;
    Ok(())
}

fn form_text(
    form: &mut std::collections::HashMap<String, (Vec<u8>, Option<String>)>,
    name: &str,
) -> AppResult<Option<String>> {
    form.remove(name)
        .map(|(bytes, _)| {
            String::from_utf8(bytes).map_err(|_| {
                ErrorCode::InvalidInput
                    .with_message("A field is not UTF-8 text.")
                    .with_field(name, "not UTF-8 text")
            })
        })
        .transpose()
}

/// Reads a notice sent as JSON, or as a multipart form with the same fields and an optional
/// `file`.
async fn read_notice(
    state: &AppState,
    admin: &CurrentUser,
    req: axum::extract::Request,
) -> AppResult<(NoticeInput, Option<Attachment>)> {
    use axum::extract::FromRequest;
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        // This route has no global body limit (for attachments): bound the JSON body here.
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, state.settings.max_json_bytes)
            .await
            .map_err(|_| crate::http::json::payload_too_large())?;
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let ApiJson(input) = ApiJson::<NoticeInput>::from_request(req, state).await?;
        return Ok((input, None));
    }
    let form = axum::extract::Multipart::from_request(req, state)
        .await
        .map_err(|_| ErrorCode::MalformedMultipart.with_message("The form could not be read."))?;
    let mut form =
        crate::storage::read_form(form, state.settings.max_upload_bytes, 100_000).await?;
    let input = NoticeInput {
        title: form_text(&mut form, "title")?,
        body: form_text(&mut form, "body")?,
        priority: form_text(&mut form, "priority")?
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.trim().parse::<i64>().map_err(|_| {
                    ErrorCode::InvalidInput
                        .with_message("Priority is −1000…1000.")
                        .with_field("priority", "-1000 to 1000")
                })
            })
            .transpose()?,
        valid_until: form_text(&mut form, "valid_until")?,
    };
    let file = match form.remove("file").filter(|(b, _)| !b.is_empty()) {
        Some((bytes, name)) => Some(attachment(state, admin, bytes, name).await?),
        None => None,
    };
    Ok((input, file))
}

/// Publish a notice: JSON, or a multipart form with the same fields and a `file` (PDF or
/// image) attached to it.
#[utoipa::path(post, path = "/api/v1/admin/notices", tag = "notices", security(("bearer" = [])),
    request_body(description = "JSON, or a multipart form with the same fields and `file`: a PDF or an image", content(
        (NoticeInput = "application/json"),
        (NoticeInput = "multipart/form-data")
    )),
    responses((status = 201, body = NoticeView), (status = 400, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 413, body = crate::http::error::ErrorBodySchema),
              (status = 415, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many uploads; see `Retry-After`", body = crate::http::error::ErrorBodySchema),
              (status = 503, description = "`busy`: image processing is at capacity; see `Retry-After`", body = crate::http::error::ErrorBodySchema)))]
async fn create(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    req: axum::extract::Request,
) -> AppResult<(StatusCode, Json<NoticeView>)> {
    let (input, file) = read_notice(&state, &admin, req).await?;
    let fields = parse_notice(input, state.settings.time_zone)?;
    let id = insert(&state, &admin, fields).await?;
    if file.is_some() {
        set_attachment(&state, &admin, id, file).await?;
    }
    Ok((StatusCode::CREATED, Json(find(&state, id).await?)))
}

/// Attach a file (multipart `file`: a PDF or an image) to a notice, replacing any earlier one.
#[utoipa::path(put, path = "/api/v1/admin/notices/{id}/attachment", tag = "notices", security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "`file`: a PDF or an image"),
    responses((status = 200, body = NoticeView), (status = 400, body = crate::http::error::ErrorBodySchema),
              (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 404, body = crate::http::error::ErrorBodySchema),
              (status = 413, body = crate::http::error::ErrorBodySchema),
              (status = 415, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many uploads; see `Retry-After`", body = crate::http::error::ErrorBodySchema),
              (status = 503, description = "`busy`: image processing is at capacity; see `Retry-After`", body = crate::http::error::ErrorBodySchema)))]
async fn attach(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    multipart: axum::extract::Multipart,
) -> AppResult<Json<NoticeView>> {
    find(&state, id).await?;
    let mut form =
        crate::storage::read_form(multipart, state.settings.max_upload_bytes, 1024).await?;
    let (bytes, name) = form
        .remove("file")
        .filter(|(b, _)| !b.is_empty())
        .ok_or_else(|| {
            ErrorCode::MissingFile
                .with_message("Attach the file as `file`.")
                .with_field("file", "required")
        })?;
    let file = attachment(&state, &admin, bytes, name).await?;
    set_attachment(&state, &admin, id, Some(file)).await?;
    Ok(Json(find(&state, id).await?))
}

/// Remove a notice's attachment.
#[utoipa::path(delete, path = "/api/v1/admin/notices/{id}/attachment", tag = "notices", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = NoticeView), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 404, body = crate::http::error::ErrorBodySchema)))]
async fn detach(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<NoticeView>> {
    set_attachment(&state, &admin, id, None).await?;
    Ok(Json(find(&state, id).await?))
}

/// Edit a notice; fields left out keep their value (`valid_until: ""` clears it).
#[utoipa::path(patch, path = "/api/v1/admin/notices/{id}", tag = "notices", request_body = NoticeInput, security(("bearer" = [])),
    responses((status = 200, body = NoticeView), (status = 404, body = crate::http::error::ErrorBodySchema),
              (status = 422, body = crate::http::error::ErrorBodySchema)))]
async fn update(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NoticeInput>,
) -> AppResult<Json<NoticeView>> {
    let old = find(&state, id).await?;
    let merged = NoticeInput {
        title: input.title.or(Some(old.title)),
        body: input.body.or(Some(old.body)),
        priority: input.priority.or(Some(old.priority)),
        valid_until: input.valid_until.or(old.valid_until),
    };
    let fields = parse_notice(merged, state.settings.time_zone)?;
    replace(&state, &admin, id, fields).await?;
    Ok(Json(find(&state, id).await?))
}

/// Expire a notice now.
#[utoipa::path(post, path = "/api/v1/admin/notices/{id}/expire", tag = "notices", security(("bearer" = [])),
    responses((status = 200, body = NoticeView), (status = 404, body = crate::http::error::ErrorBodySchema)))]
async fn expire(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    Path(id): Path<i64>,
) -> AppResult<Json<NoticeView>> {
    expire_now(&state, &admin, id).await?;
    Ok(Json(find(&state, id).await?))
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn markdown_is_rendered_without_raw_html_or_script_links() {
        let html = render_markdown(
            "**报销**通知\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://example.edu/a)",
        );
        assert!(html.contains("<strong>报销</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://example.edu/a\""), "{html}");
        let inline = render_markdown("a <img src=x onerror=alert(1)> b");
        assert!(!inline.contains("<img"), "{inline}");
    }
}
