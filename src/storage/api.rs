//! `GET /api/v1/files/{id}`: a stored file, to its owner and to staff only.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::CurrentUser;
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

/// A stored photo or PDF. Anyone but its owner and staff gets 404 (files attached to notices
/// are readable by everyone signed in).
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path), FileQuery),
    responses((status = 200, description = "the file"), (status = 404, body = crate::http::error::ErrorBodySchema)))]
async fn get_file(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<FileQuery>,
) -> AppResult<Response> {
    let staff = crate::db::flag(user.is_staff());
    let row: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT f.mime, f.storage_key, f.thumb_key FROM files f WHERE f.id = $1
         AND (f.owner_id = $2 OR $3 = 1 OR EXISTS (SELECT 1 FROM notices n WHERE n.file_id = f.id))",
    )
    .bind(id)
    .bind(user.id)
    .bind(staff)
    .fetch_optional(&state.db.pool)
    .await?;
    let (mime, key, thumb) = row.ok_or_else(AppError::not_found)?;
    let (mime, key) = match (q.thumb, thumb) {
        (true, Some(t)) => ("image/jpeg".to_string(), t),
        _ => (mime, key),
    };
    let path = super::path_of(&state.settings.data_dir, &key).ok_or_else(AppError::not_found)?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        AppError::internal(anyhow::anyhow!("reading stored file {id}: {}", e.kind()))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, max-age=300".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"file-{id}\""),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
