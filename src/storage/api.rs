//! `GET /api/v1/files/{id}`: a stored file, to its owner and to staff only.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::CurrentUser;
use crate::http::{AppError, AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_file))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct FileQuery {
    /// `true` for the small preview of an image.
    #[serde(default)]
    pub thumb: bool,
}

/// A stored photo or PDF: its owner's; a submitted case's record or invoice photo for reviewers
/// and admins; a notice's file for everyone signed in. Anyone else gets 404.
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path), FileQuery),
    responses((status = 200, description = "the file"), (status = 404, body = crate::http::error::ErrorBodySchema)))]
async fn get_file(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<FileQuery>,
) -> AppResult<Response> {
    // Authorised through what owns the file: its uploader, a notice (everyone signed in), or a
    // submitted case's record or invoice (reviewers and admins, SPEC §2).
    let reader = crate::db::flag(user.reads_cases());
    let row: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT f.mime, f.storage_key, f.thumb_key FROM files f WHERE f.id = $1
         AND (f.owner_id = $2
              OR EXISTS (SELECT 1 FROM notices n WHERE n.file_id = f.id)
              OR ($3 = 1 AND EXISTS (
                   SELECT 1 FROM cases c WHERE c.status <> 'draft' AND (
                     EXISTS (SELECT 1 FROM case_records r WHERE r.case_id = c.id AND r.file_id = f.id)
                     OR EXISTS (SELECT 1 FROM invoices i WHERE i.case_id = c.id AND i.photo_file_id = f.id)))))",
    )
    .bind(id)
    .bind(user.id)
    .bind(reader)
    .fetch_optional(&state.db.pool)
    .await?;
    let (mime, key, thumb) = row.ok_or_else(AppError::not_found)?;
    let (mime, key) = match (q.thumb, thumb) {
        (true, Some(t)) => ("image/jpeg".to_string(), t),
        _ => (mime, key),
    };
    let bytes = super::read(&state.files, &key).await?;
    // A PDF is downloaded, never shown inline: the browser's PDF viewer runs the document's
    // scripts and forms in this site's window.
    let disposition = if mime == "application/pdf" {
        format!("attachment; filename=\"file-{id}.pdf\"")
    } else {
        format!("inline; filename=\"file-{id}\"")
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            // Medical records: no copy left in a shared computer's cache.
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
